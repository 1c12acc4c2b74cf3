"""Throughput of the nightly pipeline DAG, and where its time goes, in a real Airflow.

For each N (``--n``), N copies of the demo set (the demo videos with their captions embedded,
each copy under its own file name, so each is its own upload) are put in a folder; a fresh
local VideoDB server (``demo=False``, ``--job-seconds``) gets a fresh collection; the DAG
``videodb_nightly_pipeline`` (``example_dags/``) then runs with that folder as its
``source_folder``, two ways (``--modes``), each on a fresh server and a fresh AIRFLOW_HOME:

  real       a real deployment (``tests/e2e/real_airflow.py``): api-server, scheduler,
             dag-processor and triggerer as separate processes, LocalExecutor with
             ``--parallelism`` slots, sqlite; the run is started with ``airflow dags trigger
             --conf`` once the DAG is parsed
  dags-test  ``airflow dags test -c`` (one process; deferred tasks run their trigger inline)

While a run goes, the bench reads the metadata DB every ``--sample`` seconds (read-only) and
records each task instance's state changes, timed by the row's ``updated_at`` (``start_date``
for the first ``running``, ``end_date`` for the final state), so a transition's time is exact
unless the row changed twice between two reads; a state shorter than one read can be missed
(its time then goes to the state before it).

Summary columns: run s = ``dag_run.end_date`` - ``queued_at`` (trigger to success, DB clock);
videos/h = N / run s x 3600; wall s = the bench's clock from launching ``dags trigger`` /
``dags test`` to seeing the run succeed / the process exit (CLI start-up included); startup s =
deployment start to DAG parsed + API up (real) or ``db migrate`` (dags-test), outside the
run; airflow CPU s = CPU time of every Airflow process of the case during the run (live
processes of the components' sessions + the children they reaped; for dags-test the process
itself); server CPU s; others' CPU s = busy time of all cores minus ours (the noise indicator on
a shared machine); requests / polls / jobs / conns = the server's counters over the run
(``/_twin/stats``).

Per task kind (task_id): TIs, tries, deferrals; running med/total s (time in ``running``, all
tries); deferred med/total s (time in ``deferred``); queued med/total s (``scheduled`` +
``queued``: waiting for a slot and a worker, before the first start and after each deferral).
Medians are per task instance. The server's requests by endpoint (from its journal) follow.

Run: ``.venv/bin/python bench/pipeline.py [--n 3,12,24] [--job-seconds 2] [--parallelism 8]
[--modes real,dags-test] [--json out.json]``; ``--quick``: N = 3 only. Prints figures; asserts
nothing about timing. Everything (server data, AIRFLOW_HOMEs, media) lives in one scratch
directory (in RAM under ``/dev/shm`` when possible), removed at the end; every process is stopped
by its pid / process group (also on SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as common
from server_ingest import busy_seconds, pid_cpu_seconds

from scripts import run_nightly_demo as demo
from tests.e2e.real_airflow import Deployment, deployed, deployment_env, port_open

DAG_ID = demo.DAG_ID
MODES = ("real", "dags-test")
STARTUP_TIMEOUT = 300.0
QUEUE_STATES = frozenset({"scheduled", "queued"})
FINAL_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
#: States a task instance reaches only from ``running``.
AFTER_RUNNING = frozenset({"deferred", "up_for_retry", "success", "failed"})
#: Path segments that are ids (videos m-..., collections c-..., jobs, upload tokens, ...).
ID_SEGMENT = re.compile(r"^(?=.*\d)[A-Za-z0-9_-]{6,}$|^[A-Za-z0-9_-]{16,}$")


# ---------------------------------------------------------------- inputs


def make_media(folder: Path, cache: Path, n: int) -> list[Path]:
    """``n`` copies of the demo set (captions embedded) in ``folder``, each its own name."""
    demo_set = sorted(cache.glob("*.mp4")) or demo.prepare_new_media(cache)
    folder.mkdir(parents=True)
    made = []
    for i in range(n):
        src = demo_set[i % len(demo_set)]
        out = folder / f"{i:04d}-{src.name}"
        shutil.copyfile(src, out)
        made.append(out)
    return made


# ---------------------------------------------------------------- the metadata DB


def db_time(value: str | None) -> float | None:
    """An Airflow UTC timestamp as stored in sqlite, as epoch seconds."""
    if not value:
        return None
    stamp = datetime.fromisoformat(value)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


@dataclass
class TaskTimeline:
    """One task instance's state changes, (epoch s, state), as read from the metadata DB."""

    task_id: str
    map_index: int
    transitions: list[tuple[float, str]] = field(default_factory=list)
    try_number: int = 0
    #: whether a read has shown the row's next_method set (the task deferred)
    next_method_seen: bool = False

    def see(self, now: float, state: str | None, row: dict[str, Any]) -> None:
        self.try_number = int(row["try_number"] or 0)
        # A deferral sets the row's next_method. Seen first while no run was recorded since
        # the last state (dags test: a short `running`, the deferral and the inline trigger,
        # all between two reads that say `queued` or `scheduled`), the task ran and deferred
        # inside that last state's span: record the run it hid there.
        deferred_unseen = bool(row.get("next_method")) and not self.next_method_seen
        self.next_method_seen = self.next_method_seen or deferred_unseen
        if deferred_unseen and self.transitions:
            since, last_state = self.transitions[-1]
            if last_state not in ("running", "deferred"):
                self.transitions += [(since, "running"), (since, last_state)]
        if state is None or (self.transitions and self.transitions[-1][1] == state):
            return
        last = self.transitions[-1][0] if self.transitions else 0.0
        first_run = not any(s == "running" for _, s in self.transitions)
        # (dags test sets start_date when it queues a task: only a start after the last
        # change seen is one.)
        started = db_time(row["start_date"]) if first_run else None
        if started is not None and not last < started <= now:
            started = None
        exact = None
        if state == "running":
            exact = started
        elif state in FINAL_STATES:
            exact = db_time(row["end_date"])
        # Our clock when the row changed more than once since the last read.
        candidates = (exact, db_time(row["updated_at"]), now)
        stamp = next(c for c in candidates if c is not None and last <= c <= now)
        if state in AFTER_RUNNING and started is not None and started < stamp:
            # It started and left `running` between two reads: start_date says when.
            self.transitions.append((started, "running"))
        self.transitions.append((stamp, state))

    def segments(self, *, inline_trigger: bool = False) -> list[tuple[float, str]]:
        """(seconds, state) of every state but the final one, in order.

        :param inline_trigger: the run was ``dags test``, which runs a deferred task's
            trigger inline while the row says ``queued`` (``airflow.sdk`` ``DAG.test``): a
            ``queued`` entered from ``deferred`` (or from ``running``, when ``deferred`` lasted
            less than one read) is counted as ``deferred``.
        """
        out: list[tuple[float, str]] = []
        previous = None
        for (t0, state), (t1, _) in zip(self.transitions, self.transitions[1:], strict=False):
            resumed = inline_trigger and state == "queued" and previous in ("deferred", "running")
            if resumed and previous == "deferred":
                out[-1] = (out[-1][0] + max(0.0, t1 - t0), "deferred")
            else:
                out.append((max(0.0, t1 - t0), "deferred" if resumed else state))
            previous = state
        return out

    def seconds_in(self, *, inline_trigger: bool = False) -> dict[str, float]:
        """Seconds spent per state (see :meth:`segments`)."""
        spent: dict[str, float] = {}
        for seconds, state in self.segments(inline_trigger=inline_trigger):
            spent[state] = spent.get(state, 0.0) + seconds
        return spent

    def deferrals(self, *, inline_trigger: bool = False) -> int:
        """How often the task instance deferred (see :meth:`segments`)."""
        return sum(s == "deferred" for _, s in self.segments(inline_trigger=inline_trigger))


