"""The minimal example DAG, run with ``dag.test()`` on one demo video."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def test_single_video_dag_streams_clips_and_timeline(
    videodb_conn: str, example_dags: Path, server: Any, demo: ModuleType
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dag = DagBag(str(example_dags)).get_dag("videodb_single_video")
    assert dag is not None
    video_id = server.video_ids()[0]
    run = dag.test(run_conf={"video_id": video_id, "timeline": "[[1, 4], [10, 12.5]]"})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states

    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(run_id=run.run_id, dag_ids=dag.dag_id, key="return_value")
        ).all()
        results = {row.task_id: XComModel.deserialize_value(row) for row in rows}
    assert results["stream"]["timeline"] is None
    assert results["timeline_stream"]["timeline"] == [[1.0, 4.0], [10.0, 12.5]]
    assert results["clip"]["video_id"] == video_id
    assert results["clip"]["prompt"] == "the part about the weather"
    for task_id in ("stream", "timeline_stream"):
        assert demo.check_playable(results[task_id]["stream_url"]) is None
