"""The async job-status read: one attempt, shared pool, same interpretation as sync."""

from __future__ import annotations

import asyncio
import socket

import pytest

from airflow_provider_videodb import exceptions as exc
from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.settings import VideoDBSettings
from airflow_provider_videodb.transport import async_http
from airflow_provider_videodb.transport.async_http import fetch_job_status
from airflow_provider_videodb.transport.loop import CONNECTION_LIMIT, LoopTransport
from tests.provider.hook_support import fast_hook, requests_to, set_conn, settled_requests
from tests.provider.transport.transport_support import aget_job_status

POLL = "/async-response/*"


@pytest.fixture
def hook(server, monkeypatch):
    with fast_hook(monkeypatch, server, timeout=1.0) as hook:
        yield hook


@pytest.fixture
def job(hook, server):
    """A clip job started through the sync hook."""
    started = hook.start_clip(server.video_ids()[0], "weather forecast")
    server.clear_journal()
    return started


async def poll_until_terminal(settings, output_url, limit=200):
    async with LoopTransport.current().session():
        for _ in range(limit):
            status = await fetch_job_status(settings, output_url)
            if status.state != "processing":
                return status
            await asyncio.sleep(0.1)
    raise AssertionError("job never finished")


@pytest.mark.parametrize("shape", ["flat", "wrapped"])
async def test_polls_a_job_to_done(hook, server, job, shape):
    server.configure(terminal_shape=shape)
    status = await poll_until_terminal(hook.settings, job.output_url)
    assert status.state == "done" and status.data and status.data["results"]
    polls = requests_to(server, "GET", POLL)
    assert polls and all(p["auth"] == "ok" for p in polls)
    assert polls[0]["headers"]["x-videodb-client"].startswith("airflow-provider-videodb/")


async def test_job_failure_is_a_status_not_an_exception(hook, server, job):
    server.set_faults([{"kind": "fail_job", "path": POLL, "times": 1}])
    status = await poll_until_terminal(hook.settings, job.output_url)
    assert (status.state, status.error_code) == ("failed", "job_failed")
    assert status.message and "failure" in status.message


@pytest.mark.parametrize(
    ("fault", "cls", "retryable"),
    [
        ({"kind": "status", "status": 503, "retry_after": 1.5}, exc.VideoDBServerError, True),
        ({"kind": "status", "status": 429, "retry_after": 99}, exc.VideoDBRateLimitError, True),
        ({"kind": "status", "status": 401}, exc.VideoDBAuthenticationError, False),
        ({"kind": "status", "status": 500}, exc.VideoDBServerError, False),
        ({"kind": "malformed_json"}, exc.VideoDBResponseError, True),
        ({"kind": "success_false"}, exc.VideoDBResponseError, True),
        ({"kind": "drop_after"}, exc.VideoDBTransportError, True),
        ({"kind": "delay", "seconds": 3}, exc.VideoDBTransportError, True),  # > 1 s read timeout
    ],
)
async def test_errors_are_typed_by_the_shared_interpreter_one_attempt(
    hook, server, job, fault, cls, retryable
):
    server.set_faults([{**fault, "path": POLL}])
    with pytest.raises(cls) as info:
        await fetch_job_status(hook.settings, job.output_url)
    err = info.value
    assert type(err) is cls and err.retryable is retryable
    assert err.method == "GET" and err.path == f"/async-response/{job.job_id}"
    if fault.get("retry_after"):
        assert err.retry_after == min(fault["retry_after"], hook.settings.retry_max_wait)
    if cls is exc.VideoDBTransportError:
        assert err.sent is True
    sent = len(settled_requests(server, "GET", POLL, 1))
    if fault["kind"] == "drop_after":
        # aiohttp itself re-sends an idempotent request once when the connection drops
        # (RFC 9112 section 9.3.1): harmless for a poll, and no further attempts follow.
        assert sent in (1, 2)
    else:
        assert sent == 1, "exactly one attempt"


async def test_unknown_job_is_not_found(hook, server):
    with pytest.raises(exc.VideoDBNotFoundError):
        await fetch_job_status(hook.settings, f"{server.base_url}/async-response/nope")


async def test_connection_refused_is_marked_not_sent():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = VideoDBSettings(f"http://127.0.0.1:{port}", "sk-refused-0000", connect_timeout=1)
    with pytest.raises(exc.VideoDBTransportError) as info:
        await fetch_job_status(settings, f"http://127.0.0.1:{port}/async-response/j")
    assert info.value.sent is False and info.value.retryable


async def test_shared_session_is_refcounted_per_loop(hook, job):
    transport = LoopTransport.current()
    assert transport.users == 0
    async with transport.session() as first:
        async with transport.session() as second:
            assert first is second
            assert transport.users == 2
            await fetch_job_status(hook.settings, job.output_url)  # joins, does not reopen
            assert transport.users == 2
        assert not first.closed
    assert first.closed and transport.users == 0
    async with transport.session() as again:  # a later user opens a fresh one
        assert again is not first and not again.closed


async def test_many_concurrent_polls_share_a_bounded_pool(hook, server, job):
    async with LoopTransport.current().session():
        results = await asyncio.gather(
            *(fetch_job_status(hook.settings, job.output_url) for _ in range(300))
        )
    assert len(results) == 300
    connections = {entry["connection"] for entry in requests_to(server, "GET", POLL)}
    assert len(requests_to(server, "GET", POLL)) == 300
    assert len(connections) <= CONNECTION_LIMIT


async def test_the_event_loop_keeps_running_during_a_slow_answer(hook, server, job):
    server.set_faults([{"kind": "delay", "seconds": 0.8, "path": POLL}])
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await fetch_job_status(hook.settings, job.output_url)
    finally:
        task.cancel()
    assert ticks >= 10  # a blocking call would have starved the ticker completely


async def test_per_settings_objects_are_built_once(hook):
    settings = hook.settings
    assert settings.shared_headers is settings.shared_headers
    assert async_http._client_timeout(1.0, 2.0) is async_http._client_timeout(1.0, 2.0)


async def test_aget_settings_and_the_3_1_fallback(server, monkeypatch):
    set_conn(monkeypatch, "videodb_async", host=server.base_url, password=server.api_key, timeout=7)
    settings = await VideoDBHook.aget_settings("videodb_async")
    assert (settings.base_url, settings.timeout) == (server.base_url, 7.0)
    from airflow.sdk import BaseHook

    monkeypatch.delattr(BaseHook, "aget_connection")  # as on Airflow 3.1
    LoopTransport.current().forget_settings()  # else the cached entry answers without any lookup
    assert await VideoDBHook.aget_settings("videodb_async") == settings
    with pytest.raises(exc.VideoDBConfigError, match="is not defined"):
        await VideoDBHook.aget_settings("videodb_absent")


async def test_hook_async_helper_resolves_settings_without_blocking(server, monkeypatch, job):
    set_conn(monkeypatch, "videodb_helper", host=server.base_url, password=server.api_key)
    hook = VideoDBHook("videodb_helper")
    status = await aget_job_status(hook, job.output_url)
    assert status.state in {"processing", "done"}
    assert hook.settings.base_url == server.base_url