TI_SQL = (
    "select task_id, map_index, state, try_number, updated_at, start_date, end_date, next_method"
    " from task_instance where dag_id = ? and run_id = ?"
)
TI_COLUMNS = (
    "task_id",
    "map_index",
    "state",
    "try_number",
    "updated_at",
    "start_date",
    "end_date",
    "next_method",
)


class RunWatcher:
    """Reads one run's task instances and state from the metadata DB, keeping their timelines."""

    def __init__(self, db: Deployment, run_id: str | None) -> None:
        self.db = db
        self.run_id = run_id
        self.timelines: dict[tuple[str, int], TaskTimeline] = {}
        self.reads = 0
        #: When the run was launched (epoch s): the server's requests count from here.
        self.started = time.time()

    def _find_run(self) -> str | None:
        if self.run_id is None:
            rows = self.db.query("select run_id from dag_run where dag_id = ?", DAG_ID)
            self.run_id = rows[0][0] if rows else None
        return self.run_id

    def read(self) -> str | None:
        """One read: record state changes; return the run's state (None before it exists)."""
        run_id = self._find_run()
        if run_id is None:
            return None
        now = time.time()
        for values in self.db.query(TI_SQL, DAG_ID, run_id):
            row = dict(zip(TI_COLUMNS, values, strict=True))
            key = (row["task_id"], int(row["map_index"]))
            timeline = self.timelines.setdefault(key, TaskTimeline(*key))
            timeline.see(now, row["state"], row)
        self.reads += 1
        rows = self.db.query(
            "select state from dag_run where dag_id = ? and run_id = ?", DAG_ID, run_id
        )
        return rows[0][0] if rows else None

    def run_span(self) -> tuple[float | None, float | None]:
        """(queued_at or start_date, end_date) of the run, epoch seconds."""
        rows = self.db.query(
            "select queued_at, start_date, end_date from dag_run where dag_id = ? and run_id = ?",
            DAG_ID,
            self.run_id,
        )
        queued, started, ended = rows[0]
        return db_time(queued) or db_time(started), db_time(ended)

    def final_tasks(self) -> list[TaskTimeline]:
        """The run's task instances as they finally are (the pre-expansion rows left out)."""
        keys = {(t, int(m)) for t, m, *_ in self.db.query(TI_SQL, DAG_ID, self.run_id)}
        return [tl for key, tl in sorted(self.timelines.items()) if key in keys]


