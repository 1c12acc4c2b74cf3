"""Adversarial catalogue for issue 10 ("Trust"), provider transport side: classes 1, 2 and 4.

Against real parts only: the suite's local VideoDB server, and a hostile HTTP server on
127.0.0.1 started here (:class:`HostileServer`) that drips headers or bodies a byte at a
time, announces or streams answers far larger than any real one, or answers JSON nested
100000 deep. The one stand-in is a poll that raises a bug on purpose (class 4: a trigger
always ends in exactly one event), where no real server can make the provider misbehave.

* Class 1: a key the HTTP stack refuses (CR/LF, non-latin-1) is never printed: not in the
  error, its cause/context chain, a log line or the output; refused once, never retried.
* Class 2: every request ends by a deadline: the connection's ``timeout`` in total
  (connect, headers, body), and no request of a wait runs past the wait's own deadline.
* Class 4: answers are bounded (32 MiB, refused while reading), JSON nested too deeply is
  a typed error, and a trigger turns anything unexpected into one ``error`` event.
  Also: ``ClipJobTrigger`` refuses bad wait parameters up front.

Timing: deadline tests assert "ended within the deadline plus generous slack" against a
server that would otherwise hold the request for :data:`DRIP_SECONDS`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import socket
import socketserver
import threading
import time
import traceback
import tracemalloc
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_videodb import exceptions as exc
from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.polling import JobWait, PollTracker, wait_for_job
from airflow_provider_videodb.responses import RequestInfo
from airflow_provider_videodb.settings import VideoDBSettings
from airflow_provider_videodb.transport.async_http import fetch_job_status
from airflow_provider_videodb.triggers.videodb import ClipJobTrigger

#: How long the hostile server drips before it gives up (what an unbounded client waits).
DRIP_SECONDS = 20.0
DRIP_STEP = 0.25
MIB = 1024 * 1024
CAP = 32 * MIB  # the provider's answer cap, as documented (responses.MAX_ANSWER_BYTES)
HUGE = 64 * MIB
BLOCK = b" " * (64 * 1024)
NESTED = b"[" * 100_000 + b"]" * 100_000


# -- the hostile server ---------------------------------------------------------------------


class _Handler(socketserver.BaseRequestHandler):
    server: HostileServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(DRIP_SECONDS + 10)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                data += chunk
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
            path = urlsplit(target).path
            self.server.seen.append((method, path))
            mode = next((m for m in path.split("/") if m in _MODES), "ok")
            _MODES[mode](sock)
        except OSError:
            pass  # the client gave up (what a deadline or a cap does)


def _send(sock: socket.socket, status: str, headers: dict[str, str], body: bytes = b"") -> None:
    lines = [f"HTTP/1.1 {status}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def _drip_headers(sock: socket.socket) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nX-Drip: ")
    end = time.monotonic() + DRIP_SECONDS
    while time.monotonic() < end:
        sock.sendall(b"a")
        time.sleep(DRIP_STEP)
    body = b'{"success": true, "data": {}}'
    sock.sendall(f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)


def _drip_body(sock: socket.socket) -> None:
    _send(sock, "200 OK", {"Content-Type": "application/json", "Content-Length": "100000"})
    end = time.monotonic() + DRIP_SECONDS
    while time.monotonic() < end:
        sock.sendall(b" ")
        time.sleep(DRIP_STEP)


def _huge(sock: socket.socket) -> None:
    """Content-Length 64 MiB, streamed lazily (never built in memory)."""
    _send(sock, "200 OK", {"Content-Type": "application/json", "Content-Length": str(HUGE)})
    for _ in range(HUGE // len(BLOCK)):
        sock.sendall(BLOCK)


def _endless(sock: socket.socket) -> None:
    """Chunked, no length, longer than any cap (bounded at 64 MiB so an unbounded client
    still finishes)."""
    _send(sock, "200 OK", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    frame = f"{len(BLOCK):x}\r\n".encode() + BLOCK + b"\r\n"
    for _ in range(HUGE // len(BLOCK)):
        sock.sendall(frame)
    sock.sendall(b"0\r\n\r\n")


def _nested(sock: socket.socket) -> None:
    _send(
        sock,
        "200 OK",
        {"Content-Type": "application/json", "Content-Length": str(len(NESTED))},
        NESTED,
    )


def _ok(sock: socket.socket) -> None:
    body = b'{"success": true, "status": "processing", "data": {"percentage": 10}}'
    _send(
        sock, "200 OK", {"Content-Type": "application/json", "Content-Length": str(len(body))}, body
    )


_MODES = {
    "ok": _ok,
    "drip-headers": _drip_headers,
    "drip-body": _drip_body,
    "huge": _huge,
    "endless": _endless,
    "nested": _nested,
}


class HostileServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str]] = []
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, mode: str) -> str:
        return f"{self.base_url}/async-response/{mode}"


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def settings_for(base_url: str, **fields: Any) -> VideoDBSettings:
    values: dict[str, Any] = {"timeout": 2.0, "connect_timeout": 1.0, "max_retries": 0}
    values.update(fields)
    return VideoDBSettings(base_url=base_url, api_key="sk-hostile-test-000", **values)


def quick_hook(settings: VideoDBSettings) -> VideoDBHook:
    hook = VideoDBHook.from_settings(settings)
    hook.retry_backoff_base = 0.05
    return hook


def define_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, host: str, **extra: Any) -> str:
    conn = {
        "conn_type": "videodb",
        "host": host,
        "password": "sk-hostile-test-000",
        "extra": {"max_retries": 0, **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


async def trigger_events(trigger: ClipJobTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


# -- class 1: a key the HTTP stack refuses is never printed ---------------------------------

BAD_KEYS = {"crlf": "sk-abc\r\nX: y", "non-latin-1": "sk-ключ"}


def key_forms(key: str) -> set[str]:
    """The key as it could appear in text: as is, repr-escaped, ascii-escaped, and its
    distinctive tail (what a library quoting part of the header would show)."""
    tail = key[3:]
    return {key, repr(key)[1:-1], ascii(key)[1:-1], tail, repr(tail)[1:-1], ascii(tail)[1:-1]}


def exception_texts(error: BaseException) -> str:
    """The error, every exception in its cause/context chain (str, repr, args), and the
    formatted traceback."""
    texts, seen = [], set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        todo += [current.__cause__, current.__context__]
    texts.append("".join(traceback.format_exception(error)))
    return "\n".join(texts)


def bad_key_settings(server: Any, key: str) -> VideoDBSettings:
    """Valid settings for the local server, then the refused key put in past validation."""
    settings = VideoDBSettings(base_url=server.base_url, api_key=server.api_key, max_retries=3)
    object.__setattr__(settings, "api_key", key)
    return settings


def assert_key_nowhere(key: str, *texts: str) -> None:
    for form in key_forms(key):
        for text in texts:
            assert form not in text, f"the key ({form!r}) leaked"


@pytest.mark.parametrize("key", list(BAD_KEYS.values()), ids=list(BAD_KEYS))
def test_sync_refused_key_is_a_config_error_never_printed_never_retried(
    server, key, caplog, capfd, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    hook = quick_hook(bad_key_settings(server, key))
    attempts = []
    send_once = hook._send_once
    monkeypatch.setattr(
        hook, "_send_once", lambda *a, **k: attempts.append(1) or send_once(*a, **k)
    )
    with pytest.raises(exc.VideoDBError) as info:
        hook.get_user()
    hook.close()
    assert isinstance(info.value, exc.VideoDBConfigError), repr(info.value)
    assert "password" in str(info.value)
    assert len(attempts) == 1  # refused once, not retried
    out, err = capfd.readouterr()
    logs = "\n".join(record.getMessage() for record in caplog.records)
    assert_key_nowhere(key, exception_texts(info.value), out, err, logs)
    assert not [entry for entry in server.journal() if entry["path"] == "/user"]


@pytest.mark.parametrize("key", list(BAD_KEYS.values()), ids=list(BAD_KEYS))
async def test_async_refused_key_is_a_config_error_never_printed(server, key, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    settings = bad_key_settings(server, key)
    url = f"{server.base_url}/async-response/some-job"
    with pytest.raises(exc.VideoDBError) as info:
        await fetch_job_status(settings, url)
    assert isinstance(info.value, exc.VideoDBConfigError), repr(info.value)
    assert "password" in str(info.value)
    out, err = capfd.readouterr()
    logs = "\n".join(record.getMessage() for record in caplog.records)
    assert_key_nowhere(key, exception_texts(info.value), out, err, logs)
    assert not [e for e in server.journal() if e["path"].startswith("/async-response/")]


# -- class 2: every request ends by a deadline ----------------------------------------------


@pytest.mark.parametrize("mode", ["drip-headers", "drip-body"])
def test_sync_request_ends_by_the_connection_timeout_in_total(hostile, mode):
    hook = quick_hook(settings_for(hostile.base_url, timeout=2.0))
    started = time.monotonic()
    with pytest.raises(exc.VideoDBTransportError) as info:
        hook.request("GET", f"/async-response/{mode}")
    elapsed = time.monotonic() - started
    hook.close()
    assert elapsed < 6.0, f"a 2 s timeout took {elapsed:.1f} s"
    assert "deadline of 2 s" in str(info.value)
    assert info.value.sent is True


def test_a_finished_requests_deadline_never_cuts_the_next_one_on_its_connection(server):
    """Deadlines of finished requests are left to lapse in the watchdog; when they do,
    they must not shut the pooled connection that now serves a later request."""
    hook = quick_hook(
        dataclasses.replace(settings_for(server.base_url, timeout=0.5), api_key=server.api_key)
    )
    try:

        def opened() -> int:  # the admin call itself opens one connection each time
            return int(server.stats()["connections_opened"])

        before = opened()
        per_stats_call = opened() - before
        before += per_stats_call
        for _ in range(4):  # each call outlives the previous call's deadline
            assert hook.get_user()
            time.sleep(0.7)
        hook_connections = opened() - before - per_stats_call
        assert hook_connections == 1  # one pooled connection, never shut by a stale deadline
    finally:
        hook.close()


def test_sync_post_hit_by_its_deadline_is_not_blindly_retried(hostile):
    hook = quick_hook(settings_for(hostile.base_url, timeout=2.0, max_retries=3))
    path = "/video/drip-body/clip"
    started = time.monotonic()
    with pytest.raises(exc.VideoDBTransportError) as info:
        hook.request(
            "POST", path, body={"prompt": "x"}, info=RequestInfo("POST", path, "drip-body")
        )
    elapsed = time.monotonic() - started
    hook.close()
    assert elapsed < 6.0
    assert info.value.sent is True
    assert [seen for seen in hostile.seen if seen[0] == "POST"] == [("POST", path)]


def test_sync_job_status_with_a_deadline_ends_by_it(hostile):
    hook = quick_hook(settings_for(hostile.base_url, timeout=30.0))
    started = time.monotonic()
    with pytest.raises(exc.VideoDBTransportError):
        hook.get_job_status(hostile.url("drip-body"), deadline=time.time() + 2.0)
    elapsed = time.monotonic() - started
    hook.close()
    assert elapsed < 6.0, f"a 2 s deadline took {elapsed:.1f} s"


@pytest.mark.parametrize("mode", ["drip-headers", "drip-body"])
def test_worker_wait_ends_near_its_deadline_whatever_the_fetch(hostile, mode):
    # timeout=30: only the wait's own deadline can end the dripping poll in time. The fetch
    # is a plain one, as an operator writes it: the wait itself bounds its requests.
    hook = quick_hook(settings_for(hostile.base_url, timeout=30.0))
    url = hostile.url(mode)
    tracker = PollTracker(
        JobWait.from_primitives(
            job_id="job-drip", output_url=url, end_time=time.time() + 3.0, poll_interval=0.2
        )
    )
    started = time.monotonic()
    event = wait_for_job(tracker, lambda: hook.get_job_status(url), logging.getLogger("test"))
    elapsed = time.monotonic() - started
    hook.close()
    assert event["status"] in ("timeout", "error"), event
    assert elapsed < 8.0, f"a 3 s wait took {elapsed:.1f} s"


@pytest.mark.parametrize("mode", ["drip-headers", "drip-body"])
async def test_async_poll_ends_by_the_connection_timeout_in_total(hostile, mode):
    settings = settings_for(hostile.base_url, timeout=2.0)
    started = time.monotonic()
    with pytest.raises(exc.VideoDBTransportError) as info:
        await fetch_job_status(settings, hostile.url(mode))
    elapsed = time.monotonic() - started
    assert elapsed < 6.0, f"a 2 s timeout took {elapsed:.1f} s"
    assert "deadline of 2 s" in str(info.value)


async def test_async_poll_ends_by_the_wait_deadline(hostile):
    settings = settings_for(hostile.base_url, timeout=30.0)
    started = time.monotonic()
    with pytest.raises(exc.VideoDBTransportError):
        await fetch_job_status(settings, hostile.url("drip-body"), deadline=time.time() + 2.0)
    assert time.monotonic() - started < 6.0


async def test_trigger_against_a_dripping_poll_ends_soon_after_its_deadline(hostile, monkeypatch):
    conn_id = define_conn(monkeypatch, "videodb_drip", hostile.base_url, timeout=30.0)
    trigger = ClipJobTrigger(
        conn_id=conn_id,
        job_id="job-drip",
        output_url=hostile.url("drip-body"),
        poll_interval=0.2,
        end_time=time.time() + 3.0,
    )
    started = time.monotonic()
    events = await asyncio.wait_for(trigger_events(trigger), DRIP_SECONDS + 15)
    elapsed = time.monotonic() - started
    assert len(events) == 1, events
    assert events[0]["status"] == "timeout", events
    assert elapsed < 8.0, f"a 3 s deadline took {elapsed:.1f} s"


# -- class 4: answers are bounded -----------------------------------------------------------


def assert_cap_named(error: BaseException) -> None:
    assert isinstance(error, exc.VideoDBResponseError), repr(error)
    assert str(CAP) in str(error) and "32 MiB" in str(error), str(error)
    assert error.retryable  # like any unusable answer (a GET may be read again)


@pytest.mark.parametrize("mode", ["huge", "endless"])
def test_sync_answer_larger_than_the_cap_is_refused_while_reading(hostile, mode):
    hook = quick_hook(settings_for(hostile.base_url, timeout=60.0))
    tracemalloc.start()
    try:
        with pytest.raises(exc.VideoDBError) as info:
            hook.get_job_status(hostile.url(mode))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        hook.close()
    assert_cap_named(info.value)
    assert peak < CAP + 8 * MIB, f"peak {peak / MIB:.0f} MiB for a refused answer"


@pytest.mark.parametrize("mode", ["huge", "endless"])
async def test_async_answer_larger_than_the_cap_is_refused_while_reading(hostile, mode):
    settings = settings_for(hostile.base_url, timeout=60.0)
    with pytest.raises(exc.VideoDBError) as info:
        await fetch_job_status(settings, hostile.url(mode))
    assert_cap_named(info.value)


def test_sync_deeply_nested_json_is_a_response_error(hostile):
    hook = quick_hook(settings_for(hostile.base_url))
    with pytest.raises(exc.VideoDBError) as info:
        hook.get_job_status(hostile.url("nested"))
    hook.close()
    assert isinstance(info.value, exc.VideoDBResponseError), repr(info.value)
    assert "nested" in str(info.value)


async def test_async_deeply_nested_json_is_a_response_error(hostile):
    with pytest.raises(exc.VideoDBError) as info:
        await fetch_job_status(settings_for(hostile.base_url), hostile.url("nested"))
    assert isinstance(info.value, exc.VideoDBResponseError), repr(info.value)


async def test_trigger_polling_deeply_nested_json_ends_in_one_error_event(hostile, monkeypatch):
    conn_id = define_conn(monkeypatch, "videodb_nested", hostile.base_url)
    trigger = ClipJobTrigger(
        conn_id=conn_id,
        job_id="job-nested",
        output_url=hostile.url("nested"),
        poll_interval=0.05,
        end_time=time.time() + 30,
        max_consecutive_failures=1,
    )
    events = await asyncio.wait_for(trigger_events(trigger), 30)
    assert len(events) == 1, events
    assert events[0]["status"] == "error"
    assert events[0]["job_id"] == "job-nested"


async def test_trigger_turns_a_bug_into_one_error_event(hostile, monkeypatch):
    # The one stand-in: no server can make the provider's own code raise.
    def broken(payload, info=None):
        raise RuntimeError("internal detail that must stay out of the event")

    monkeypatch.setattr("airflow_provider_videodb.transport.async_http.parse_job_status", broken)
    conn_id = define_conn(monkeypatch, "videodb_bug", hostile.base_url)
    trigger = ClipJobTrigger(
        conn_id=conn_id,
        job_id="job-bug",
        output_url=f"{hostile.base_url}/async-response/ok",  # answers {"success": ...}
        poll_interval=0.05,
        end_time=time.time() + 30,
    )
    events = await asyncio.wait_for(trigger_events(trigger), 30)
    assert len(events) == 1, events
    event = events[0]
    assert event["status"] == "error"
    assert "job-bug" in event["message"] and "RuntimeError" in event["message"]
    assert "internal detail" not in event["message"]


# -- ClipJobTrigger's wait parameters are checked up front ----------------------------------

GOOD_TRIGGER = {
    "conn_id": "videodb_default",
    "job_id": "job-1",
    "output_url": "http://127.0.0.1:9/async-response/job-1",
    "poll_interval": 5.0,
    "end_time": 1_900_000_000.0,
    "max_consecutive_failures": 3,
    "max_poll_interval": 60.0,
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("poll_interval", 0),
        ("poll_interval", -1.0),
        ("poll_interval", math.nan),
        ("poll_interval", math.inf),
        ("poll_interval", True),
        ("poll_interval", "5"),
        ("end_time", math.nan),
        ("end_time", -5.0),
        ("end_time", None),
        ("max_poll_interval", 1.0),  # below poll_interval
        ("max_poll_interval", math.inf),
        ("max_consecutive_failures", -1),
        ("max_consecutive_failures", True),
        ("max_consecutive_failures", 2.5),
        ("max_consecutive_failures", "3"),
    ],
)
def test_trigger_refuses_bad_wait_parameters(field, value):
    with pytest.raises(exc.VideoDBValidationError) as info:
        ClipJobTrigger(**{**GOOD_TRIGGER, field: value})
    assert info.value.field == field


def test_trigger_accepts_good_wait_parameters_and_round_trips():
    trigger = ClipJobTrigger(**GOOD_TRIGGER)
    path, kwargs = trigger.serialize()
    assert ClipJobTrigger(**kwargs).serialize() == (path, kwargs)
    assert isinstance(kwargs["max_consecutive_failures"], int)
