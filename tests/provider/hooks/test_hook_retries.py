"""The sync retry policy, proven with the local server's faults and journal.

Timing is only ever checked as a loose lower bound (the server's own journal timestamps),
never against wall time.
"""

from __future__ import annotations

import re
import socket
from itertools import pairwise

import pytest

from airflow_provider_videodb import exceptions as exc
from airflow_provider_videodb.hooks.videodb import VideoDBHook
from tests.provider.hook_support import (
    fast_hook,
    hook_logs,
    requests_to,
    set_conn,
    settled_requests,
)

CLIP = "/video/*/clip"
RETRY_LOG = re.compile(r"attempt (\d+) of (\d+) failed \((.*)\); retrying in ([\d.]+) s")


@pytest.fixture
def hook(server, monkeypatch):
    with fast_hook(monkeypatch, server) as hook:
        yield hook


@pytest.fixture
def video_id(hook, server):
    video_id = server.video_ids()[0]
    server.clear_journal()
    return video_id


def retry_logs(logs: str) -> list[tuple[int, int, str, float]]:
    """(attempt, attempts allowed, reason, wait) of each retry line in the hook's log output."""
    return [
        (int(attempt), int(total), reason, float(wait))
        for attempt, total, reason, wait in RETRY_LOG.findall(logs)
    ]


def test_429_honours_retry_after(hook, server, video_id, capsys, caplog):
    server.set_faults([{"kind": "status", "status": 429, "retry_after": 1, "times": 2}])
    assert hook.get_video(video_id)["id"] == video_id
    entries = requests_to(server, "GET", "/video/*")
    assert [e["status"] for e in entries] == [429, 429, 200]
    gaps = [later["time"] - earlier["time"] for earlier, later in pairwise(entries)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # waited at least what Retry-After said
    logs = retry_logs(hook_logs(capsys, caplog))
    assert [(a, t) for a, t, _, _ in logs] == [(1, 4), (2, 4)]
    assert all("HTTP 429" in reason and wait >= 1.0 for _, _, reason, wait in logs)


def test_retry_after_is_capped_by_retry_max_wait(server, monkeypatch, capsys, caplog):
    hook = fast_hook(monkeypatch, server, retry_max_wait=0.5)
    server.set_faults([{"kind": "status", "status": 503, "retry_after": 3600, "times": 1}])
    assert hook.get_user()["user_name"]
    [(_, _, reason, wait)] = retry_logs(hook_logs(capsys, caplog))
    assert "HTTP 503" in reason and wait <= 0.5


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried(hook, server, video_id, status):
    server.set_faults([{"kind": "status", "status": status, "times": 2}])
    assert hook.get_video(video_id)["id"] == video_id
    assert [e["status"] for e in server.journal()] == [status, status, 200]


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "drop_before", "times": 1},
        {"kind": "drop_after", "times": 1},
        {"kind": "delay", "seconds": 4, "times": 1},  # slower than the 2 s read timeout
        {"kind": "malformed_json", "times": 1},
        {"kind": "success_false", "times": 1},
    ],
)
def test_transient_faults_on_idempotent_calls_are_survived(
    hook, server, video_id, fault, capsys, caplog
):
    server.set_faults([{**fault, "path": "/video/*/stream"}])
    result = hook.generate_stream(video_id, [[0, 5]], length=30)
    assert result["stream_url"]
    assert len(settled_requests(server, "POST", "/video/*/stream", 2)) == 2
    [(attempt, _, reason, _)] = retry_logs(hook_logs(capsys, caplog))
    assert attempt == 1 and reason


def test_budget_spent_gives_a_clear_error(hook, server, video_id, capsys, caplog):
    server.set_faults([{"kind": "status", "status": 503, "message": "maintenance"}])
    with pytest.raises(exc.VideoDBServerError) as info:
        hook.get_video(video_id)
    text = str(info.value)
    assert "HTTP 503" in text and "maintenance" in text and "gave up after 4 attempts" in text
    assert len(server.journal()) == 4  # first attempt + max_retries=3
    assert len(retry_logs(hook_logs(capsys, caplog))) == 3