# ---------------------------------------------------------------- CPU accounting


def session_cpu_seconds(sessions: set[int]) -> float:
    """CPU of every live process in ``sessions`` plus the children they reaped (/proc)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) in sessions:
            total += sum(int(x) for x in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def reaped_cpu_seconds() -> float:
    """CPU of this process's waited-for children (the CLI calls, ``dags test``)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


class CpuWindow:
    """CPU used during a window: ours (Airflow, server, bench) and everyone else's."""

    def __init__(self, server_pid: int, sessions: set[int]) -> None:
        self.server_pid, self.sessions = server_pid, sessions
        self._start = self._read()

    def _read(self) -> dict[str, float]:
        return {
            "busy": busy_seconds(),
            "airflow": session_cpu_seconds(self.sessions) + reaped_cpu_seconds(),
            "server": pid_cpu_seconds(self.server_pid),
            "bench": common.cpu_seconds(),
        }

    def close(self) -> dict[str, float]:
        end = self._read()
        used = {key: end[key] - self._start[key] for key in end}
        ours = used["airflow"] + used["server"] + used["bench"]
        return {
            "airflow_cpu_s": used["airflow"],
            "server_cpu_s": used["server"],
            "others_cpu_s": max(0.0, used["busy"] - ours),
        }


# ---------------------------------------------------------------- one case


@dataclass
class Case:
    """What one (mode, N) run needs: where it lives and what it runs against."""

    mode: str
    n: int
    home: Path
    media: Path
    server: Any
    collection_id: str
    manifest: Path

    def conf(self) -> dict[str, Any]:
        return {
            "source_folder": self.media.as_uri(),
            "collection_id": self.collection_id,
            "max_videos": self.n,
            "manifest_path": str(self.manifest),
        }

    def env(self) -> dict[str, str]:
        return demo.airflow_env(
            self.home, base_url=self.server.base_url, api_key=self.server.api_key
        )


