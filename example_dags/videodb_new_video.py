"""Event-driven: a run for the new videos of a collection, as soon as they arrive.

The DAG is scheduled by an asset watcher: :class:`VideoDBNewVideoTrigger` polls the
collection on the triggerer (one poll per collection and interval, however many DAGs watch
it) and fires one asset event per new video, with the video's id in the event's payload.
Each new video is then indexed (spoken words), clipped from a prompt and streamed.

Which collection is watched is known when the DAG is parsed (a schedule cannot depend on a
run's params), so it comes from the environment of the dag-processor and the triggerer:

* ``VIDEODB_WATCH_COLLECTION``: the collection id (default ``default``);
* ``VIDEODB_WATCH_POLL_INTERVAL``: seconds between polls (default 30).

The scheduler may start one run for several asset events that arrived together (two videos
uploaded within one poll, say): the run handles every video of its triggering events, one
mapped task group per video, so each new video is processed exactly once either way.
"""

from __future__ import annotations

import os
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
    default_args={"retries": 1},
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
