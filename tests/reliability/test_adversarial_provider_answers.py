"""Issue 10, classes 3-7: what the provider does with answers it must not trust.

Each case runs real code (the hook, the operators, the trigger, the extra link) against a
real HTTP server: either the suite's local VideoDB server or, for answers the local server
never gives (odd statuses, malformed results, ``javascript:`` URLs, a video without a
length, a clip of 1,500 shots), a small crafted server on 127.0.0.1 that this module starts
and that answers exactly the JSON a test sets. Mocks only where nothing real can stand in
(Airflow's XCom backend, for the extra link).

* Class 3: only a known success is success (statuses that run, end well, end badly, and
  anything else: an error naming the status, never ``shots: []``).
* Class 4: every malformed answer is a typed :class:`VideoDBResponseError`.
* Class 5: URLs from the service are http(s) with a host, or refused naming the field.
* Class 6: errors name what the user set; the service's data is not user input.
* Class 7: operator parameters of the wrong type or size are refused in ``__init__``.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_videodb.exceptions import (
    VideoDBJobFailedError,
    VideoDBResponseError,
    VideoDBValidationError,
)
from tests.reliability.conftest import (
    ConnFactory,
    FakeStateStore,
    api_calls,
    make_context,
)

VIDEO_ID = "m-crafted0001"
JOB_ID = "job-crafted-1"
CRAFTED_KEY = "sk-crafted-0123456789abcdef"
JS_URL = "javascript:alert(document.domain)"


# -- a server that answers what a test tells it to --------------------------------------


class CraftedServer:
    """A real HTTP server on 127.0.0.1 that answers crafted JSON, route by route.

    ``answer(method, path, *payloads)``: successive requests get successive payloads, the
    last one repeats. A payload is a JSON value (``NaN``/``Infinity`` allowed, as Python's
    json writes them) or ``bytes`` sent as is. Every request is recorded.
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        crafted = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path.rstrip("/") or "/"
                body: Any = json.loads(raw) if raw else None
                with crafted._lock:
                    crafted.requests.append({"method": self.command, "path": path, "body": body})
                    queue = crafted.routes.get((self.command, path))
                    payload = None if not queue else queue.pop(0) if len(queue) > 1 else queue[0]
                if queue is None:
                    data = json.dumps({"success": False, "message": "no such route"}).encode()
                    self.send_response(404)
                else:
                    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, method: str, path: str, *payloads: Any) -> None:
        with self._lock:
            self.routes[(method, path)] = list(payloads)

    def calls(self, method: str, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["method"] == method and r["path"] == path]

    def reset(self) -> None:
        with self._lock:
            self.routes.clear()
            self.requests.clear()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- the answers a pipeline needs, on this origin --------------------------------------

    @property
    def output_url(self) -> str:
        return f"{self.base_url}/async-response/{JOB_ID}"

    def clip_start(self) -> None:
        self.answer(
            "POST",
            f"/video/{VIDEO_ID}/clip",
            {
                "success": True,
                "status": "processing",
                "data": {"id": JOB_ID, "output_url": self.output_url},
            },
        )

    def poll(self, *payloads: Any) -> None:
        self.answer("GET", f"/async-response/{JOB_ID}", *payloads)

    def stream_answer(self, path: str, **data: Any) -> None:
        urls = {
            "stream_url": f"{self.base_url}/stream/s-1.m3u8",
            "player_url": f"{self.base_url}/watch?v=s-1",
        }
        self.answer("POST", path, {"success": True, "data": {**urls, **data}})

    def video_answer(self, **fields: Any) -> None:
        video = {"id": VIDEO_ID, "collection_id": "default", "name": "crafted", **fields}
        self.answer("GET", f"/video/{VIDEO_ID}", {"success": True, "data": video})


