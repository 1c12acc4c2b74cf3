"""A real Airflow deployment for tests: api-server, scheduler, dag-processor, triggerer.

Each component runs as its own process in its own session (so its whole process group, task
workers included, can be stopped with one signal), on a fresh AIRFLOW_HOME with sqlite and the
LocalExecutor. Used by ``tests/e2e/test_nightly_real_airflow.py`` and by
``tests/reliability/test_triggerer_restart.py`` (as ``tests.e2e.real_airflow``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def deployment_env(base: Mapping[str, str], *, parallelism: int, **extra: str) -> dict[str, str]:
    """``base`` (e.g. the demo's ``airflow_env``) plus what separate components need.

    Free ports for the api-server and the log servers, a fresh JWT secret, ``parallelism``
    task slots; ``extra`` variables are added last (and win).
    """
    env = dict(base)
    api_port = free_port()
    env.update(
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM=str(parallelism),
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        # Only the triggered run: no catch-up of a cron schedule.
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        # Away from the defaults (8793/8794) so a local Airflow on this machine does not clash.
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
    )
    env.update(extra)
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    return env


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def airflow(self) -> str:
        return str(Path(sys.executable).parent / "airflow")

    @property
    def api_port(self) -> int:
        return int(self.env["AIRFLOW__API__PORT"])

    def log(self, name: str) -> Path:
        return self.home / f"{name}.out"

    def cli(self, *args: str) -> str:
        proc = subprocess.run(
            [self.airflow, *args], env=self.env, capture_output=True, text=True, timeout=180
        )
        assert proc.returncode == 0, f"airflow {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def start(self, name: str, *args: str) -> None:
        with self.log(name).open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [self.airflow, name, *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole below
            )

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                pytest.fail(f"airflow {name} exited with {proc.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        try:
            text = self.log(name).read_text(errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM each component's process group (workers included), then SIGKILL stragglers."""
        for proc in self.procs.values():
            if proc.poll() is None:
                signal_group(proc.pid, signal.SIGTERM)
        deadline = time.time() + 30
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.time()))
            # Children of the group may outlive the leader; the group id is the leader's pid.
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the metadata DB (retrying while a writer holds the lock)."""
        for _ in range(50):
            try:
                with sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True) as db:
                    return db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "no such table" not in str(exc):
                    raise
                time.sleep(0.1)
        raise AssertionError(f"metadata DB stayed locked: {sql}")


@contextlib.contextmanager
def deployed(home: Path, env: dict[str, str]) -> Iterator[Deployment]:
    """Migrate the metadata DB, start every component, stop them all on the way out."""
    deployment = Deployment(home=home, env=env)
    deployment.cli("db", "migrate")
    try:
        for name in COMPONENTS:
            deployment.start(name)
        yield deployment
    finally:
        deployment.stop()


def wait_for(what: str, check: Any, deployment: Deployment, timeout: float) -> Any:
    """Poll ``check`` until it returns something truthy (failing early if a component died)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = check()
        if result:
            return result
        deployment.check_alive()
        time.sleep(0.5)
    logs = "\n".join(f"--- {n}\n{deployment.tail(n)}" for n in deployment.procs)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")