def watch(
    watcher: RunWatcher, interval: float, timeout: float, alive: Any, what: str
) -> str | None:
    """Read the run every ``interval`` s until it ends, ``alive()`` is False or time is up."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = watcher.read()
        if state in ("success", "failed"):
            return state
        if not alive():
            return watcher.read()
        time.sleep(interval)
    raise SystemExit(f"{what}: no result after {timeout:.0f} s")


def wait_until_ready(deployment: Deployment, timeout: float) -> None:
    """The DAG parsed and the api-server listening (exits if a component died)."""
    deadline = time.time() + timeout
    parsed = "select 1 from serialized_dag where dag_id = ?"
    while time.time() < deadline:
        if deployment.query(parsed, DAG_ID) and port_open(deployment.api_port):
            return
        for name, proc in deployment.procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"airflow {name} exited early:\n{deployment.tail(name)}")
        time.sleep(0.5)
    raise SystemExit(f"the deployment was not ready after {timeout:.0f} s")


def run_real(case: Case, args: argparse.Namespace) -> dict[str, Any]:
    """The run in a real deployment, triggered with ``airflow dags trigger --conf``."""
    env = deployment_env(case.env(), parallelism=args.parallelism)
    t0 = time.perf_counter()
    with deployed(case.home, env) as deployment:
        wait_until_ready(deployment, STARTUP_TIMEOUT)
        startup = time.perf_counter() - t0
        run_id = f"bench_{secrets.token_hex(4)}"
        sessions = {proc.pid for proc in deployment.procs.values()}
        cpu = CpuWindow(case.server.pid, sessions)
        before = case.server.stats()
        watcher = RunWatcher(deployment, run_id)
        t1 = time.perf_counter()
        conf = json.dumps(case.conf())
        deployment.cli("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", conf)

        def alive() -> bool:
            return all(proc.poll() is None for proc in deployment.procs.values())

        state = watch(watcher, args.sample, args.timeout, alive, f"real N={case.n}")
        wall = time.perf_counter() - t1
        figures = cpu.close()
        after = case.server.stats()
        if state != "success":
            logs = "\n".join(f"--- {n}\n{deployment.tail(n)}" for n in deployment.procs)
            raise SystemExit(f"real N={case.n}: the run ended {state}\n{logs}")
        row = finish(case, watcher, wall, startup, figures, before, after)
        row["pids"] = sorted(sessions)
        return row


def run_dags_test(case: Case, args: argparse.Namespace) -> dict[str, Any]:
    """The run through ``airflow dags test -c`` (one process, triggers inline)."""
    env = case.env()
    db = Deployment(home=case.home, env=env)
    t0 = time.perf_counter()
    db.cli("db", "migrate")
    startup = time.perf_counter() - t0
    log_path = case.home / "dags-test.out"
    cpu = CpuWindow(case.server.pid, set())
    before = case.server.stats()
    watcher = RunWatcher(db, None)
    t1 = time.perf_counter()
    cmd = [db.airflow, "dags", "test", DAG_ID, "-c", json.dumps(case.conf())]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        watch(watcher, args.sample, args.timeout, lambda: proc.poll() is None, "dags test")
        proc.wait(timeout=args.timeout)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    wall = time.perf_counter() - t1
    figures = cpu.close()
    after = case.server.stats()
    state = watcher.read()
    if proc.returncode != 0 or state != "success":
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"dags test N={case.n}: exit {proc.returncode}, run {state}:\n{tail}")
    row = finish(case, watcher, wall, startup, figures, before, after)
    row["pids"] = [proc.pid]
    return row


def finish(
    case: Case,
    watcher: RunWatcher,
    wall: float,
    startup: float,
    cpu: dict[str, float],
    before: dict[str, Any],
    after: dict[str, Any],
) -> dict[str, Any]:
    """The case's figures; stops with an error if the run did not publish every video."""
    manifest = json.loads(case.manifest.read_text())
    if len(manifest["videos"]) != case.n:
        raise SystemExit(f"{case.mode} N={case.n}: manifest lists {len(manifest['videos'])}")
    queued_at, ended = watcher.run_span()
    run_s = (ended - queued_at) if queued_at and ended else float("nan")
    tasks = watcher.final_tasks()
    delta = {key: after[key] - before.get(key, 0) for key in after if isinstance(after[key], int)}
    return {
        "mode": case.mode,
        "n": case.n,
        "run_s": run_s,
        "videos_per_hour": case.n / run_s * 3600,
        "wall_s": wall,
        "startup_s": startup,
        **cpu,
        "requests": delta["requests"],
        "polls": delta["polls"],
        "jobs_created": delta["jobs_created"],
        "connections_opened": delta["connections_opened"],
        "task_instances": len(tasks),
        "db_reads": watcher.reads,
        "kinds": by_kind(tasks, inline_trigger=case.mode == "dags-test"),
        "endpoints": endpoints(case.server.journal(), since=watcher.started),
        "timelines": [
            {"task_id": t.task_id, "map_index": t.map_index, "transitions": t.transitions}
            for t in tasks
        ],
        "videos": len(manifest["videos"]),
    }


