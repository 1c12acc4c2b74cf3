"""The loop's shared job poller, against the local VideoDB server.

What a trigger relies on: its task sees only steps worth attention (a log line or the end),
every watch of a loop shares one poller and one session, waits are never cut short, a bug
in a poll reaches the waiter, and leaving (normally, cancelled, or mid-poll) stops that
job's polls and, with the last watch, the workers and the session.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import time

import pytest

from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.polling import JobWait, PollStep, PollTracker
from airflow_provider_videodb.transport import poller as poller_module
from airflow_provider_videodb.transport.loop import CONNECTION_LIMIT, LoopTransport
from airflow_provider_videodb.transport.poller import JobWatch

POLL_PATH = "/async-response/"


@pytest.fixture
def settings(server, videodb_conn):
    with VideoDBHook() as hook:
        return hook.settings


@pytest.fixture
def start_job(server, videodb_conn):
    """Start a clip job on the server; returns (job_id, output_url)."""
    video_id = server.video_ids()[0]

    def start(job_seconds: float = 0.3) -> tuple[str, str]:
        server.configure(job_seconds=job_seconds)
        with VideoDBHook() as hook:
            job = hook.start_clip(video_id, "weather forecast")
        return job.job_id, job.output_url

    return start


def tracker_for(job_id: str, url: str, interval: float = 0.05, **kwargs) -> PollTracker:
    wait = JobWait.from_primitives(
        job_id=job_id, output_url=url, end_time=time.time() + 30, poll_interval=interval, **kwargs
    )
    return PollTracker(wait)


def in_use() -> tuple[int, int]:
    """(jobs watched, session users) of the running loop's transport."""
    transport = LoopTransport.current()
    return transport.watches, transport.users


def polls_of(server, url: str) -> list[dict]:
    path = url.split("://", 1)[1].split("/", 1)[1]
    return [e for e in server.journal() if e["path"] == "/" + path]


async def wait_for_event(watch: JobWatch) -> tuple[dict, list[PollStep]]:
    """Drive a watch like the trigger does; returns the event and every step seen."""
    seen = []
    while True:
        step = await watch.next_step()
        seen.append(step)
        if step.event is not None:
            return step.event, seen


async def test_the_waiter_sees_only_the_end_of_a_quiet_job(server, settings, start_job):
    job_id, url = start_job(job_seconds=0.4)
    async with JobWatch(settings, url, tracker_for(job_id, url), first_wait=0) as watch:
        event, seen = await wait_for_event(watch)
    assert event["status"] == "success"
    assert len(seen) == 1  # no per-poll wake-ups of the waiting task...
    assert len(polls_of(server, url)) >= 3  # ...although the job took several polls
    assert in_use() == (0, 0)


async def test_log_worthy_steps_reach_the_waiter_and_polling_resumes(server, settings, start_job):
    job_id, url = start_job(job_seconds=0.6)
    server.set_faults(
        [
            {
                "method": "GET",
                "path": "/async-response/*",
                "kind": "status",
                "status": 503,
                "times": 2,
            }
        ]
    )
    tracker = tracker_for(job_id, url, max_consecutive_failures=5)
    async with JobWatch(settings, url, tracker, first_wait=0) as watch:
        event, seen = await wait_for_event(watch)
    assert event["status"] == "success"
    warnings = [s for s in seen if s.event is None]
    assert len(warnings) == 2 and all("failed (" in (s.log_message or "") for s in warnings)


async def test_all_watches_share_one_poller_session_and_bounded_workers(
    server, settings, start_job
):
    jobs = [start_job(job_seconds=0.5) for _ in range(3)]
    first, second, third = (
        JobWatch(settings, url, tracker_for(job_id, url), first_wait=0) for job_id, url in jobs
    )
    async with first, second, third:
        poller = first._poller
        assert first._poller is second._poller is third._poller
        assert in_use() == (3, 1)
        assert poller is not None and len(poller._workers) == 3  # never more than watches...
        events = await asyncio.gather(*(wait_for_event(w) for w in (first, second, third)))
    assert [e["status"] for e, _ in events] == ["success"] * 3
    assert in_use() == (0, 0)
    assert all(worker.done() for worker in poller._workers)


async def test_workers_stop_at_the_connection_limit(server, settings, start_job):
    job_id, url = start_job(job_seconds=30)
    watches = [
        JobWatch(settings, url, tracker_for(job_id, url, interval=10), first_wait=10)
        for _ in range(CONNECTION_LIMIT + 20)
    ]
    for watch in watches:
        await watch.__aenter__()
    try:
        assert len(watches[0]._poller._workers) == CONNECTION_LIMIT  # ...nor than connections
    finally:
        for watch in watches:
            await watch.__aexit__(None, None, None)
    assert in_use() == (0, 0)


