"""ClipJobTrigger driven to its event against the local VideoDB server."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.transport.loop import LoopTransport
from airflow_provider_videodb.triggers.videodb import ClipJobTrigger

FAST = 0.05  # poll interval for tests: the twin's jobs take a fraction of a second


@pytest.fixture
def news_id(server, api) -> str:
    videos = api.get(f"{server.base_url}/video", params={"collection_id": "default"}).json()
    return next(v["id"] for v in videos["data"]["videos"] if v["name"].startswith("Evening"))


@pytest.fixture
def start_job(server, videodb_conn, news_id):
    """Submit a clip job through the hook; returns (job_id, output_url)."""

    def start(prompt: str = "weather forecast", job_seconds: float = 0.3) -> tuple[str, str]:
        server.configure(job_seconds=job_seconds)
        with VideoDBHook() as hook:
            job = hook.start_clip(news_id, prompt)
        return job.job_id, job.output_url

    return start


def make_trigger(job_id: str, output_url: str, **kwargs) -> ClipJobTrigger:
    args = {
        "conn_id": "videodb_default",
        "job_id": job_id,
        "output_url": output_url,
        "poll_interval": FAST,
        "end_time": time.time() + 30,
    }
    args.update(kwargs)
    return ClipJobTrigger(**args)


async def events_of(trigger: ClipJobTrigger) -> list[dict]:
    return [event.payload async for event in trigger.run()]


async def one_event(trigger: ClipJobTrigger) -> dict:
    events = await events_of(trigger)
    assert len(events) == 1, events
    event = events[0]
    assert set(event) == {"status", "job_id", "output_url", "message"}
    assert event["job_id"] == trigger.job_id
    return event


def polls(server) -> list[dict]:
    return [e for e in server.journal() if e["path"].startswith("/async-response/")]


# -- serialization --------------------------------------------------------------------------


def full_trigger() -> ClipJobTrigger:
    return ClipJobTrigger(
        conn_id="videodb_default",
        job_id="job-1",
        output_url="http://127.0.0.1:9/async-response/job-1",
        poll_interval=5,
        end_time=1_900_000_000.5,
        video_id="m-abc",
        max_consecutive_failures=3,
        max_poll_interval=60,
        started_at=1_899_999_000.25,
    )


def test_serialize_round_trips_exactly_with_primitives_only():
    classpath, kwargs = full_trigger().serialize()
    assert classpath == "airflow_provider_videodb.triggers.videodb.ClipJobTrigger"
    assert all(v is None or isinstance(v, str | int | float) for v in kwargs.values())
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert ClipJobTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_serialize_round_trips_through_airflow_serde_and_trigger_storage():
    from airflow.models.trigger import Trigger

    try:
        from airflow.sdk.serde import deserialize, serialize
    except ImportError:  # Airflow 3.1
        from airflow.serialization.serde import deserialize, serialize

    classpath, kwargs = full_trigger().serialize()
    assert deserialize(serialize(kwargs)) == kwargs
    stored = Trigger._decrypt_kwargs(Trigger.encrypt_kwargs(kwargs))
    assert ClipJobTrigger(**stored).serialize() == (classpath, kwargs)


def test_kwargs_hold_no_api_key(start_job, server):
    job_id, url = start_job()
    _, kwargs = make_trigger(job_id, url).serialize()
    assert server.api_key not in json.dumps(kwargs)


# -- run() to its event -----------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["flat", "wrapped"])
async def test_success_for_both_terminal_shapes(server, start_job, shape):
    job_id, url = start_job(job_seconds=0.4)
    server.configure(terminal_shape=shape, progress_style="mixed")
    event = await one_event(make_trigger(job_id, url))
    assert event["status"] == "success"
    assert event["output_url"] == url
    assert server.api_key not in json.dumps(event)
    assert LoopTransport.current().users == 0


@pytest.mark.parametrize("style", ["processing", "in progress"])
async def test_both_non_terminal_statuses_keep_polling(server, start_job, style):
    job_id, url = start_job(job_seconds=0.5)
    server.configure(progress_style=style)
    event = await one_event(make_trigger(job_id, url))
    assert event["status"] == "success"
    assert len(polls(server)) >= 2  # at least one non-terminal answer was seen and survived


async def test_failed_job_is_an_error_with_the_service_reason(server, start_job):
    job_id, url = start_job()
    server.set_faults([{"method": "GET", "path": "/async-response/*", "kind": "fail_job"}])
    event = await one_event(make_trigger(job_id, url))
    assert event["status"] == "error"
    assert "Injected job failure" in event["message"]
    assert "job_failed" in event["message"]


async def test_deadline_gives_timeout(server, start_job):
    job_id, url = start_job(job_seconds=60)
    event = await one_event(make_trigger(job_id, url, end_time=time.time() + 0.3))
    assert event["status"] == "timeout"
    assert "processing" in event["message"] or "in progress" in event["message"]


async def test_job_done_before_a_late_start_is_success_not_timeout(server, start_job):
    job_id, url = start_job(job_seconds=0)
    event = await one_event(make_trigger(job_id, url, end_time=time.time() - 10))
    assert event["status"] == "success"


async def test_unknown_job_404_ends_at_once(server, videodb_conn):
    url = f"{server.base_url}/async-response/does-not-exist"
    event = await one_event(make_trigger("does-not-exist", url, max_consecutive_failures=50))
    assert event["status"] == "error"
    assert "404" in event["message"]
    assert len(polls(server)) == 1


async def test_transient_failures_within_budget_are_survived(server, start_job):
    job_id, url = start_job(job_seconds=0)
    rule = {"method": "GET", "path": "/async-response/*", "kind": "status", "status": 503}
    server.set_faults([{**rule, "times": 3}])
    event = await one_event(make_trigger(job_id, url, max_consecutive_failures=3))
    assert event["status"] == "success"
    assert [e["status"] for e in polls(server)] == [503, 503, 503, 200]


async def test_transient_failures_beyond_budget_end_with_error(server, start_job):
    job_id, url = start_job(job_seconds=0)
    rule = {"method": "GET", "path": "/async-response/*", "kind": "status", "status": 502}
    server.set_faults([rule])
    event = await one_event(make_trigger(job_id, url, max_consecutive_failures=2))
    assert event["status"] == "error"
    assert "3 times in a row" in event["message"]
    assert len(polls(server)) == 3


async def test_dropped_connections_and_malformed_answers_count_as_transient(server, start_job):
    job_id, url = start_job(job_seconds=0)
    server.set_faults(
        [
            {"method": "GET", "path": "/async-response/*", "kind": "drop_before", "times": 1},
            {"method": "GET", "path": "/async-response/*", "kind": "malformed_json", "times": 1},
        ]
    )
    event = await one_event(make_trigger(job_id, url, max_consecutive_failures=2))
    assert event["status"] == "success"


async def test_missing_connection_is_an_error_event(server, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_VIDEODB_DEFAULT", raising=False)
    url = f"{server.base_url}/async-response/x"
    event = await one_event(make_trigger("x", url, conn_id="no_such_videodb_conn"))
    assert event["status"] == "error"
    assert "no_such_videodb_conn" in event["message"]
    assert polls(server) == []


async def test_output_url_on_another_origin_is_refused_without_a_request(server, videodb_conn):
    event = await one_event(make_trigger("x", "http://127.0.0.2:9/async-response/x"))
    assert event["status"] == "error"
    assert "origin" in event["message"]


async def test_two_triggers_on_one_job_ha_have_no_side_effect(server, start_job):
    job_id, url = start_job(job_seconds=0.3)
    server.clear_journal()
    first, second = await asyncio.gather(
        one_event(make_trigger(job_id, url)), one_event(make_trigger(job_id, url))
    )
    assert first["status"] == second["status"] == "success"
    assert {e["method"] for e in server.journal()} == {"GET"}
    assert LoopTransport.current().users == 0


async def test_cleanup_does_nothing_remote(server, start_job):
    job_id, url = start_job()
    server.clear_journal()
    await make_trigger(job_id, url).cleanup()
    assert server.journal() == []


async def test_cancelled_trigger_releases_the_shared_session(server, start_job):
    job_id, url = start_job(job_seconds=60)
    task = asyncio.ensure_future(events_of(make_trigger(job_id, url)))
    while not polls(server):
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert LoopTransport.current().users == 0


async def test_a_short_job_logs_nothing_per_poll(server, start_job, monkeypatch):
    logged = []
    monkeypatch.setattr(ClipJobTrigger, "_log_step", lambda self, step: logged.append(step))
    job_id, url = start_job(job_seconds=0.5)
    event = await one_event(make_trigger(job_id, url, poll_interval=0.02))
    assert event["status"] == "success"
    assert len(polls(server)) > 5
    assert [step.event for step in logged] == [event]  # only the end, at DEBUG
