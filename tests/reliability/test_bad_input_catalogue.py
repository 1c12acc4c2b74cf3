"""Issue 5, item 4: a catalogue of bad inputs, each refused before any request is sent.

Every case runs the real operator (or hook) against the local server, expects the specific
exception, checks that its text names the field and the value, and checks the server's
journal: empty, except "beyond the video's length", where the one ``GET /video/<id>`` that
learns the length is allowed and nothing is POSTed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_videodb.exceptions import (
    VideoDBConfigError,
    VideoDBError,
    VideoDBValidationError,
)
from airflow_provider_videodb.validation import MAX_PROMPT_CHARS, MAX_TIMELINE_SEGMENTS
from tests.reliability.conftest import ConnFactory, api_calls, make_context

NAN = float("nan")
INF = float("inf")


@dataclass(frozen=True)
class Bad:
    """One bad input: how to run it, what must be raised, what the message must name."""

    id: str
    run: Callable[[dict[str, Any], ConnFactory], Any]
    field: str
    value: str
    error: type[VideoDBError] = VideoDBValidationError
    #: journal entries allowed as (method, path pattern); everything else must be absent
    allowed: tuple[tuple[str, str], ...] = field(default=())


def stream_op(timeline: Any, **kw: Any) -> Callable[[dict[str, Any], ConnFactory], Any]:
    def run(video: dict[str, Any], make_conn: ConnFactory) -> Any:
        from airflow_provider_videodb.operators.videodb import GenerateStreamOperator

        make_conn()
        args = {"video_id": video["id"], "timeline": timeline, **kw}
        op = GenerateStreamOperator(task_id="bad_stream", **args)
        return op.execute(make_context())

    return run


def clip_op(**kw: Any) -> Callable[[dict[str, Any], ConnFactory], Any]:
    def run(video: dict[str, Any], make_conn: ConnFactory) -> Any:
        from airflow_provider_videodb.operators.videodb import ClipVideoOperator

        make_conn()
        args = {"video_id": video["id"], "prompt": "a goal", "poll_interval": 0.1, **kw}
        op = ClipVideoOperator(task_id="bad_clip", **args)
        return op.execute(make_context())

    return run


def hook_clip(**kw: Any) -> Callable[[dict[str, Any], ConnFactory], Any]:
    def run(video: dict[str, Any], make_conn: ConnFactory) -> Any:
        from airflow_provider_videodb.hooks.videodb import VideoDBHook

        make_conn()
        args = {"video_id": video["id"], "prompt": "a goal", **kw}
        with VideoDBHook() as hook:
            return hook.start_clip(**args)

    return run


def with_conn(conn_id: str = "videodb_default", **conn: Any) -> Callable[..., Any]:
    """Call ``get_user`` through a connection defined with the given (bad) fields."""

    def run(video: dict[str, Any], make_conn: ConnFactory) -> Any:
        from airflow_provider_videodb.hooks.videodb import VideoDBHook

        if conn.pop("_undefined", False):
            make_conn.remove(conn_id)
        else:
            make_conn(conn_id, **conn)
        return VideoDBHook(conn_id).get_user()

    return run


def clip_through_conn(**conn: Any) -> Callable[..., Any]:
    """The clip operator on a broken connection: refused at connection resolution."""

    def run(video: dict[str, Any], make_conn: ConnFactory) -> Any:
        from airflow_provider_videodb.operators.videodb import ClipVideoOperator

        make_conn("videodb_broken", **conn)
        op = ClipVideoOperator(
            task_id="clip_broken",
            video_id=video["id"],
            prompt="a goal",
            videodb_conn_id="videodb_broken",
        )
        return op.execute(make_context())

    return run


def pipeline_op(operator: str, /, **kw: Any) -> Callable[[dict[str, Any], ConnFactory], Any]:
    """One of the pipeline's operators (upload, index, scene index, search) with ``kw``;
    ``video_id`` defaults to the catalogue's video where the operator takes one."""

    def run(video: dict[str, Any], make_conn: ConnFactory) -> Any:
        from airflow_provider_videodb.operators.index import (
            IndexScenesOperator,
            IndexSpokenWordsOperator,
        )
        from airflow_provider_videodb.operators.search import SearchVideoOperator
        from airflow_provider_videodb.operators.upload import UploadVideoOperator

        classes: dict[str, Any] = {
            "upload": UploadVideoOperator,
            "index": IndexSpokenWordsOperator,
            "scenes": IndexScenesOperator,
            "search": SearchVideoOperator,
        }
        make_conn()
        args = dict(kw)
        if operator in ("index", "scenes"):
            args.setdefault("video_id", video["id"])
        if operator == "search":
            args.setdefault("query", "a goal")
        op = classes[operator](task_id=f"bad_{operator}", **args)
        return op.execute(make_context())

    return run


