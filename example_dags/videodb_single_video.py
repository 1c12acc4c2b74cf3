"""The smallest useful pipeline: one video -> its stream, clips for a prompt, a timeline stream.

Trigger it with a video id, e.g.
``airflow dags trigger videodb_single_video --conf '{"video_id": "m-..."}'``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_videodb.operators.videodb import ClipVideoOperator, GenerateStreamOperator


@dag(
    dag_id="videodb_single_video",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["videodb", "example"],
    default_args={"retries": 1},
    params={
        "video_id": Param("m-replace-me", type="string", pattern="^m-"),
        "prompt": Param("the part about the weather", type="string", minLength=1),
        # A JSON string of [start, end] pairs in seconds; the operator parses and validates it.
        "timeline": Param("[[0, 10], [30, 40]]", type="string"),
    },
)
def videodb_single_video() -> None:
    GenerateStreamOperator(task_id="stream", video_id="{{ params.video_id }}")

    ClipVideoOperator(
        task_id="clip",
        video_id="{{ params.video_id }}",
        prompt="{{ params.prompt }}",
        # deferrable=True is the default: the wait runs on the triggerer.
    )

    GenerateStreamOperator(
        task_id="timeline_stream",
        video_id="{{ params.video_id }}",
        timeline="{{ params.timeline }}",
    )


videodb_single_video()