@pytest.fixture(scope="module")
def crafted_server() -> Iterator[CraftedServer]:
    server = CraftedServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def crafted(crafted_server: CraftedServer, monkeypatch: pytest.MonkeyPatch) -> CraftedServer:
    """The crafted server, emptied, and ``videodb_default`` pointing at it."""
    crafted_server.reset()
    ConnFactory(monkeypatch, crafted_server.base_url, CRAFTED_KEY)()
    return crafted_server


def crafted_hook(crafted: CraftedServer) -> Any:
    from airflow_provider_videodb.hooks.videodb import VideoDBHook

    return VideoDBHook("videodb_default")


def shot_docs(*pairs: tuple[Any, Any]) -> dict[str, Any]:
    docs = [
        {"start": s, "end": e, "text": f"shot {i}", "score": 0.5} for i, (s, e) in enumerate(pairs)
    ]
    return {"results": [{"video_id": VIDEO_ID, "collection_id": "default", "docs": docs}]}


def done(data: Any, *, wrapped: bool = False, status: str = "done") -> dict[str, Any]:
    if wrapped:
        return {"status": status, "response": {"success": True, "data": data}}
    return {"success": True, "status": status, "data": data}


RUNNING = {"success": True, "status": "processing", "data": {"percentage": 10}}


def clip_op(**kw: Any) -> Any:
    from airflow_provider_videodb.operators.videodb import ClipVideoOperator

    args: dict[str, Any] = {
        "task_id": "clip",
        "video_id": VIDEO_ID,
        "prompt": "a goal",
        "deferrable": False,
        "poll_interval": 0.02,
        "timeout": 30.0,
        **kw,
    }
    return ClipVideoOperator(**args)


def finish(op: Any, crafted: CraftedServer, context: dict[str, Any] | None = None) -> Any:
    """The operator's resumption after a trigger said success (no wait: one poll)."""
    event = {"status": "success", "job_id": JOB_ID, "output_url": crafted.output_url}
    return op.execute_complete(context or make_context(), event)


# =========================================================================================
# Class 3: only a known success is success
# =========================================================================================


@pytest.mark.parametrize("status", ["queued", "pending", "processing", "in progress", "Queued"])
def test_c3_running_statuses_keep_polling(crafted, status):
    crafted.poll({"success": True, "status": status})
    with crafted_hook(crafted) as hook:
        assert hook.get_job_status(crafted.output_url).state == "processing"


@pytest.mark.parametrize("status", ["done", "complete", "completed"])
@pytest.mark.parametrize("wrapped", [False, True], ids=["flat", "wrapped"])
def test_c3_documented_successes_end_as_done(crafted, status, wrapped):
    crafted.poll(done(shot_docs((1, 2)), wrapped=wrapped, status=status))
    with crafted_hook(crafted) as hook:
        result = hook.get_job_status(crafted.output_url)
    assert result.state == "done"
    assert result.data == shot_docs((1, 2))


@pytest.mark.parametrize(
    "payload",
    [
        {"success": False, "status": "failed", "message": "model crashed"},
        {"status": "error", "response": {"success": False, "message": "model crashed"}},
        {"success": True, "status": "failed", "message": "model crashed"},  # status decides
        {"status": "done", "response": {"success": False, "message": "model crashed"}},
    ],
    ids=["failed", "error-wrapped", "failed-success-true", "done-success-false"],
)
def test_c3_documented_failures_end_as_failed(crafted, payload):
    crafted.poll(payload)
    with crafted_hook(crafted) as hook:
        result = hook.get_job_status(crafted.output_url)
    assert (result.state, result.message) == ("failed", "model crashed")


def test_c3_done_without_success_flag_but_with_data_is_a_success(crafted):
    """Decision (documented in parse_job_status): a success status with a data object and
    no ``success`` flag is a success; with ``success: false`` it is a failure."""
    crafted.poll({"status": "done", "data": shot_docs((1, 2))})
    with crafted_hook(crafted) as hook:
        assert hook.get_job_status(crafted.output_url).state == "done"