MANY = [[i, i + 0.5] for i in range(MAX_TIMELINE_SEGMENTS + 1)]
GET_VIDEO = (("GET", "/video/*"),)

CATALOGUE: list[Bad] = [
    # -- the pipeline's operators: upload, index, scene index, search ------------------------
    Bad("upload-ftp-url", pipeline_op("upload", source="ftp://host/a.mp4"), "source", "ftp://"),
    Bad("upload-no-source", pipeline_op("upload", source=""), "source", "''"),
    Bad("upload-number", pipeline_op("upload", source=42), "source", "42"),
    Bad(
        "lineage-alias-empty",
        pipeline_op("index", lineage_alias=""),
        "lineage_alias",
        "''",
    ),
    Bad("lineage-alias-number", stream_op(None, lineage_alias=7), "lineage_alias", "7"),
    Bad(
        "upload-missing-file",
        pipeline_op("upload", source="/nonexistent/a.mp4"),
        "source",
        "/nonexistent/a.mp4",
    ),
    Bad(
        "upload-url-userinfo",
        pipeline_op("upload", source="http://u:secret@host/a.mp4"),
        "source",
        "http://<user information>@host/a.mp4",
    ),
    Bad(
        "upload-media-type",
        pipeline_op("upload", source="http://host/a.mp4", media_type="gif"),
        "media_type",
        "'gif'",
    ),
    Bad(
        "upload-collection",
        pipeline_op("upload", source="http://host/a.mp4", collection_id="x y"),
        "collection_id",
        "'x y'",
    ),
    Bad(
        "upload-callback",
        pipeline_op("upload", source="http://host/a.mp4", callback_url="ftp://cb"),
        "callback_url",
        "ftp://cb",
    ),
    Bad("index-video-id", pipeline_op("index", video_id="../../etc"), "video_id", "'../../etc'"),
    Bad(
        "index-language",
        pipeline_op("index", language_code="english!"),
        "language_code",
        "'english!'",
    ),
    Bad(
        "index-segmentation",
        pipeline_op("index", segmentation_type="paragraph"),
        "segmentation_type",
        "'paragraph'",
    ),
    Bad(
        "scenes-extraction-type",
        pipeline_op("scenes", extraction_type="blob"),
        "extraction_type",
        "'blob'",
    ),
    Bad(
        "scenes-config-key",
        pipeline_op("scenes", extraction_type="time", extraction_config={"tme": 5}),
        "extraction_config",
        "tme",
    ),
    Bad(
        "scenes-config-time",
        pipeline_op("scenes", extraction_type="time", extraction_config={"time": -5}),
        "time",
        "-5",
    ),
    Bad(
        "scenes-config-json",
        pipeline_op("scenes", extraction_config="{time: 5"),
        "extraction_config",
        "{time: 5",
    ),
    Bad("scenes-name-too-long", pipeline_op("scenes", name="n" * 1000), "name", "nnnnnnnn"),
    Bad("search-empty-query", pipeline_op("search", query="   "), "query", "'   '"),
    Bad("search-type", pipeline_op("search", search_type="fuzzy"), "search_type", "'fuzzy'"),
    Bad("search-index-type", pipeline_op("search", index_type="faces"), "index_type", "'faces'"),
    Bad(
        "search-scene-without-index",
        pipeline_op("search", search_type="scene", index_type="scene"),
        "scene_index_id",
        "None",
    ),
    Bad(
        "search-result-threshold",
        pipeline_op("search", result_threshold=0),
        "result_threshold",
        "0",
    ),
    Bad(
        "search-score-threshold",
        pipeline_op("search", score_threshold=NAN),
        "score_threshold",
        "nan",
    ),
    # -- timelines: shapes and types ---------------------------------------------------
    Bad("timeline-json-garbage", stream_op("[[0, 5], [7"), "timeline", "'[[0, 5], [7'"),
    Bad("timeline-text", stream_op("first ten seconds"), "timeline", "'first ten seconds'"),
    Bad("timeline-json-object", stream_op('{"start": 0, "end": 5}'), "timeline", "start"),
    Bad("timeline-json-null", stream_op("null"), "timeline", "'null'"),
    Bad("timeline-json-string", stream_op('"[[0, 5]]"'), "timeline", "[[0, 5]]"),
    Bad("timeline-number", stream_op(42), "timeline", "42"),
    Bad("timeline-dict", stream_op({"0": [0, 5]}), "timeline", "{'0': [0, 5]}"),
    Bad("timeline-empty-list", stream_op([]), "timeline", "[]"),
    Bad("timeline-empty-json", stream_op("[]"), "timeline", "[]"),
    Bad("timeline-flat-pair", stream_op([0, 5]), "timeline[0]", "0"),
    Bad("timeline-single", stream_op([[3]]), "timeline[0]", "[3]"),
    Bad("timeline-triple", stream_op([[0, 1, 2]]), "timeline[0]", "[0, 1, 2]"),
    Bad("timeline-string-pair", stream_op(["ab"]), "timeline[0]", "'ab'"),
    Bad("timeline-str-start", stream_op([["0", 5]]), "timeline[0].start", "'0'"),
    Bad("timeline-none-end", stream_op([[0, None]]), "timeline[0].end", "None"),
    Bad("timeline-bool-start", stream_op([[True, 5]]), "timeline[0].start", "True"),
    # -- timelines: values ---------------------------------------------------------------
    Bad("timeline-nan", stream_op([[NAN, 5]]), "timeline[0].start", "nan"),
    Bad("timeline-inf", stream_op([[0, 5], [6, INF]]), "timeline[1].end", "inf"),
    Bad("timeline-json-nan", stream_op("[[0, NaN]]"), "timeline[0].end", "nan"),
    Bad("timeline-json-infinity", stream_op("[[0, Infinity]]"), "timeline[0].end", "inf"),
    Bad("timeline-negative", stream_op([[-1, 5]]), "timeline[0].start", "-1"),
    Bad("timeline-reversed", stream_op([[0, 2], [9, 4]]), "timeline[1]", "[9, 4]"),
    Bad("timeline-zero-length", stream_op([[3, 3]]), "timeline[0]", "[3, 3]"),
    Bad("timeline-too-many", stream_op(MANY), "timeline", "[[0, 0.5], [1, 1.5]"),
    Bad(
        "timeline-beyond-length",
        stream_op([[0, 5], [10, 1e6]]),
        "timeline[1]",
        "1e+06",
        allowed=GET_VIDEO,
    ),
    Bad("stream-video-id", stream_op(None, video_id="v-123"), "video_id", "'v-123'"),
    Bad("stream-collection", stream_op(None, collection_id="coll"), "collection_id", "'coll'"),
    # -- clip prompts -------------------------------------------------------------------------
    Bad("prompt-empty", clip_op(prompt=""), "prompt", "''"),
    Bad("prompt-blank", clip_op(prompt=" \n\t "), "prompt", "' \\n\\t '"),
    Bad("prompt-none", clip_op(prompt=None), "prompt", "None"),
    Bad("prompt-oversized", clip_op(prompt="goal " * MAX_PROMPT_CHARS), "prompt", "'goal goal"),
    Bad("prompt-nul", clip_op(prompt="goal\x00"), "prompt", "'goal\\x00'"),
    # -- clip ids and options -------------------------------------------------------------
    Bad("video-id-bare", clip_op(video_id="abc123"), "video_id", "'abc123'"),
    Bad("video-id-prefix-only", clip_op(video_id="m-"), "video_id", "'m-'"),
    Bad("video-id-path-traversal", clip_op(video_id="m-../../user"), "video_id", "../../user"),
    Bad("video-id-query", clip_op(video_id="m-1?x=1"), "video_id", "'m-1?x=1'"),
    Bad("video-id-int", clip_op(video_id=123), "video_id", "123"),
    Bad("content-type-unknown", clip_op(content_type="audio"), "content_type", "'audio'"),
    Bad("content-type-case", clip_op(content_type="Spoken"), "content_type", "'Spoken'"),
    Bad("model-name-unknown", clip_op(model_name="gpt-4"), "model_name", "'gpt-4'"),
    # ids are checked for safety, not format: "abc" and "idx-12345" are valid scene index ids
    Bad("scene-index-empty", clip_op(scene_index_id=""), "scene_index_id", "''"),
    Bad("scene-index-path", clip_op(scene_index_id="../x"), "scene_index_id", "'../x'"),
    Bad("callback-ftp", clip_op(callback_url="ftp://x.example/h"), "callback_url", "ftp://"),
    Bad(
        "callback-javascript",
        clip_op(callback_url="javascript:alert(1)"),
        "callback_url",
        "'javascript:alert(1)'",
    ),
    Bad("callback-file", clip_op(callback_url="file:///etc/passwd"), "callback_url", "file://"),
    Bad("callback-no-host", clip_op(callback_url="http://"), "callback_url", "'http://'"),
    Bad("clip-collection", clip_op(collection_id="c_!"), "collection_id", "'c_!'"),
    Bad("poll-interval-zero", clip_op(poll_interval=0), "poll_interval", "0"),
    Bad("poll-interval-negative", clip_op(poll_interval=-5), "poll_interval", "-5"),
    Bad("poll-interval-nan", clip_op(poll_interval=NAN), "poll_interval", "nan"),
    Bad("poll-interval-text", clip_op(poll_interval="5s"), "poll_interval", "'5s'"),
    Bad("timeout-inf", clip_op(timeout=INF), "timeout", "inf"),
    Bad("timeout-zero", clip_op(timeout=0), "timeout", "0"),
    # -- the hook refuses the same on its own -------------------------------------------------
    Bad("hook-prompt-empty", hook_clip(prompt=""), "prompt", "''"),
    Bad("hook-video-id", hook_clip(video_id="m-a b"), "video_id", "'m-a b'"),
    Bad("hook-model", hook_clip(model_name="mega"), "model_name", "'mega'"),
    Bad("hook-callback", hook_clip(callback_url="gopher://x"), "callback_url", "gopher://"),
    # -- connections --------------------------------------------------------------------------
    Bad(
        "conn-missing",
        with_conn("videodb_nowhere", _undefined=True),
        "videodb_nowhere",
        "not defined",
        VideoDBConfigError,
    ),
    Bad("conn-no-key", with_conn(password=""), "password", "empty", VideoDBConfigError),
    Bad(
        "conn-host-ftp",
        with_conn(host="ftp://files.example"),
        "host",
        "ftp://files.example",
        VideoDBConfigError,
    ),
    Bad("conn-host-no-host", with_conn(host="http://"), "host", "http://", VideoDBConfigError),
    Bad(
        "conn-host-bad-port",
        with_conn(host="http://127.0.0.1:99999"),
        "host",
        "127.0.0.1:99999",
        VideoDBConfigError,
    ),
    Bad(
        "conn-host-credentials",
        with_conn(host="https://user:pw@api.videodb.io"),
        "host",
        "credentials",
        VideoDBConfigError,
    ),
    Bad(
        "conn-extra-timeout",
        with_conn(extra={"timeout": "soon"}),
        "timeout",
        "'soon'",
        VideoDBConfigError,
    ),
    Bad(
        "conn-extra-retries",
        with_conn(extra={"max_retries": -1}),
        "max_retries",
        "-1",
        VideoDBConfigError,
    ),
    Bad(
        "conn-extra-collection",
        with_conn(extra={"collection_id": "x/y"}),
        "collection_id",
        "'x/y'",
        VideoDBConfigError,
    ),
    Bad(
        "operator-conn-no-key",
        clip_through_conn(password=""),
        "password",
        "videodb_broken",
        VideoDBConfigError,
    ),
]


def test_catalogue_is_big_enough() -> None:
    assert len(CATALOGUE) >= 30
    assert len({case.id for case in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.id for case in CATALOGUE])
def test_bad_input_refused_before_any_request(
    case: Bad,
    server: Any,
    video: dict[str, Any],
    make_conn: ConnFactory,
    api_key: str,
) -> None:
    server.clear_journal()
    with pytest.raises(case.error) as raised:
        case.run(video, make_conn)
    error = raised.value
    text = str(error)
    assert case.field in text, f"the message does not name the field: {text}"
    assert case.value in text, f"the message does not name the value: {text}"
    assert api_key not in text
    if isinstance(error, VideoDBValidationError):
        assert case.field in error.field
    entries = server.journal()
    unexpected = [
        e for e in entries if not any(api_calls([e], method, path) for method, path in case.allowed)
    ]
    assert unexpected == [], f"requests were sent: {unexpected}"
    assert api_calls(entries, "POST") == []
    if case.allowed:
        assert len(entries) == 1, entries