def test_zero_retry_budget(server, monkeypatch, video_id):
    hook = fast_hook(monkeypatch, server, max_retries=0)
    server.set_faults([{"kind": "status", "status": 503}])
    with pytest.raises(exc.VideoDBServerError) as info:
        hook.get_video(video_id)
    assert "gave up" not in str(info.value)
    assert len(server.journal()) == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 502},
        {"kind": "status", "status": 504},
        {"kind": "drop_after"},
        {"kind": "drop_before"},  # the client cannot tell it from drop_after
        {"kind": "delay", "seconds": 4},  # read timeout: the job may have been created
        {"kind": "malformed_json"},
        {"kind": "success_false"},
    ],
)
def test_post_clip_not_retried_where_the_service_may_have_taken_it(hook, server, video_id, fault):
    server.set_faults([{**fault, "method": "POST", "path": CLIP, "times": 1}])
    with pytest.raises(exc.VideoDBAPIError) as info:
        hook.start_clip(video_id, "weather")
    assert len(settled_requests(server, "POST", CLIP, 1)) == 1, "exactly one POST /clip"
    assert info.value.attempts == 1


@pytest.mark.parametrize("status", [429, 503])
def test_post_clip_retried_where_the_service_surely_did_not_take_it(hook, server, video_id, status):
    server.set_faults(
        [{"kind": "status", "status": status, "method": "POST", "path": CLIP, "times": 2}]
    )
    jobs_before = server.stats()["jobs_created"]
    job = hook.start_clip(video_id, "weather")
    assert job.job_id
    posts = requests_to(server, "POST", CLIP)
    assert [e["status"] for e in posts] == [status, status, 200]
    assert server.stats()["jobs_created"] - jobs_before == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_retried_even_for_post_clip(monkeypatch, capsys, caplog):
    set_conn(
        monkeypatch,
        "videodb_refused",
        host=f"http://127.0.0.1:{_closed_port()}",
        password="sk-refused-0000",
        max_retries=2,
        retry_max_wait=0.2,
    )
    hook = VideoDBHook("videodb_refused")
    hook.retry_backoff_base = 0.01
    with pytest.raises(exc.VideoDBTransportError) as info:
        hook.start_clip("m-abc", "weather")
    err = info.value
    assert err.sent is False and err.status is None
    assert "before the request was sent" in str(err)
    assert "gave up after 3 attempts" in str(err)
    assert [a for a, _, _, _ in retry_logs(hook_logs(capsys, caplog))] == [1, 2]


def test_read_timeout_on_get_is_retried_then_reported(server, monkeypatch, video_id):
    hook = fast_hook(monkeypatch, server, timeout=0.5, max_retries=1)
    server.set_faults([{"kind": "delay", "seconds": 2, "path": "/video/*"}])
    with pytest.raises(exc.VideoDBTransportError) as info:
        hook.get_video(video_id)
    assert info.value.sent is True
    assert "after the request was sent" in str(info.value)
    assert "gave up after 2 attempts" in str(info.value)
    # both slow answers are journaled once the server finished them: wait, so that they do
    # not land in the next test's journal
    assert len(settled_requests(server, "GET", "/video/*", 2)) == 2


def test_sent_or_not_is_told_from_the_requests_exception():
    import requests
    import urllib3.exceptions as u3

    from airflow_provider_videodb.transport.sync_http import _root_cause, _was_sent

    def wrapped(reason: Exception) -> requests.ConnectionError:
        return requests.ConnectionError(u3.MaxRetryError(None, "/video/m-a/clip", reason))

    refused = wrapped(u3.NewConnectionError(None, "Connection refused"))
    assert _was_sent(refused) is False
    assert isinstance(_root_cause(refused), u3.NewConnectionError)
    assert _was_sent(requests.ConnectTimeout("connect timed out")) is False
    assert _was_sent(wrapped(u3.ConnectTimeoutError("connect timed out"))) is False
    aborted = u3.ProtocolError("Connection aborted.", ConnectionResetError())
    assert _was_sent(requests.ConnectionError(aborted)) is True
    assert _was_sent(requests.ReadTimeout("read timed out")) is True
    assert _was_sent(requests.exceptions.ChunkedEncodingError("broken body")) is True