@pytest.mark.parametrize(
    "payload",
    [
        {"success": True, "status": "finished-ish"},
        {"success": True, "status": "success", "data": shot_docs((1, 2))},
        {"success": True, "status": "cancelled", "data": {}},
        {"status": "queued2", "response": {"success": True, "data": {}}},
    ],
)
def test_c3_unknown_status_is_a_response_error_naming_it(crafted, payload):
    crafted.poll(payload)
    with crafted_hook(crafted) as hook, pytest.raises(VideoDBResponseError) as info:
        hook.get_job_status(crafted.output_url)
    assert repr(payload["status"]) in str(info.value)


def test_c3_queued_keeps_the_wait_going_until_the_real_result(crafted):
    """``queued`` (with success: true) is not the end: the task returns the real shots."""
    crafted.clip_start()
    crafted.poll(
        {"success": True, "status": "queued"},
        {"success": True, "status": "queued"},
        {"success": True, "status": "pending"},
        done(shot_docs((1, 2), (3, 4))),
    )
    crafted.stream_answer("/compile")
    result = clip_op().execute(make_context())
    assert [(s["start"], s["end"]) for s in result["shots"]] == [(1.0, 2.0), (3.0, 4.0)]
    assert result["stream_url"] == f"{crafted.base_url}/stream/s-1.m3u8"


def test_c3_unknown_status_fails_the_task_naming_it_never_empty_success(crafted):
    crafted.clip_start()
    crafted.poll({"success": True, "status": "archived"})
    with pytest.raises(VideoDBJobFailedError) as info:
        clip_op().execute(make_context())  # the default failure budget (5) does not apply
    assert "'archived'" in str(info.value)
    # the first such answer ends the wait
    assert len(crafted.calls("GET", f"/async-response/{JOB_ID}")) == 1
    assert crafted.calls("POST", "/compile") == []


def test_c3_unknown_status_at_resumption_is_an_error_not_empty_shots(crafted):
    crafted.poll({"success": True, "status": "archived"})
    with pytest.raises(VideoDBResponseError, match="'archived'"):
        finish(clip_op(), crafted)


async def test_c3_trigger_ends_with_an_error_naming_the_unknown_status(crafted):
    from airflow_provider_videodb.triggers.videodb import ClipJobTrigger

    crafted.poll({"success": True, "status": "archived"})
    trigger = ClipJobTrigger(
        conn_id="videodb_default",
        job_id=JOB_ID,
        output_url=crafted.output_url,
        poll_interval=0.02,
        end_time=time.time() + 30,
        max_consecutive_failures=5,
    )
    events = [event.payload async for event in trigger.run()]
    assert [e["status"] for e in events] == ["error"]
    assert "'archived'" in events[0]["message"]
    assert len(crafted.calls("GET", f"/async-response/{JOB_ID}")) == 1


def test_c3_retry_reattaches_to_a_job_whose_status_is_not_understood(crafted):
    """job_memory: an unknown status is "cannot tell": wait on the job, neither finish
    from it (done) nor submit a second billable job (failed)."""
    from airflow_provider_videodb.job_memory import (
        ClipJobMemory,
        request_fingerprint,
    )
    from airflow_provider_videodb.responses import AsyncJob

    op = clip_op()
    store = FakeStateStore()
    fingerprint = request_fingerprint("videodb_default", dataclasses.asdict(op._request()))
    memory = ClipJobMemory(store, fingerprint)
    memory.remember(AsyncJob(JOB_ID, crafted.output_url), time.time())
    crafted.clip_start()
    crafted.poll(
        {"success": True, "status": "archived"},  # what the retry sees first
        RUNNING,
        done(shot_docs((5, 6))),
    )
    crafted.stream_answer("/compile")
    result = op.execute(make_context(store))
    assert crafted.calls("POST", f"/video/{VIDEO_ID}/clip") == []  # no second job
    assert [(s["start"], s["end"]) for s in result["shots"]] == [(5.0, 6.0)]