def by_kind(tasks: Sequence[TaskTimeline], *, inline_trigger: bool) -> list[dict[str, Any]]:
    """Per task_id: count, tries, deferrals, and running / deferred / queued seconds.

    :param tasks: the run's task instances.
    :param inline_trigger: the run was ``dags test`` (see :meth:`TaskTimeline.seconds_in`).
    """
    groups: dict[str, list[TaskTimeline]] = {}
    for task in tasks:
        groups.setdefault(task.task_id, []).append(task)
    order = sorted(groups, key=lambda k: min(t.transitions[0][0] for t in groups[k]))
    rows = []
    for kind in order:
        spent = [t.seconds_in(inline_trigger=inline_trigger) for t in groups[kind]]
        row: dict[str, Any] = {
            "kind": kind,
            "count": len(spent),
            "tries": sum(t.try_number for t in groups[kind]),
            "deferrals": sum(t.deferrals(inline_trigger=inline_trigger) for t in groups[kind]),
        }
        for name, states in (
            ("running", {"running"}),
            ("deferred", {"deferred"}),
            ("queued", QUEUE_STATES),
        ):
            each = [sum(s.get(state, 0.0) for state in states) for s in spent]
            row[f"{name}_med_s"] = common.median(each)
            row[f"{name}_total_s"] = sum(each)
        rows.append(row)
    return rows


def endpoint_of(method: str, path: str) -> str:
    parts = ["{id}" if ID_SEGMENT.match(p) else p for p in path.split("/")]
    return f"{method} {'/'.join(parts)}"


def endpoints(journal: Sequence[dict[str, Any]], *, since: float) -> dict[str, int]:
    """The server's requests from ``since`` (epoch s) on, by endpoint (ids replaced by
    ``{id}``), most first."""
    counts: dict[str, int] = {}
    for entry in journal:
        if entry["time"] < since:
            continue
        key = endpoint_of(entry["method"], entry["path"])
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@contextlib.contextmanager
def fresh_server(data_dir: Path, job_seconds: float) -> Iterator[Any]:
    """A fresh local server (journal on: the requests by endpoint come from it)."""
    server = common.start_server(data_dir, core=None, job_seconds=job_seconds, demo=False)
    try:
        server.configure(journal_size=1_000_000)
        yield server
    finally:
        server.stop()


def run_case(mode: str, n: int, scratch: Path, args: argparse.Namespace) -> dict[str, Any]:
    root = scratch / f"{mode}-{n}"
    media = make_media(root / "media", scratch / "demo-set", n)
    assert len(media) == n
    with fresh_server(root / "server", args.job_seconds) as server:
        case = Case(
            mode=mode,
            n=n,
            home=root / "airflow-home",
            media=root / "media",
            server=server,
            collection_id=common.new_collection(server),
            manifest=root / "manifest.json",
        )
        case.home.mkdir()
        runner = run_real if mode == "real" else run_dags_test
        row = runner(case, args)
        row["pids"].append(server.pid)  # every process the case started (all stopped)
        row["load_after"] = common.machine_info().get("loadavg")
        return row


# ---------------------------------------------------------------- output