async def test_a_wait_is_never_cut_short(server, settings, start_job):
    job_id, url = start_job(job_seconds=1.0)
    interval = 0.25
    async with JobWatch(settings, url, tracker_for(job_id, url, interval), first_wait=0) as watch:
        await wait_for_event(watch)
    times = [entry["time"] for entry in polls_of(server, url)]
    assert len(times) >= 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= interval - 0.02  # the server's clock; the wheel only ever rounds up


async def test_a_bug_in_a_poll_reaches_the_waiter(server, settings, start_job, monkeypatch):
    job_id, url = start_job()

    def broken(payload, info=None):
        raise RuntimeError("bug while reading the status")

    monkeypatch.setattr("airflow_provider_videodb.transport.async_http.parse_job_status", broken)
    async with JobWatch(settings, url, tracker_for(job_id, url), first_wait=0) as watch:
        with pytest.raises(RuntimeError, match="bug while reading"):
            await watch.next_step()
    assert in_use() == (0, 0)


async def test_a_cancelled_waiter_stops_its_polls(server, settings, start_job):
    job_id, url = start_job(job_seconds=30)

    async def wait() -> None:
        async with JobWatch(settings, url, tracker_for(job_id, url), first_wait=0) as watch:
            await wait_for_event(watch)

    task = asyncio.create_task(wait())
    while len(polls_of(server, url)) < 2:
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert in_use() == (0, 0)
    seen = len(polls_of(server, url))
    await asyncio.sleep(0.3)  # six poll intervals
    assert len(polls_of(server, url)) == seen


async def test_leaving_while_a_poll_is_in_flight_drops_its_answer(server, settings, start_job):
    job_id, url = start_job(job_seconds=30)
    slow = {"method": "GET", "path": "/async-response/*", "kind": "delay", "seconds": 0.5}
    server.set_faults([slow])
    other_id, other_url = start_job(job_seconds=0.3)
    # The second watch keeps the poller alive after the first one leaves mid-poll.
    async with JobWatch(
        settings, other_url, tracker_for(other_id, other_url, interval=1.0), first_wait=1.0
    ) as keeper:
        async with JobWatch(settings, url, tracker_for(job_id, url), first_wait=0) as watch:
            pending = watch.next_step()
            await asyncio.sleep(0.2)  # the poll is now waiting on the slow server
        assert watch.closed and not pending.done()
        server.set_faults([])
        event, _ = await wait_for_event(keeper)
    assert event["status"] == "success"
    assert not pending.done()  # the late answer went nowhere
    assert in_use() == (0, 0)


async def test_workers_do_not_inherit_the_first_waiters_context(
    server, settings, start_job, monkeypatch
):
    trigger_id = contextvars.ContextVar("trigger_id", default=None)
    seen_in_polls = []
    original = poller_module.poll_job_status

    async def recording(target, **kwargs):
        seen_in_polls.append(trigger_id.get())
        return await original(target, **kwargs)

    monkeypatch.setattr(poller_module, "poll_job_status", recording)
    job_id, url = start_job()
    trigger_id.set("trigger-1")  # what the triggerer binds for a trigger's log lines
    async with JobWatch(settings, url, tracker_for(job_id, url), first_wait=0) as watch:
        await wait_for_event(watch)
    assert seen_in_polls and set(seen_in_polls) == {None}


async def test_next_step_on_a_closed_watch_is_refused(settings):
    watch = JobWatch(settings, "http://x/async-response/j", tracker_for("j", "u"), first_wait=0)
    with pytest.raises(RuntimeError, match="not open"):
        watch.next_step()
    assert LoopTransport.current().poller is None


async def test_a_waiter_cancelled_again_while_leaving_still_closes_the_session(
    server, settings, start_job
):
    job_id, url = start_job(job_seconds=30)

    async def wait() -> None:
        async with JobWatch(settings, url, tracker_for(job_id, url), first_wait=0) as watch:
            await wait_for_event(watch)

    task = asyncio.create_task(wait())
    while not polls_of(server, url):
        await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.sleep(0)  # the task is now leaving: stopping the poller's workers
    task.cancel()  # e.g. the triggerer shutting down
    with pytest.raises(asyncio.CancelledError):
        await task
    assert in_use() == (0, 0)