def test_c3_previous_job_state_unknown_status_is_reattach(crafted):
    import logging

    from airflow_provider_videodb.job_memory import previous_job_state
    from airflow_provider_videodb.responses import AsyncJob

    crafted.poll({"success": True, "status": "archived", "data": {}})
    with crafted_hook(crafted) as hook:
        decision = previous_job_state(
            hook, AsyncJob(JOB_ID, crafted.output_url), logging.getLogger("t")
        )
    assert decision == "reattach"


# =========================================================================================
# Class 4: every malformed answer is a typed VideoDBResponseError
# =========================================================================================

BIG = 10**400  # valid JSON, too large for a float


@pytest.mark.parametrize(
    "data",
    [
        {"results": 5},
        {"results": {"docs": []}},
        {"results": [5]},
        {"results": ["doc"]},
        {"results": [{"docs": 5}]},
        {"results": [{"docs": {"start": 1, "end": 2}}]},
        {"results": [{"docs": [5]}]},
        {"results": [{"docs": [[1, 2]]}]},
        {},
        shot_docs(("x", 2)),
        shot_docs((1, [2])),
        shot_docs((None, 2)),
        shot_docs((True, 2)),
        shot_docs((float("nan"), 2)),
        shot_docs((1, float("inf"))),
        shot_docs((BIG, BIG + 1)),
        {"results": [{"docs": [{"start": 1, "end": 2, "score": "high"}]}]},
    ],
    ids=[
        "results-int",
        "results-object",
        "result-int",
        "result-str",
        "docs-int",
        "docs-object",
        "doc-int",
        "doc-list",
        "no-results",
        "start-str",
        "end-list",
        "start-null",
        "start-bool",
        "start-nan",
        "end-inf",
        "start-too-big-for-float",
        "score-str",
    ],
)
def test_c4_malformed_clip_result_is_a_response_error(crafted, data):
    crafted.poll(done(data))
    crafted.stream_answer("/compile")
    with pytest.raises(VideoDBResponseError):
        finish(clip_op(), crafted)
    assert crafted.calls("POST", "/compile") == []


@pytest.mark.parametrize(
    "payload",
    [
        {"success": True, "status": "done", "data": 5},
        {"success": True, "status": "done", "data": [1, 2]},
        {"success": True, "status": "done"},
        {"status": "done", "response": 5},
        {"status": "done", "response": {"success": True, "data": "results"}},
        {"status": "done", "success": "yes", "data": {}},
        {"status": 5, "success": True, "data": {}},
        {"success": True, "data": {"results": []}},  # no status at all
    ],
    ids=lambda p: json.dumps(p)[:60],
)
def test_c4_malformed_job_answer_is_a_response_error_never_empty_shots(crafted, payload):
    crafted.poll(payload)
    with pytest.raises(VideoDBResponseError):
        finish(clip_op(), crafted)


@pytest.mark.parametrize(
    ("video", "call"),
    [
        ({"length": "long"}, "get"),
        ({"length": -5}, "get"),
        ({"length": BIG}, "get"),
        ({"length": [10]}, "get"),
        ({"stream_url": 5}, "get"),
    ],
)
def test_c4_malformed_video_is_a_response_error(crafted, video, call):
    crafted.video_answer(**video)
    with crafted_hook(crafted) as hook, pytest.raises(VideoDBResponseError):
        hook.get_video(VIDEO_ID)


@pytest.mark.parametrize(
    "data",
    [{"videos": 5}, {"videos": {}}, {"videos": "m-1"}, {"videos": [5]}, {"videos": None}, {}],
    ids=lambda d: json.dumps(d),
)
def test_c4_malformed_video_list_is_a_response_error(crafted, data):
    crafted.answer("GET", "/video", {"success": True, "data": data})
    with crafted_hook(crafted) as hook, pytest.raises(VideoDBResponseError):
        hook.list_videos()


