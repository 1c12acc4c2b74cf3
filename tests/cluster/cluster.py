"""A real Airflow cluster on this machine: Postgres, Redis, CeleryExecutor, two triggerers.

What runs, each its own process in its own session (so its whole process group — Celery's
pool children, a triggerer's runner, a Postgres backend — is stopped with one signal):

* Postgres (the metadata database and Celery's result backend) and Redis (Celery's broker),
  from ``tests/cluster/servers.py``;
* ``airflow scheduler``, ``airflow dag-processor`` and ``airflow api-server``;
* ``workers`` times ``airflow celery worker`` (distinct Celery hostnames, small concurrency, each
  serving its task logs on a port of its own);
* ``triggerers`` times ``airflow triggerer`` (each its own log-server port), started one after
  the other so that each process is known by its ``TriggererJob`` id.

The single-machine harness ``tests/e2e/real_airflow.py`` provides the process handling
(``Deployment``: start, ``check_alive``, log tails, stop by process group) and the environment
(``deployment_env``); this module swaps sqlite and the LocalExecutor for the above. The local
VideoDB server is the caller's (the ``videodb_server`` fixture, or ``scripts/cluster.py``).
Used by ``tests/cluster/`` and by ``scripts/cluster.py``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.cluster.procs import descendants, kill_if_same
from tests.cluster.servers import Postgres, Redis, postgres, redis
from tests.e2e.real_airflow import Deployment, deployment_env, free_port, port_open, signal_group

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 240.0


def load_demo_module() -> ModuleType:
    """``scripts/run_nightly_demo.py`` as a module (for its ``airflow_env``)."""
    name = "_cluster_run_nightly_demo"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "run_nightly_demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(kw_only=True)
class Cluster(Deployment):
    """A running cluster: the ``Deployment`` of its Airflow processes, plus its servers.

    ``procs`` (from ``Deployment``) is keyed by label: ``scheduler``, ``dag-processor``,
    ``api-server``, ``worker-1``…, ``triggerer-1``…; ``triggerer_jobs`` maps each triggerer
    label to its ``TriggererJob`` id (the ``triggerer_id`` of the triggers it runs).
    """

    db: Postgres
    broker: Redis
    triggerer_jobs: dict[str, int] = field(default_factory=dict)
    component_env: dict[str, dict[str, str]] = field(default_factory=dict)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the metadata database (``%s`` placeholders; ``?`` is accepted too)."""
        return self.db.query(sql, *params)

    def launch(self, label: str, args: list[str], env: Mapping[str, str] | None = None) -> None:
        """Start ``airflow <args>`` as component ``label`` (its own session, output in
        ``<home>/<label>.out``), with ``env`` added to the cluster's environment."""
        extra = dict(env or {})
        self.component_env[label] = extra
        with self.log(label).open("ab") as out:
            self.procs[label] = subprocess.Popen(
                [self.airflow, *args],
                env={**self.env, **extra},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_worker(self, label: str, concurrency: int) -> None:
        """An ``airflow celery worker`` with a Celery hostname and a log-server port of its own."""
        self.launch(
            label,
            ["celery", "worker", "--concurrency", str(concurrency), "-H", f"{label}@%h"],
            {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
        )

    def start_triggerer(self, label: str, timeout: float = STARTUP_TIMEOUT) -> int:
        """An ``airflow triggerer``; waits for its ``TriggererJob`` row and returns the id."""
        known = set(self.query("select id from job where job_type = 'TriggererJob'"))
        self.launch(
            label,
            ["triggerer"],
            {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())},
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            rows = set(
                self.query(
                    "select id from job where job_type = 'TriggererJob' and state = 'running'"
                )
            )
            new = rows - known
            if new:
                (job_id,) = max(new)
                self.triggerer_jobs[label] = int(job_id)
                return int(job_id)
            self.check_alive()
            time.sleep(0.5)
        raise AssertionError(f"{label} registered no TriggererJob:\n{self.tail(label)}")

    def stop(self) -> None:
        """``Deployment.stop`` (each process group), then SIGKILL to any descendant that left
        its group (a task process in a session of its own) and is still alive."""
        leftovers = descendants([proc.pid for proc in self.procs.values()])
        super().stop()
        for pid, started in leftovers:
            kill_if_same(pid, started)

    def kill(self, label: str) -> float:
        """SIGKILL a component's whole process group (a crash); returns when it happened."""
        proc = self.procs.pop(label)
        signal_group(proc.pid, signal.SIGKILL)
        killed_at = time.time()
        proc.wait(timeout=30)
        return killed_at

    def worker_workloads(self, label: str) -> int:
        """How many task workloads (a run up to success, failure or deferral) worker
        ``label`` finished, from its output."""
        try:
            return self.log(label).read_text(errors="replace").count("Workload finished")
        except OSError:
            return 0

    def endpoints(self) -> dict[str, str]:
        """What a user connects to: the UI/API, Postgres, Redis."""
        return {
            "api-server": f"http://127.0.0.1:{self.api_port}",
            "postgres": self.db.url("postgresql"),
            "redis": self.broker.url(),
            "airflow_home": str(self.home),
        }


def cluster_env(
    base: Mapping[str, str],
    db: Postgres,
    broker: Redis,
    *,
    parallelism: int,
    **extra: str,
) -> dict[str, str]:
    """``deployment_env`` with Postgres, Redis and the CeleryExecutor; ``extra`` wins."""
    return deployment_env(
        base,
        parallelism=parallelism,
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=db.url(),
        AIRFLOW__CELERY__BROKER_URL=broker.url(),
        AIRFLOW__CELERY__RESULT_BACKEND=db.url("db+postgresql+psycopg2"),
        # The triggers' owner is known to be dead once its heartbeat is this old.
        AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="1",
        AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="10",
        AIRFLOW__SCHEDULER__TRIGGERER_HEALTH_CHECK_THRESHOLD="10",  # older Airflow's name
        **extra,
    )


@contextlib.contextmanager
def running_cluster(
    workdir: Path,
    *,
    base_url: str,
    api_key: str,
    dags_folder: Path,
    workers: int = 2,
    worker_concurrency: int = 3,
    triggerers: int = 2,
    parallelism: int = 16,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Cluster]:
    """Start the whole cluster in ``workdir``; stop every process of it on the way out.

    :param workdir: a fresh folder: ``airflow-home/`` (config, logs, component output) and
        the servers' output go there.
    :param base_url: the VideoDB server the ``videodb_default`` connection points at.
    :param api_key: its API key.
    :param dags_folder: the DAGs the dag-processor parses.
    :param workers: number of ``airflow celery worker`` processes.
    :param worker_concurrency: Celery pool size of each worker.
    :param triggerers: number of ``airflow triggerer`` processes.
    :param parallelism: ``[core] parallelism`` (the executor's task slots).
    :param extra_env: more environment for every component (wins over the defaults).
    """
    home = workdir / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    base = load_demo_module().airflow_env(
        home, base_url=base_url, api_key=api_key, dags_folder=dags_folder
    )
    with contextlib.ExitStack() as stack:
        db = stack.enter_context(postgres(workdir))
        broker = stack.enter_context(redis(workdir))
        env = cluster_env(base, db, broker, parallelism=parallelism, **dict(extra_env or {}))
        cluster = Cluster(home=home, env=env, db=db, broker=broker)
        stack.callback(cluster.stop)  # first out: Airflow before its database and broker
        cluster.cli("db", "migrate")
        for name in ("scheduler", "dag-processor", "api-server"):
            cluster.launch(name, [name])
        for number in range(1, workers + 1):
            cluster.start_worker(f"worker-{number}", worker_concurrency)
        for number in range(1, triggerers + 1):
            cluster.start_triggerer(f"triggerer-{number}")
        wait_ready(cluster, [f"worker-{n}" for n in range(1, workers + 1)])
        yield cluster


def wait_ready(cluster: Cluster, workers: list[str], timeout: float = STARTUP_TIMEOUT) -> None:
    """Until the api-server listens and every Celery worker said it is ready."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready = port_open(cluster.api_port) and all(
            "ready." in cluster.log(label).read_text(errors="replace") for label in workers
        )
        if ready:
            return
        cluster.check_alive()
        time.sleep(0.5)
    tails = "\n".join(f"--- {n}\n{cluster.tail(n)}" for n in cluster.procs)
    raise AssertionError(f"the cluster did not come up in {timeout:.0f}s\n{tails}")
