"""The event-driven example DAG in a real Airflow: a run per video uploaded to the collection.

api-server, scheduler, dag-processor and triggerer as separate processes (``real_airflow``),
the DAG ``example_dags/videodb_new_video.py`` watching a fresh collection of the local
server. Videos are uploaded through the server's HTTP API as the SDK uploads them. Proven
here: an upload starts exactly one run within two poll intervals (the asset event is created
by then); three uploads, the triggerer SIGKILLed between the second and the third (the third
uploaded while it is down), give three asset events and three runs, each with its own video;
the cursor is in Airflow's own asset state store; and each run indexes, clips and streams
its video.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from e2e_support import DAGS_FOLDER
from real_airflow import Deployment, deployed, deployment_env, signal_group, wait_for

from tests.provider.triggers.collection_support import upload, video_polls

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAG_ID = "videodb_new_video"
POLL_INTERVAL = 2.0
STARTUP_TIMEOUT = 180.0
#: The scheduler's own latency on top of the trigger's (an asset-triggered run is created on
#: its next loop after the event).
RUN_TIMEOUT = 60.0


@pytest.fixture
def deployment(
    server: Any, tmp_path: Path, demo: ModuleType, fresh_collection: str
) -> Iterator[Deployment]:
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAGS_FOLDER / "videodb_new_video.py", dags / "videodb_new_video.py")
    home = tmp_path / "airflow-home"
    home.mkdir()
    base = demo.airflow_env(
        home, base_url=server.base_url, api_key=server.api_key, dags_folder=dags
    )
    env = deployment_env(
        base,
        parallelism=8,
        VIDEODB_WATCH_COLLECTION=fresh_collection,
        VIDEODB_WATCH_POLL_INTERVAL=str(POLL_INTERVAL),
        # Asset-triggered runs are created by the job schedule (the harness turns it off; no
        # other DAG is in this folder, so nothing else is scheduled).
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="True",
        # A dead triggerer's triggers are taken over once its heartbeat is this old.
        AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="1",
        AIRFLOW__SCHEDULER__TRIGGERER_HEALTH_CHECK_THRESHOLD="5",
    )
    with deployed(home, env) as deployment:
        yield deployment


def _event_videos(deployment: Deployment) -> list[str]:
    """The video ids of the watched asset's events, in the order they were stored."""
    rows = deployment.query(
        "select e.extra from asset_event e join asset a on a.id = e.asset_id "
        "where a.uri like 'videodb://%' order by e.id"
    )
    return [json.loads(extra)["payload"]["video_id"] for (extra,) in rows]


def _runs(deployment: Deployment) -> list[tuple[str, str]]:
    return deployment.query(
        "select run_id, state from dag_run where dag_id = ? order by id", DAG_ID
    )


def _cursor(deployment: Deployment) -> list[str]:
    rows = deployment.query(
        "select s.value from asset_state_store s join asset a on a.id = s.asset_id "
        "where a.uri like 'videodb://%' and s.key like 'videodb.new_video/%'"
    )
    return sorted(json.loads(rows[0][0])["seen"]) if rows else []


def test_a_run_per_new_video_across_a_triggerer_kill(
    deployment: Deployment,
    server: Any,
    api: Any,
    fresh_collection: str,
    new_media: list[Path],
) -> None:
    server.configure(job_seconds=0.5)
    existing = upload(server, api, fresh_collection, new_media[0], "before the watcher")
    wait_for(
        "the DAG to be parsed",
        lambda: deployment.query("select 1 from serialized_dag where dag_id = ?", DAG_ID),
        deployment,
        STARTUP_TIMEOUT,
    )
    wait_for(
        "the watcher's baseline in the asset state store",
        lambda: _cursor(deployment) == [existing],
        deployment,
        STARTUP_TIMEOUT,
    )

    # One upload: one event within two poll intervals, then one run.
    uploaded_at = time.time()
    first = upload(server, api, fresh_collection, new_media[1], "first")
    wait_for("the first event", lambda: _event_videos(deployment), deployment, RUN_TIMEOUT)
    assert time.time() - uploaded_at <= 2 * POLL_INTERVAL + 2.0  # +2: the triggerer's sync
    assert _event_videos(deployment) == [first]
    wait_for("the first run", lambda: len(_runs(deployment)) == 1, deployment, RUN_TIMEOUT)

    # The triggerer killed after the second upload is handled; the third arrives while down.
    second = upload(server, api, fresh_collection, new_media[2], "second")
    wait_for("the second event", lambda: len(_event_videos(deployment)) == 2, deployment, 30)
    wait_for("the cursor", lambda: second in _cursor(deployment), deployment, 30)
    old = deployment.procs.pop("triggerer")
    signal_group(old.pid, signal.SIGKILL)
    old.wait(timeout=30)
    third = upload(server, api, fresh_collection, new_media[0], "third, while down")
    time.sleep(2 * POLL_INTERVAL)
    assert len(_event_videos(deployment)) == 2  # nobody watched meanwhile
    deployment.start("triggerer")

    wait_for("the third event", lambda: len(_event_videos(deployment)) == 3, deployment, 90)
    time.sleep(3 * POLL_INTERVAL)  # a duplicate would show by now
    assert _event_videos(deployment) == [first, second, third]
    assert existing not in _event_videos(deployment)

    def all_finished() -> bool:
        runs = _runs(deployment)
        return len(runs) == 3 and all(state in ("success", "failed") for _, state in runs)

    wait_for("three finished runs", all_finished, deployment, 150)
    runs = _runs(deployment)
    assert [state for _, state in runs] == ["success"] * 3, runs
    # Each run mapped its own video: an index, a clip and a stream per video.
    rows = deployment.query(
        "select task_id, count(*) from task_instance where dag_id = ? and state = 'success' "
        "and task_id like 'per_video.%' group by task_id",
        DAG_ID,
    )
    assert dict(rows) == {"per_video.index": 3, "per_video.clip": 3, "per_video.stream": 3}
    assert sorted(_cursor(deployment)) == sorted([existing, first, second, third])
    polls = video_polls(server, fresh_collection)
    print(f"\nNEW VIDEO DAG: runs={len(runs)} polls={len(polls)}")
