"""The nightly pipeline DAG in a real Airflow: api-server, scheduler, dag-processor, triggerer.

Each Airflow component runs as its own process (own session, so its whole process group can be
stopped with one signal), on a fresh AIRFLOW_HOME with sqlite and the LocalExecutor. The run is
triggered with the CLI like a user would, with the night's new media as http URLs (served on
loopback: the service fetches them, so each upload is a job). The test watches the metadata DB
and proves that every upload, index and clip task went through ``deferred`` and that its
trigger ran in the triggerer process (the triggerer writes a ``.trigger.<job id>.log`` beside
the task's log), then that the run succeeded and published its manifest.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from e2e_support import DAGS_FOLDER, DEMO_PROMPT, NIGHTLY_DAG_ID
from real_airflow import Deployment, deployed, deployment_env, port_open, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STARTUP_TIMEOUT = 180.0
RUN_TIMEOUT = 420.0
JOB_SECONDS = 6.0  # long enough that a clip task sits in `deferred` for a few polls


@pytest.fixture
def deployment(server: Any, tmp_path: Path, demo: ModuleType) -> Iterator[Deployment]:
    # Only the nightly DAG: the other examples' asset watchers would hold triggers of their own.
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAGS_FOLDER / f"{NIGHTLY_DAG_ID}.py", dags / f"{NIGHTLY_DAG_ID}.py")
    home = tmp_path / "airflow-home"
    home.mkdir()
    base = demo.airflow_env(
        home, base_url=server.base_url, api_key=server.api_key, dags_folder=dags
    )
    with deployed(home, deployment_env(base, parallelism=4)) as deployment:
        yield deployment


#: The pipeline's job tasks: each must wait on the triggerer.
JOB_TASKS = ("upload", "index_spoken_words", "clip")


def test_every_job_task_defers_to_the_triggerer_and_the_run_succeeds(
    deployment: Deployment,
    server: Any,
    tmp_path: Path,
    new_media: list[Path],
    media_site: str,
    fresh_collection: str,
) -> None:
    server.configure(job_seconds=JOB_SECONDS)
    wait_for(
        "the DAG to be parsed",
        lambda: deployment.query("select 1 from serialized_dag where dag_id = ?", NIGHTLY_DAG_ID),
        deployment,
        STARTUP_TIMEOUT,
    )
    wait_for(
        "the api-server (execution API)",
        lambda: port_open(deployment.api_port),
        deployment,
        STARTUP_TIMEOUT,
    )

    run_id = f"e2e_{secrets.token_hex(4)}"
    manifest_path = tmp_path / "manifest.json"
    conf = {
        "sources": [f"{media_site}/{path.name}" for path in new_media],
        "collection_id": fresh_collection,
        "prompt": DEMO_PROMPT,
        "manifest_path": str(manifest_path),
    }
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

    final_state = wait_for("the run to finish", finished, deployment, RUN_TIMEOUT)
    assert final_state == "success", {k: sorted(v - {None}) for k, v in seen.items()}

    logs = deployment.home / "logs" / f"dag_id={NIGHTLY_DAG_ID}" / f"run_id={run_id}"
    polled_jobs: set[str] = set()
    for task_id in JOB_TASKS:
        # (map index -1 is the placeholder row seen before the expansion.)
        keys = sorted(k for k in seen if k[0] == task_id and k[1] >= 0)
        assert [k[1] for k in keys] == [0, 1, 2], (task_id, keys)
        for key in keys:
            assert "deferred" in seen[key], f"{key} never deferred: {sorted(seen[key] - {None})}"
        # The trigger ran in the triggerer process: the triggerer job writes its log beside
        # the task's log as `attempt=N.log.trigger.<triggerer job id>.log`, and the job id
        # belongs to a TriggererJob in the metadata DB (dag.test would run it inline).
        for _, map_index in keys:
            folder = logs / f"task_id={task_id}" / f"map_index={map_index}"
            trigger_logs = list(folder.glob("*.trigger.*"))
            assert len(trigger_logs) == 1, f"no triggerer log for {task_id}[{map_index}]"
            job_id = int(trigger_logs[0].name.split(".trigger.")[1].removesuffix(".log"))
            job_type = deployment.query("select job_type from job where id = ?", job_id)
            assert job_type == [("TriggererJob",)], job_type
            events = [json.loads(line) for line in trigger_logs[0].read_text().splitlines()]
            fired = [e for e in events if e.get("event") == "Trigger fired event"]
            assert len(fired) == 1 and "'status': 'success'" in fired[0]["result"], events
            job = re.search(r"'job_id': '([^']+)'", fired[0]["result"])
            assert job, fired
            polled_jobs.add(job.group(1))
    # ... those triggers are the ones that polled the jobs on the server, and each task
    # started exactly one job.
    journal = server.journal()
    polls = {e["path"] for e in journal if e["method"] == "GET"}
    assert {f"/async-response/{job_id}" for job_id in polled_jobs} <= polls, polls
    assert len(polled_jobs) == 3 * len(JOB_TASKS)
    posts = [e["path"] for e in journal if e["method"] == "POST"]
    assert posts.count(f"/collection/{fresh_collection}/upload") == 3
    assert sum(path.endswith("/index") for path in posts) == 3
    assert sum(path.endswith("/clip") for path in posts) == 3
    assert deployment.query("select count(*) from trigger")[0][0] == 0

    manifest = json.loads(manifest_path.read_text())
    assert manifest["run_id"] == run_id
    assert len(manifest["videos"]) == 3
    assert all(v["shot_count"] >= 1 and v["clip_stream_url"] for v in manifest["videos"])
