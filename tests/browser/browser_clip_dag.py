"""The browser tests' DAG: one clip of a video, whose task shows the "VideoDB Player" link.

Copied into the test deployment's dags folder (not an example DAG); the run's conf names
the video and the prompt.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_videodb.operators.videodb import ClipVideoOperator

DAG_ID = "videodb_browser_clip"


@dag(
    dag_id=DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["videodb", "test"],
    params={
        "video_id": Param("m-replace-me", type="string", pattern="^m-"),
        "prompt": Param("the part about the weather", type="string", minLength=1),
    },
)
def videodb_browser_clip() -> None:
    ClipVideoOperator(
        task_id="clip",
        video_id="{{ params.video_id }}",
        prompt="{{ params.prompt }}",
        poll_interval=1.0,
    )


videodb_browser_clip()
