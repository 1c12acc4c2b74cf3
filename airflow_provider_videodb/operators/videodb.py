"""Operators: HLS streams from a video or a timeline, and AI clips from a prompt.

Import cost matters here (the DAG processor imports this module for every DAG that uses
it), so hooks, the trigger and HTTP clients are imported only when a task runs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseOperator, BaseOperatorLink

from airflow_provider_videodb.compat import conf
from airflow_provider_videodb.job_memory import CLIP_JOB_STATE_KEY
from airflow_provider_videodb.links.videodb import PLAYER_URL_XCOM_KEY, VideoDBPlayerLink
from airflow_provider_videodb.polling import JobWait, WaitPolicy
from airflow_provider_videodb.validation import (
    ClipRequest,
    parse_timeline,
    validate_bool,
    validate_collection_id,
    validate_positive_seconds,
    validate_video_id,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_videodb.hooks.videodb import VideoDBHook
    from airflow_provider_videodb.responses import AsyncJob

__all__ = ["CLIP_JOB_STATE_KEY", "ClipVideoOperator", "GenerateStreamOperator"]

DEFAULT_CONN_ID = "videodb_default"
#: Airflow's own deferral timeout is a backstop behind the trigger's deadline: it fires only
#: if the trigger could not report, and then ``execute_complete`` is skipped.
DEFERRAL_MARGIN_SECONDS = 120.0


#: Upper bound of ``max_consecutive_failures`` (more is a typo, not a budget).
def default_deferrable() -> bool:
    """``deferrable`` when not given: ``[videodb] default_deferrable``, True unless set.

    Airflow's own ``[operators] default_deferrable`` ships as false, which would make every
    clip task hold a worker slot while it waits; this provider is deferrable by default
    and lets a deployment opt out (``AIRFLOW__VIDEODB__DEFAULT_DEFERRABLE=false``).
    """
    return conf.getboolean("videodb", "default_deferrable", fallback=True)


class _PlayerLinkMixin:
    """Pushes the player URL for :class:`VideoDBPlayerLink` and remembers it for the link."""

    operator_extra_links: Collection[BaseOperatorLink] = (VideoDBPlayerLink(),)
    pushed_player_url: str | None = None

    def _push_player_url(self, context: Context, player_url: str | None) -> None:
        if player_url:
            context["ti"].xcom_push(key=PLAYER_URL_XCOM_KEY, value=player_url)
            self.pushed_player_url = player_url


def _optional_collection(collection_id: Any) -> str | None:
    return None if collection_id is None else validate_collection_id(collection_id)


def _make_hook(conn_id: str, collection_id: str | None) -> VideoDBHook:
    from airflow_provider_videodb.hooks.videodb import VideoDBHook

    return VideoDBHook(conn_id, collection_id=collection_id)


class GenerateStreamOperator(_PlayerLinkMixin, BaseOperator):
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.video_id = video_id
        self.timeline = timeline
        self.collection_id = collection_id
        self.videodb_conn_id = videodb_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        video_id = validate_video_id(self.video_id)
        timeline = parse_timeline(self.timeline)
        collection_id = _optional_collection(self.collection_id)
        hook = _make_hook(self.videodb_conn_id, collection_id)
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
        return {
            "video_id": video_id,
            "stream_url": stream["stream_url"],
            "player_url": stream.get("player_url"),
            "timeline": None if timeline is None else [[start, end] for start, end in timeline],
        }


class ClipVideoOperator(_PlayerLinkMixin, BaseOperator):
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
    :param collection_id: the video's collection; default: the connection's (templated).
    :param deferrable: wait on the triggerer (True) or on the worker (False); ``None``:
        ``[videodb] default_deferrable``, True unless set.
    :param poll_interval: seconds between polls.
    :param timeout: wall-clock limit of the wait, in seconds (at most 30 days).
    :param max_consecutive_failures: transient poll failures tolerated in a row (0-1000).
    :param max_poll_interval: let the interval grow for long jobs, up to this many seconds.
    :param fail_on_empty: fail with ``error_code="empty_result"`` when no shot matched.
    :param videodb_conn_id: the Airflow connection of type ``videodb``.
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

    def __init__(
        self,
        *,
        video_id: str,
        prompt: str,
        content_type: str = "spoken",
        model_name: str = "basic",
        scene_index_id: str | None = None,
        callback_url: str | None = None,
        collection_id: str | None = None,
        deferrable: bool | None = None,
        poll_interval: float = 5.0,
        timeout: float = 3600.0,
        max_consecutive_failures: int = 5,
        max_poll_interval: float | None = None,
        fail_on_empty: bool = False,
        videodb_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.video_id = video_id
        self.prompt = prompt
        self.content_type = content_type
        self.model_name = model_name
        self.scene_index_id = scene_index_id
        self.callback_url = callback_url
        self.collection_id = collection_id
        self.deferrable = (
            default_deferrable() if deferrable is None else validate_bool("deferrable", deferrable)
        )
        self.wait_policy = WaitPolicy(poll_interval, max_poll_interval, max_consecutive_failures)
        self.poll_interval = self.wait_policy.poll_interval
        self.max_poll_interval = self.wait_policy.max_poll_interval
        self.max_consecutive_failures = self.wait_policy.max_consecutive_failures
        self.timeout = validate_positive_seconds("timeout", timeout)
        self.fail_on_empty = validate_bool("fail_on_empty", fail_on_empty)
        self.videodb_conn_id = videodb_conn_id

    # -- request ------------------------------------------------------------------------

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

    # -- execution ----------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        request = self._request()
        hook = _make_hook(self.videodb_conn_id, request.collection_id)
        try:
            job, finished, started_at = self._submit_or_reattach(context, hook, request)
            ti = context["ti"]
            ti.xcom_push(key="job_id", value=job.job_id)
            ti.xcom_push(key="output_url", value=job.output_url)
            if finished is not None:
                return self._complete(context, hook, request, finished)
            wait = JobWait(
                job.job_id, job.output_url, time.time() + self.timeout, started_at, self.wait_policy
            )
            if self.deferrable:
                self._defer(wait, request.video_id)
            event = self._wait_here(hook, wait)
            return self._complete(context, hook, request, event)
        finally:
            hook.close()

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after :class:`ClipJobTrigger`: finish, or raise what the event says."""
        request = self._request()
        hook = _make_hook(self.videodb_conn_id, request.collection_id)
        try:
            return self._complete(context, hook, request, event)
        finally:
            hook.close()

    def _defer(self, wait: JobWait, video_id: str) -> NoReturn:
        from airflow_provider_videodb.triggers.videodb import ClipJobTrigger

        backstop = self.timeout + 2 * self.wait_policy.longest_wait + DEFERRAL_MARGIN_SECONDS
        self.defer(
            trigger=ClipJobTrigger.for_wait(self.videodb_conn_id, wait, video_id),
            method_name="execute_complete",
            timeout=timedelta(seconds=backstop),
        )

    def _wait_here(self, hook: VideoDBHook, wait: JobWait) -> dict[str, str]:
        from airflow_provider_videodb.hooks.videodb import VideoDBHook
        from airflow_provider_videodb.polling import PollTracker, wait_for_job

        # One attempt per poll, as on the triggerer: the tracker owns retries and budget.
        poller = VideoDBHook.from_settings(dataclasses.replace(hook.settings, max_retries=0))
        try:
            return wait_for_job(
                PollTracker(wait), lambda: poller.get_job_status(wait.output_url), self.log
            )
        finally:
            poller.close()

    # -- no duplicate jobs across retries ------------------------------------------------

    def _submit_or_reattach(
        self, context: Context, hook: VideoDBHook, request: ClipRequest
    ) -> tuple[AsyncJob, dict[str, str] | None, float]:
        """Return the job to wait for, its final event if it is already done, its start time.

        See :mod:`~airflow_provider_videodb.job_memory` for the rules.
        """
        from airflow_provider_videodb.job_memory import (
            ClipJobMemory,
            previous_job_state,
            request_fingerprint,
        )
        from airflow_provider_videodb.polling import make_event

        memory = ClipJobMemory(
            context.get("task_state_store"),
            request_fingerprint(self.videodb_conn_id, dataclasses.asdict(request)),
        )
        if not memory.available:
            self.log.info(
                "No task_state_store in this Airflow version: a retry of this task cannot "
                "reattach to its job and will submit a new one"
            )
        elif (stored := memory.recall()) is not None:
            job, started_at = stored
            decision = previous_job_state(hook, job, self.log)
            if decision == "reattach":
                return job, None, started_at
            if decision == "done":
                done = make_event("success", job.job_id, job.output_url, "done in an earlier try")
                return job, done, started_at
        started_at = time.time()
        job = hook.submit_clip(request)
        self.log.info("Submitted clip job %s for video %s", job.job_id, request.video_id)
        memory.remember(job, started_at)
        return job, None, started_at

    # -- result -------------------------------------------------------------------------

    def _complete(
        self,
        context: Context,
        hook: VideoDBHook,
        request: ClipRequest,
        event: dict[str, Any] | None,
    ) -> dict[str, Any]:
        from airflow_provider_videodb.exceptions import (
            VideoDBError,
            VideoDBJobFailedError,
            VideoDBJobTimeoutError,
        )
        from airflow_provider_videodb.responses import parse_clip_shots, poll_request_info

        if not isinstance(event, dict) or event.get("status") not in (
            "success",
            "error",
            "timeout",
        ):
            raise VideoDBError(f"Unexpected event from ClipJobTrigger: {event!r}")
        job_id = str(event.get("job_id"))
        message = str(event.get("message") or "")
        if event["status"] == "error":
            raise VideoDBJobFailedError(job_id, message)
        if event["status"] == "timeout":
            self.log.error("Job %s: %s", job_id, message)
            raise VideoDBJobTimeoutError(job_id, self.timeout)

        output_url = str(event["output_url"])
        # Raises VideoDBResponseError for a status or a result it does not understand.
        status = hook.get_job_status(output_url)
        if status.state != "done":
            raise VideoDBJobFailedError(
                job_id, status.message or f"job reported {status.state!r} after success"
            )
        shots = parse_clip_shots(status.data or {}, poll_request_info(output_url))
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
        return {
            "job_id": job_id,
            "video_id": video_id,
            "prompt": request.prompt,
            "shots": [shot.to_dict() for shot in shots],
            "stream_url": stream.get("stream_url"),
            "player_url": stream.get("player_url"),
        }
