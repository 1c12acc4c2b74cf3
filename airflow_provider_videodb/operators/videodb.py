"""Operators: HLS streams from a video or a timeline, and AI clips from a prompt.

Import cost matters here (the DAG processor imports this module for every DAG that uses
it), so hooks, the trigger and HTTP clients are imported only when a task runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_videodb.job_memory import CLIP_JOB_STATE_KEY
from airflow_provider_videodb.lineage import DEFAULT_ALIAS, LineageMixin, report_lineage
from airflow_provider_videodb.operators.common import (
    DEFAULT_CONN_ID,
    PlayerLinkMixin,
    default_deferrable,
    make_hook,
    optional_collection,
)
from airflow_provider_videodb.operators.jobs import JobOutcome, VideoDBJobOperator
from airflow_provider_videodb.polling import JobWait
from airflow_provider_videodb.validation import (
    ClipRequest,
    parse_timeline,
    validate_bool,
    validate_video_id,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_videodb.hooks.videodb import VideoDBHook
    from airflow_provider_videodb.responses import Started

__all__ = [
    "CLIP_JOB_STATE_KEY",
    "DEFAULT_CONN_ID",
    "ClipVideoOperator",
    "GenerateStreamOperator",
    "default_deferrable",
]


class GenerateStreamOperator(LineageMixin, PlayerLinkMixin, BaseOperator):
    """Make an HLS stream of a whole video, or of a timeline of its segments.

    The timeline (``[[start, end], ...]`` seconds, or its JSON string as templating yields)
    is checked before any request, and against the video's length before the stream is
    requested. For the whole video the existing ``stream_url`` is reused, with no POST.

    Returns ``{"video_id", "stream_url", "player_url", "timeline"}`` and pushes
    ``player_url`` to XCom for the "VideoDB Player" link.

    :param video_id: the video, ``m-...`` (templated).
    :param timeline: ``None`` for the whole video, or ``[[start, end], ...]`` in seconds
        (a JSON string of pairs is accepted); finite, ``0 <= start < end``, within the
        video's length, at most 1,000 segments (templated).
    :param collection_id: the video's collection; default: the connection's (templated).
    :param videodb_conn_id: the Airflow connection of type ``videodb``.
    :param lineage_alias: the ``AssetAlias`` the produced ``videodb://`` assets are added
        to, so that they appear in the Assets view (default ``videodb``); None: only the
        ``outlets`` given.
    """

    template_fields: Sequence[str] = ("video_id", "timeline", "collection_id")
    ui_color = "#fde2cf"

    def __init__(
        self,
        *,
        video_id: str,
        timeline: Any = None,
        collection_id: str | None = None,
        videodb_conn_id: str = DEFAULT_CONN_ID,
        lineage_alias: str | None = DEFAULT_ALIAS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._add_lineage_alias(lineage_alias)
        self.video_id = video_id
        self.timeline = timeline
        self.collection_id = collection_id
        self.videodb_conn_id = videodb_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        video_id = validate_video_id(self.video_id)
        timeline = parse_timeline(self.timeline)
        collection_id = optional_collection(self.collection_id)
        hook = make_hook(self.videodb_conn_id, collection_id)
        try:
            video = hook.get_video(video_id)
            if timeline is None and video.get("stream_url"):
                self.log.info("Reusing the existing whole-video stream of %s", video_id)
                stream = {"stream_url": video["stream_url"], "player_url": video.get("player_url")}
            else:
                # The video's length is the service's data, not user input: absent, it is
                # sent as null for the whole video (as the SDK does); a timeline cannot be
                # checked without it, and the error says so rather than blame the timeline.
                length = video.get("length")
                if timeline is not None and length is None:
                    from airflow_provider_videodb.responses import RequestInfo, response_error

                    raise response_error(
                        RequestInfo("GET", f"/video/{video_id}", video_id),
                        f"video {video_id} has no length from the service; "
                        "cannot check the timeline",
                    )
                stream = hook.generate_stream(
                    video_id, timeline, length=length, collection_id=collection_id
                )
        finally:
            hook.close()
        self._push_player_url(context, stream.get("player_url"))
        report_lineage(
            self,
            context,
            hook,
            reads=[{"video_id": video_id}],
            writes=[{"video_id": video_id, "stream_url": stream["stream_url"]}],
        )
        return {
            "video_id": video_id,
            "stream_url": stream["stream_url"],
            "player_url": stream.get("player_url"),
            "timeline": None if timeline is None else [[start, end] for start, end in timeline],
        }


class ClipVideoOperator(PlayerLinkMixin, VideoDBJobOperator):
    """Cut AI clips out of a video from a text prompt, and stream them as one.

    The job is submitted on the worker; its ``job_id`` and ``output_url`` go to XCom before
    any waiting. With ``deferrable=True`` (the default, see :func:`default_deferrable`) the
    wait happens on the triggerer in :class:`ClipJobTrigger`; with False it
    happens on the worker, under the same rules (:mod:`airflow_provider_videodb.polling`).
    ``timeout`` is a wall-clock limit on the wait; ``max_poll_interval`` enables a bounded
    growth of the poll interval for long jobs.

    On success the shots are compiled into one stream and the task returns ``{"job_id",
    "video_id", "prompt", "shots": [{"start", "end", "text", "score"}], "stream_url",
    "player_url"}``. A job that matched nothing returns ``shots: []`` with ``stream_url``
    and ``player_url`` None, or fails with :class:`VideoDBJobFailedError` (error code
    ``empty_result``) when ``fail_on_empty=True``. A failed job raises
    :class:`VideoDBJobFailedError` with the service's reason; a timeout raises
    :class:`VideoDBJobTimeoutError`.

    Task retries do not submit duplicate jobs on Airflow >= 3.3: the job is recorded in
    ``task_state_store`` right after submission, and a retry reattaches to it while it runs,
    finishes from it when it is done, and submits afresh only when it failed or is unknown.

    :param video_id: the video, ``m-...`` (templated).
    :param prompt: what to find, in words; something visible, no control characters other
        than newline and tab, bounded length (templated).
    :param content_type: ``spoken``, ``visual`` or ``multimodal`` (templated).
    :param model_name: ``basic``, ``pro`` or ``ultra`` (templated).
    :param scene_index_id: a scene index to search for visual clips (templated).
    :param callback_url: an http(s) URL the service POSTs the result to; the task still
        polls (templated).
    :param fail_on_empty: fail with ``error_code="empty_result"`` when no shot matched.

    The wait and connection parameters (``collection_id``, ``deferrable``,
    ``poll_interval``, ``timeout``, ``max_consecutive_failures``, ``max_poll_interval``,
    ``videodb_conn_id``) are those of
    :class:`~airflow_provider_videodb.operators.jobs.VideoDBJobOperator`.
    """

    template_fields: Sequence[str] = (
        "video_id",
        "prompt",
        "content_type",
        "model_name",
        "scene_index_id",
        "callback_url",
        "collection_id",
    )
    ui_color = "#fde2cf"
    job_kind: ClassVar[str] = "clip"
    state_key: ClassVar[str] = CLIP_JOB_STATE_KEY

    def __init__(
        self,
        *,
        video_id: str,
        prompt: str,
        content_type: str = "spoken",
        model_name: str = "basic",
        scene_index_id: str | None = None,
        callback_url: str | None = None,
        fail_on_empty: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.video_id = video_id
        self.prompt = prompt
        self.content_type = content_type
        self.model_name = model_name
        self.scene_index_id = scene_index_id
        self.callback_url = callback_url
        self.fail_on_empty = validate_bool("fail_on_empty", fail_on_empty)

    def _request(self) -> ClipRequest:
        """The rendered fields as a checked request: every check happens before any I/O."""
        return ClipRequest(
            self.video_id,
            self.prompt,
            content_type=self.content_type,
            model_name=self.model_name,
            scene_index_id=self.scene_index_id,
            callback_url=self.callback_url,
            collection_id=self.collection_id,
        )

    def _submit(self, hook: VideoDBHook, request: ClipRequest) -> Started:
        from airflow_provider_videodb.responses import Started

        return Started(job=hook.submit_clip(request))

    def _video_of(self, request: ClipRequest) -> str:
        return request.video_id

    def _trigger(self, wait: JobWait, request: ClipRequest) -> Any:
        from airflow_provider_videodb.triggers.videodb import ClipJobTrigger

        return ClipJobTrigger.for_wait(self.videodb_conn_id, wait, request.video_id)

    def _finish(
        self, context: Context, hook: VideoDBHook, request: ClipRequest, outcome: JobOutcome
    ) -> dict[str, Any]:
        from airflow_provider_videodb.exceptions import VideoDBJobFailedError
        from airflow_provider_videodb.responses import parse_clip_shots

        job_id = str(outcome.job_id)
        shots = parse_clip_shots(outcome.data, outcome.info)
        video_id = request.video_id
        stream: dict[str, Any] = {"stream_url": None, "player_url": None}
        if shots:
            stream = hook.compile_shots(video_id, shots, collection_id=request.collection_id)
            self._push_player_url(context, stream.get("player_url"))
        elif self.fail_on_empty:
            raise VideoDBJobFailedError(job_id, "no shots matched the prompt", "empty_result")
        else:
            self.log.warning("Job %s matched no shots; returning no stream", job_id)
        self.log.info("Job %s: %d shot(s)", job_id, len(shots))
        report_lineage(
            self,
            context,
            hook,
            reads=[{"video_id": video_id}],
            writes=[{"video_id": video_id, "stream_url": stream.get("stream_url")}],
            job_id=job_id,
            prompt=request.prompt,
        )
        return {
            "job_id": job_id,
            "video_id": video_id,
            "prompt": request.prompt,
            "shots": [shot.to_dict() for shot in shots],
            "stream_url": stream.get("stream_url"),
            "player_url": stream.get("player_url"),
        }
