"""Issue 5, item 3 (HA): the same trigger running twice at once has no side effect.

With HA triggerers a trigger may briefly run in two processes. Each copy must only read
the job's ``output_url``: the journal shows GETs of that URL and nothing else, both copies
end with the same event, and the job exists once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_videodb.hooks.videodb import VideoDBHook
from tests.reliability.conftest import ConnFactory, clip_posts


async def _run_copy(kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """A separate trigger instance from the serialized kwargs, as a second triggerer builds it."""
    from airflow_provider_videodb.triggers.videodb import ClipJobTrigger

    trigger = ClipJobTrigger(**kwargs)
    events = [event.payload async for event in trigger.run()]
    await trigger.cleanup()
    return events


@pytest.mark.slow
@pytest.mark.parametrize("copies", [2, 5])
async def test_concurrent_copies_of_one_trigger_only_read(
    server: Any, make_conn: ConnFactory, video: dict[str, Any], copies: int
) -> None:
    from airflow_provider_videodb.triggers.videodb import ClipJobTrigger

    make_conn()
    with VideoDBHook() as hook:
        job = hook.start_clip(video["id"], "goal")
    jobs_after_start = server.stats()["jobs_created"]
    server.clear_journal()
    _, kwargs = ClipJobTrigger(
        conn_id="videodb_default",
        job_id=job.job_id,
        output_url=job.output_url,
        poll_interval=0.2,
        end_time=time.time() + 60,
    ).serialize()

    results = await asyncio.gather(*(_run_copy(kwargs) for _ in range(copies)))

    for events in results:
        assert len(events) == 1
        assert events[0]["status"] == "success"
        assert events[0]["job_id"] == job.job_id
    journal = server.journal()
    assert journal, "the copies never polled"
    output_path = job.output_url[len(server.base_url) :]
    assert {(e["method"], e["path"]) for e in journal} == {("GET", output_path)}
    assert clip_posts(journal) == []
    assert server.stats()["jobs_created"] == jobs_after_start
    # each copy polled on its own (they did not share one answer by accident)
    assert len(journal) >= copies


async def test_cleanup_does_nothing_remote(
    server: Any, make_conn: ConnFactory, video: dict[str, Any]
) -> None:
    """A trigger cancelled mid-wait (triggerer shutdown, reassignment) sends nothing more."""
    from airflow_provider_videodb.triggers.videodb import ClipJobTrigger

    make_conn()
    server.configure(job_seconds=30.0)
    with VideoDBHook() as hook:
        job = hook.start_clip(video["id"], "goal")
    server.clear_journal()
    trigger = ClipJobTrigger(
        conn_id="videodb_default",
        job_id=job.job_id,
        output_url=job.output_url,
        poll_interval=0.1,
        end_time=time.time() + 60,
    )

    async def consume() -> None:
        async for _ in trigger.run():
            pass

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await trigger.cleanup()
    polls = server.journal()
    assert polls, "the trigger never polled before it was cancelled"
    await asyncio.sleep(0.3)
    assert server.journal() == polls  # nothing after cancellation and cleanup
    assert {e["method"] for e in polls} == {"GET"}
