"""Nightly highlights: every video of a collection gets a stream, prompt-driven clips and a trailer.

The pipeline, per run:

1. ``list_videos`` asks VideoDB for the videos of the collection (``params.collection_id``).
2. For each video (dynamic task mapping):
   * ``full_stream``: an HLS stream of the whole video;
   * ``clip``: shots that match ``params.prompt`` (default "key moments"), compiled into one
     stream. Deferrable: the job is polled from the triggerer, no worker slot is held;
   * ``plan_trailer`` + ``trailer``: a short timeline stream of the best shots (or of the
     first seconds of the video when the prompt found nothing).
3. ``publish_manifest`` writes a small JSON manifest (video, stream URLs, shot counts) to
   ``params.manifest_path`` (or only logs it when the path is empty) and returns it as XCom.

Nothing here does I/O at parse time: the hook is imported and used inside the tasks only.
Point the ``videodb_default`` connection at the real service or at the local server
(``videodb-local-server --demo``) and trigger the DAG.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_videodb.operators.videodb import ClipVideoOperator, GenerateStreamOperator

CONN_ID = "videodb_default"


def plan_trailer_timeline(
    shots: list[dict[str, Any]], *, max_shots: int, max_seconds: float
) -> list[list[float]]:
    """Pick the best-scored shots (at most ``max_shots``, ``max_seconds`` in total), in time order.

    Shots without a score rank last; a shot that would overrun the budget is shortened.
    """
    ranked = sorted(shots, key=lambda s: s.get("score") or 0.0, reverse=True)
    picked: list[list[float]] = []
    budget = float(max_seconds)
    for shot in ranked[:max_shots]:
        start, end = float(shot["start"]), float(shot["end"])
        if budget <= 0 or end <= start:
            continue
        end = min(end, start + budget)
        picked.append([start, end])
        budget -= end - start
    return sorted(picked)


@dag(
    dag_id="videodb_nightly_highlights",
    description="Streams, prompt-driven clips and a trailer for every video of a collection.",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["videodb", "example"],
    default_args={
        "owner": "media-platform",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
    },
    params={
        "collection_id": Param("default", type="string", description="VideoDB collection"),
        "prompt": Param("key moments", type="string", minLength=1, description="Clip prompt"),
        "max_videos": Param(50, type="integer", minimum=1, description="Cap on the fan-out"),
        "trailer_shots": Param(3, type="integer", minimum=1),
        "trailer_seconds": Param(30, type="number", exclusiveMinimum=0),
        "manifest_path": Param(
            "", type="string", description="Where to write the manifest (empty: log only)"
        ),
    },
)
def videodb_nightly_highlights() -> None:
    @task
    def list_videos() -> list[str]:
        """The ids of the collection's videos (at most ``max_videos``, oldest first)."""
        from airflow.sdk import get_current_context

        from airflow_provider_videodb.hooks.videodb import VideoDBHook

        params = get_current_context()["params"]

        hook = VideoDBHook(CONN_ID, collection_id=params["collection_id"])
        try:
            videos = hook.list_videos()
        finally:
            hook.close()
        videos.sort(key=lambda v: (str(v.get("created_at") or ""), v["id"]))
        return [v["id"] for v in videos[: int(params["max_videos"])]]

    video_ids = list_videos()

    full_streams = GenerateStreamOperator.partial(
        task_id="full_stream",
        collection_id="{{ params.collection_id }}",
        videodb_conn_id=CONN_ID,
        map_index_template="{{ task.video_id }}",
    ).expand(video_id=video_ids)

    clips = ClipVideoOperator.partial(
        task_id="clip",
        prompt="{{ params.prompt }}",
        collection_id="{{ params.collection_id }}",
        content_type="spoken",
        poll_interval=5.0,
        timeout=2 * 3600.0,
        # Bound the jobs one run keeps open at once (rate limits, credits).
        max_active_tis_per_dagrun=8,
        videodb_conn_id=CONN_ID,
        map_index_template="{{ task.video_id }}",
    ).expand(video_id=video_ids)

    @task(map_index_template="{{ video_id }}")
    def plan_trailer(clip: dict[str, Any]) -> dict[str, Any]:
        """Timeline for one trailer: the best shots, or the video's opening seconds."""
        from airflow.sdk import get_current_context

        context: dict[str, Any] = get_current_context()  # type: ignore[assignment]
        context["video_id"] = clip["video_id"]  # for map_index_template
        params = context["params"]
        timeline = plan_trailer_timeline(
            clip["shots"],
            max_shots=int(params["trailer_shots"]),
            max_seconds=float(params["trailer_seconds"]),
        )
        if not timeline:
            from airflow_provider_videodb.hooks.videodb import VideoDBHook

            hook = VideoDBHook(CONN_ID, collection_id=params["collection_id"])
            try:
                length = float(hook.get_video(clip["video_id"])["length"])
            finally:
                hook.close()
            timeline = [[0.0, min(float(params["trailer_seconds"]), length)]]
        return {"video_id": clip["video_id"], "timeline": timeline}

    trailers = GenerateStreamOperator.partial(
        task_id="trailer",
        collection_id="{{ params.collection_id }}",
        videodb_conn_id=CONN_ID,
        map_index_template="{{ task.video_id }}",
    ).expand_kwargs(plan_trailer.expand(clip=clips.output))

    @task(trigger_rule="none_failed")
    def publish_manifest(
        full: list[dict[str, Any]],
        clip_results: list[dict[str, Any]],
        trailer_streams: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """Join the per-video results into one small manifest; write it if a path is given."""
        import json
        import logging
        import os
        import tempfile

        from airflow.sdk import get_current_context

        context = get_current_context()
        params = context["params"]

        by_id: dict[str, dict[str, Any]] = {}
        for stream in full:
            by_id.setdefault(stream["video_id"], {"video_id": stream["video_id"]}).update(
                stream_url=stream["stream_url"], player_url=stream["player_url"]
            )
        for clip in clip_results:
            by_id.setdefault(clip["video_id"], {"video_id": clip["video_id"]}).update(
                clip_job_id=clip["job_id"],
                shot_count=len(clip["shots"]),
                clip_stream_url=clip["stream_url"],
            )
        for trailer in trailer_streams:
            by_id.setdefault(trailer["video_id"], {"video_id": trailer["video_id"]}).update(
                trailer_stream_url=trailer["stream_url"], trailer_timeline=trailer["timeline"]
            )
        manifest = {
            "dag_id": "videodb_nightly_highlights",
            "run_id": context["run_id"],
            "collection_id": params["collection_id"],
            "prompt": params["prompt"],
            "videos": [by_id[k] for k in sorted(by_id)],
        }
        text = json.dumps(manifest, indent=2, sort_keys=True)
        log = logging.getLogger("airflow.task")
        path = params.get("manifest_path") or ""
        if path:
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
            # Write-then-rename: a reader never sees half a manifest.
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".manifest-")
            with os.fdopen(fd, "w") as fh:
                fh.write(text + "\n")
            os.replace(tmp, path)
            log.info("Manifest for %d video(s) written to %s", len(by_id), path)
        log.info("Manifest:\n%s", text)
        return manifest

    publish_manifest(full_streams.output, clips.output, trailers.output)  # type: ignore[arg-type]


videodb_nightly_highlights()
