"""Index operators: a video's spoken words, and its scenes, as jobs waited for on the triggerer.

Imported at DAG parse time: the hook, the trigger and HTTP clients only when a task runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_videodb.lineage import report_lineage
from airflow_provider_videodb.operators.jobs import JobOutcome, VideoDBJobOperator
from airflow_provider_videodb.validation import (
    SceneIndexRequest,
    SpokenIndexRequest,
    validate_bool,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_videodb.hooks.videodb import VideoDBHook
    from airflow_provider_videodb.responses import Started

#: task_state_store keys of the index jobs a task started.
SPOKEN_INDEX_STATE_KEY = "videodb_spoken_index_job"
SCENE_INDEX_STATE_KEY = "videodb_scene_index_job"


class IndexSpokenWordsOperator(VideoDBJobOperator):
    """Index the spoken words of a video (what spoken search and spoken clips need).

    The job is started on the worker and waited for on the triggerer (``deferrable``). A
    video that is already indexed is a success, not a failure (``already_indexed: True``),
    unless ``force=True``, which indexes it again.

    Returns ``{"video_id", "index_type": "spoken_word", "language_code",
    "segmentation_type", "already_indexed", "job_id"}`` (``job_id`` None when nothing had to
    run).

    :param video_id: the video, ``m-...`` (templated).
    :param language_code: the spoken language, ISO 639-1 (``en``) or with a region
        (``en_us``); default: the service's (templated).
    :param segmentation_type: how the transcript is cut for the index, ``sentence`` (the
        default) or another of the service's segmentation types (templated).
    :param force: index again even if the video is already indexed.
    :param callback_url: an http(s) URL the service POSTs the result to; the task still
        polls (templated).

    The wait and connection parameters (``collection_id``, ``deferrable``,
    ``poll_interval``, ``timeout``, ``max_consecutive_failures``, ``max_poll_interval``,
    ``videodb_conn_id``) are those of
    :class:`~airflow_provider_videodb.operators.jobs.VideoDBJobOperator`.
    """

    template_fields: Sequence[str] = (
        "video_id",
        "language_code",
        "segmentation_type",
        "callback_url",
        "collection_id",
    )
    ui_color = "#e3e0f5"
    job_kind: ClassVar[str] = "index"
    state_key: ClassVar[str] = SPOKEN_INDEX_STATE_KEY

    def __init__(
        self,
        *,
        video_id: str,
        language_code: str | None = None,
        segmentation_type: str = "sentence",
        force: bool = False,
        callback_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.video_id = video_id
        self.language_code = language_code
        self.segmentation_type = segmentation_type
        self.force = validate_bool("force", force)
        self.callback_url = callback_url

    def _request(self) -> SpokenIndexRequest:
        """The rendered fields as a checked request: every check happens before any I/O."""
        return SpokenIndexRequest(
            self.video_id,
            language_code=self.language_code,
            segmentation_type=self.segmentation_type,
            force=self.force,
            callback_url=self.callback_url,
            collection_id=self.collection_id,
        )

    def _submit(self, hook: VideoDBHook, request: SpokenIndexRequest) -> Started:
        return hook.submit_spoken_index(request)

    def _video_of(self, request: SpokenIndexRequest) -> str:
        return request.video_id

    def _finish(
        self,
        context: Context,
        hook: VideoDBHook,
        request: SpokenIndexRequest,
        outcome: JobOutcome,
    ) -> dict[str, Any]:
        already = outcome.job_id is None and outcome.data.get("already_indexed") is True
        if already:
            self.log.info("Video %s is already indexed; nothing to do", request.video_id)
        else:
            self.log.info("Indexed the spoken words of video %s", request.video_id)
        report_lineage(
            self,
            context,
            hook,
            reads=[{"video_id": request.video_id}],
            writes=[{"video_id": request.video_id, "index": True}],
            job_id=outcome.job_id,
        )
        return {
            "video_id": request.video_id,
            "index_type": "spoken_word",
            "language_code": request.language_code,
            "segmentation_type": request.segmentation_type,
            "already_indexed": already,
            "job_id": outcome.job_id,
        }


class IndexScenesOperator(VideoDBJobOperator):
    """Index the scenes of a video (what visual search and visual clips need).

    Scenes are cut at shot changes (``extraction_type="shot"``, sensitivity
    ``extraction_config={"threshold": ...}``) or in fixed windows (``"time"``,
    ``{"time": seconds}``), and described with ``prompt`` by ``model_name``. With a ``name``
    and ``reuse_existing=True`` (the default) an index of that name that the video already
    has is returned instead of building another.

    Returns ``{"video_id", "scene_index_id", "name", "extraction_type", "reused",
    "job_id"}``.

    :param video_id: the video, ``m-...`` (templated).
    :param extraction_type: ``shot`` or ``time`` (templated).
    :param extraction_config: the extraction's settings, a dict or its JSON string:
        ``time`` (seconds), ``frame_count``, ``select_frames`` for ``time``; ``threshold``,
        ``frame_count`` for ``shot`` (templated).
    :param prompt: how each scene is described (templated).
    :param model_name: the model that describes the scenes; default: the service's
        (templated).
    :param name: the index's name (templated).
    :param reuse_existing: return an existing index of the same ``name`` instead of
        building another.
    :param callback_url: an http(s) URL the service POSTs the result to; the task still
        polls (templated).

    The wait and connection parameters (``collection_id``, ``deferrable``,
    ``poll_interval``, ``timeout``, ``max_consecutive_failures``, ``max_poll_interval``,
    ``videodb_conn_id``) are those of
    :class:`~airflow_provider_videodb.operators.jobs.VideoDBJobOperator`.
    """

    template_fields: Sequence[str] = (
        "video_id",
        "extraction_type",
        "extraction_config",
        "prompt",
        "model_name",
        "name",
        "callback_url",
        "collection_id",
    )
    ui_color = "#e3e0f5"
    job_kind: ClassVar[str] = "scene_index"
    state_key: ClassVar[str] = SCENE_INDEX_STATE_KEY

    def __init__(
        self,
        *,
        video_id: str,
        extraction_type: str = "shot",
        extraction_config: dict[str, Any] | str | None = None,
        prompt: str | None = None,
        model_name: str | None = None,
        name: str | None = None,
        reuse_existing: bool = True,
        callback_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.video_id = video_id
        self.extraction_type = extraction_type
        self.extraction_config = extraction_config
        self.prompt = prompt
        self.model_name = model_name
        self.name = name
        self.reuse_existing = validate_bool("reuse_existing", reuse_existing)
        self.callback_url = callback_url

    def _request(self) -> SceneIndexRequest:
        """The rendered fields as a checked request: every check happens before any I/O."""
        return SceneIndexRequest(
            self.video_id,
            extraction_type=self.extraction_type,
            extraction_config=self.extraction_config,
            prompt=self.prompt,
            model_name=self.model_name,
            name=self.name,
            callback_url=self.callback_url,
            collection_id=self.collection_id,
        )

    def _submit(self, hook: VideoDBHook, request: SceneIndexRequest) -> Started:
        from airflow_provider_videodb.responses import Started

        if request.name is not None and self.reuse_existing:
            for index in hook.list_scene_indexes(request.video_id):
                if index.get("name") == request.name and index.get("status") != "failed":
                    self.log.info(
                        "Video %s already has scene index %r (%s); reusing it",
                        request.video_id,
                        request.name,
                        index["scene_index_id"],
                    )
                    return Started(data={**index, "reused": True})
        return hook.submit_scene_index(request)

    def _video_of(self, request: SceneIndexRequest) -> str:
        return request.video_id

    def _finish(
        self,
        context: Context,
        hook: VideoDBHook,
        request: SceneIndexRequest,
        outcome: JobOutcome,
    ) -> dict[str, Any]:
        from airflow_provider_videodb.responses import parse_scene_index_id

        scene_index_id = parse_scene_index_id(outcome.data, outcome.info)
        self.log.info("Video %s: scene index %s", request.video_id, scene_index_id)
        report_lineage(
            self,
            context,
            hook,
            reads=[{"video_id": request.video_id}],
            writes=[{"video_id": request.video_id, "scene_index_id": scene_index_id}],
            job_id=outcome.job_id,
            prompt=request.prompt,
        )
        return {
            "video_id": request.video_id,
            "scene_index_id": scene_index_id,
            "name": request.name,
            "extraction_type": request.extraction_type,
            "reused": outcome.data.get("reused") is True,
            "job_id": outcome.job_id,
        }
