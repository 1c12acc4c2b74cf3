"""The cost of N asset watchers on ONE collection in ONE real triggerer: shared stream or not.

For each N (``--n``) and each variant, a fresh real deployment (sqlite AIRFLOW_HOME in a
scratch directory; a real ``airflow dag-processor`` and a real ``airflow triggerer``, each in
its own session) loads one generated DAG file whose schedule is N assets, each with one
:class:`~airflow.sdk.AssetWatcher` whose trigger differs only in ``name_pattern``
(``[b<i>]ench-*``: a class holding ``b`` and the digits of ``i``, so no two are equal and
every one matches the upload ``bench-upload``). Distinct kwargs make N distinct triggers; the
triggerer runs them as in production. Variants, side by side in one run:

  shared    ``VideoDBNewVideoTrigger`` as shipped: one shared stream (one poll loop) for the
            N triggers, each poll handed to every trigger's ``filter_shared_stream``
  unshared  a subclass whose ``shared_stream_key()`` returns ``None`` (written by the bench
            into a module next to the DAG file), so the triggerer runs each trigger's own
            ``run()``: one poll loop per trigger

The watched collection is a fresh one on the local server (``--seed`` videos already in it,
the baseline that must not fire). Once every trigger has stored its baseline cursor (N rows
in ``asset_state_store``: all N are running and have polled), the bench waits one interval,
then measures over a fixed window (``--window`` s):

* **polls/interval** — ``GET /video?collection_id=<it>`` seen by the server (its journal) in
  the window, per poll interval;
* **CPU s/interval** — user + system CPU of every process of the triggerer's session
  (supervisor, trigger runner, log server; ``/proc/<pid>/stat``) in the window, per interval;
* **RSS MiB / PSS MiB** — the resident memory of those processes, summed, at the end of the
  window; the runner is a fork of the supervisor, so RSS counts their shared pages twice and
  PSS (``smaps_rollup``) splits them; per process in the JSON (``memory_by_process_mb``,
  ``cpu_by_process_s``).

Then one video named ``bench-upload`` is uploaded (the SDK's flow), and the bench waits until
the metadata DB holds N asset events (``asset_event``, one per watched asset). **upload→first
s / upload→all s** are the first / last event's DB timestamp minus the moment the upload was
answered (the video is listed from then); **poll→all s** is the last event minus the first
collection poll the server saw after the upload (for ``shared`` the poll that fired them all:
the fan-out cost); **upload→all yielded s** is when the trigger runner yielded the last of the N
events (its ``Trigger fired event`` log line), so the rest of upload→all is the supervisor
storing them; **fan-out CPU s** is the triggerer's CPU from the upload until all N were
stored. One more interval later the events are counted again (**extra events**: duplicates,
expected 0). **others' CPU s** = busy time of all cores in the window minus the triggerer's,
the dag-processor's, the server's and the bench's: the noise indicator on a shared machine.

The triggerer (its whole session) is pinned to one core and the server to the other; the
dag-processor is not pinned (it parses the file once: ``min_file_process_interval`` 3600 s).
No scheduler runs: the figure is the triggerer's, and asset events need none. Each case
migrates nothing (a copy of one migrated sqlite DB); **startup s** (launch to N baselines)
includes the triggerer's first asset-state call, on which its in-process execution API is
built (~30 s of CPU on a loaded 2-core machine, once per process, whatever N).

    .venv/bin/python bench/watchers.py                   # N = 1, 100, 1000, 5 s poll, 60 s window
    .venv/bin/python bench/watchers.py --quick           # N = 1, 20, 1 s poll, 6 s window
    .venv/bin/python bench/watchers.py --json out.json

Prints figures; asserts nothing about timing. Everything lives in one scratch directory (in RAM
under ``/dev/shm`` when possible), removed at the end; every process is stopped by its pid /
process group (also on SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as common
import requests
from cryptography.fernet import Fernet
from server_ingest import busy_seconds, pid_cpu_seconds

from scripts import run_nightly_demo as demo
from tests.e2e.real_airflow import Deployment, deployment_env, signal_group
from tests.provider.triggers.collection_support import upload, video_polls

VARIANTS = ("shared", "unshared")
LABELS = {"shared": "shared stream", "unshared": "poll loop per trigger"}
DAG_ID = "bench_watchers"
DAG_FILE = "bench_watchers.py"
UNSHARED_MODULE = "bench_unshared_watcher"
UPLOAD_NAME = "bench-upload"
CURSOR_KEYS = "videodb.new_video/%"
STARTUP_TIMEOUT = 600.0
FIRE_TIMEOUT = 300.0
#: What the triggerer logs (with the runner's timestamp) for each event a trigger yields.
FIRED_LINE = "Trigger fired event"

UNSHARED_SOURCE = '''\
"""Written by bench/watchers.py: the provider's trigger without the shared stream."""

