"""The operators in a real Airflow run: ``dag.test()`` with mapping, deferral and a retry.

This is where the real ``task_state_store`` (Airflow 3.3) is exercised: one clip task's first
try fails after its job was submitted (an injected HTTP 500 on ``POST /compile``), and the
retry must finish from the stored job instead of submitting a second one.

The run happens in a child process with its own AIRFLOW_HOME and metadata DB, so that it
neither depends on nor disturbs the rest of the suite's Airflow state. The child is this
file run as a script; it prints one JSON line with the run's task states.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_videodb.links.videodb import VideoDBPlayerLink

pytestmark = pytest.mark.e2e

DAG_ID = "videodb_ops_mapping"
DAG_FILE = f'''
import json
import os
from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_videodb.operators.videodb import ClipVideoOperator, GenerateStreamOperator

video_ids = json.loads(os.environ["OPS_VIDEO_IDS"])
retry = {{"retries": 1, "retry_delay": timedelta(seconds=0)}}
with DAG("{DAG_ID}", schedule=None):
    ClipVideoOperator.partial(
        task_id="clip_videos", prompt="{{{{ params.prompt }}}}", poll_interval=0.2, **retry
    ).expand(video_id=video_ids)
    ClipVideoOperator.partial(
        task_id="clip_prompts", video_id=video_ids[0], poll_interval=0.2, **retry
    ).expand(prompt=["weather forecast", "football results"])
    GenerateStreamOperator.partial(task_id="streams", timeline=[[0, 5], [10, 12]]).expand(
        video_id=video_ids
    )
'''


def _child(dags_folder: str) -> None:
    """Run in the child: migrate a fresh DB, parse the DAG, ``dag.test()`` it, print states."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    from airflow.utils import db

    db.initdb()
    bag = DagBag(dags_folder)
    assert not bag.import_errors, bag.import_errors
    run = bag.get_dag(DAG_ID).test(run_conf={"prompt": "weather forecast"})
    tis = [
        {"task_id": ti.task_id, "map_index": ti.map_index, "state": ti.state, "try": ti.try_number}
        for ti in run.get_task_instances()
    ]
    print("OPS-RESULT " + json.dumps({"state": run.state, "tis": tis, "links": _links(run)}))


def _links(run) -> dict[str, dict[str, str]]:
    """Per stream task: the pushed ``player_url`` and what the extra link resolved to."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    keys = ["player_url", VideoDBPlayerLink().xcom_key]
    links: dict[str, dict[str, str]] = {}
    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(run_id=run.run_id, dag_ids=DAG_ID, task_ids="streams", key=None)
        ).all()
        for row in rows:
            if row.key in keys:
                links.setdefault(str(row.map_index), {})[row.key] = XComModel.deserialize_value(row)
    return links


@pytest.fixture
def dag_run(server, tmp_path: Path):
    def run() -> dict:
        home = tmp_path / "airflow-home"
        dags = home / "dags"
        dags.mkdir(parents=True)
        (dags / "ops_mapping.py").write_text(DAG_FILE)
        conn = {"conn_type": "videodb", "host": server.base_url, "password": server.api_key}
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_VIDEODB_DEFAULT": json.dumps(conn),
            "OPS_VIDEO_IDS": json.dumps(server.video_ids()),
        }
        proc = subprocess.run(
            [sys.executable, __file__, str(dags)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("OPS-RESULT ")]
        assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
        return json.loads(lines[-1].removeprefix("OPS-RESULT "))

    return run


def test_mapped_clips_and_streams_with_a_retry_that_reattaches(server, dag_run):
    server.configure(job_seconds=0.5)
    server.set_faults(
        [{"method": "POST", "path": "/compile", "kind": "status", "status": 500, "times": 1}]
    )
    result = dag_run()

    assert result["state"] == "success", result
    by_task: dict[str, list[dict]] = {}
    for ti in result["tis"]:
        by_task.setdefault(ti["task_id"], []).append(ti)
    n_videos = len(server.video_ids())
    assert len(by_task["clip_videos"]) == n_videos
    assert len(by_task["clip_prompts"]) == 2
    assert len(by_task["streams"]) == n_videos
    assert all(ti["state"] == "success" for ti in result["tis"]), result
    retried = [ti for ti in result["tis"] if ti["try"] > 1]
    assert len(retried) == 1, result  # the try that hit the injected 500 on /compile

    journal = server.journal()
    clip_posts = [e for e in journal if e["method"] == "POST" and e["path"].endswith("/clip")]
    # One job per mapped clip task, although one of them ran twice -- on Airflow >= 3.3, whose
    # task_state_store lets the retry reattach; older ones submit anew (documented).
    import airflow
    from packaging.version import Version

    if Version(airflow.__version__) < Version("3.3"):
        assert len(clip_posts) == n_videos + 3
    else:
        assert len(clip_posts) == n_videos + 2
        assert sorted(p["body"]["prompt"] for p in clip_posts) == sorted(
            ["weather forecast"] * (n_videos + 1) + ["football results"]
        )
    compiles = [e["status"] for e in journal if e["path"] == "/compile"]
    assert compiles.count(500) == 1

    # The "VideoDB Player" extra link of every mapped stream task resolves to its player URL.
    assert len(result["links"]) == n_videos
    for link in result["links"].values():
        assert link["player_url"].startswith(server.base_url)
        assert link[VideoDBPlayerLink().xcom_key] == link["player_url"]


if __name__ == "__main__":
    _child(sys.argv[1])
