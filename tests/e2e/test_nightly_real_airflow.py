"""The nightly highlights DAG in a real Airflow: api-server, scheduler, dag-processor, triggerer.

Each Airflow component runs as its own process (own session, so its whole process group can be
stopped with one signal), on a fresh AIRFLOW_HOME with sqlite and the LocalExecutor. The run is
triggered with the CLI like a user would; the test watches the metadata DB and proves that every
clip task went through ``deferred`` and that its ClipJobTrigger ran in the triggerer process
(the triggerer writes a ``.trigger.<job id>.log`` beside the task's log), then that the run
succeeded and published its manifest.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from e2e_support import DEMO_PROMPT, NIGHTLY_DAG_ID

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
STARTUP_TIMEOUT = 180.0
RUN_TIMEOUT = 420.0
JOB_SECONDS = 6.0  # long enough that a clip task sits in `deferred` for a few polls


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def airflow(self) -> str:
        return str(Path(sys.executable).parent / "airflow")

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
                _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.time() + 30
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.time()))
            # Children of the group may outlive the leader; the group id is the leader's pid.
            _signal_group(proc.pid, signal.SIGKILL)
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


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_for(what: str, check: Any, deployment: Deployment, timeout: float) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = check()
        if result:
            return result
        deployment.check_alive()
        time.sleep(0.5)
    logs = "\n".join(f"--- {n}\n{deployment.tail(n)}" for n in deployment.procs)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")


@pytest.fixture
def deployment(server: Any, tmp_path: Path, demo: ModuleType) -> Iterator[Deployment]:
    home = tmp_path / "airflow-home"
    home.mkdir()
    env = demo.airflow_env(home, base_url=server.base_url, api_key=server.api_key)
    api_port = _free_port()
    env.update(
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        # Only the triggered run: no catch-up of the nightly cron schedule.
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        # Away from the defaults (8793/8794) so a local Airflow on this machine does not clash.
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(_free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(_free_port()),
    )
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    deployment = Deployment(home=home, env=env)
    deployment.cli("db", "migrate")
    try:
        for name in COMPONENTS:
            deployment.start(name)
        yield deployment
    finally:
        deployment.stop()


def test_clip_tasks_defer_to_the_triggerer_and_the_run_succeeds(
    deployment: Deployment, server: Any, tmp_path: Path
) -> None:
    server.configure(job_seconds=JOB_SECONDS)
    _wait_for(
        "the DAG to be parsed",
        lambda: deployment.query("select 1 from serialized_dag where dag_id = ?", NIGHTLY_DAG_ID),
        deployment,
        STARTUP_TIMEOUT,
    )
    _wait_for(
        "the api-server (execution API)",
        lambda: _port_open(int(deployment.env["AIRFLOW__API__PORT"])),
        deployment,
        STARTUP_TIMEOUT,
    )

    run_id = f"e2e_{secrets.token_hex(4)}"
    manifest_path = tmp_path / "manifest.json"
    conf = {"prompt": DEMO_PROMPT, "manifest_path": str(manifest_path)}
    deployment.cli(
        "dags", "trigger", NIGHTLY_DAG_ID, "--run-id", run_id, "--conf", json.dumps(conf)
    )

    seen: dict[tuple[str, int], set[str]] = {}

    def finished() -> str | None:
        for task_id, map_index, state in deployment.query(
            "select task_id, map_index, state from task_instance where dag_id = ? and run_id = ?",
            NIGHTLY_DAG_ID,
            run_id,
        ):
            seen.setdefault((task_id, map_index), set()).add(state)
        rows = deployment.query(
            "select state from dag_run where dag_id = ? and run_id = ?", NIGHTLY_DAG_ID, run_id
        )
        state = rows[0][0] if rows else None
        return state if state in ("success", "failed") else None

    final_state = _wait_for("the run to finish", finished, deployment, RUN_TIMEOUT)
    assert final_state == "success", {k: sorted(v - {None}) for k, v in seen.items()}

    # (map index -1 is the placeholder row seen before the expansion.)
    clip_keys = sorted(k for k in seen if k[0] == "clip" and k[1] >= 0)
    assert [k[1] for k in clip_keys] == [0, 1, 2]
    for key in clip_keys:
        assert "deferred" in seen[key], f"{key} never seen deferred: {sorted(seen[key] - {None})}"

    # The trigger ran in the triggerer process: the triggerer job writes its log beside the
    # task's log as `attempt=N.log.trigger.<triggerer job id>.log`, and the job id belongs to a
    # TriggererJob in the metadata DB (dag.test would have run it inline, with no such job).
    logs = deployment.home / "logs" / f"dag_id={NIGHTLY_DAG_ID}" / f"run_id={run_id}"
    polled_jobs: set[str] = set()
    for _, map_index in clip_keys:
        trigger_logs = list((logs / "task_id=clip" / f"map_index={map_index}").glob("*.trigger.*"))
        assert len(trigger_logs) == 1, f"no triggerer log for clip[{map_index}] under {logs}"
        job_id = int(trigger_logs[0].name.split(".trigger.")[1].removesuffix(".log"))
        job_type = deployment.query("select job_type from job where id = ?", job_id)
        assert job_type == [("TriggererJob",)], job_type
        events = [json.loads(line) for line in trigger_logs[0].read_text().splitlines()]
        fired = [e for e in events if e.get("event") == "Trigger fired event"]
        assert len(fired) == 1 and "'status': 'success'" in fired[0]["result"], events
        job = re.search(r"'job_id': '([^']+)'", fired[0]["result"])
        assert job, fired
        polled_jobs.add(job.group(1))
    # ... and those triggers are the ones that polled the clip jobs on the server.
    polls = {e["path"] for e in server.journal() if e["method"] == "GET"}
    assert {f"/async-response/{job_id}" for job_id in polled_jobs} <= polls, polls
    assert deployment.query("select count(*) from trigger")[0][0] == 0

    manifest = json.loads(manifest_path.read_text())
    assert manifest["run_id"] == run_id
    assert len(manifest["videos"]) == 3
    assert all(v["shot_count"] >= 1 and v["clip_stream_url"] for v in manifest["videos"])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
