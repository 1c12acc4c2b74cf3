"""VideoDBHook against the local VideoDB server: calls, wire format, errors."""

from __future__ import annotations

import time

import pytest

from airflow_provider_videodb import __version__
from airflow_provider_videodb import exceptions as exc
from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.responses import Shot, parse_clip_shots
from tests.form_support import require_real_wtforms
from tests.provider.hook_support import fast_hook, requests_to, set_conn

CLIENT = f"airflow-provider-videodb/{__version__}"


@pytest.fixture
def hook(server, monkeypatch):
    with fast_hook(monkeypatch, server) as hook:
        yield hook


@pytest.fixture
def video(hook, server):
    found = next(v for v in hook.list_videos() if v["length"] >= 60)
    server.clear_journal()  # tests count only their own requests
    return found


def wait_done(hook, output_url, limit=60.0):
    deadline = time.time() + limit
    while time.time() < deadline:
        status = hook.get_job_status(output_url)
        if status.state != "processing":
            return status
        time.sleep(0.2)
    raise AssertionError("job did not finish")


def test_init_does_no_io_and_missing_connection_is_a_config_error(server):
    hook = VideoDBHook("videodb_nowhere", collection_id="c-abc")
    assert server.journal() == []
    with pytest.raises(exc.VideoDBConfigError, match="'videodb_nowhere' is not defined"):
        hook.settings  # noqa: B018
    with pytest.raises(exc.VideoDBValidationError, match="collection_id"):
        VideoDBHook(collection_id="nope")


def test_default_connection_and_test_connection(videodb_conn, server):
    hook = VideoDBHook()
    ok, message = hook.test_connection()
    assert ok, message
    assert "Local User" in message and server.base_url in message
    assert server.api_key not in message
    [entry] = requests_to(server, "GET", "/user")
    assert entry["auth"] == "ok"
    assert entry["headers"]["x-videodb-client"] == CLIENT
    assert entry["headers"]["user-agent"] == CLIENT


def test_test_connection_reports_the_error_without_the_key(server, monkeypatch):
    wrong = "sk-wrong-key-that-must-not-leak"
    set_conn(monkeypatch, "videodb_wrong", host=server.base_url, password=wrong)
    ok, message = VideoDBHook("videodb_wrong").test_connection()
    assert not ok
    assert "GET /user: HTTP 401" in message
    assert wrong not in message and server.api_key not in message


def test_get_and_list_videos_length_is_float(hook, server):
    server.configure(length_style="string")  # the service may send "191.146667"
    videos = hook.list_videos()
    assert videos and all(isinstance(v["length"], float) for v in videos)
    video = hook.get_video(videos[0]["id"])
    assert video["id"] == videos[0]["id"] and isinstance(video["length"], float)
    [entry] = requests_to(server, "GET", "/video/m-*")
    assert entry["query"] == "collection_id=default"


def test_whole_video_stream_sends_null_timeline(hook, server, video):
    result = hook.generate_stream(video["id"], None, length=video["length"])
    assert result["stream_url"].endswith(".m3u8")
    assert result["player_url"]
    [entry] = requests_to(server, "POST", "/video/*/stream")
    assert entry["body"] == {"timeline": None, "length": video["length"]}
    assert entry["headers"]["content-type"].startswith("application/json")


def test_timeline_stream_and_json_string_timeline(hook, server, video):
    first = hook.generate_stream(video["id"], [[0, 5], [10, 12.5]], length=video["length"])
    second = hook.generate_stream(video["id"], "[[0, 5], [10, 12.5]]", length=video["length"])
    assert first["stream_url"] == second["stream_url"]
    bodies = [e["body"] for e in requests_to(server, "POST", "/video/*/stream")]
    assert bodies == [{"timeline": [[0.0, 5.0], [10.0, 12.5]], "length": video["length"]}] * 2


@pytest.mark.parametrize(
    ("timeline", "field"),
    [
        ([[0, 5], [50, 1e6]], "timeline[1]"),  # beyond the video's length
        ([[5, 1]], "timeline[0]"),
        ([], "timeline"),
        ([[0, float("nan")]], "timeline[0].end"),
    ],
)
def test_invalid_timeline_sends_nothing(hook, server, video, timeline, field):
    with pytest.raises(exc.VideoDBValidationError) as info:
        hook.generate_stream(video["id"], timeline, length=video["length"])
    assert info.value.field == field
    assert server.journal() == []


def test_clip_job_poll_and_compile(hook, server, video):
    job = hook.start_clip(video["id"], "weather forecast", model_name="pro")
    assert job.output_url.startswith(server.base_url)
    [post] = requests_to(server, "POST", "/video/*/clip")
    assert post["body"] == {
        "prompt": "weather forecast",
        "content_type": "spoken",
        "model_name": "pro",
    }
    status = wait_done(hook, job.output_url)
    assert status.state == "done"
    shots = parse_clip_shots(status.data or {})
    assert shots, "the demo transcript mentions the weather"
    compiled = hook.compile_shots(video["id"], shots)
    assert compiled["stream_url"].endswith(".m3u8")
    [entry] = requests_to(server, "POST", "/compile")
    assert entry["body"] == [
        {
            "video_id": video["id"],
            "collection_id": "default",
            "shots": [[s.start, s.end] for s in shots],
        }
    ]


