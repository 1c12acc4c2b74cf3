"""The one machinery every operator that starts a job on the service runs on.

A job operator (clip, upload, index, scene index) does four things, and only the first and
the last differ between them:

1. build its request from the rendered fields, every check before any I/O (``_request``);
2. start the job on the worker, or find the one an earlier try of the task started
   (:mod:`~airflow_provider_videodb.job_memory`), and push ``job_id``/``output_url`` to XCom
   before any waiting (``_submit`` says what the service was asked);
3. wait for it: deferred to :class:`~airflow_provider_videodb.triggers.videodb.VideoDBJobTrigger`
   on the triggerer (``deferrable=True``, the default), or on the worker under the same rules
   (:mod:`~airflow_provider_videodb.polling`);
4. turn the job's result into the task's return value (``_finish``).

A call the service answers at once (an upload it registers synchronously, a video that is
already indexed) skips the wait: its result is remembered so a retry returns it too.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, Protocol

from airflow.sdk import BaseOperator

from airflow_provider_videodb.lineage import DEFAULT_ALIAS, LineageMixin
from airflow_provider_videodb.operators.common import (
    DEFAULT_CONN_ID,
    DEFERRAL_MARGIN_SECONDS,
    default_deferrable,
    make_hook,
)
from airflow_provider_videodb.polling import JobWait, WaitPolicy
from airflow_provider_videodb.validation import validate_bool, validate_positive_seconds

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_videodb.hooks.videodb import VideoDBHook
    from airflow_provider_videodb.job_memory import JobMemory
    from airflow_provider_videodb.responses import AsyncJob, RequestInfo, Started


class JobRequest(Protocol):
    """What a job operator's request value offers (``ClipRequest``, ``UploadRequest``, ...)."""

    @property
    def collection_id(self) -> str | None: ...

    def identity(self) -> dict[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class JobOutcome:
    """A finished job's result: the job's ``data`` (or the service's immediate answer).

    :param job_id: the job, or None when the service answered at once.
    :param data: the result.
    :param output_url: where the job's result was read (None: an immediate answer).
    """

    job_id: str | None
    data: dict[str, Any]
    output_url: str | None = None

    @property
    def info(self) -> RequestInfo | None:
        """What was asked, for errors about the result (the poll of ``output_url``)."""
        from airflow_provider_videodb.responses import poll_request_info

        return None if self.output_url is None else poll_request_info(self.output_url)


class VideoDBJobOperator(LineageMixin, BaseOperator):
    """Base class: start one job on the service, wait for it (deferred by default), finish.

    Subclasses set :attr:`job_kind` and :attr:`state_key` and implement ``_request``,
    ``_submit``, ``_video_of`` and ``_finish``.

    :param collection_id: the collection the job works in; default: the connection's
        (templated).
    :param deferrable: wait on the triggerer (True) or on the worker (False); ``None``:
        ``[videodb] default_deferrable``, True unless set.
    :param poll_interval: seconds between polls.
    :param timeout: wall-clock limit of the wait, in seconds (at most 30 days).
    :param max_consecutive_failures: transient poll failures tolerated in a row (0-1000).
    :param max_poll_interval: let the interval grow for long jobs, up to this many seconds.
    :param videodb_conn_id: the Airflow connection of type ``videodb``.
    :param lineage_alias: the ``AssetAlias`` the produced ``videodb://`` assets are added
        to, so that they appear in the Assets view (default ``videodb``); None: only the
        ``outlets`` given.
    """

    #: What the job is, in messages and in the trigger (``clip``, ``upload``, ...).
    job_kind: ClassVar[str] = "job"
    #: The ``task_state_store`` key the job is remembered under across tries.
    state_key: ClassVar[str] = "videodb_job"

    def __init__(
        self,
        *,
        collection_id: str | None = None,
        deferrable: bool | None = None,
        poll_interval: float = 5.0,
        timeout: float = 3600.0,
        max_consecutive_failures: int = 5,
        max_poll_interval: float | None = None,
        videodb_conn_id: str = DEFAULT_CONN_ID,
        lineage_alias: str | None = DEFAULT_ALIAS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._add_lineage_alias(lineage_alias)
        self.collection_id = collection_id
        self.deferrable = (
            default_deferrable() if deferrable is None else validate_bool("deferrable", deferrable)
        )
        self.wait_policy = WaitPolicy(poll_interval, max_poll_interval, max_consecutive_failures)
        self.poll_interval = self.wait_policy.poll_interval
        self.max_poll_interval = self.wait_policy.max_poll_interval
        self.max_consecutive_failures = self.wait_policy.max_consecutive_failures
        self.timeout = validate_positive_seconds("timeout", timeout)
        self.videodb_conn_id = videodb_conn_id

    # -- what a subclass says -------------------------------------------------------------

    def _request(self) -> Any:
        """The rendered fields as a checked request value (no I/O)."""
        raise NotImplementedError

    def _submit(self, hook: VideoDBHook, request: Any) -> Started:
        """Ask the service to start the job (or answer at once).

        :param hook: the task's hook.
        :param request: what ``_request`` returned.
        """
        raise NotImplementedError

    def _video_of(self, request: Any) -> str | None:
        """The video the job is about, for messages (None when not known yet).

        :param request: what ``_request`` returned.
        """
        return None

    def _finish(
        self, context: Context, hook: VideoDBHook, request: Any, outcome: JobOutcome
    ) -> Any:
        """The task's return value from the finished job.

        :param context: the task's context.
        :param hook: the task's hook.
        :param request: what ``_request`` returned.
        :param outcome: the job's result.
        """
        raise NotImplementedError

    # -- execution ------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        request = self._request()
        hook = make_hook(self.videodb_conn_id, request.collection_id)
        try:
            started = self._start_or_resume(context, hook, request)
            if isinstance(started, JobOutcome):
                return self._finish(context, hook, request, started)
            if self.deferrable:
                self._defer(started, request)
            event = self._wait_here(hook, started)
            return self._complete(context, hook, request, event)
        finally:
            hook.close()

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the job trigger: finish, or raise what the event says."""
        request = self._request()
        hook = make_hook(self.videodb_conn_id, request.collection_id)
        try:
            return self._complete(context, hook, request, event)
        finally:
            hook.close()

    def _defer(self, wait: JobWait, request: Any) -> NoReturn:
        backstop = self.timeout + 2 * self.wait_policy.longest_wait + DEFERRAL_MARGIN_SECONDS
        self.defer(
            trigger=self._trigger(wait, request),
            method_name="execute_complete",
            timeout=timedelta(seconds=backstop),
        )

    def _trigger(self, wait: JobWait, request: Any) -> Any:
        """The trigger the task defers to (the clip keeps its own trigger class)."""
        from airflow_provider_videodb.triggers.videodb import VideoDBJobTrigger

        return VideoDBJobTrigger.for_wait(
            self.videodb_conn_id, wait, self._video_of(request), self.job_kind
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

    # -- no duplicate jobs across retries --------------------------------------------------

    def _memory(self, context: Context, request: Any) -> JobMemory:
        from airflow_provider_videodb.job_memory import JobMemory, request_fingerprint

        fingerprint = request_fingerprint(self.videodb_conn_id, request.identity())
        return JobMemory(context.get("task_state_store"), fingerprint, self.state_key)

    def _start_or_resume(
        self, context: Context, hook: VideoDBHook, request: Any
    ) -> JobWait | JobOutcome:
        """The wait for this task's job, or its result when there is nothing to wait for.

        See :mod:`~airflow_provider_videodb.job_memory` for the rules.
        """
        from airflow_provider_videodb.job_memory import previous_job_state

        memory = self._memory(context, request)
        if not memory.available:
            self.log.info(
                "No task_state_store in this Airflow version: a retry of this task cannot "
                "reattach to its %s job and will start a new one",
                self.job_kind,
            )
        elif (result := memory.recall_result()) is not None:
            self.log.info("The %s finished in an earlier try; not asking again", self.job_kind)
            return JobOutcome(None, result)
        elif (stored := memory.recall()) is not None:
            job, started_at = stored
            decision = previous_job_state(hook, job, self.log)
            if decision == "reattach":
                return self._waiting_for(context, job, started_at)
            if decision == "done":
                self._push_job(context, job)
                return self._outcome_of(hook, job.job_id, job.output_url)
        elif memory.was_submitting():
            self.log.warning(
                "An earlier try of this task sent the request that starts its %s job and "
                "recorded no answer (the worker stopped, or the answer was lost): the service "
                "may have started that job, and this try cannot know; starting another",
                self.job_kind,
            )
        memory.mark_submitting()
        started_at = time.time()
        started = self._submit(hook, request)
        if started.job is None:
            data = started.data or {}
            memory.remember_result(data)
            return JobOutcome(None, data)
        self.log.info(
            "Submitted %s job %s%s",
            self.job_kind,
            started.job.job_id,
            f" for video {video}" if (video := self._video_of(request)) else "",
        )
        memory.remember(started.job, started_at)
        return self._waiting_for(context, started.job, started_at)

    def _waiting_for(self, context: Context, job: AsyncJob, started_at: float) -> JobWait:
        self._push_job(context, job)
        self.videodb_job_id = job.job_id  # for the OpenLineage facets of a failure
        return JobWait(
            job.job_id, job.output_url, time.time() + self.timeout, started_at, self.wait_policy
        )

    @staticmethod
    def _push_job(context: Context, job: AsyncJob) -> None:
        ti = context["ti"]
        ti.xcom_push(key="job_id", value=job.job_id)
        ti.xcom_push(key="output_url", value=job.output_url)

    # -- result ---------------------------------------------------------------------------

    def _complete(
        self, context: Context, hook: VideoDBHook, request: Any, event: dict[str, Any] | None
    ) -> Any:
        from airflow_provider_videodb.exceptions import (
            VideoDBError,
            VideoDBJobFailedError,
            VideoDBJobTimeoutError,
        )

        if not isinstance(event, dict) or event.get("status") not in (
            "success",
            "error",
            "timeout",
        ):
            raise VideoDBError(f"Unexpected event from the {self.job_kind} job trigger: {event!r}")
        job_id = str(event.get("job_id"))
        self.videodb_job_id = job_id  # for the OpenLineage facets of a failure
        message = str(event.get("message") or "")
        if event["status"] == "error":
            raise VideoDBJobFailedError(job_id, message)
        if event["status"] == "timeout":
            self.log.error("Job %s: %s", job_id, message)
            raise VideoDBJobTimeoutError(job_id, self.timeout)
        outcome = self._outcome_of(hook, job_id, str(event["output_url"]))
        return self._finish(context, hook, request, outcome)

    def _outcome_of(self, hook: VideoDBHook, job_id: str, output_url: str) -> JobOutcome:
        """The result of a job that said it is done (read again: events carry no results)."""
        from airflow_provider_videodb.exceptions import VideoDBJobFailedError

        # Raises VideoDBResponseError for a status or a result it does not understand.
        status = hook.get_job_status(output_url)
        if status.state != "done":
            raise VideoDBJobFailedError(
                job_id, status.message or f"job reported {status.state!r} after success"
            )
        return JobOutcome(job_id, status.data or {}, output_url)
