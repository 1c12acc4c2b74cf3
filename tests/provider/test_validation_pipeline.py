"""The pipeline's request values: each bad field is refused, by name, before any I/O."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_videodb.exceptions import VideoDBValidationError
from airflow_provider_videodb.validation import (
    MAX_NAME_CHARS,
    MAX_URL_CHARS,
    ClipRequest,
    SceneIndexRequest,
    SearchRequest,
    SpokenIndexRequest,
    UploadRequest,
    parse_extraction_config,
    validate_name,
)


def refused(factory, field: str) -> VideoDBValidationError:
    with pytest.raises(VideoDBValidationError) as info:
        factory()
    assert info.value.field == field, info.value
    assert f"Invalid {field}=" in str(info.value)
    return info.value


# -- UploadRequest -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"source": 42}, "source"),
        ({"source": None}, "source"),
        ({"source": ""}, "source"),
        ({"source": "   "}, "source"),
        ({"source": "/tmp/a\x00b.mp4"}, "source"),
        ({"source": "s3://bucket/\nkey"}, "source"),
        ({"source": "https://user@evil.example/v.mp4"}, "source"),
        ({"source": "https://good.example\\@evil.example/v.mp4"}, "source"),
        ({"source": "http:///no-host.mp4"}, "source"),
        ({"source": "https://x.example/" + "a" * MAX_URL_CHARS}, "source"),
        ({"source": "/tmp/" + "a" * MAX_URL_CHARS}, "source"),
        ({"name": ""}, "name"),
        ({"name": "two\nlines"}, "name"),
        ({"name": "x" * (MAX_NAME_CHARS + 1)}, "name"),
        ({"name": 7}, "name"),
        ({"description": "\x07bell"}, "description"),
        ({"media_type": "subtitle"}, "media_type"),
        ({"media_type": None}, "media_type"),
        ({"callback_url": "ftp://x/cb"}, "callback_url"),
        ({"collection_id": "../c"}, "collection_id"),
    ],
)
def test_upload_request_refuses(kwargs, field):
    args = {"source": "/data/clip.mp4", **kwargs}
    refused(lambda: UploadRequest(**args), field)


def test_upload_request_sources_and_names(tmp_path):
    url = UploadRequest("https://cdn.example/media/Big%20Show.mp4?sig=1")
    assert url.is_url and url.display_name == "Big%20Show.mp4"
    assert url.body(url.uri)["name"] is None  # the service names a URL's media
    local = UploadRequest(tmp_path / "my clip.mp4", media_type="audio")
    assert not local.is_url and local.uri == str(tmp_path / "my clip.mp4")
    assert local.display_name == "my clip"
    assert local.body("U") == {
        "url": "U",
        "name": "my clip",
        "description": None,
        "callback_url": None,
        "media_type": "audio",
    }
    assert UploadRequest("s3://bucket/dir/take-2.mov").display_name == "take-2"
    assert UploadRequest("file:///srv/a%20b.mp4").storage_path().name == "a b.mp4"
    named = UploadRequest("gs://b/k.mp4", name="Launch")
    assert named.display_name == "Launch" and named.body("U")["name"] == "Launch"
    with pytest.raises(VideoDBValidationError, match="is a URL"):
        url.storage_path()


def test_upload_request_accepts_an_object_storage_path_and_its_identity_is_json():
    from airflow.sdk import ObjectStoragePath

    request = UploadRequest(ObjectStoragePath("s3://bucket/key/clip.mp4", conn_id="aws"))
    assert request.storage_path() is request.source
    assert request.display_name == "clip"
    identity = request.identity()
    assert json.loads(json.dumps(identity)) == identity
    assert identity["source"].startswith("s3://") and identity["source"].endswith("clip.mp4")
    assert UploadRequest(Path("/a/b.mp4")).identity()["source"] == "/a/b.mp4"


# -- SpokenIndexRequest --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"video_id": "v-1"}, "video_id"),
        ({"language_code": "english please"}, "language_code"),
        ({"language_code": "e"}, "language_code"),
        ({"language_code": "en_" + "x" * 20}, "language_code"),
        ({"language_code": 1}, "language_code"),
        ({"segmentation_type": "word"}, "segmentation_type"),
        ({"force": "false"}, "force"),
        ({"callback_url": "javascript:alert(1)"}, "callback_url"),
        ({"collection_id": "nope"}, "collection_id"),
    ],
)
def test_spoken_index_request_refuses(kwargs, field):
    args = {"video_id": "m-abc", **kwargs}
    refused(lambda: SpokenIndexRequest(**args), field)


@pytest.mark.parametrize("code", ["en", "hi", "en_us", "en-GB", "zh-Hant"])
def test_spoken_index_request_language_codes(code):
    request = SpokenIndexRequest("m-abc", language_code=code, segmentation_type="llm", force=True)
    assert request.body() == {
        "index_type": "spoken_word",
        "language_code": code,
        "segmentation_type": "llm",
        "force": True,
        "callback_url": None,
    }
    assert request.identity()["language_code"] == code


# -- SceneIndexRequest ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"video_id": "m-a/b"}, "video_id"),
        ({"extraction_type": "frames"}, "extraction_type"),
        ({"extraction_type": None}, "extraction_type"),
        ({"extraction_config": [1, 2]}, "extraction_config"),
        ({"extraction_config": "{not json"}, "extraction_config"),
        ({"extraction_config": {"bogus": 1}}, "extraction_config"),
        ({"extraction_config": {"time": 5}}, "extraction_config"),  # a time key, shot type
        ({"extraction_config": {"threshold": -1}}, "extraction_config.threshold"),
        ({"extraction_config": {"threshold": "high"}}, "extraction_config.threshold"),
        ({"extraction_config": {"frame_count": 0}}, "extraction_config.frame_count"),
        ({"extraction_config": {"frame_count": 2.5}}, "extraction_config.frame_count"),
        ({"extraction_config": {"frame_count": True}}, "extraction_config.frame_count"),
        (
            {"extraction_type": "time", "extraction_config": {"time": 0}},
            "extraction_config.time",
        ),
        (
            {"extraction_type": "time", "extraction_config": {"time": float("inf")}},
            "extraction_config.time",
        ),
        (
            {"extraction_type": "time", "extraction_config": {"select_frames": ["first", "x"]}},
            "extraction_config.select_frames",
        ),
        (
            {"extraction_type": "time", "extraction_config": {"select_frames": []}},
            "extraction_config.select_frames",
        ),
        (
            {"extraction_type": "transcript", "extraction_config": {"segmenter": "para"}},
            "extraction_config.segmenter",
        ),
        ({"prompt": ""}, "prompt"),
        ({"model_name": "gpt"}, "model_name"),
        ({"name": "a\tb"}, "name"),
        ({"callback_url": "http://a@b/"}, "callback_url"),
        ({"collection_id": "x"}, "collection_id"),
    ],
)
def test_scene_index_request_refuses(kwargs, field):
    args = {"video_id": "m-abc", **kwargs}
    refused(lambda: SceneIndexRequest(**args), field)


def test_scene_index_request_unknown_keys_are_named():
    error = refused(
        lambda: SceneIndexRequest("m-abc", "time", {"time": 5, "fps": 2, "zoom": 1}),
        "extraction_config",
    )
    assert "['fps', 'zoom']" in str(error)


def test_scene_index_request_body_is_what_the_sdk_sends():
    request = SceneIndexRequest(
        "m-abc",
        "time_based",  # the SDK's attribute name is accepted; its value is sent
        '{"time": 10, "frame_count": 2, "select_frames": ["first", "last"]}',
        prompt="describe the scene",
        model_name="pro",
        name="every ten seconds",
    )
    assert request.extraction_type == "time"
    assert request.body() == {
        "extraction_type": "time",
        "extraction_config": {"time": 10, "frame_count": 2, "select_frames": ["first", "last"]},
        "prompt": "describe the scene",
        "metadata": {},
        "model_name": "pro",
        "model_config": None,
        "name": "every ten seconds",
        "scenes": None,
        "callback_url": None,
    }
    assert SceneIndexRequest("m-abc", "shot_based").body()["extraction_type"] == "shot"
    assert SceneIndexRequest("m-abc").body()["extraction_config"] == {}
    identity = request.identity()
    assert json.loads(json.dumps(identity)) == identity


def test_extraction_config_shot_and_transcript_keys():
    assert parse_extraction_config({"threshold": 0, "frame_count": 3}, "shot") == {
        "threshold": 0,
        "frame_count": 3,
    }
    assert parse_extraction_config(
        {"segmenter": "sentence", "segmentation_value": 2}, "transcript"
    ) == {"segmenter": "sentence", "segmentation_value": 2}


# -- SearchRequest -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "\u200b\u200b"}, "query"),
        ({"query": "x" * 5000}, "query"),
        ({"video_id": "abc"}, "video_id"),
        ({"collection_id": "c/1"}, "collection_id"),
        ({"search_type": "fuzzy"}, "search_type"),
        ({"index_type": "visual"}, "index_type"),
        ({"search_type": "scene", "video_id": "m-a", "scene_index_id": "s1"}, "index_type"),
        ({"index_type": "scene", "video_id": "m-a"}, "scene_index_id"),
        ({"scene_index_id": "idx-1"}, "scene_index_id"),  # spoken words use no scene index
        ({"scene_index_id": "a b"}, "scene_index_id"),
        ({"search_type": "keyword"}, "search_type"),  # a collection: semantic only
        ({"score_threshold": -0.1}, "score_threshold"),
        ({"score_threshold": 1000}, "score_threshold"),
        ({"score_threshold": float("nan")}, "score_threshold"),
        ({"score_threshold": "0.5"}, "score_threshold"),
        ({"result_threshold": 0}, "result_threshold"),
        ({"result_threshold": 1001}, "result_threshold"),
        ({"result_threshold": 5.0}, "result_threshold"),
        ({"result_threshold": True}, "result_threshold"),
    ],
)
def test_search_request_refuses(kwargs, field):
    args = {"query": "goals", **kwargs}
    refused(lambda: SearchRequest(**args), field)


def test_search_request_paths_and_bodies():
    video = SearchRequest("goals", video_id="m-a", search_type="keyword", result_threshold=3)
    assert video.path == video.path_for("c-other") == "/video/m-a/search"
    assert video.body() == {
        "search_type": "keyword",
        "index_type": "spoken_word",
        "query": "goals",
        "score_threshold": None,
        "result_threshold": 3,
        "dynamic_score_percentage": None,
        "filter": [],
    }
    collection = SearchRequest("goals")
    assert collection.path_for("c-mine") == "/collection/c-mine/search"
    assert SearchRequest("goals", collection_id="c-x").path_for("c-mine") == (
        "/collection/c-x/search"
    )
    refused(lambda: collection.path, "collection_id")  # whose collection? the caller says
    refused(lambda: collection.path_for("../x"), "collection_id")
    assert collection.body()["score_threshold"] == 0.2  # the SDK's semantic defaults
    assert collection.body()["result_threshold"] == 5
    scene = SearchRequest(
        "a red car", video_id="m-a", search_type="scene", index_type="scene", scene_index_id="s1"
    )
    assert scene.body()["scene_index_id"] == "s1" and scene.body()["index_type"] == "scene"
    identity = scene.identity()
    assert json.loads(json.dumps(identity)) == identity


# -- shared rules --------------------------------------------------------------------------


def test_clip_request_identity_is_its_fields():
    request = ClipRequest("m-a", "goals", model_name="pro")
    assert request.identity() == {
        "video_id": "m-a",
        "prompt": "goals",
        "content_type": "spoken",
        "model_name": "pro",
        "scene_index_id": None,
        "callback_url": None,
        "collection_id": None,
    }


def test_validate_name_is_one_visible_line():
    assert validate_name("Évening news — 2026") == "Évening news — 2026"
    for bad in ("", " ", "\u200b", "a\rb", "a\x00b"):
        refused(lambda bad=bad: validate_name(bad), "name")