@pytest.mark.parametrize(
    "payload",
    [
        {"success": True, "data": 5},
        {"success": True, "data": []},
        {"success": True, "data": {"stream_url": 5}},
        {"success": True, "data": {"stream_url": ["https://a/b.m3u8"]}},
    ],
    ids=lambda p: json.dumps(p),
)
def test_c4_malformed_stream_answer_is_a_response_error(crafted, payload):
    crafted.video_answer(length=60)
    crafted.answer("POST", f"/video/{VIDEO_ID}/stream", payload)
    from airflow_provider_videodb.operators.videodb import GenerateStreamOperator

    op = GenerateStreamOperator(task_id="s", video_id=VIDEO_ID, timeline=[[0, 5]])
    with pytest.raises(VideoDBResponseError):
        op.execute(make_context())


# =========================================================================================
# Class 5: URLs from the service are checked before anyone clicks them
# =========================================================================================

BAD_URLS = [
    JS_URL,
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd",
    "vbscript:msgbox(1)",
    "//evil.example/watch?v=1",
    "/watch?v=1",
    "http:///watch?v=1",
    "https://evil.example/\njavascript:alert(1)",
    "https://good.example\\@evil.example/",
]


@pytest.mark.parametrize("bad", BAD_URLS)
def test_c5_player_url_of_a_new_stream_is_refused_and_never_pushed(crafted, bad):
    from airflow_provider_videodb.operators.videodb import GenerateStreamOperator

    crafted.video_answer(length=60)
    crafted.stream_answer(f"/video/{VIDEO_ID}/stream", player_url=bad)
    op = GenerateStreamOperator(task_id="s", video_id=VIDEO_ID, timeline=[[0, 5]])
    context = make_context()
    with pytest.raises(VideoDBResponseError, match="player_url"):
        op.execute(context)
    assert "player_url" not in context["ti"].xcom
    assert op.pushed_player_url is None


@pytest.mark.parametrize("field", ["stream_url", "player_url"])
def test_c5_urls_of_the_existing_whole_video_stream_are_refused(crafted, field):
    from airflow_provider_videodb.operators.videodb import GenerateStreamOperator

    urls = {"stream_url": f"{crafted.base_url}/s.m3u8", "player_url": f"{crafted.base_url}/w"}
    crafted.video_answer(length=60, **{**urls, field: JS_URL})
    op = GenerateStreamOperator(task_id="s", video_id=VIDEO_ID)
    context = make_context()
    with pytest.raises(VideoDBResponseError, match=field):
        op.execute(context)
    assert context["ti"].xcom == {}


@pytest.mark.parametrize("field", ["stream_url", "player_url"])
def test_c5_urls_of_a_compiled_clip_are_refused(crafted, field):
    crafted.poll(done(shot_docs((1, 2))))
    crafted.stream_answer("/compile", **{field: JS_URL})
    context = make_context()
    with pytest.raises(VideoDBResponseError, match=field):
        finish(clip_op(), crafted, context)
    assert "player_url" not in context["ti"].xcom


def test_c5_a_long_bad_url_is_not_echoed_in_full(crafted):
    long_bad = "javascript:" + "a" * 5000
    crafted.video_answer(length=60)
    crafted.stream_answer(f"/video/{VIDEO_ID}/stream", stream_url=long_bad)
    with crafted_hook(crafted) as hook, pytest.raises(VideoDBResponseError) as info:
        hook.generate_stream(VIDEO_ID, [[0, 5]], length=60.0)
    message = str(info.value)
    assert "stream_url" in message
    assert len(message) < 400


def test_c5_good_urls_are_kept(crafted):
    """Guard: http(s) URLs with a host pass untouched (also the service's player shape)."""
    from airflow_provider_videodb.operators.videodb import GenerateStreamOperator

    player = "https://console.videodb.io/player?url=https://stream.videodb.io/v3/x.m3u8"
    crafted.video_answer(length=60)
    crafted.stream_answer(f"/video/{VIDEO_ID}/stream", player_url=player)
    op = GenerateStreamOperator(task_id="s", video_id=VIDEO_ID, timeline=[[0, 5]])
    context = make_context()
    result = op.execute(context)
    assert result["player_url"] == player
    assert context["ti"].xcom["player_url"] == player


