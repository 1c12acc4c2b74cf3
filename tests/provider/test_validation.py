"""Pure input validation: every refusal names the field and the value."""

from __future__ import annotations

import math

import pytest

from airflow_provider_videodb.exceptions import VideoDBError, VideoDBValidationError
from airflow_provider_videodb.validation import (
    MAX_PROMPT_CHARS,
    MAX_TIMELINE_SEGMENTS,
    check_timeline_within,
    parse_timeline,
    validate_callback_url,
    validate_collection_id,
    validate_content_type,
    validate_model_name,
    validate_positive_seconds,
    validate_prompt,
    validate_scene_index_id,
    validate_video_id,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ([[0, 10], [20, 30.5]], [(0.0, 10.0), (20.0, 30.5)]),
        (((1, 2),), [(1.0, 2.0)]),
        ("[[0, 10], [20, 30]]", [(0.0, 10.0), (20.0, 30.0)]),
        ([[5, 6], [0, 1]], [(5.0, 6.0), (0.0, 1.0)]),  # order is kept: the stream stitches it
        ([[0, 1], [0.5, 2]], [(0.0, 1.0), (0.5, 2.0)]),  # overlaps are allowed (repeat)
    ],
)
def test_parse_timeline_accepts(value, expected):
    assert parse_timeline(value) == expected


@pytest.mark.parametrize(
    ("value", "field", "reason"),
    [
        ([], "timeline", "must not be empty"),
        ("[]", "timeline", "must not be empty"),
        ("", "timeline", "must be JSON"),
        ("not json", "timeline", "must be JSON"),
        ('"[[0, 1]]"', "timeline", "list of pairs"),
        ("null", "timeline", "list of pairs"),
        ({"start": 0, "end": 1}, "timeline", "list of [start, end] pairs"),
        (42, "timeline", "list of [start, end] pairs"),
        ([[0, 1, 2]], "timeline[0]", "[start, end] pair"),
        ([[0]], "timeline[0]", "[start, end] pair"),
        ([5], "timeline[0]", "[start, end] pair"),
        (["01"], "timeline[0]", "[start, end] pair"),
        ([[0, 1], "ab"], "timeline[1]", "[start, end] pair"),
        ([[0, float("nan")]], "timeline[0].end", "finite"),
        ([[float("-inf"), 1]], "timeline[0].start", "finite"),
        ([[0, math.inf]], "timeline[0].end", "finite"),
        ([[True, 5]], "timeline[0].start", "not bool"),
        ([["0", "5"]], "timeline[0].start", "not str"),
        ([[None, 5]], "timeline[0].start", "not NoneType"),
        ([[-1, 5]], "timeline[0].start", "must not be negative"),
        ([[5, 5]], "timeline[0]", "end must be greater than start"),
        ([[10, 2]], "timeline[0]", "end must be greater than start"),
        ([[0, 1]] * (MAX_TIMELINE_SEGMENTS + 1), "timeline", "at most"),
    ],
)
def test_parse_timeline_refuses(value, field, reason):
    with pytest.raises(VideoDBValidationError) as info:
        parse_timeline(value)
    assert info.value.field == field
    assert reason in str(info.value)
    assert str(info.value).startswith(f"Invalid {field}=")


def test_refusal_is_an_airflow_and_value_error():
    with pytest.raises(ValueError):
        parse_timeline([])
    err = VideoDBValidationError("f", "x" * 500, "why")
    assert isinstance(err, VideoDBError)
    assert len(str(err)) < 150  # long values are truncated in the message
    assert err.value == "x" * 500  # but kept whole on the attribute


def test_the_limit_itself_is_accepted():
    assert len(parse_timeline([[0, 1]] * MAX_TIMELINE_SEGMENTS) or []) == MAX_TIMELINE_SEGMENTS


def test_check_timeline_within():
    check_timeline_within([(0.0, 60.0)], 60.0)
    check_timeline_within([(0.0, 60.0004)], 60.0)  # float rounding in lengths is tolerated
    check_timeline_within(None, 10.0)
    with pytest.raises(VideoDBValidationError) as info:
        check_timeline_within([(0.0, 10.0), (50.0, 61.0)], 60.0)
    assert info.value.field == "timeline[1]"
    assert "beyond the video's length of 60 s" in str(info.value)


@pytest.mark.parametrize("video_id", ["m-abc", "m-55c194b5fe10e89f", "m-z-0199_x"])
def test_video_id_ok(video_id):
    assert validate_video_id(video_id) == video_id


@pytest.mark.parametrize(
    "video_id",
    ["", "abc", "m-", "c-abc", "m-abc/../x", "m-a b", "M-abc", None, 7, "m-" + "a" * 200],
)
def test_video_id_refused(video_id):
    with pytest.raises(VideoDBValidationError) as info:
        validate_video_id(video_id)
    assert info.value.field == "video_id"
    assert repr(video_id)[:20] in str(info.value)


@pytest.mark.parametrize("cid", ["default", "c-123abc"])
def test_collection_ok(cid):
    assert validate_collection_id(cid) == cid


@pytest.mark.parametrize("cid", ["", "Default", "m-abc", "c-", "c-a/b", None])
def test_collection_refused(cid):
    with pytest.raises(VideoDBValidationError, match="collection_id"):
        validate_collection_id(cid)


def test_prompt():
    assert validate_prompt("find the goals") == "find the goals"
    assert validate_prompt("x" * MAX_PROMPT_CHARS)
    for bad, reason in [
        ("", "must not be empty"),
        ("   \n", "must not be empty"),
        ("x" * (MAX_PROMPT_CHARS + 1), f"at most {MAX_PROMPT_CHARS}"),
        ("a\x00b", "NUL"),
        (None, "must be a string"),
        (["goals"], "must be a string"),
    ]:
        with pytest.raises(VideoDBValidationError, match=reason) as info:
            validate_prompt(bad)
        assert info.value.field == "prompt"


@pytest.mark.parametrize(
    ("func", "good", "bad"),
    [
        (validate_content_type, ["spoken", "visual", "multimodal"], ["audio", "Spoken", "", None]),
        (validate_model_name, ["basic", "pro", "ultra"], ["mega", "BASIC", "", 1]),
        (
            validate_scene_index_id,
            ["0123456789abcdef", "ABCDEF0123456789", "idx-12345", "123", "g" * 16],
            ["", "../x", "a/b", "a b", "-x", "x" * 129, None],
        ),
        (
            validate_callback_url,
            ["https://hooks.example.com/videodb", "http://127.0.0.1:8080/cb?x=1"],
            [
                "ftp://x.example/cb",
                "javascript:alert(1)",
                "https://",
                "example.com/cb",
                "https://ex ample.com",
                " https://example.com",
                "http://h:99999/",
                5,
            ],
        ),
    ],
)
def test_enumerated_fields(func, good, bad):
    for value in good:
        assert func(value) == value
    for value in bad:
        with pytest.raises(VideoDBValidationError) as info:
            func(value)
        assert repr(value) in str(info.value) or len(repr(value)) > 90


def test_positive_seconds():
    assert validate_positive_seconds("poll_interval", 5) == 5.0
    for bad in (0, -1, float("nan"), float("inf"), True, "5", None):
        with pytest.raises(VideoDBValidationError) as info:
            validate_positive_seconds("poll_interval", bad)
        assert info.value.field == "poll_interval"
