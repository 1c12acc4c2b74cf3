"""Issue 5, item 5: the API key stays contained.

It appears in no log line, exception text, repr, XCom value, trigger kwargs or trigger
event; it is registered with Airflow's secrets masker; it is only ever sent to the
configured origin (a second local server, another origin, must see no request at all);
and TLS verification is on by default for both the sync and the async client.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_videodb.exceptions import (
    VideoDBAuthenticationError,
    VideoDBError,
    VideoDBTransportError,
    VideoDBUnsafeURLError,
)
from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.settings import VideoDBSettings
from tests.reliability.conftest import (
    ConnFactory,
    FakeStateStore,
    LogCapture,
    api_calls,
    clip_posts,
    make_context,
)
from tests.tls_support import TLSServer, serve_tls


def _texts_of(error: BaseException) -> list[str]:
    """Every way an exception can be rendered or shipped."""
    return [str(error), repr(error), repr(error.args), repr(vars(error)), repr(pickle.dumps(error))]


def _assert_absent(key: str, *things: Any) -> None:
    for thing in things:
        text = thing if isinstance(thing, str) else repr(thing)
        assert key not in text, f"the API key leaked into: {text[:300]}"


def _trigger(job_id: str, output_url: str, **kw: Any) -> Any:
    from airflow_provider_videodb.triggers.videodb import ClipJobTrigger

    args = {
        "conn_id": "videodb_default",
        "job_id": job_id,
        "output_url": output_url,
        "poll_interval": 0.2,
        "end_time": time.time() + 60,
        **kw,
    }
    return ClipJobTrigger(**args)


async def _events(trigger: Any) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


# -- reprs, serialization, masking ----------------------------------------------------------


def test_reprs_and_trigger_kwargs_hold_no_key(server: Any, fast_conn: str, api_key: str) -> None:
    from airflow_provider_videodb.operators.videodb import ClipVideoOperator

    hook = VideoDBHook()
    settings = hook.settings  # resolved: the key is in memory now
    assert settings.api_key == api_key
    trigger = _trigger("job-1", f"{server.base_url}/async-response/job-1")
    classpath, kwargs = trigger.serialize()
    op = ClipVideoOperator(task_id="clip", video_id="m-1", prompt="goal")
    _assert_absent(
        api_key,
        repr(settings),
        str(settings),
        repr(hook),
        repr(vars(hook).get("settings")),
        repr(trigger),
        json.dumps(kwargs),
        classpath,
        repr(op),
    )
    # serialize() holds primitives only and round-trips exactly
    rebuilt = type(trigger)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    hook.close()


def test_key_is_registered_with_the_secrets_masker(fast_conn: str, api_key: str) -> None:
    from airflow.sdk._shared.secrets_masker.secrets_masker import redact

    assert VideoDBHook().settings.api_key == api_key
    assert api_key not in str(redact(f"token={api_key}"))
    assert api_key not in str(redact({"x-access-token": api_key}))


def test_wrong_key_is_not_echoed(server: Any, make_conn: ConnFactory, logs: LogCapture) -> None:
    wrong = "sk-wrong-key-that-must-not-leak-42"
    make_conn(password=wrong)
    with VideoDBHook() as hook, pytest.raises(VideoDBAuthenticationError) as raised:
        hook.get_user()
    ok, message = VideoDBHook().test_connection()
    assert not ok
    _assert_absent(wrong, *_texts_of(raised.value), message, logs.text())
    assert len(api_calls(server.journal(), "GET", "/user")) == 2  # 401 is never retried


# -- the whole clip flow, with faults to provoke retry and error logs -----------------------


def test_clip_flow_leaks_no_key(
    server: Any,
    make_conn: ConnFactory,
    video: dict[str, Any],
    api_key: str,
    logs: LogCapture,
) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_videodb.operators.videodb import ClipVideoOperator

    make_conn(extra={"max_retries": 3, "retry_max_wait": 0.3})
    server.set_faults(
        [
            {
                "method": "POST",
                "path": "/video/*/clip",
                "kind": "status",
                "status": 429,
                "times": 1,
                "retry_after": 0.1,
            },
            {
                "method": "GET",
                "path": "/async-response/*",
                "kind": "status",
                "status": 503,
                "times": 2,
            },
            {"method": "GET", "path": "/async-response/*", "kind": "malformed_json", "times": 1},
            {"method": "POST", "path": "/compile", "kind": "drop_before", "times": 1},
        ]
    )
    op = ClipVideoOperator(task_id="clip", video_id=video["id"], prompt="goal", poll_interval=0.2)
    context = make_context(FakeStateStore())
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    events = asyncio.run(_events(trigger))
    result = op.execute_complete(context, events[0])
    assert events[0]["status"] == "success"
    _assert_absent(
        api_key,
        logs.text(),
        context["ti"].xcom,
        context["task_state_store"].values,
        json.dumps(result),
        events,
        trigger.serialize(),
        repr(deferred.value),
        deferred.value.kwargs,
    )
    # the faults really fired, so retry and warning log lines were produced and checked
    assert "retrying in" in logs.text()
    assert "failed (1/" in logs.text()


def test_budget_spent_and_failed_job_errors_hold_no_key(
    server: Any, make_conn: ConnFactory, video: dict[str, Any], api_key: str, logs: LogCapture
) -> None:
    from airflow_provider_videodb.operators.videodb import ClipVideoOperator

    make_conn(extra={"max_retries": 1, "retry_max_wait": 0.2})
    errors: list[BaseException] = []
    server.set_faults([{"method": "*", "path": "*", "kind": "status", "status": 503}])
    for call in (
        lambda h: h.get_user(),
        lambda h: h.get_video(video["id"]),
        lambda h: h.start_clip(video["id"], "goal"),
        lambda h: h.get_job_status(f"{server.base_url}/async-response/nope"),
    ):
        with VideoDBHook() as hook, pytest.raises(VideoDBError) as raised:
            call(hook)
        errors.append(raised.value)
    server.set_faults([{"method": "*", "path": "/video/*/clip", "kind": "fail_job"}])
    op = ClipVideoOperator(
        task_id="clip", video_id=video["id"], prompt="goal", poll_interval=0.1, deferrable=False
    )
    with pytest.raises(VideoDBError) as failed:
        op.execute(make_context(FakeStateStore()))
    errors.append(failed.value)
    for error in errors:
        _assert_absent(api_key, *_texts_of(error))
    _assert_absent(api_key, logs.text())


# -- only the configured origin ever receives the key ----------------------------------------


@pytest.fixture
def hostile_origin(server: Any, other_server: Any) -> Iterator[str]:
    """The API answers with absolute URLs on ANOTHER origin (the second server)."""
    other_server.clear_journal()
    server.configure(public_origin=other_server.base_url)
    try:
        yield other_server.base_url
    finally:
        server.configure(public_origin="")


def test_foreign_output_url_from_clip_start_is_refused(
    server: Any, other_server: Any, hostile_origin: str, fast_conn: str, video: dict[str, Any]
) -> None:
    from airflow_provider_videodb.operators.videodb import ClipVideoOperator

    with VideoDBHook() as hook, pytest.raises(VideoDBUnsafeURLError) as raised:
        hook.start_clip(video["id"], "goal")
    assert hostile_origin in str(raised.value)
    op = ClipVideoOperator(task_id="clip", video_id=video["id"], prompt="goal")
    with pytest.raises(VideoDBUnsafeURLError):
        op.execute(make_context(FakeStateStore()))
    op = ClipVideoOperator(task_id="c", video_id=video["id"], prompt="goal", deferrable=False)
    with pytest.raises(VideoDBUnsafeURLError):
        op.execute(make_context(FakeStateStore()))
    assert len(clip_posts(server.journal())) == 3
    assert other_server.journal() == []


async def test_trigger_refuses_foreign_output_url(
    server: Any, other_server: Any, fast_conn: str, api_key: str
) -> None:
    other_server.clear_journal()
    url = f"{other_server.base_url}/async-response/abc"
    events = await _events(_trigger("abc", url))
    assert len(events) == 1 and events[0]["status"] == "error"
    assert "origin" in events[0]["message"]
    _assert_absent(api_key, events)
    assert other_server.journal() == []
    assert server.journal() == []


def test_resume_and_reattach_refuse_foreign_urls(
    server: Any, other_server: Any, fast_conn: str, video: dict[str, Any]
) -> None:
    """A tampered trigger event or task_state_store cannot make the worker send the key."""
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_videodb.operators.videodb import CLIP_JOB_STATE_KEY, ClipVideoOperator

    other_server.clear_journal()
    foreign = f"{other_server.base_url}/async-response/abc"
    op = ClipVideoOperator(task_id="clip", video_id=video["id"], prompt="goal")
    event = {"status": "success", "job_id": "abc", "output_url": foreign, "message": "done"}
    with pytest.raises(VideoDBUnsafeURLError):
        op.execute_complete(make_context(), event)
    # A stored job on another origin is never polled; a fresh job is submitted instead.
    store = FakeStateStore()
    with pytest.raises(TaskDeferred):
        op.execute(make_context(store))
    stored = dict(store.values[CLIP_JOB_STATE_KEY])
    store.values[CLIP_JOB_STATE_KEY] = {**stored, "output_url": foreign}
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context(store))
    assert urlsplit(deferred.value.trigger.output_url).netloc == urlsplit(server.base_url).netloc
    assert other_server.journal() == []


def _foreign_variants(base: str, other: str) -> list[str]:
    main, far = urlsplit(base), urlsplit(other)
    return [
        f"{other}/async-response/x",
        f"//{far.netloc}/async-response/x",
        f"http://{main.netloc}@{far.netloc}/async-response/x",
        f"http://localhost:{far.port}/async-response/x",
        f"https://{main.netloc}/async-response/x",
        f"http://{main.hostname}:{far.port}/async-response/x",
        "file:///etc/passwd",
        "",
    ]


def test_unsafe_url_variants_refused_without_a_request(
    server: Any, other_server: Any, fast_conn: str, api_key: str
) -> None:
    other_server.clear_journal()
    with VideoDBHook() as hook:
        for url in _foreign_variants(server.base_url, other_server.base_url):
            with pytest.raises(VideoDBUnsafeURLError) as raised:
                hook.get_job_status(url)
            _assert_absent(api_key, *_texts_of(raised.value))
    assert other_server.journal() == []
    assert server.journal() == []


# -- TLS verification is on by default -----------------------------------------------------


@pytest.fixture(scope="module")
def self_signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    """An HTTPS server with a self-signed certificate that records any request it gets."""
    done = {"success": True, "status": "done", "data": {"results": []}}
    with serve_tls(tmp_path_factory.mktemp("tls"), done) as server:
        yield server


def test_tls_verification_is_on_by_default(
    self_signed_server: TLSServer, make_conn: ConnFactory, api_key: str
) -> None:
    base_url, cert = self_signed_server.base_url, str(self_signed_server.ca_bundle)
    make_conn(host=base_url, extra={"max_retries": 1, "retry_max_wait": 0.1})
    self_signed_server.requests.clear()
    hook = VideoDBHook()
    assert hook.settings.verify is True
    assert VideoDBSettings(base_url="https://x.example", api_key="k").verify is True
    with pytest.raises(VideoDBTransportError) as raised:
        hook.get_user()
    assert raised.value.sent is False  # refused in the handshake, before the request left
    events = asyncio.run(_events(_trigger("j", f"{base_url}/async-response/j")))
    assert events[0]["status"] == "error"
    assert self_signed_server.requests == []  # the key never crossed an unverified connection
    _assert_absent(api_key, *_texts_of(raised.value), events)

    # The same server is reachable once its CA is trusted: the refusal above was TLS.
    make_conn(host=base_url, extra={"verify": cert})
    with VideoDBHook() as trusting:
        trusting.get_job_status(f"{base_url}/async-response/j")
    events = asyncio.run(_events(_trigger("j", f"{base_url}/async-response/j")))
    assert events[0]["status"] == "success"
    assert len(self_signed_server.requests) == 2