@pytest.mark.parametrize("bad", [JS_URL, "data:text/html,x", "/relative", 5, None])
def test_c5_extra_link_refuses_a_bad_url_it_was_handed(bad):
    from airflow_provider_videodb.links.videodb import VideoDBPlayerLink

    op = clip_op()
    op.pushed_player_url = bad
    assert VideoDBPlayerLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]


def test_c5_extra_link_refuses_a_bad_url_already_in_xcom(monkeypatch):
    """An XCom written by anything else (an older run, another writer): the link target is
    still checked. (Airflow's XCom backend is the one thing replaced here.)"""
    from types import SimpleNamespace

    from airflow.sdk.execution_time.xcom import XCom

    from airflow_provider_videodb.links.videodb import VideoDBPlayerLink

    stored = {"value": JS_URL}
    monkeypatch.setattr(XCom, "get_value", lambda **kw: stored["value"])
    op = SimpleNamespace(task_id="s")  # as the API server sees a task: no pushed_player_url
    assert VideoDBPlayerLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]
    stored["value"] = "https://console.videodb.io/watch?v=abc"
    assert VideoDBPlayerLink().get_link(op, ti_key=None) == stored["value"]


# =========================================================================================
# Class 6: errors name what the user set, not what the service sent
# =========================================================================================


def test_c6_video_without_length_still_streams_whole(crafted):
    from airflow_provider_videodb.operators.videodb import GenerateStreamOperator

    crafted.video_answer()  # no length, no existing stream
    crafted.stream_answer(f"/video/{VIDEO_ID}/stream")
    result = GenerateStreamOperator(task_id="s", video_id=VIDEO_ID).execute(make_context())
    assert result["stream_url"] == f"{crafted.base_url}/stream/s-1.m3u8"
    [post] = crafted.calls("POST", f"/video/{VIDEO_ID}/stream")
    assert post["body"] == {"timeline": None, "length": None}  # as the official SDK sends


def test_c6_video_without_length_and_a_timeline_says_so(crafted):
    from airflow_provider_videodb.operators.videodb import GenerateStreamOperator

    crafted.video_answer()
    crafted.stream_answer(f"/video/{VIDEO_ID}/stream")
    op = GenerateStreamOperator(task_id="s", video_id=VIDEO_ID, timeline=[[0, 5]])
    with pytest.raises(VideoDBResponseError) as info:
        op.execute(make_context())
    assert f"video {VIDEO_ID} has no length from the service" in str(info.value)
    assert not isinstance(info.value, VideoDBValidationError)
    assert crafted.calls("POST", f"/video/{VIDEO_ID}/stream") == []


def test_c6_whole_video_without_length_on_the_real_server(server, videodb_conn, video):
    """The local server accepts a whole-video stream with ``length: null`` (as the SDK sends
    it for a video whose length it does not know)."""
    from airflow_provider_videodb.hooks.videodb import VideoDBHook

    with VideoDBHook(videodb_conn) as hook:
        result = hook.generate_stream(video["id"], None, length=None)
    assert result["stream_url"].startswith(server.base_url)


def test_c6_a_clip_of_1500_shots_compiles_in_entries_of_at_most_1000(crafted):
    pairs = [(i * 2.0, i * 2.0 + 1.0) for i in range(1500)]
    crafted.poll(done(shot_docs(*pairs)))
    crafted.stream_answer("/compile")
    result = finish(clip_op(), crafted)
    assert len(result["shots"]) == 1500
    [post] = crafted.calls("POST", "/compile")
    entries = post["body"]
    assert [len(entry["shots"]) for entry in entries] == [1000, 500]
    assert {entry["video_id"] for entry in entries} == {VIDEO_ID}
    assert [pair for entry in entries for pair in entry["shots"]] == [list(p) for p in pairs]


