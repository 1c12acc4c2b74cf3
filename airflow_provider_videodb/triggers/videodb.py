"""The job triggers: wait on the triggerer for one asynchronous VideoDB job.

:class:`VideoDBJobTrigger` waits for any job (an upload, an index, a scene index, a clip);
:class:`ClipJobTrigger` is the same wait under the clip's name (its serialized form, and so
the triggers already in a metadata database, are unchanged).

Built to be cheap at thousands of instances in one event loop: the connection is resolved
once per loop and connection id (``transport.loop``), the polls of every trigger of the
loop are made by one shared poller over one aiohttp session (``transport.poller``), first
polls are spread with jitter, the waiting rules are the pure
:class:`~airflow_provider_videodb.polling.PollTracker`, and progress is logged per quarter of
the job rather than per poll. The trigger only ever GETs the job's
``output_url``: running it twice (HA triggerers) has no side effect, and ``cleanup()``
does nothing remote.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_videodb.exceptions import VideoDBError
from airflow_provider_videodb.polling import JobWait, PollStep, PollTracker, make_event


class VideoDBJobTrigger(BaseTrigger):
    """Poll ``output_url`` until the job ends or the wall-clock ``end_time`` passes.

    Yields exactly one event ``{status, job_id, output_url, message}`` with ``status`` one
    of ``success``, ``error``, ``timeout``. The result itself stays out of the event: the
    resumed task fetches it.

    :param conn_id: VideoDB connection id (the key is looked up, never serialized).
    :param job_id: the job's id, for messages and the event.
    :param output_url: where the job's status is read (must be on the connection's origin).
    :param poll_interval: seconds between polls.
    :param end_time: deadline, epoch seconds (``time.time()``).
    :param video_id: the video the job is about, for messages only.
    :param max_consecutive_failures: transient poll failures tolerated in a row.
    :param max_poll_interval: enables interval growth for long jobs, bounded by this.
    :param started_at: when the job was submitted (epoch seconds); drives growth and the
        elapsed time in messages across triggerer restarts.
    :param job_kind: what the job is (``upload``, ``index``, ...), for messages only.
    """

    #: What the job is, for messages (a subclass may fix it).
    default_job_kind = "job"

    def __init__(
        self,
        conn_id: str,
        job_id: str,
        output_url: str,
        poll_interval: float,
        end_time: float,
        video_id: str | None = None,
        max_consecutive_failures: int = 5,
        max_poll_interval: float | None = None,
        started_at: float | None = None,
        job_kind: str | None = None,
    ) -> None:
        super().__init__()
        # Strict: a bad value fails here, where the task defers, not later in the triggerer.
        self.wait = JobWait.from_primitives(
            job_id=job_id,
            output_url=output_url,
            end_time=end_time,
            poll_interval=poll_interval,
            started_at=started_at,
            max_poll_interval=max_poll_interval,
            max_consecutive_failures=max_consecutive_failures,
        )
        self.conn_id = conn_id
        self.video_id = video_id
        self.job_kind = job_kind or self.default_job_kind

    @classmethod
    def for_wait(
        cls, conn_id: str, wait: JobWait, video_id: str | None = None, job_kind: str | None = None
    ) -> VideoDBJobTrigger:
        """The trigger of an already built wait (what the operators defer with).

        :param conn_id: VideoDB connection id.
        :param wait: the job and how to wait for it.
        :param video_id: the video the job is about, for messages only.
        :param job_kind: what the job is, for messages only.
        """
        return cls(conn_id=conn_id, video_id=video_id, job_kind=job_kind, **wait.to_primitives())

    @property
    def job_id(self) -> str:
        return self.wait.job_id

    @property
    def output_url(self) -> str:
        return self.wait.output_url

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {"conn_id": self.conn_id, "video_id": self.video_id, **self.wait.to_primitives()}
        if self.job_kind != self.default_job_kind:
            kwargs["job_kind"] = self.job_kind
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The event is yielded after the watch is closed, so that the poller (and the pool)
        # is let go even if nobody resumes the generator after its one event.
        try:
            event = await self._wait()
        except Exception as error:  # a bug: the trigger still ends in exactly one event
            # Only the type: a library's text is not trusted in an event (cancellation, a
            # BaseException, is not caught and propagates as it must).
            message = f"Polling job {self.job_id} stopped by an unexpected {type(error).__name__}"
            self.log.error("%s", message, exc_info=True)
            event = make_event("error", self.job_id, self.output_url, message)
        yield TriggerEvent(event)

    async def _wait(self) -> dict[str, str]:
        from airflow_provider_videodb.hooks.videodb import VideoDBHook
        from airflow_provider_videodb.transport.poller import JobWatch

        tracker = PollTracker(self.wait)
        try:
            settings = await VideoDBHook.aget_settings(self.conn_id)
        except VideoDBError as error:
            return make_event(
                "error",
                self.job_id,
                self.output_url,
                f"Cannot poll job {self.job_id}: connection {self.conn_id!r} unusable: {error}",
            )
        # The loop's shared poller does the polls; this task only wakes for a log line or
        # for the end (see transport.poller for why that matters in a triggerer).
        first_wait = tracker.first_delay(time.time())
        async with JobWatch(settings, self.output_url, tracker, first_wait=first_wait) as watch:
            while True:
                step = await watch.next_step()
                if step.log_message:
                    self._log_step(step)
                if step.event is not None:
                    return step.event

    def _log_step(self, step: PollStep) -> None:
        self.log.log(step.log_level, step.log_message)


class ClipJobTrigger(VideoDBJobTrigger):
    """The wait for a clip job (:class:`VideoDBJobTrigger`, under the clip's name)."""

    default_job_kind = "clip"
