"""Helpers shared by the benchmarks: CPU pinning, the local server, stats, RSS, loop lag, tables.

Nothing here talks to anything but 127.0.0.1. Benchmarks print figures; nothing here asserts
on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import os
import platform
import resource
import secrets
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from videodb_local_server.control import LocalVideoDBServer

BENCH_API_KEY = "sk-bench-0123456789abcdef"
ROOT = Path(__file__).resolve().parent.parent


def ensure_airflow_home() -> str:
    """Point AIRFLOW_HOME at a throwaway directory (before anything imports airflow)."""
    if "AIRFLOW_HOME" not in os.environ:
        os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="videodb-bench-airflow-")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return os.environ["AIRFLOW_HOME"]


# ---------------------------------------------------------------- machine and pinning


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """What the figures came from: core count, CPU model, Python, library versions, load."""
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("apache-airflow", "aiohttp", "requests", "videodb"):
        try:
            info[dist] = version(dist)
        except PackageNotFoundError:
            info[dist] = None
    with contextlib.suppress(OSError):
        info["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    return info


def core_plan() -> tuple[int | None, int | None]:
    """(client core, server core): two different cores when the machine has them."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    if len(allowed) < 2:
        return None, None
    return allowed[0], allowed[1]


def pin_pid(pid: int, core: int | None) -> None:
    """Pin every thread of ``pid`` to ``core`` (sched_setaffinity on a pid moves one thread)."""
    if core is None:
        return
    tasks = Path(f"/proc/{pid}/task")
    tids = [int(p.name) for p in tasks.iterdir()] if tasks.is_dir() else [pid]
    for tid in tids:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(tid, {core})


def pin_self(core: int | None) -> None:
    pin_pid(os.getpid(), core)


def worker_command(script: Path, args: Sequence[str], core: int | None) -> list[str]:
    """A command line for a fresh Python worker, pinned with taskset when a core is given."""
    cmd = [sys.executable, str(script), *args]
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    return cmd


# ---------------------------------------------------------------- the local server


def start_server(
    data_dir: Path, *, core: int | None, job_seconds: float = 2.0, demo: bool = True
) -> LocalVideoDBServer:
    """Start the local VideoDB server (journal off) and pin all its threads to ``core``."""
    from videodb_local_server.control import LocalVideoDBServer

    server = LocalVideoDBServer.start(
        data_dir,
        api_keys=(BENCH_API_KEY,),
        demo=demo,
        job_seconds=job_seconds,
        # The request journal and INFO logs are per-request work the benchmarks do not need.
        extra_args=("--journal-size", "0", "--log-level", "WARNING"),
    )
    pin_pid(server.pid, core)
    return server