def test_clip_optional_fields_are_sent_when_given(hook, server, video):
    hook.start_clip(
        video["id"],
        "cooking",
        content_type="spoken",
        scene_index_id="0123456789abcdef",
        callback_url="http://127.0.0.1:9/cb",
    )
    [post] = requests_to(server, "POST", "/video/*/clip")
    assert post["body"]["scene_index_id"] == "0123456789abcdef"
    assert post["body"]["callback_url"] == "http://127.0.0.1:9/cb"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prompt": ""},
        {"prompt": "x" * 5000},
        {"content_type": "audio"},
        {"model_name": "mega"},
        {"scene_index_id": "x/y"},
        {"callback_url": "ftp://x/cb"},
        {"video_id": "not-a-video"},
    ],
)
def test_invalid_clip_input_sends_nothing(hook, server, kwargs):
    args = {"video_id": "m-abc", "prompt": "goals", **kwargs}
    with pytest.raises(exc.VideoDBValidationError):
        hook.start_clip(args.pop("video_id"), args.pop("prompt"), **args)
    assert server.journal() == []


def test_compile_accepts_dicts_and_pairs_and_refuses_nothing(hook, server, video):
    vid = video["id"]
    assert hook.compile_shots(vid, [{"start": 1, "end": 2}, (3, 4), Shot(5.0, 6.0)])["stream_url"]
    with pytest.raises(exc.VideoDBValidationError, match="nothing to compile"):
        hook.compile_shots(vid, [])
    with pytest.raises(exc.VideoDBValidationError) as info:
        hook.compile_shots(vid, [(4, 3)])
    assert info.value.field == "shots[0]"
    assert len(requests_to(server, "POST", "/compile")) == 1


def test_not_found_from_the_service(hook, server):
    with pytest.raises(exc.VideoDBNotFoundError) as info:
        hook.get_video("m-doesnotexist")
    err = info.value
    assert (err.status, err.video_id, err.method) == (404, "m-doesnotexist", "GET")
    assert str(err).startswith("GET /video/m-doesnotexist (video m-doesnotexist): HTTP 404")
    assert len(server.journal()) == 1  # never retried


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, exc.VideoDBBadRequestError),
        (401, exc.VideoDBAuthenticationError),
        (402, exc.VideoDBInsufficientCreditsError),
        (403, exc.VideoDBPermissionError),
        (404, exc.VideoDBNotFoundError),
        (500, exc.VideoDBServerError),
    ],
)
def test_error_status_never_retried(hook, server, video, status, cls):
    server.set_faults([{"kind": "status", "status": status, "path": "/video/*/stream"}])
    with pytest.raises(cls) as info:
        hook.generate_stream(video["id"], None, length=video["length"])
    assert info.value.status == status
    assert f"POST /video/{video['id']}/stream (video {video['id']}): HTTP {status}" in str(
        info.value
    )
    assert len(requests_to(server, "POST", "/video/*/stream")) == 1


def test_plan_and_credit_errors_from_the_service(server, monkeypatch, video):
    broke = [k for k, _, plan in (key.partition(":") for key in server.api_keys) if plan == "broke"]
    if not broke:
        pytest.skip("the session server has no key without credits")
    broke_key = broke[0]
    set_conn(monkeypatch, "videodb_broke", host=server.base_url, password=broke_key)
    with pytest.raises(exc.VideoDBInsufficientCreditsError) as info:
        VideoDBHook("videodb_broke").start_clip(video["id"], "goals")
    assert info.value.status == 402 and broke_key not in str(info.value)
    assert len(requests_to(server, "POST", "/video/*/clip")) == 1


def test_one_session_per_hook_reuses_its_connection(hook, server, video):
    for _ in range(5):
        hook.get_video(video["id"])
    assert len({e["connection"] for e in server.journal()}) == 1
    session = hook.get_conn()
    assert session is hook.get_conn()
    hook.close()
    assert hook.get_conn() is not session  # a closed hook opens a fresh session on use


def test_collection_override(server, monkeypatch, video):
    set_conn(monkeypatch, "videodb_coll", host=server.base_url, password=server.api_key)
    hook = VideoDBHook("videodb_coll", collection_id="c-elsewhere")
    assert hook.settings.collection_id == "c-elsewhere"
    with pytest.raises(exc.VideoDBAPIError):
        hook.get_video(video["id"])  # not in that collection
    assert requests_to(server, "GET", "/video/*")[0]["query"] == "collection_id=c-elsewhere"


def test_tls_verification_is_on_by_default(videodb_conn):
    hook = VideoDBHook()
    assert hook.settings.verify is True
    assert hook.get_conn().verify is True


def test_connection_form_classmethods_match_the_provider_info():
    """Airflow < 3.2 asks the hook; newer versions read the provider info: same answer."""
    from airflow_provider_videodb import get_provider_info

    [conn_type] = get_provider_info()["connection-types"]
    behaviour = VideoDBHook.get_ui_field_behaviour()
    declared = conn_type["ui-field-behaviour"]
    assert behaviour["hidden_fields"] == declared["hidden-fields"]
    assert behaviour["relabeling"] == declared["relabeling"]
    assert behaviour["placeholders"] == declared["placeholders"]
    assert "password" not in behaviour["hidden_fields"] and "host" not in behaviour["hidden_fields"]


def test_connection_form_widgets_match_the_provider_info():
    from airflow_provider_videodb import get_provider_info

    [conn_type] = get_provider_info()["connection-types"]
    require_real_wtforms()
    widgets = VideoDBHook.get_connection_form_widgets()
    assert set(widgets) == set(conn_type["conn-fields"])
