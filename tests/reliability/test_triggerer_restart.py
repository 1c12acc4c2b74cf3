"""Kill the triggerer while clip, upload and index tasks are deferred; restart it; all finish.

A real Airflow: api-server, scheduler, dag-processor and triggerer as separate processes
(E2E's harness, ``tests/e2e/real_airflow.py``), LocalExecutor, sqlite. A DAG of deferrable
job tasks — clips, uploads from a URL, spoken-word indexes — runs until every task is
``deferred``; then the triggerer's whole process group gets SIGKILL (a crash, no clean
shutdown). While it is down the jobs keep running at the service. A new triggerer process
takes the orphaned triggers over; every task must succeed, and the journal must show exactly
one starting ``POST`` per task: the restart re-runs triggers (which only read), never the
submission.
"""

from __future__ import annotations

import importlib.util
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e.real_airflow import (
    Deployment,
    deployed,
    deployment_env,
    port_open,
    signal_group,
    wait_for,
)
from tests.reliability.conftest import accepted, api_calls, clip_posts

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "reliability_triggerer_restart"
PER_KIND = 2
TASKS = 3 * PER_KIND
JOB_SECONDS = 40.0  # the jobs outlive the triggerer's downtime
STARTUP_TIMEOUT = 180.0
RUN_TIMEOUT = 300.0

DAG_FILE = f"""
import os
from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_provider_videodb.operators.index import IndexSpokenWordsOperator
from airflow_provider_videodb.operators.upload import UploadVideoOperator
from airflow_provider_videodb.operators.videodb import ClipVideoOperator

VIDEOS = os.environ["RELIABILITY_VIDEO_IDS"].split(",")
URLS = os.environ["RELIABILITY_MEDIA_URLS"].split(",")
FAST = dict(deferrable=True, poll_interval=1.0)

with DAG(
    "{DAG_ID}",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_tasks={TASKS},
):
    for index in range({PER_KIND}):
        ClipVideoOperator(
            task_id=f"clip_{{index}}", video_id=VIDEOS[0], prompt=f"goal {{index}}", **FAST
        )
        UploadVideoOperator(
            task_id=f"upload_{{index}}",
            source=URLS[index],
            collection_id=os.environ["RELIABILITY_COLLECTION"],
            **FAST,
        )
        # force: a job even for a video indexed by an earlier test
        IndexSpokenWordsOperator(
            task_id=f"index_{{index}}", video_id=VIDEOS[index + 1], force=True, **FAST
        )
"""


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def deployment(
    server: Any,
    tmp_path: Path,
    new_media: list[Path],
    media_site: str,
    fresh_collection: str,
) -> Iterator[Deployment]:
    demo = _load("_reliability_demo", ROOT / "scripts" / "run_nightly_demo.py")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "restart_dag.py").write_text(DAG_FILE)
    home = tmp_path / "airflow-home"
    home.mkdir()
    base = demo.airflow_env(
        home, base_url=server.base_url, api_key=server.api_key, dags_folder=dags
    )
    env = deployment_env(
        base,
        parallelism=TASKS + 2,
        RELIABILITY_VIDEO_IDS=",".join(server.video_ids()),
        RELIABILITY_MEDIA_URLS=",".join(f"{media_site}/{p.name}" for p in new_media),
        RELIABILITY_COLLECTION=fresh_collection,
        # A dead triggerer's triggers are taken over once its heartbeat is this old.
        AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="1",
        AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="5",
    )
    with deployed(home, env) as deployment:
        yield deployment


def _states(deployment: Deployment, run_id: str) -> dict[str, str]:
    rows = deployment.query(
        "select task_id, state from task_instance where dag_id = ? and run_id = ?",
        DAG_ID,
        run_id,
    )
    return {task_id: state for task_id, state in rows}


def _starts(journal: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The POSTs that start a job, by kind."""
    return {
        "clip": clip_posts(journal),
        "upload": api_calls(journal, "POST", "/collection/*/upload"),
        "index": api_calls(journal, "POST", "/video/*/index"),
    }


def test_triggerer_killed_and_restarted_every_task_completes_once(
    deployment: Deployment, server: Any
) -> None:
    server.configure(job_seconds=JOB_SECONDS)
    wait_for(
        "the DAG to be parsed",
        lambda: deployment.query("select 1 from serialized_dag where dag_id = ?", DAG_ID),
        deployment,
        STARTUP_TIMEOUT,
    )
    wait_for(
        "the api-server",
        lambda: port_open(deployment.api_port),
        deployment,
        STARTUP_TIMEOUT,
    )
    run_id = f"restart_{secrets.token_hex(4)}"
    server.clear_journal()
    jobs_before = server.stats()["jobs_created"]
    deployment.cli("dags", "trigger", DAG_ID, "--run-id", run_id)

    def all_deferred() -> bool:
        states = _states(deployment, run_id)
        return len(states) == TASKS and all(s == "deferred" for s in states.values())

    wait_for("every job task deferred", all_deferred, deployment, RUN_TIMEOUT)
    # wait until the triggerer actually polls, then crash it
    wait_for(
        "the triggerer to poll",
        lambda: api_calls(server.journal(), "GET", "/async-response/*"),
        deployment,
        60,
    )
    old = deployment.procs.pop("triggerer")
    signal_group(old.pid, signal.SIGKILL)
    old.wait(timeout=30)
    killed_at = time.time()
    time.sleep(3)
    assert all_deferred(), _states(deployment, run_id)  # nobody resubmitted meanwhile
    starts_while_down = {kind: len(p) for kind, p in _starts(server.journal()).items()}

    deployment.start("triggerer")

    def finished() -> bool:
        states = _states(deployment, run_id)
        done = {"success", "failed", "upstream_failed"}
        return len(states) == TASKS and all(s in done for s in states.values())

    wait_for("every job task finished", finished, deployment, RUN_TIMEOUT)
    states = _states(deployment, run_id)
    journal = server.journal()
    starts = _starts(journal)
    posts = starts["clip"]
    polls_after = [
        e for e in api_calls(journal, "GET", "/async-response/*") if e["time"] > killed_at
    ]
    print(
        f"\nTRIGGERER RESTART: tasks={TASKS} states={sorted(set(states.values()))} "
        f"starting POSTs={ {kind: len(p) for kind, p in starts.items()} } "
        f"polls after restart={len(polls_after)}"
    )
    assert all(state == "success" for state in states.values()), states
    assert starts_while_down == dict.fromkeys(starts, PER_KIND)
    for kind, sent in starts.items():
        assert len(sent) == PER_KIND and all(accepted(p) for p in sent), (kind, sent)
    prompts = sorted(p["body"]["prompt"] for p in posts)
    assert prompts == sorted(f"goal {i}" for i in range(PER_KIND))
    assert server.stats()["jobs_created"] - jobs_before == TASKS
    # the new triggerer (not a resubmission) brought every job home
    polled_jobs = {e["path"].rsplit("/", 1)[1] for e in polls_after}
    assert len(polled_jobs) == TASKS, polled_jobs