def new_collection(server: Any, prefix: str = "bench") -> str:
    """POST /collection: a fresh, empty collection on ``server``; its id.

    :param server: a control handle on the local server (``base_url``, ``api_key``).
    :param prefix: the start of the collection's name.
    """
    body = json.dumps({"name": f"{prefix}-{secrets.token_hex(4)}", "description": "bench"})
    request = urllib.request.Request(
        f"{server.base_url}/collection",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json", "x-access-token": server.api_key},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return str(json.loads(resp.read())["data"]["id"])


def attach_server(base_url: str, api_key: str) -> LocalVideoDBServer:
    """A control handle on a server someone else started (never stopped by us); its admin
    token comes from ``$VIDEODB_LOCAL_ADMIN_TOKEN``."""
    from urllib.parse import urlsplit

    from videodb_local_server.app import ADMIN_TOKEN_ENV
    from videodb_local_server.control import LocalVideoDBServer

    port = urlsplit(base_url).port
    if port is None:
        raise ValueError(f"--base-url needs an explicit port: {base_url!r}")
    return LocalVideoDBServer(
        Path(tempfile.gettempdir()),
        port=port,
        api_keys=(api_key,),
        demo=False,
        job_seconds=0.0,
        extra_args=(),
        python=sys.executable,
        admin_token=os.environ.get(ADMIN_TOKEN_ENV),
    )


def bench_data_dir() -> Path:
    """A scratch directory for the server, in RAM when possible (its job table is SQLite)."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="videodb-bench-", dir=base))


def twin_stats(base_url: str, admin_token: str) -> dict[str, Any]:
    """GET /_twin/stats with the standard library (one short connection of its own)."""
    from videodb_local_server.app import ADMIN_TOKEN_HEADER

    request = urllib.request.Request(
        f"{base_url}/_twin/stats", headers={ADMIN_TOKEN_HEADER: admin_token}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        payload: dict[str, Any] = json.loads(resp.read())
    return payload.get("data", payload) if isinstance(payload.get("data"), dict) else payload


def conn_env(base_url: str, api_key: str = BENCH_API_KEY) -> dict[str, str]:
    """Environment that defines the ``videodb_default`` connection for a benchmark process."""
    conn = {"conn_type": "videodb", "host": base_url, "password": api_key}
    return {"AIRFLOW_CONN_VIDEODB_DEFAULT": json.dumps(conn)}


# ---------------------------------------------------------------- process figures


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads)."""
    return time.process_time()


def rss_bytes() -> int:
    """Current resident set size."""
    with contextlib.suppress(OSError):
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def core_busy_seconds(core: int | None) -> float:
    """Non-idle CPU seconds of one core since boot, from /proc/stat (all processes)."""
    if core is None:
        return 0.0
    with contextlib.suppress(OSError):
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith(f"cpu{core} "):
                fields = [int(x) for x in line.split()[1:]]
                idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
                return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    return 0.0


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, math.ceil(pct / 100.0 * len(ordered)) - 1)
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return percentile(values, 50.0)


class GCPauses:
    """Pauses of the cyclic garbage collector (``gc.callbacks``), per generation.

    A full (generation 2) collection walks every tracked object of the process: with
    Airflow imported and thousands of triggers alive it can stall the event loop on its own.
    """

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self._started)

    def start(self) -> None:
        gc.callbacks.append(self._callback)

    def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._callback)

    def summary(self) -> dict[str, float]:
        full = self.pauses[2]
        every = [p for pauses in self.pauses.values() for p in pauses]
        return {
            "gc_full_collections": len(full),
            "gc_max_pause_ms": max(every, default=0.0) * 1000,
            "gc_total_ms": sum(every) * 1000,
        }


class LagWatchdog:
    """Measures event-loop lag: a coroutine sleeps ``interval`` and records how late it woke.

    Airflow's triggerer does the same with 100 ms and warns past 0.2 s; a finer interval sees
    shorter stalls.
    """

    def __init__(self, interval: float = 0.010) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self.worst_at = math.nan  # seconds after start() when the worst stall ended
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        clock = time.perf_counter
        started = clock()
        worst = -1.0
        while True:
            before = clock()
            await asyncio.sleep(self.interval)
            after = clock()
            lag = max(0.0, after - before - self.interval)
            self.samples.append(lag)
            if lag > worst:
                worst, self.worst_at = lag, after - started

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def summary(self) -> dict[str, float]:
        return {
            "lag_p99_ms": percentile(self.samples, 99) * 1000,
            "lag_max_ms": max(self.samples, default=math.nan) * 1000,
            "lag_max_at_s": self.worst_at,
        }


@contextlib.contextmanager
def timed() -> Iterator[dict[str, float]]:
    """``with timed() as t:`` gives ``t["wall"]`` and ``t["cpu"]`` seconds afterwards."""
    out: dict[str, float] = {}
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    try:
        yield out
    finally:
        out["wall"] = time.perf_counter() - wall0
        out["cpu"] = cpu_seconds() - cpu0


# ---------------------------------------------------------------- output


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A plain-text table; ``columns`` are (key, header) pairs, numbers right-aligned."""
    cells = [[header for _, header in columns]]
    cells += [[fmt(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = []
    for idx, r in enumerate(cells):
        parts = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(parts))
        if idx == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"machine: {info['nproc']} cpu ({info['cpu']}), Python {info['python']}, "
        f"Airflow {info.get('apache-airflow')}, aiohttp {info.get('aiohttp')}, "
        f"load {' '.join(info.get('loadavg') or [])}"
    )