SUMMARY = [
    ("mode", "mode"), ("n", "N"), ("run_s", "run s"), ("videos_per_hour", "videos/h"),
    ("wall_s", "wall s"), ("startup_s", "startup s"), ("task_instances", "TIs"),
    ("airflow_cpu_s", "airflow CPU s"), ("server_cpu_s", "server CPU s"),
    ("others_cpu_s", "others' CPU s"), ("requests", "requests"), ("polls", "polls"),
    ("jobs_created", "jobs"), ("connections_opened", "conns"),
]  # fmt: skip
KINDS = [
    ("mode", "mode"), ("n", "N"), ("kind", "task"), ("count", "TIs"), ("tries", "tries"),
    ("deferrals", "deferrals"), ("running_med_s", "running med s"),
    ("running_total_s", "running total s"), ("deferred_med_s", "deferred med s"),
    ("deferred_total_s", "deferred total s"), ("queued_med_s", "queued med s"),
    ("queued_total_s", "queued total s"),
]  # fmt: skip


def endpoint_table(rows: Sequence[dict[str, Any]]) -> str:
    names = sorted({e for r in rows for e in r["endpoints"]})
    cases = [(f"{r['mode']}:{r['n']}", r) for r in rows]
    table_rows = [
        {"endpoint": name, **{key: r["endpoints"].get(name, 0) for key, r in cases}}
        for name in names
    ]
    columns = [("endpoint", "endpoint"), *((key, key) for key, _ in cases)]
    return common.table(table_rows, columns)


def parse_ns(text: str) -> list[int]:
    try:
        ns = [int(x) for x in text.split(",")]
    except ValueError:
        raise SystemExit(f"--n: expected video counts like 3,12,24, got {text!r}") from None
    for n in ns:
        if not 1 <= n <= 1000:
            raise SystemExit(f"--n: {n} must be 1-1000")
    return ns


def parse_modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",")]
    for mode in modes:
        if mode not in MODES:
            raise SystemExit(f"--modes: {mode!r} is not one of {', '.join(MODES)}")
    return modes


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", default="3,12,24", help="videos per run, comma-separated")
    parser.add_argument("--modes", default=",".join(MODES), help="real, dags-test or both")
    parser.add_argument("--job-seconds", type=float, default=2.0, help="server job length, s")
    parser.add_argument("--parallelism", type=int, default=8, help="[core] parallelism (real)")
    parser.add_argument("--sample", type=float, default=0.2, help="metadata DB read interval, s")
    parser.add_argument("--timeout", type=float, default=1800.0, help="limit per run, s")
    parser.add_argument("--quick", action="store_true", help="N = 3 only (the smoke test)")
    parser.add_argument("--json", type=Path, help="also write the rows + machine info here")
    args = parser.parse_args(argv)
    # A plain kill must still stop every process and remove the scratch directory (finally:).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.quick:
        args.n = "3"
    ns, modes = parse_ns(args.n), parse_modes(args.modes)
    for flag, value in (("--job-seconds", args.job_seconds), ("--sample", args.sample),
                        ("--timeout", args.timeout)):  # fmt: skip
        if not value > 0:
            raise SystemExit(f"{flag}: must be > 0, got {value}")
    if args.parallelism < 1:
        raise SystemExit(f"--parallelism: must be >= 1, got {args.parallelism}")
    load_before = common.machine_info().get("loadavg")

    scratch = common.bench_data_dir()
    rows = []
    try:
        for n in ns:
            for mode in modes:
                t0 = time.perf_counter()
                rows.append(run_case(mode, n, scratch, args))
                print(f"  {mode} N={n} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # server data, AIRFLOW_HOMEs, media

    print()
    command = " ".join(["python bench/pipeline.py", *(argv or sys.argv[1:])])
    print(
        f"Nightly pipeline DAG, N copies of the demo set (captions embedded), server jobs"
        f" {args.job_seconds:g} s, parallelism {args.parallelism}"
        f" (real), DB read every {args.sample:g} s, scratch in {scratch.parent}"
    )
    print(f"command: {command}")
    info = common.machine_info()
    info["loadavg_before"] = load_before
    print(common.machine_line(info) + f" (before: {' '.join(load_before or [])})")
    print(common.table(rows, SUMMARY))
    print()
    kind_rows = [{"mode": r["mode"], "n": r["n"], **k} for r in rows for k in r["kinds"]]
    print(common.table(kind_rows, KINDS))
    print()
    print("server requests by endpoint (journal):")
    print(endpoint_table(rows))
    if args.json:
        payload = {"command": command, "machine": info, "scratch": str(scratch), "rows": rows}
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
