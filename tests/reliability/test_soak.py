"""Issue 5, item 1: a soak through the real operator + trigger path under seeded faults.

200 ``ClipVideoOperator`` tasks run the way Airflow runs them, minus the scheduler: the
worker part (``execute()`` → ``TaskDeferred``) on a thread pool, then every trigger's
``run()`` concurrently in ONE event loop (as a triggerer does), then ``execute_complete``
on the thread pool. A task that raises is retried like Airflow would retry it: ``execute()``
again with the same ``task_state_store``, which must reattach instead of submitting again.

The local server injects, with a fixed seed: 5% 429 (with Retry-After) on every call; 10%
5xx (503 on ``POST /clip``, where 503 means "not taken"; 502/503/504 elsewhere); 2%
dropped connections (before processing on ``POST /clip``; before or after processing on
reads and on the idempotent ``POST /compile``). A dropped *answer* to ``POST /clip`` after
the job was created is the one case no client can resolve (taken or not?); it is covered
by ``test_faults_survived`` (one POST, then a clear error) and by the window the docs own up to
(docs/deferral-and-scale.rst).

Asserted: every task succeeds, each task's prompt has exactly one accepted ``POST /clip``
(zero duplicates), the server created exactly as many jobs as there are tasks, and every
task's result carries the job it submitted (zero lost). The figures are printed.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_videodb.exceptions import VideoDBError
from tests.reliability.conftest import (
    SOAK_FAULTS,
    ConnFactory,
    FakeStateStore,
    accepted,
    api_calls,
    clip_posts,
    make_context,
)

TASKS = 200
MAX_TRIES = 4
SEED = 20261123
PROMPTS = ["goal", "the crowd cheers", "kick off", "penalty", "interview"]


@dataclass
class Task:
    index: int
    prompt: str
    store: FakeStateStore = field(default_factory=FakeStateStore)
    tries: int = 0
    xcom: dict[str, Any] = field(default_factory=dict)
    trigger: Any = None
    event: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


def _operator(task: Task, video_id: str) -> Any:
    from airflow_provider_videodb.operators.videodb import ClipVideoOperator

    return ClipVideoOperator(
        task_id=f"clip_{task.index:03d}",
        video_id=video_id,
        prompt=task.prompt,
        poll_interval=0.2,
        timeout=120,
        max_consecutive_failures=5,
    )


def _run_worker(task: Task, video_id: str, event: dict[str, Any] | None) -> None:
    """One task on a worker: resume with ``event`` if given, else ``execute()``; retried
    like Airflow retries a failed try (same task_state_store, fresh operator)."""
    from airflow.sdk.exceptions import TaskDeferred

    while task.tries < MAX_TRIES:
        task.tries += 1
        context = make_context(task.store)
        op = _operator(task, video_id)
        try:
            if event is not None:
                task.result = op.execute_complete(context, event)
            else:
                task.result = op.execute(context)
        except TaskDeferred as deferred:
            task.trigger = deferred.trigger
            task.xcom.update(context["ti"].xcom)
            return
        except VideoDBError as error:
            task.errors.append(f"try {task.tries}: {error}")
            event = None  # Airflow's retry starts the task over: execute() reattaches
            continue
        task.xcom.update(context["ti"].xcom)
        return


async def _triggerer(tasks: list[Task]) -> None:
    """Run every deferred task's trigger concurrently in this one loop."""

    async def one(task: Task) -> None:
        events = [event.payload async for event in task.trigger.run()]
        assert len(events) == 1, events
        task.event = events[0]

    await asyncio.gather(*(one(t) for t in tasks if t.trigger is not None and t.result is None))


def _pool_run(tasks: list[Task], video_id: str, resume: bool) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futures = [
            pool.submit(_run_worker, t, video_id, t.event if resume else None)
            for t in tasks
            if t.result is None and (not resume or t.event is not None)
        ]
        for future in futures:
            future.result()


@pytest.mark.slow
def test_soak_clip_tasks_under_faults(
    server: Any,
    make_conn: ConnFactory,
    video: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.configure(job_seconds=1.0)
    make_conn(extra={"max_retries": 6, "retry_max_wait": 1.0, "timeout": 5.0})
    jobs_before = server.stats()["jobs_created"]
    server.clear_journal()
    server.set_faults(SOAK_FAULTS, seed=SEED)
    tasks = [Task(i, f"{PROMPTS[i % len(PROMPTS)]} (task {i})") for i in range(TASKS)]

    started = time.time()
    _pool_run(tasks, video["id"], resume=False)  # workers: submit, defer
    asyncio.run(_triggerer(tasks))  # the triggerer
    _pool_run(tasks, video["id"], resume=True)  # workers: resume, fetch, compile
    wall = time.time() - started

    server.clear_faults()
    journal = server.journal()
    jobs_created = server.stats()["jobs_created"] - jobs_before
    posts = clip_posts(journal)
    accepted_by_prompt = collections.Counter(p["body"]["prompt"] for p in posts if accepted(p))
    duplicates = sum(n - 1 for n in accepted_by_prompt.values() if n > 1)
    succeeded = [t for t in tasks if t.result is not None]
    lost = [
        t.index
        for t in tasks
        if t.result is None or t.result["job_id"] != t.xcom.get("job_id") or not t.xcom
    ]
    faults = collections.Counter(
        f"{e['fault']} {e['status']}" if e["fault"] == "status" else str(e["fault"])
        for e in journal
        if e["fault"]
    )
    polls = api_calls(journal, "GET", "/async-response/*")
    figures = {
        "tasks": TASKS,
        "succeeded": len(succeeded),
        "requests": len(journal),
        "POST /clip sent": len(posts),
        "POST /clip accepted": sum(accepted_by_prompt.values()),
        "jobs created (server)": jobs_created,
        "polls": len(polls),
        "faults injected": sum(faults.values()),
        "faults by kind": dict(sorted(faults.items())),
        "faulted polls (trigger retried)": sum(1 for p in polls if p["fault"]),
        "faulted worker calls (hook retried)": sum(faults.values())
        - sum(1 for p in polls if p["fault"]),
        "task retries (Airflow-style)": sum(t.tries for t in tasks)
        - sum(2 if t.trigger is not None else 1 for t in tasks),
        "duplicates": duplicates,
        "lost": len(lost),
        "wall time s": round(wall, 1),
    }
    retry_causes = collections.Counter(
        error.split(": ", 1)[1].split(" (")[0][:60] for t in tasks for error in t.errors
    )
    figures["task retry causes"] = dict(retry_causes.most_common())
    with capsys.disabled():
        print("\nSOAK FIGURES")
        for name, value in figures.items():
            print(f"  {name:36} {value}")

    failures = {t.index: t.errors for t in tasks if t.result is None}
    assert not failures, failures
    assert duplicates == 0, accepted_by_prompt.most_common(5)
    assert len(accepted_by_prompt) == TASKS
    assert jobs_created == TASKS
    assert lost == []
    assert sum(faults.values()) > TASKS // 2, "the faults did not fire: the soak proves nothing"
    for kind in ("drop_before", "status 429", "status 503"):
        assert faults[kind] > 0, faults
    for task in succeeded:
        assert task.result is not None
        assert task.result["prompt"] == task.prompt
        assert task.result["shots"] == [] or task.result["stream_url"]