from airflow_provider_videodb.triggers.events import VideoDBNewVideoTrigger


class UnsharedNewVideoTrigger(VideoDBNewVideoTrigger):
    """No shared-stream key: the triggerer runs this trigger's own ``run()`` (its own polls)."""

    def shared_stream_key(self):
        return None
'''

DAG_TEMPLATE = '''\
"""Written by bench/watchers.py: {n} asset watchers on one collection ({variant})."""

import pendulum
from airflow.sdk import Asset, AssetWatcher, dag, task

{import_line}

ASSETS = [
    Asset(
        name=f"bench_watch_{{i:04d}}",
        uri=f"bench-watch://{{i:04d}}",
        watchers=[
            AssetWatcher(
                name=f"bench_watch_{{i:04d}}",
                trigger={trigger}(
                    collection_id={collection!r},
                    poll_interval={poll_interval!r},
                    name_pattern=f"[b{{i}}]ench-*",
                ),
            )
        ],
    )
    for i in range({n})
]


@dag(dag_id={dag_id!r}, schedule=ASSETS, start_date=pendulum.datetime(2025, 1, 1), catchup=False)
def bench_watchers():
    @task
    def noop():
        return None

    noop()


bench_watchers()
'''


# ---------------------------------------------------------------- inputs


def write_dags(folder: Path, *, variant: str, n: int, collection: str, poll: float) -> None:
    """The DAG file (and, for ``unshared``, the trigger subclass module next to it).

    :param folder: the dags folder (created).
    :param variant: ``shared`` or ``unshared``.
    :param n: number of assets / watchers / triggers.
    :param collection: the watched collection id.
    :param poll: the triggers' poll interval, seconds.
    """
    folder.mkdir(parents=True)
    if variant == "shared":
        import_line = "from airflow_provider_videodb.triggers.events import VideoDBNewVideoTrigger"
        trigger = "VideoDBNewVideoTrigger"
    else:
        (folder / f"{UNSHARED_MODULE}.py").write_text(UNSHARED_SOURCE)
        import_line = f"from {UNSHARED_MODULE} import UnsharedNewVideoTrigger"
        trigger = "UnsharedNewVideoTrigger"
    source = DAG_TEMPLATE.format(
        n=n,
        variant=variant,
        import_line=import_line,
        trigger=trigger,
        collection=collection,
        poll_interval=float(poll),
        dag_id=DAG_ID,
    )
    (folder / DAG_FILE).write_text(source)


def db_time(value: str) -> float:
    """An Airflow UTC timestamp as stored in sqlite, as epoch seconds."""
    stamp = datetime.fromisoformat(value)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def fired_log_times(log: Path) -> list[float]:
    """When the trigger runner yielded each event: its ``Trigger fired event`` log lines
    (the runner's own clock, before the supervisor stores the event)."""
    times = []
    for line in log.read_text(errors="replace").splitlines():
        if FIRED_LINE in line:
            with contextlib.suppress(ValueError):
                times.append(datetime.fromisoformat(line.split(" ", 1)[0]).timestamp())
    return times


# ---------------------------------------------------------------- processes


def session_members(sid: int) -> list[int]:
    """Pids of the live processes of session ``sid`` (``/proc/<pid>/stat`` field 6)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:
                pids.append(int(entry.name))
    return pids


def session_cpu(sid: int) -> float:
    """CPU seconds (utime + stime + reaped children) of every live process of ``sid``."""
    return sum(session_cpu_by_pid(sid).values())


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


def session_memory(sid: int) -> dict[str, dict[str, float]]:
    """RSS and PSS MiB per process of session ``sid`` (keyed ``<pid>`` or ``<pid> (leader)``).

    The trigger runner is a fork of the supervisor, so RSS counts their shared pages twice;
    PSS (``/proc/<pid>/smaps_rollup``) splits each shared page between its sharers.
    """
    out: dict[str, dict[str, float]] = {}
    for pid in session_members(sid):
        with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
            rss = int(_status(pid)["VmRSS"].split()[0]) / 1024
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            pss = next(int(line.split()[1]) for line in rollup if line.startswith("Pss:")) / 1024
            out[f"{pid} (leader)" if pid == sid else str(pid)] = {"rss": rss, "pss": pss}
    return out


def session_cpu_by_pid(sid: int) -> dict[int, float]:
    """CPU seconds per live process of session ``sid``."""
    out: dict[int, float] = {}
    for pid in session_members(sid):
        with contextlib.suppress(OSError):
            out[pid] = pid_cpu_seconds(pid)
    return out


def stop(deployment: Deployment, grace: float = 5.0) -> None:
    """SIGTERM each component's session, SIGKILL what is left after ``grace`` seconds."""
    for proc in deployment.procs.values():
        if proc.poll() is None:
            signal_group(proc.pid, signal.SIGTERM)
    deadline = time.time() + grace
    for proc in deployment.procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.time()))
        signal_group(proc.pid, signal.SIGKILL)  # the leader's children too
        proc.wait(timeout=10)


def pin_session(sid: int, core: int | None) -> None:
    for pid in session_members(sid):
        common.pin_pid(pid, core)


# ---------------------------------------------------------------- one case


@dataclass
class Run:
    """What every case shares: the server, media, scratch and settings."""

    server: Any
    api: requests.Session
    media: list[Path]
    scratch: Path
    template_db: Path
    poll: float
    window: float
    seed: int
    triggerer_core: int | None
    fernet_key: str


def wait_until(what: str, check: Callable[[], Any], deployment: Deployment, timeout: float) -> Any:
    """Call ``check`` every 0.25 s until it is truthy; exits if a component died or time is up."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = check()
        if result:
            return result
        for name, proc in deployment.procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"airflow {name} exited early:\n{deployment.tail(name)}")
        time.sleep(0.25)
    logs = "\n".join(f"--- {n}\n{deployment.tail(n)}" for n in deployment.procs)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")


def count(deployment: Deployment, sql: str, *params: Any) -> int:
    return int(deployment.query(sql, *params)[0][0])


def case_env(run: Run, home: Path, dags: Path, n: int) -> dict[str, str]:
    base = demo.airflow_env(
        home, base_url=run.server.base_url, api_key=run.server.api_key, dags_folder=dags
    )
    path = os.pathsep.join(p for p in (str(dags), base.get("PYTHONPATH", "")) if p)
    return deployment_env(
        base,
        parallelism=2,
        # One key for every process: each would otherwise write its own airflow.cfg.
        AIRFLOW__CORE__FERNET_KEY=run.fernet_key,
        PYTHONPATH=path,  # the unshared subclass is imported by both processes from here
        AIRFLOW__TRIGGERER__CAPACITY=str(max(1000, n)),
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="3600",
        AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT="300",
        AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT="300",
    )


def run_case(run: Run, variant: str, n: int) -> dict[str, Any]:
    """One (variant, N): a fresh deployment, its figures, everything stopped afterwards."""
    root = run.scratch / f"{variant}-{n}"
    collection = common.new_collection(run.server, "watchers")
    for k in range(run.seed):
        upload(run.server, run.api, collection, run.media[k % len(run.media)], f"seed-{k}")
    dags, home = root / "dags", root / "airflow-home"
    write_dags(dags, variant=variant, n=n, collection=collection, poll=run.poll)
    home.mkdir(parents=True)
    shutil.copyfile(run.template_db, home / "airflow.db")
    deployment = Deployment(home=home, env=case_env(run, home, dags, n))
    run.server.clear_journal()
    t_start = time.time()
    try:
        deployment.start("dag-processor")
        deployment.start("triggerer")
        triggerer = deployment.procs["triggerer"].pid
        processor = deployment.procs["dag-processor"].pid
        common.pin_pid(triggerer, run.triggerer_core)  # before it forks: children inherit
        cursors = "select count(*) from asset_state_store where key like ?"
        wait_until(
            f"{n} baseline cursors",
            lambda: count(deployment, cursors, CURSOR_KEYS) >= n,
            deployment,
            STARTUP_TIMEOUT,
        )
        startup_s = time.time() - t_start
        pin_session(triggerer, run.triggerer_core)
        time.sleep(run.poll + 1.0)  # every loop past its first poll

        # -- the steady window
        def totals() -> dict[str, float]:
            return {
                "t": time.time(),
                "triggerer": session_cpu(triggerer),
                "processor": session_cpu(processor),
                "server": pid_cpu_seconds(run.server.pid),
                "bench": common.cpu_seconds(),
                "busy": busy_seconds(),
            }

        before, by_pid = totals(), session_cpu_by_pid(triggerer)
        time.sleep(run.window)
        after = totals()
        memory = session_memory(triggerer)
        cpu_by_pid = {
            pid: cpu - by_pid[pid]
            for pid, cpu in session_cpu_by_pid(triggerer).items()
            if pid in by_pid
        }
        window = after["t"] - before["t"]
        used = {key: after[key] - before[key] for key in after}
        ours = sum(used[key] for key in ("triggerer", "processor", "server", "bench"))

        # -- one upload, N events
        events = "select count(*) from asset_event"
        if count(deployment, events):
            raise SystemExit(f"{variant} N={n}: the baseline fired (events before the upload)")
        upload(run.server, run.api, collection, run.media[0], UPLOAD_NAME)
        t_up, cpu_up = time.time(), session_cpu(triggerer)
        wait_until(
            f"{n} asset events", lambda: count(deployment, events) >= n, deployment, FIRE_TIMEOUT
        )
        fanout_cpu = session_cpu(triggerer) - cpu_up
        time.sleep(run.poll + 1.0)  # a duplicate would show by now
        rows = deployment.query(
            "select count(*), count(distinct asset_id), min(timestamp), max(timestamp)"
            " from asset_event"
        )
        total, assets, first, last = rows[0]
        journal = video_polls(run.server, collection)
        yielded = fired_log_times(deployment.log("triggerer"))
    finally:
        t_stop = time.time()
        stop(deployment)
        stop_s = time.time() - t_stop
    in_window = [e for e in journal if before["t"] <= e["time"] < after["t"]]
    after_upload = [e["time"] for e in journal if e["time"] >= t_up]
    intervals = window / run.poll
    t_first, t_last = db_time(first), db_time(last)
    return {
        "variant": variant,
        "label": LABELS[variant],
        "n": n,
        "poll_interval": run.poll,
        "window_s": window,
        "startup_s": startup_s,
        "stop_s": stop_s,
        "polls": len(in_window),
        "polls_per_interval": len(in_window) / intervals,
        "cpu_s": used["triggerer"],
        "cpu_s_per_interval": used["triggerer"] / intervals,
        "cpu_ms_per_trigger_interval": used["triggerer"] / intervals / n * 1000,
        "rss_mb": sum(m["rss"] for m in memory.values()),
        "pss_mb": sum(m["pss"] for m in memory.values()),
        "memory_by_process_mb": memory,
        "cpu_by_process_s": {str(pid): cpu for pid, cpu in cpu_by_pid.items()},
        "upload_to_first_s": t_first - t_up,
        "upload_to_all_s": t_last - t_up,
        "poll_to_all_s": (t_last - min(after_upload)) if after_upload else None,
        "fanout_cpu_s": fanout_cpu,
        "events_yielded": len(yielded),
        "upload_to_all_yielded_s": (max(yielded) - t_up) if yielded else None,
        "events": int(total),
        "assets_fired": int(assets),
        "extra_events": int(total) - n,
        "server_cpu_s": used["server"],
        "dag_processor_cpu_s": used["processor"],
        "others_cpu_s": max(0.0, used["busy"] - ours),
        "pids": sorted({triggerer, processor}),
    }


def migrated_template(scratch: Path, server: Any) -> Path:
    """One ``airflow db migrate`` for the whole run; each case starts from a copy."""
    home = scratch / "template-home"
    home.mkdir()
    env = demo.airflow_env(home, base_url=server.base_url, api_key=server.api_key)
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    Deployment(home=home, env=env).cli("db", "migrate")
    return home / "airflow.db"


@contextlib.contextmanager
def bench_server(data_dir: Path, core: int | None) -> Iterator[Any]:
    """The local server (pinned), with a journal big enough for the unshared polls."""
    server = common.start_server(data_dir, core=core, job_seconds=0.2, demo=False)
    try:
        server.configure(journal_size=500_000)
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- output

COLUMNS = [
    ("label", "variant"), ("n", "N"), ("polls_per_interval", "polls/interval"),
    ("cpu_s_per_interval", "CPU s/interval"), ("cpu_ms_per_trigger_interval", "CPU ms/trig/int"),
    ("rss_mb", "RSS MiB"), ("pss_mb", "PSS MiB"), ("upload_to_first_s", "upload→first s"),
    ("upload_to_all_s", "upload→all s"), ("upload_to_all_yielded_s", "upload→all yielded s"),
    ("poll_to_all_s", "poll→all s"),
    ("fanout_cpu_s", "fan-out CPU s"), ("assets_fired", "fired"), ("extra_events", "extra"),
    ("startup_s", "startup s"), ("others_cpu_s", "others' CPU s"),
]  # fmt: skip


def parse_ns(text: str) -> list[int]:
    try:
        ns = [int(x) for x in text.split(",")]
    except ValueError:
        raise SystemExit(f"--n: expected trigger counts like 1,100,1000, got {text!r}") from None
    for n in ns:
        if not 1 <= n <= 5000:
            raise SystemExit(f"--n: {n} must be 1-5000")
    return ns


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", help="triggers per case, comma-separated (default 1,100,1000)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="shared, unshared or both")
    parser.add_argument("--poll", type=float, help="the triggers' poll interval, s (default 5)")
    parser.add_argument("--window", type=float, help="measured window, s (default 60)")
    parser.add_argument("--seed", type=int, default=3, help="videos in the collection before")
    parser.add_argument(
        "--quick", action="store_true", help="defaults N = 1,20, 1 s poll, 6 s window"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin triggerer and server")
    parser.add_argument("--json", type=Path, help="also write the rows + machine info here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir (logs, DBs)")
    args = parser.parse_args(argv)
    # A plain kill must still stop every process and remove the scratch directory (finally:).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # --quick changes the defaults; an explicit --n / --poll / --window still wins.
    quick = {"n": "1,20", "poll": 1.0, "window": 6.0}
    full = {"n": "1,100,1000", "poll": 5.0, "window": 60.0}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    ns = parse_ns(args.n)
    variants = [v.strip() for v in args.variants.split(",")]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"--variants: {v!r} is not one of {', '.join(VARIANTS)}")
    if not (args.poll > 0 and args.window >= args.poll and args.seed >= 0):
        raise SystemExit("--poll must be > 0, --window >= --poll, --seed >= 0")
    client_core, server_core = (None, None) if args.no_pin else common.core_plan()
    load_before = common.machine_info().get("loadavg")
    command = " ".join(["python bench/watchers.py", *(argv if argv is not None else sys.argv[1:])])

    scratch = common.bench_data_dir()
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    try:
        with bench_server(scratch / "server", server_core) as server, requests.Session() as api:
            api.headers["x-access-token"] = server.api_key
            media = demo.prepare_new_media(scratch / "media")
            run = Run(
                server=server,
                api=api,
                media=media,
                scratch=scratch,
                template_db=migrated_template(scratch, server),
                poll=args.poll,
                window=args.window,
                seed=args.seed,
                triggerer_core=client_core,
                fernet_key=Fernet.generate_key().decode(),
            )
            for n in ns:
                for variant in variants:
                    t = time.perf_counter()
                    row = run_case(run, variant, n)
                    row["pids"].append(server.pid)
                    rows.append(row)
                    print(
                        f"  {variant:8} N={n:>5}: {row['polls_per_interval']:.1f} polls/interval,"
                        f" {row['cpu_s_per_interval']:.3f} CPU s/interval,"
                        f" {row['rss_mb']:.0f} MiB, all fired {row['upload_to_all_s']:.2f} s"
                        f" after the upload ({time.perf_counter() - t:.0f} s)",
                        flush=True,
                    )
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    info = common.machine_info()
    info.update(loadavg_before=load_before, triggerer_core=client_core, server_core=server_core)
    print()
    print(
        f"N asset watchers on one collection, one real triggerer; poll {args.poll:g} s, window"
        f" {args.window:g} s, {args.seed} videos in the collection before the upload"
        f" ({time.perf_counter() - t0:.0f} s in all)"
    )
    print(f"command: {command}")
    print(common.machine_line(info) + f" (before: {' '.join(load_before or [])})")
    print(common.table(rows, COLUMNS))
    print(textwrap.fill(
        "polls/interval: GET /video of the collection seen by the server; CPU and RSS: every "
        "process of the triggerer's session; upload→all: until N asset_event rows; poll→all: "
        "from the first poll after the upload; yielded: the runner's 'Trigger fired event' log "
        "line, before the supervisor stores the event.", width=96,
    ))  # fmt: skip
    if args.json:
        payload = {"command": command, "machine": info, "scratch": str(scratch), "rows": rows}
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        print(f"figures written to {args.json}")
    return 0 if all(r["assets_fired"] == r["n"] and r["extra_events"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
