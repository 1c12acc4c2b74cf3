"""The nightly media pipeline: new media, uploaded, indexed, searched, clipped and streamed.

Per run:

1. ``find_new_media``: the night's new media — the URLs and paths in ``params.sources`` and
   the media files in ``params.source_folder`` (any Airflow object-storage folder:
   ``file:///…``, ``s3://…``, ``gs://…`` through the provider a deployment has for it).
2. For each of them (dynamic task mapping; every long job waits on the triggerer, no
   worker slot is held while the service works):

   * ``upload``: into the collection (``UploadVideoOperator``);
   * ``index_spoken_words``: what spoken search and clips need (already indexed is fine);
   * ``full_stream``: an HLS stream of the whole video;
   * ``clip``: the shots that match ``params.prompt``, compiled into one stream;
   * ``search``: the shots that match ``params.search_query``, compiled into one stream;
   * ``plan_trailer`` + ``trailer``: a short timeline stream of the best clip shots (or of
     the first seconds of the video when the prompt found nothing).

3. ``publish_manifest`` writes a small JSON manifest (each video's id, source, streams and
   shot counts) to ``params.manifest_path`` (or only logs it when the path is empty) and
   returns it as XCom.

Retries never upload or index twice (the operators remember their job across tries).
Nothing here does I/O at parse time. Point the ``videodb_default`` connection at the real
service or at the local server (``videodb-local-server``) and trigger the DAG with the night's
sources.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_videodb.operators.index import IndexSpokenWordsOperator
from airflow_provider_videodb.operators.search import SearchVideoOperator
from airflow_provider_videodb.operators.upload import UploadVideoOperator
from airflow_provider_videodb.operators.videodb import ClipVideoOperator, GenerateStreamOperator

CONN_ID = "videodb_default"
DAG_ID = "videodb_nightly_pipeline"
#: What ``find_new_media`` takes from a folder (by file name suffix, case-insensitive).
MEDIA_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".ts", ".mpg", ".mpeg")


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


def video_id_of(result: dict[str, Any]) -> str:
    """The video of an upload's or an index's result (for mapping the next step over)."""
    return str(result["video_id"])


@dag(
    dag_id=DAG_ID,
    description="The night's new media: upload, index, clips, search, streams, manifest.",
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
        "sources": Param(
            [],
            type="array",
            items={"type": "string"},
            description="http(s) URLs, paths or object-storage URIs of the night's new media",
        ),
        "source_folder": Param(
            "", type="string", description="An object-storage folder of new media (or empty)"
        ),
        "collection_id": Param("default", type="string", description="VideoDB collection"),
        "prompt": Param("key moments", type="string", minLength=1, description="Clip prompt"),
        "search_query": Param("key moments", type="string", minLength=1),
        "max_videos": Param(50, type="integer", minimum=1, description="Cap on the fan-out"),
        "trailer_shots": Param(3, type="integer", minimum=1),
        "trailer_seconds": Param(30, type="number", exclusiveMinimum=0),
        "manifest_path": Param(
            "", type="string", description="Where to write the manifest (empty: log only)"
        ),
    },
)
def videodb_nightly_pipeline() -> None:
    @task
    def find_new_media() -> list[str]:
        """The night's sources: ``params.sources``, then the folder's media files, sorted."""
        from airflow.sdk import ObjectStoragePath, get_current_context

        params = get_current_context()["params"]
        sources = [str(source) for source in params["sources"]]
        if params["source_folder"]:
            folder = ObjectStoragePath(params["source_folder"])
            found = [
                str(path)
                for path in folder.iterdir()
                if path.is_file()
                and not path.name.startswith(".")
                and path.name.lower().endswith(MEDIA_SUFFIXES)
            ]
            sources += sorted(found)
        return sources[: int(params["max_videos"])]

    uploads = UploadVideoOperator.partial(
        task_id="upload",
        collection_id="{{ params.collection_id }}",
        media_type="video",
        # Bound the uploads one run sends at once (bandwidth, rate limits).
        max_active_tis_per_dagrun=4,
        videodb_conn_id=CONN_ID,
    ).expand(source=find_new_media())
    video_ids = uploads.output.map(video_id_of)

    indexes = IndexSpokenWordsOperator.partial(
        task_id="index_spoken_words",
        collection_id="{{ params.collection_id }}",
        timeout=4 * 3600.0,
        videodb_conn_id=CONN_ID,
        map_index_template="{{ task.video_id }}",
    ).expand(video_id=video_ids)
    indexed_ids = indexes.output.map(video_id_of)

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
    ).expand(video_id=indexed_ids)

    searches = SearchVideoOperator.partial(
        task_id="search",
        query="{{ params.search_query }}",
        collection_id="{{ params.collection_id }}",
        compile_stream=True,
        videodb_conn_id=CONN_ID,
        map_index_template="{{ task.video_id }}",
    ).expand(video_id=indexed_ids)

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
        uploaded: list[dict[str, Any]],
        full: list[dict[str, Any]],
        clip_results: list[dict[str, Any]],
        search_results: list[dict[str, Any]],
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

        def entry(video_id: str) -> dict[str, Any]:
            return by_id.setdefault(video_id, {"video_id": video_id})

        for media in uploaded or []:
            entry(media["video_id"]).update(
                name=media["name"], length=media["length"], upload_job_id=media["job_id"]
            )
        for stream in full or []:
            entry(stream["video_id"]).update(
                stream_url=stream["stream_url"], player_url=stream["player_url"]
            )
        for clip in clip_results or []:
            entry(clip["video_id"]).update(
                clip_job_id=clip["job_id"],
                shot_count=len(clip["shots"]),
                clip_stream_url=clip["stream_url"],
            )
        for found in search_results or []:
            entry(found["video_id"]).update(
                search_shot_count=len(found["shots"]), search_stream_url=found["stream_url"]
            )
        for trailer in trailer_streams or []:
            entry(trailer["video_id"]).update(
                trailer_stream_url=trailer["stream_url"], trailer_timeline=trailer["timeline"]
            )
        manifest = {
            "dag_id": DAG_ID,
            "run_id": context["run_id"],
            "collection_id": params["collection_id"],
            "prompt": params["prompt"],
            "search_query": params["search_query"],
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

    publish_manifest(
        uploads.output,  # type: ignore[arg-type]
        full_streams.output,  # type: ignore[arg-type]
        clips.output,  # type: ignore[arg-type]
        searches.output,  # type: ignore[arg-type]
        trailers.output,  # type: ignore[arg-type]
    )


videodb_nightly_pipeline()