def test_c6_1500_shots_compile_on_the_real_server(server, videodb_conn, video):
    """The local server's /compile takes at most 1,000 shots per entry: the split works."""
    from airflow_provider_videodb.hooks.videodb import VideoDBHook
    from airflow_provider_videodb.responses import Shot

    step = min(video["length"], 60.0) / 1500
    shots = [Shot(i * step, (i + 1) * step) for i in range(1500)]
    with VideoDBHook(videodb_conn) as hook:
        result = hook.compile_shots(video["id"], shots)
    assert result["stream_url"].startswith(server.base_url)
    assert len(api_calls(server.journal(), "POST", "/compile")) == 1  # one stream, one call


def test_c6_negative_shot_start_from_the_service_is_a_response_error(crafted):
    crafted.poll(done(shot_docs((-1.0, 2.0))))
    crafted.stream_answer("/compile")
    with pytest.raises(VideoDBResponseError) as info:
        finish(clip_op(), crafted)
    assert not isinstance(info.value, VideoDBValidationError)
    assert "shots[0]" not in str(info.value)
    assert crafted.calls("POST", "/compile") == []


def test_c6_shots_a_user_passes_are_still_user_input(crafted):
    """Guard: the user-input path keeps its validation (field names, the 1,000 limit)."""
    with crafted_hook(crafted) as hook:
        with pytest.raises(VideoDBValidationError) as info:
            hook.compile_shots(VIDEO_ID, [(-1, 2)])
        assert info.value.field.startswith("shots[0]")
        with pytest.raises(VideoDBValidationError):
            hook.compile_shots(VIDEO_ID, [(i, i + 0.5) for i in range(1001)])
    assert crafted.calls("POST", "/compile") == []


# =========================================================================================
# Class 7: operator parameters are what they claim to be
# =========================================================================================


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_consecutive_failures", "5"),
        ("max_consecutive_failures", 2.7),
        ("max_consecutive_failures", 5.0),
        ("max_consecutive_failures", True),
        ("max_consecutive_failures", -1),
        ("max_consecutive_failures", 10**6),
        ("max_consecutive_failures", None),
        ("deferrable", "false"),
        ("deferrable", "true"),
        ("deferrable", 0),
        ("deferrable", 1),
        ("fail_on_empty", "no"),
        ("fail_on_empty", 1),
        ("fail_on_empty", None),
        ("timeout", 1e12),
        ("poll_interval", 1e12),
        ("max_poll_interval", 1e12),
        ("timeout", "3600"),
    ],
)
def test_c7_clip_operator_parameters_are_checked_in_init(field, value):
    with pytest.raises(VideoDBValidationError) as info:
        clip_op(**{field: value})
    assert info.value.field == field


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_consecutive_failures": 0},
        {"max_consecutive_failures": 1000},
        {"deferrable": True},
        {"deferrable": None},
        {"fail_on_empty": True},
        {"timeout": 7 * 24 * 3600.0, "poll_interval": 60, "max_poll_interval": 600},
    ],
)
def test_c7_sane_values_are_accepted(kwargs):
    op = clip_op(**kwargs)
    for name, value in kwargs.items():
        if value is not None:
            assert getattr(op, name) == value
    assert isinstance(op.deferrable, bool)


def test_c7_a_long_timeout_defers_without_overflow(crafted):
    """The operator's own arithmetic (deadline, deferral timeout) stays finite."""
    try:
        from airflow.sdk.exceptions import TaskDeferred
    except ImportError:  # Airflow 3.1
        from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

    crafted.clip_start()
    op = clip_op(deferrable=True, timeout=30 * 24 * 3600.0, poll_interval=60)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context())
    assert info.value.timeout is not None and info.value.timeout.days >= 30
