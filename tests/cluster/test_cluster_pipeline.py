"""The provider in a real Airflow cluster: Postgres, Redis, Celery workers, two triggerers.

One cluster for the module (``conftest.py``), beside the session's local VideoDB server.

1. The nightly pipeline DAG over 50 videos (http URLs on loopback, so each upload is a job)
   runs to success; every upload, index and clip task went through ``deferred``; its trigger
   ran in one of the two triggerer processes (its ``.trigger.<TriggererJob id>.log`` beside
   the task's log, and the ``triggerer_id`` seen in the trigger table agree), both
   triggerers ran some (the split per kind is printed); the server's journal shows exactly
   one starting ``POST`` per task.
2. One triggerer is SIGKILLed while more than 20 jobs wait: the other takes its triggers over
   (``triggerer_id`` in the trigger table), every task succeeds, and each task still started
   exactly one job. The killed triggerer is started again afterwards. The same again under
   the soak's fault rates (``SOAK_FAULTS``: 5xx, 429, dropped connections) on every VideoDB
   call, with tasks that retry: still one accepted starting POST per task, every refused
   one refused by an injected fault, and faults of every kind fired.
3. A Celery worker is SIGKILLed (its process group and every descendant) while a clip task
   is between recording its job and deferring: the scheduler fails the task once its
   heartbeat is old, the retry runs on the other worker, finds the job in the task state
   store and waits for it — one ``POST /clip`` in all.

Figures (videos, tasks, jobs per triggerer, tasks per worker, takeover and kill-to-last-job
noticed times, wall time) are printed; nothing asserts on time.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.cluster import Cluster
from tests.cluster.conftest import (
    FAULTS_DAG_ID,
    KILL_CLIPS,
    KILL_DAG_ID,
    NIGHT_VIDEOS,
    TASK_HEARTBEAT_TIMEOUT,
    WORKER_CONCURRENCY,
    WORKER_CRASH_DAG_ID,
    WORKER_CRASH_PROMPT,
    KillSetup,
    MediaSite,
    new_collection,
)
from tests.cluster.procs import descendants, kill_if_same
from tests.e2e.e2e_support import DEMO_PROMPT, NIGHTLY_DAG_ID
from tests.e2e.real_airflow import wait_for
from tests.reliability.conftest import SOAK_FAULTS, accepted, api_calls

#: The module's cluster starts inside the first test's budget (pytest-timeout counts fixtures).
pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(1800)]

STARTUP_TIMEOUT = 240.0
NIGHT_TIMEOUT = 900.0
KILL_TIMEOUT = 600.0
NIGHT_JOB_SECONDS = 1.0
#: The crash test's jobs outlive the submission of all of them, the kill and the takeover.
KILL_JOB_SECONDS = 40.0
#: The seed of the fault rules in the triggerer-crash test under faults.
FAULTS_SEED = 20261203
#: Jobs that must be waiting when a triggerer is killed.
MIN_WAITING = 20
#: The pipeline's job tasks (each must wait on the triggerer) and their starting POST.
JOB_STARTS = {
    "upload": "/collection/*/upload",
    "index_spoken_words": "/video/*/index",
    "clip": "/video/*/clip",
}
DONE = {"success", "failed", "upstream_failed", "skipped"}


def _wait_parsed(cluster: Cluster, dag_id: str) -> None:
    wait_for(
        f"{dag_id} to be parsed",
        lambda: cluster.query("select 1 from serialized_dag where dag_id = %s", dag_id),
        cluster,
        STARTUP_TIMEOUT,
    )


def _trigger(cluster: Cluster, dag_id: str, conf: dict[str, Any] | None = None) -> str:
    run_id = f"cluster_{secrets.token_hex(4)}"
    args = ["dags", "trigger", dag_id, "--run-id", run_id]
    cluster.cli(*args, *(["--conf", json.dumps(conf)] if conf else []))
    return run_id


class RunWatch:
    """Samples one DAG run: every state each task instance was seen in, and the triggerer
    (``trigger.triggerer_id``) each deferred one was seen assigned to."""

    def __init__(self, cluster: Cluster, dag_id: str, run_id: str) -> None:
        self.cluster = cluster
        self.dag_id = dag_id
        self.run_id = run_id
        self.states: dict[tuple[str, int], set[str]] = {}
        self.current: dict[tuple[str, int], str | None] = {}
        self.assigned: dict[tuple[str, int], set[int]] = {}
        self.max_deferred = 0

    def sample(self) -> str | None:
        """One look at the metadata database; the run's state once it is final."""
        rows = self.cluster.query(
            "select ti.task_id, ti.map_index, ti.state, t.triggerer_id from task_instance ti"
            " left join trigger t on t.id = ti.trigger_id"
            " where ti.dag_id = %s and ti.run_id = %s",
            self.dag_id,
            self.run_id,
        )
        for task_id, map_index, state, triggerer_id in rows:
            key = (task_id, map_index)
            self.current[key] = state
            self.states.setdefault(key, set()).add(state)
            if state == "deferred" and triggerer_id is not None:
                self.assigned.setdefault(key, set()).add(int(triggerer_id))
        self.max_deferred = max(self.max_deferred, list(self.current.values()).count("deferred"))
        run = self.cluster.query(
            "select state from dag_run where dag_id = %s and run_id = %s",
            self.dag_id,
            self.run_id,
        )
        state = run[0][0] if run else None
        return state if state in ("success", "failed") else None

    def until(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        def sampled() -> bool:
            self.sample()
            return check()

        wait_for(what, sampled, self.cluster, timeout)

    def finish(self, timeout: float) -> str:
        return str(wait_for(f"run {self.run_id} to finish", self.sample, self.cluster, timeout))


def _task_log_folder(
    cluster: Cluster, dag_id: str, run_id: str, task_id: str, map_index: int
) -> Path:
    """Where a task instance's logs lie (its tries' and its triggers'): a ``map_index=N``
    folder below the task's for a mapped task instance."""
    folder = cluster.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    return folder / f"map_index={map_index}" if map_index >= 0 else folder


def _trigger_logs(
    cluster: Cluster, dag_id: str, run_id: str, task_id: str, map_index: int
) -> dict[int, list[dict[str, Any]]]:
    """The triggerer's logs of one task instance: {TriggererJob id: parsed JSON lines}.

    They lie beside the task's log: ``attempt=N.log.trigger.<TriggererJob id>.log`` (in a
    ``map_index=N`` folder for a mapped task instance).
    """
    folder = _task_log_folder(cluster, dag_id, run_id, task_id, map_index)
    logs: dict[int, list[dict[str, Any]]] = {}
    for path in folder.glob("*.trigger.*.log"):
        job_id = int(path.name.split(".trigger.")[1].removesuffix(".log"))
        logs[job_id] = [json.loads(line) for line in path.read_text().splitlines() if line]
    return logs


def _why(
    cluster: Cluster,
    dag_id: str,
    run_id: str,
    keys: list[tuple[str, int]],
    states: dict[tuple[str, int], str | None],
) -> str:
    """What the task and trigger logs of the task instances ``keys`` end with, for a failure
    message: a task that failed says why here, not only in a CI machine's lost temp folder."""
    lines = []
    for task_id, map_index in keys:
        lines.append(f"--- {task_id}[{map_index}]: {states.get((task_id, map_index))}")
        folder = _task_log_folder(cluster, dag_id, run_id, task_id, map_index)
        for path in sorted(folder.glob("attempt=*.log*")):
            tail = path.read_text(errors="replace").splitlines()[-12:]
            lines += [f"  {path.name}:"] + [f"    {line[:400]}" for line in tail]
        ids = cluster.query(
            "select id from task_instance where dag_id = %s and run_id = %s"
            " and task_id = %s and map_index = %s",
            dag_id,
            run_id,
            task_id,
            map_index,
        )
        for (ti_id,) in ids:
            lines += _errors_about(cluster, str(ti_id))
    return "\n".join(lines) or str(states)


def _errors_about(cluster: Cluster, ti_id: str) -> list[str]:
    """The api-server's and scheduler's error lines naming task instance ``ti_id``, each with
    the last lines of the traceback under it (where Airflow itself failed a task)."""
    found: list[str] = []
    for component in ("api-server", "scheduler"):
        try:
            text = cluster.log(component).read_text(errors="replace").splitlines()
        except OSError:
            continue
        for at, line in enumerate(text):
            if ti_id in line and "[error" in line:
                trace = []
                for more in text[at + 1 : at + 200]:
                    if re.match(r"\d{4}-\d\d-\d\dT", more):
                        break
                    trace.append(more)
                found.append(f"  {component}: {line[:400]}")
                found += [f"    {more[:400]}" for more in trace[-4:]]
    return found


def _fired_job(events: list[dict[str, Any]]) -> str | None:
    """The VideoDB job id of the one successful ``Trigger fired event`` in a trigger log."""
    fired = [e for e in events if e.get("event") == "Trigger fired event"]
    if len(fired) != 1 or "'status': 'success'" not in fired[0]["result"]:
        return None
    found = re.search(r"'job_id': '([^']+)'", fired[0]["result"])
    return found.group(1) if found else None


def _per_worker(cluster: Cluster) -> dict[str, int]:
    return {label: cluster.worker_workloads(label) for label in cluster.procs if "worker" in label}


def test_nightly_pipeline_over_50_videos_spreads_over_both_triggerers(
    cluster: Cluster, server: Any, cluster_media: MediaSite, tmp_path: Path
) -> None:
    server.configure(job_seconds=NIGHT_JOB_SECONDS, journal_size=100_000)
    _wait_parsed(cluster, NIGHTLY_DAG_ID)
    assert len(cluster.triggerer_jobs) == 2, cluster.triggerer_jobs
    by_job = {job_id: label for label, job_id in cluster.triggerer_jobs.items()}
    sources = cluster_media.urls("night-")
    assert len(sources) == NIGHT_VIDEOS
    collection = new_collection(server, "cluster-night")
    manifest_path = tmp_path / "manifest.json"
    conf = {
        "sources": sources,
        "collection_id": collection,
        "prompt": DEMO_PROMPT,
        "max_videos": NIGHT_VIDEOS,
        "manifest_path": str(manifest_path),
    }
    workers_before = _per_worker(cluster)
    started = time.time()
    run_id = _trigger(cluster, NIGHTLY_DAG_ID, conf)
    watch = RunWatch(cluster, NIGHTLY_DAG_ID, run_id)
    final = watch.finish(NIGHT_TIMEOUT)
    wall = time.time() - started
    stuck = {
        k: sorted(v - {None}) for k, v in watch.states.items() if watch.current[k] != "success"
    }
    assert final == "success", stuck

    per_triggerer: dict[str, Counter[str]] = {label: Counter() for label in cluster.triggerer_jobs}
    polled: set[str] = set()
    for task_id in JOB_STARTS:
        keys = sorted(k for k in watch.states if k[0] == task_id and k[1] >= 0)
        assert [k[1] for k in keys] == list(range(NIGHT_VIDEOS)), (task_id, keys)
        for key in keys:
            assert "deferred" in watch.states[key], f"{key}: {sorted(watch.states[key] - {None})}"
            logs = _trigger_logs(cluster, NIGHTLY_DAG_ID, run_id, *key)
            # one triggerer ran it from start to end (no takeover: both stayed healthy)
            assert len(logs) == 1, (key, sorted(logs))
            ((job_id, events),) = logs.items()
            assert job_id in by_job, (key, job_id, by_job)
            # what the trigger table said while it waited agrees with the log
            assert watch.assigned.get(key, {job_id}) == {job_id}, (key, watch.assigned[key])
            videodb_job = _fired_job(events)
            assert videodb_job, (key, events[-5:])
            polled.add(videodb_job)
            per_triggerer[by_job[job_id]][task_id] += 1

    journal = server.journal()
    starts = {task: api_calls(journal, "POST", path) for task, path in JOB_STARTS.items()}
    polls = {e["path"] for e in api_calls(journal, "GET", "/async-response/*")}
    workers = {k: v - workers_before.get(k, 0) for k, v in _per_worker(cluster).items()}
    print(
        f"\nCLUSTER NIGHTLY: videos={NIGHT_VIDEOS} task_instances={len(watch.states)} "
        f"job tasks={sum(sum(c.values()) for c in per_triggerer.values())} "
        f"jobs per triggerer={ {k: dict(v) for k, v in per_triggerer.items()} } "
        f"workloads per worker={workers} max deferred at once={watch.max_deferred} "
        f"starting POSTs={ {k: len(v) for k, v in starts.items()} } "
        f"journal entries={len(journal)} wall={wall:.0f}s"
    )
    # exactly one job per task, each accepted, and each fired job is one the triggers polled
    for task_id, sent in starts.items():
        assert len(sent) == NIGHT_VIDEOS and all(accepted(p) for p in sent), (task_id, len(sent))
    assert len(polled) == len(JOB_STARTS) * NIGHT_VIDEOS
    assert {f"/async-response/{job}" for job in polled} <= polls
    # spread: both triggerers ran the run's job triggers, and both workers ran tasks. Not
    # per kind, nor evenly: Airflow gives a new trigger to whichever triggerer's loop comes
    # first, and two loops of a fixed period keep their phase (one run on an idle machine
    # split 17 / 133, with every index trigger on one triggerer).
    assert all(sum(counts.values()) > 0 for counts in per_triggerer.values()), per_triggerer
    assert all(count > 0 for count in workers.values()), workers
    wait_for(
        "the fired triggers to be cleaned up",
        lambda: cluster.query("select count(*) from trigger")[0][0] == 0,
        cluster,
        60,
    )

    manifest = json.loads(manifest_path.read_text())
    assert manifest["run_id"] == run_id
    assert len(manifest["videos"]) == NIGHT_VIDEOS
    assert all(v["shot_count"] >= 1 and v["clip_stream_url"] for v in manifest["videos"])


@pytest.mark.parametrize("faults", [False, True], ids=["clean", "soak-faults"])
def test_triggerer_killed_while_jobs_wait_the_other_takes_over(
    cluster: Cluster, server: Any, kill_setup: KillSetup, faults: bool
) -> None:
    """With ``faults``: the soak's fault rates on every VideoDB call from the first POST to
    the last event (the tasks of that DAG retry; a try whose POST /clip was refused or
    dropped before the service took it submits again, one that recorded its job reattaches)."""
    dag_id = FAULTS_DAG_ID if faults else KILL_DAG_ID
    server.configure(job_seconds=KILL_JOB_SECONDS, journal_size=100_000)
    _wait_parsed(cluster, dag_id)
    assert len(cluster.triggerer_jobs) == 2, cluster.triggerer_jobs
    tasks = kill_setup.tasks
    assert tasks >= MIN_WAITING
    jobs_before = server.stats()["jobs_created"]
    if faults:
        server.set_faults(SOAK_FAULTS, seed=FAULTS_SEED)
    try:
        run_id = _trigger(cluster, dag_id)
        watch = RunWatch(cluster, dag_id, run_id)
        _kill_a_triggerer_while_jobs_wait(cluster, server, kill_setup, watch, jobs_before)
    finally:
        if faults:
            server.clear_faults()
    journal = server.journal()  # this test's only (the server fixture cleared it)
    injected = Counter(
        f"{e['fault']} {e['status']}" if e["fault"] == "status" else str(e["fault"])
        for e in journal
        if e["fault"]
    )
    tries = Counter(
        row[0]
        for row in cluster.query(
            "select try_number from task_instance where dag_id = %s and run_id = %s",
            dag_id,
            run_id,
        )
    )
    print(
        f"CLUSTER TRIGGERER KILL ({'soak faults' if faults else 'clean'}): faults injected="
        f"{sum(injected.values())} {dict(sorted(injected.items()))}; tasks by final try "
        f"{dict(sorted(tries.items()))}"
    )
    if faults:
        # the faults fired, of every kind the soak injects: otherwise this proves nothing
        kinds = {"drop_before", "drop_after", "status 429", "status 503", "status 502"}
        assert kinds <= set(injected), injected
    else:
        assert not injected, injected


def _kill_a_triggerer_while_jobs_wait(
    cluster: Cluster, server: Any, kill_setup: KillSetup, watch: RunWatch, jobs_before: int
) -> None:
    """Wait until every task waits on a triggerer, SIGKILL the one holding most, let the run
    finish; assert the survivor took every orphan over, every task succeeded and each
    started exactly one job (one accepted starting POST), and print the figures."""
    tasks = kill_setup.tasks
    run_id = watch.run_id

    def all_waiting() -> bool:
        """Every task deferred, its trigger owned by a triggerer that has polled."""
        deferred = [k for k, s in watch.current.items() if s == "deferred"]
        return len(deferred) == tasks and all(k in watch.assigned for k in deferred)

    watch.until("every job task deferred to a triggerer", all_waiting, KILL_TIMEOUT)
    wait_for(
        "the triggerers to poll",
        lambda: api_calls(server.journal(), "GET", "/async-response/*"),
        cluster,
        60,
    )
    watch.sample()
    owners = {key: max(ids) for key, ids in watch.assigned.items()}
    holdings = Counter(owners.values())
    by_job = {job_id: label for label, job_id in cluster.triggerer_jobs.items()}
    victim_job, held = holdings.most_common(1)[0]
    victim = by_job[victim_job]
    survivor = next(label for label in cluster.triggerer_jobs if label != victim)
    survivor_job = cluster.triggerer_jobs[survivor]
    orphans = sorted(key for key, owner in owners.items() if owner == victim_job)
    waiting = list(watch.current.values()).count("deferred")
    assert waiting >= MIN_WAITING, watch.current

    killed_at = cluster.kill(victim)
    try:
        taken_over: dict[tuple[str, int], float] = {}
        noticed: dict[tuple[str, int], float] = {}

        def finished() -> bool:
            final = watch.sample()
            now = time.time()
            for key in orphans:
                if survivor_job in watch.assigned.get(key, set()):
                    taken_over.setdefault(key, now)
                if watch.current.get(key) != "deferred":
                    noticed.setdefault(key, now)
            return final is not None

        wait_for("the run to finish", finished, cluster, KILL_TIMEOUT)
    finally:
        # whatever happened: the cluster has two triggerers again for what runs next
        cluster.triggerer_jobs.pop(victim)
        cluster.start_triggerer(victim)

    states = {key: state for key, state in watch.current.items()}
    journal = server.journal()
    starts = {
        "clip": api_calls(journal, "POST", "/video/*/clip"),
        "upload": api_calls(journal, "POST", "/collection/*/upload"),
        "index": api_calls(journal, "POST", "/video/*/index"),
    }
    expected = {
        "clip": KILL_CLIPS,
        "upload": len(kill_setup.media_urls),
        "index": len(kill_setup.video_ids),
    }
    polled_after = {
        e["path"].rsplit("/", 1)[1]
        for e in api_calls(journal, "GET", "/async-response/*")
        if e["time"] > killed_at
    }
    takeover = max(taken_over.values(), default=float("nan")) - killed_at
    last_noticed = max(noticed.values(), default=float("nan")) - killed_at
    # a clip's job ends job_seconds after its POST (the prompt names the task): how long
    # after its end each orphaned clip's task instance left `deferred`
    clip_ends = {
        (f"clip_{p['body']['prompt'].split()[-1]}", -1): p["time"] + KILL_JOB_SECONDS
        for p in starts["clip"]
        if accepted(p)
    }
    lags = [noticed[key] - clip_ends[key] for key in orphans if key in clip_ends and key in noticed]
    print(
        f"\nCLUSTER TRIGGERER KILL: tasks={tasks} waiting at the kill={waiting} "
        f"killed {victim} (job {victim_job}, {held} triggers), survivor {survivor} "
        f"(job {survivor_job}) took over {len(taken_over)}/{len(orphans)} in {takeover:.1f}s; "
        f"kill to last job noticed {last_noticed:.1f}s (jobs {KILL_JOB_SECONDS:.0f}s long); "
        f"orphaned clips: job end to task out of deferred max {max(lags, default=0):.1f}s "
        f"(n={len(lags)}); "
        f"starting POSTs sent={ {k: len(v) for k, v in starts.items()} } "
        f"taken={ {k: sum(map(accepted, v)) for k, v in starts.items()} } "
        f"states={sorted({str(state) for state in states.values()})}"
    )
    failed = sorted(key for key, state in states.items() if state != "success")
    assert not failed, _why(cluster, watch.dag_id, run_id, failed, states)
    assert len(states) == tasks
    assert orphans and sorted(taken_over) == orphans, (orphans, sorted(taken_over))
    for kind, sent in starts.items():
        taken = [p for p in sent if accepted(p)]
        # the refused ones were refused by an injected fault (none without faults)
        assert all(p["fault"] for p in sent if not accepted(p)), (kind, sent)
        assert len(taken) == expected[kind], (kind, len(taken), len(sent))
        assert len({_started_for(kind, p) for p in taken}) == expected[kind], (kind, taken)
    assert server.stats()["jobs_created"] - jobs_before == tasks
    # the survivor brought the orphaned jobs home: it polled them after the kill, and its
    # own trigger log of each orphan holds the one successful event
    for key in orphans:
        logs = _trigger_logs(cluster, watch.dag_id, run_id, *key)
        assert survivor_job in logs, (key, sorted(logs))
        job = _fired_job(logs[survivor_job])
        assert job and job in polled_after, (key, job)


def _started_for(kind: str, post: dict[str, Any]) -> str:
    """The task a starting POST came from: a clip's prompt (``goal <n>``), an upload's
    source URL, an index's video (its path)."""
    if kind == "clip":
        return str(post["body"]["prompt"])
    if kind == "upload":
        return str(post["body"]["url"])
    return str(post["path"])


def test_worker_killed_between_submit_and_defer_the_retry_reattaches(
    cluster: Cluster, server: Any
) -> None:
    # The job outlives the heartbeat timeout: the retry finds it still running and waits on
    # a triggerer (a job already done would be finished from at once, also without a POST).
    server.configure(job_seconds=TASK_HEARTBEAT_TIMEOUT + 60.0)
    _wait_parsed(cluster, WORKER_CRASH_DAG_ID)
    marker = Path(cluster.env["CLUSTER_STALL_DIR"]) / "clip.pid"
    jobs_before = server.stats()["jobs_created"]
    run_id = _trigger(cluster, WORKER_CRASH_DAG_ID)
    watch = RunWatch(cluster, WORKER_CRASH_DAG_ID, run_id)
    wait_for("try 1 to record its job and stall", marker.exists, cluster, KILL_TIMEOUT)
    task_pid = int(marker.read_text())
    posts = [
        e
        for e in api_calls(server.journal(), "POST", "/video/*/clip")
        if e["body"]["prompt"] == WORKER_CRASH_PROMPT
    ]
    assert len(posts) == 1 and accepted(posts[0]), posts  # the job was started and answered

    # The worker running try 1: the one the stalled task process descends from.
    workers = [label for label in cluster.procs if label.startswith("worker-")]
    owner = {label: descendants([cluster.procs[label].pid]) for label in workers}
    victim = next(label for label, tree in owner.items() if task_pid in {p for p, _ in tree})
    killed_at = cluster.kill(victim)
    for pid, started in owner[victim]:  # task processes left the worker's process group
        kill_if_same(pid, started)
    try:
        final = watch.finish(KILL_TIMEOUT + TASK_HEARTBEAT_TIMEOUT)
    finally:
        cluster.start_worker(victim, concurrency=WORKER_CONCURRENCY)
    finished_at = time.time()

    tries = cluster.query(
        "select try_number, state from task_instance where dag_id = %s and run_id = %s",
        WORKER_CRASH_DAG_ID,
        run_id,
    )
    posts = [
        e
        for e in api_calls(server.journal(), "POST", "/video/*/clip")
        if e["body"]["prompt"] == WORKER_CRASH_PROMPT
    ]
    print(
        f"\nCLUSTER WORKER KILL: killed {victim} while try 1 stalled after recording its job; "
        f"run {final} {finished_at - killed_at:.0f}s after the kill (heartbeat timeout "
        f"{TASK_HEARTBEAT_TIMEOUT}s); task {tries}; clip POSTs={len(posts)}"
    )
    assert final == "success", watch.states
    assert tries == [(2, "success")], tries  # try 2 finished it
    # Try 2 started no job of its own: one POST, one job on the server in all ...
    assert len(posts) == 1, posts
    assert server.stats()["jobs_created"] - jobs_before == 1
    # ... and waited on a triggerer for that one: one trigger, its one successful event.
    logs = _trigger_logs(cluster, WORKER_CRASH_DAG_ID, run_id, "clip", -1)
    fired = [_fired_job(events) for events in logs.values()]
    assert len(fired) == 1 and fired[0], logs
