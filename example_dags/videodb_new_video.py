"""Event-driven: a run for the new videos of a collection, as soon as they arrive.

The DAG is scheduled by an asset watcher: :class:`VideoDBNewVideoTrigger` polls the
collection on the triggerer (one poll per collection and interval, however many DAGs watch
it) and fires one asset event per new video, with the video's id in the event's payload.
Each new video is then indexed (spoken words), clipped from a prompt and streamed.

Which collection is watched is known when the DAG is parsed (a schedule cannot depend on a
run's params), so it comes from the environment of the dag-processor and the triggerer:

* ``VIDEODB_WATCH_COLLECTION``: the collection id (default ``default``);
* ``VIDEODB_WATCH_POLL_INTERVAL``: seconds between polls (default 30).

Each new video is one asset event. Airflow 3.3 cannot start a run per event of an event
trigger, and its scheduler takes into a run only the events stored up to when the asset was
first queued: of a burst of uploads that land in one poll, the first starts a run and the
others wait for the collection's next new video, whose run then takes them all. So a run
handles every video of its triggering events, one mapped task group per video: each new
video is processed exactly once, a straggler of a burst with the next upload
(``tests/e2e/test_new_video_dag.py`` shows both). Upstream: apache/airflow#62501.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, AssetWatcher, Param, dag, task, task_group

from airflow_provider_videodb.assets import collection_uri
from airflow_provider_videodb.operators.index import IndexSpokenWordsOperator
from airflow_provider_videodb.operators.videodb import ClipVideoOperator, GenerateStreamOperator
from airflow_provider_videodb.triggers.events import VideoDBNewVideoTrigger

COLLECTION = os.environ.get("VIDEODB_WATCH_COLLECTION", "default")
POLL_INTERVAL = float(os.environ.get("VIDEODB_WATCH_POLL_INTERVAL", "30"))

#: The watched collection as an asset (``videodb://<collection id>``); its events are the
#: trigger's, one per new video.
new_videos = Asset(
    collection_uri(COLLECTION),
    watchers=[
        AssetWatcher(
            name=f"videodb_new_video_{COLLECTION}",
            trigger=VideoDBNewVideoTrigger(collection_id=COLLECTION, poll_interval=POLL_INTERVAL),
        )
    ],
)


@dag(
    dag_id="videodb_new_video",
    schedule=[new_videos],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["videodb", "example", "event-driven"],
    # A quick retry: on Airflow 3.3 a deferred task whose trigger fires at once can be
    # marked for retry by the scheduler ("finished with state success, but the task
    # instance's state attribute is running"); its retry then finishes from the job.
    default_args={"retries": 1, "retry_delay": timedelta(seconds=10)},
    params={"prompt": Param("the part about water", type="string", minLength=1)},
)
def videodb_new_video() -> None:
    @task
    def new_video_ids(*, triggering_asset_events: Any = None) -> list[str]:
        """The video ids of this run's triggering events, each once, in arrival order."""
        ids: list[str] = []
        for event in (triggering_asset_events or {}).get(new_videos, []):
            payload = (event.extra or {}).get("payload") or {}
            video_id = payload.get("video_id")
            if isinstance(video_id, str) and video_id not in ids:
                ids.append(video_id)
        return ids

    @task_group
    def per_video(video_id: str) -> None:
        index = IndexSpokenWordsOperator(
            task_id="index", video_id=video_id, collection_id=COLLECTION
        )
        clip = ClipVideoOperator(
            task_id="clip",
            video_id=video_id,
            prompt="{{ params.prompt }}",
            collection_id=COLLECTION,
        )
        stream = GenerateStreamOperator(
            task_id="stream", video_id=video_id, collection_id=COLLECTION
        )
        index >> clip
        stream  # noqa: B018 - independent of the index: the whole video streams at once

    per_video.expand(video_id=new_video_ids())


videodb_new_video()
