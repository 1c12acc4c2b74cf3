"""What keeps a retried task from starting its job (a clip, an upload, an index) twice.

Airflow 3.3 gives each task instance a ``task_state_store`` that survives its retries. Every
operator that starts something on the service records it there, under its own key, with a
fingerprint of the request:

* ``submitting``: written just before the request that starts the job is sent. A later try
  that finds only this knows that an earlier try may have started a job it never heard of,
  and says so in its log before it starts another (the inherent window, see below).
* ``job``: the job (id, output URL, submission time), written right after the service
  answered, before any waiting or deferral. A later try decides with
  :func:`previous_job_state`: reattach, finish from it, or start afresh.
* ``result``: what a call that the service answered at once produced (a small dict, e.g. the
  uploaded video), so that a later try returns it instead of calling again.

Airflow's ``ResumableJobMixin`` implements the same idea for operators that wait on the
worker only; these operators also defer, so they keep one decision for both paths here. On
Airflow 3.1/3.2 there is no store: every try starts afresh (logged once per try).

Remaining window (inherent, as for the mixin): if the worker dies between the service
accepting the request and the record being written, or the answer is lost, the next try
cannot know the job and starts another (it logs that it cannot know).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Literal, Protocol

from airflow_provider_videodb.exceptions import VideoDBError

if TYPE_CHECKING:
    from airflow_provider_videodb.hooks.videodb import VideoDBHook
    from airflow_provider_videodb.responses import AsyncJob

# Imported by the operators at DAG parse time: response parsing and polling are imported
# only when a task runs.

#: task_state_store key of the submitted clip job.
CLIP_JOB_STATE_KEY = "videodb_clip_job"

PreviousJob = Literal["reattach", "done", "fresh"]


class _Log(Protocol):
    def info(self, event: Any, *args: Any, **kw: Any) -> Any: ...
    def warning(self, event: Any, *args: Any, **kw: Any) -> Any: ...


def request_fingerprint(conn_id: str, request: dict[str, Any]) -> str:
    """Identifies a request, so that a retry never reattaches to a different one.

    :param conn_id: the connection the request goes through.
    :param request: the request's identity, JSON primitives only.
    """
    import hashlib  # OpenSSL-backed: a few ms at import, not needed to parse DAGs

    blob = json.dumps([conn_id, request], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class JobMemory:
    """The job of one task instance, remembered across its tries under ``key``.

    :param store: the task's ``task_state_store`` (None on Airflow < 3.3).
    :param fingerprint: :func:`request_fingerprint` of the request.
    :param key: the store key (one per kind of job, e.g. :data:`CLIP_JOB_STATE_KEY`).
    """

    def __init__(self, store: Any, fingerprint: str, key: str = CLIP_JOB_STATE_KEY) -> None:
        self.store = store
        self.fingerprint = fingerprint
        self.key = key

    @property
    def available(self) -> bool:
        return self.store is not None

    def _mine(self) -> dict[str, Any] | None:
        """The stored record, if it is for this same request."""
        if self.store is None:
            return None
        value = self.store.get(self.key)
        if not isinstance(value, dict) or value.get("request") != self.fingerprint:
            return None
        return value

    def recall(self) -> tuple[AsyncJob, float] | None:
        """The job an earlier try stored for this same request, and its submission time."""
        from airflow_provider_videodb.responses import AsyncJob

        value = self._mine()
        if value is None:
            return None
        job_id, output_url = value.get("job_id"), value.get("output_url")
        if not isinstance(job_id, str) or not isinstance(output_url, str):
            return None
        submitted_at = value.get("submitted_at")
        started = float(submitted_at) if isinstance(submitted_at, int | float) else time.time()
        return AsyncJob(job_id=job_id, output_url=output_url), started

    def recall_result(self) -> dict[str, Any] | None:
        """What an earlier try's call returned at once, for this same request."""
        value = self._mine()
        result = None if value is None else value.get("result")
        return result if isinstance(result, dict) else None

    def was_submitting(self) -> bool:
        """Did an earlier try send the request and never record what came of it?"""
        value = self._mine()
        return value is not None and "submitting_since" in value

    def _set(self, record: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.set(self.key, {**record, "request": self.fingerprint})

    def mark_submitting(self) -> None:
        """Record that the request is about to be sent (see the module's ``submitting``)."""
        self._set({"submitting_since": time.time()})

    def remember(self, job: AsyncJob, submitted_at: float) -> None:
        """Record the job the service started.

        :param job: the job.
        :param submitted_at: when it was submitted, epoch seconds.
        """
        self._set(
            {"job_id": job.job_id, "output_url": job.output_url, "submitted_at": submitted_at}
        )

    def remember_result(self, result: dict[str, Any]) -> None:
        """Record what the service returned at once (JSON primitives, small).

        :param result: the result to return on a later try.
        """
        self._set({"result": result})


class ClipJobMemory(JobMemory):
    """The clip job of one task instance (:data:`CLIP_JOB_STATE_KEY`)."""

    def __init__(self, store: Any, fingerprint: str) -> None:
        super().__init__(store, fingerprint, CLIP_JOB_STATE_KEY)


def previous_job_state(hook: VideoDBHook, job: AsyncJob, log: _Log) -> PreviousJob:
    """What to do with a job stored by an earlier try.

    Still running: reattach. Done: finish from it. Failed, or unknown (404, another origin):
    submit afresh. State unreadable for a transient reason: reattach, and let the wait
    decide, rather than start a second job on a guess. An answer we do not understand (a
    status that is neither running, done nor failed, a malformed result:
    :class:`VideoDBResponseError`) says neither "done" nor "failed": it is "cannot tell",
    so reattach and let the wait decide too.

    :param hook: the hook to read the job's status with.
    :param job: the stored job.
    :param log: where the decision is logged.
    """
    from airflow_provider_videodb.exceptions import VideoDBResponseError
    from airflow_provider_videodb.polling import is_permanent

    try:
        status = hook.get_job_status(job.output_url)
    except VideoDBResponseError as error:
        log.warning("Reattaching to job %s, its answer is not understood: %s", job.job_id, error)
        return "reattach"
    except VideoDBError as error:
        if is_permanent(error):
            log.warning("Stored job %s is unusable (%s); submitting anew", job.job_id, error)
            return "fresh"
        log.warning("Reattaching to job %s, state unknown: %s", job.job_id, error)
        return "reattach"
    if status.state == "processing":
        log.info("Reattaching to job %s from an earlier try", job.job_id)
        return "reattach"
    if status.state == "done":
        log.info("Job %s finished in an earlier try; not submitting again", job.job_id)
        return "done"
    log.warning("Job %s failed (%s); submitting anew", job.job_id, status.message)
    return "fresh"
