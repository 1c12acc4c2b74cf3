"""What keeps a retried clip task from submitting its job twice.

Airflow 3.3 gives each task instance a ``task_state_store`` that survives its retries.
Right after ``POST /clip`` returns, the job (id, output URL, submission time and a
fingerprint of the request) is recorded there, before any waiting or deferral. A later
try of the same task instance looks it up and decides with :func:`previous_job_state`.

Airflow's ``ResumableJobMixin`` implements the same idea for operators that wait on the
worker only; the clip operator also defers, so it keeps one decision for both paths here.
On Airflow 3.1 there is no store: every try submits (logged once per try).

Remaining window (inherent, as for the mixin): if the worker dies between the service
accepting the POST and the record being written, or the answer to the POST is lost, the
next try cannot know the job and submits another.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Literal, Protocol

from airflow_provider_videodb.exceptions import VideoDBError

if TYPE_CHECKING:
    from airflow_provider_videodb.hooks.videodb import VideoDBHook
    from airflow_provider_videodb.responses import AsyncJob

# Imported by the operators module at DAG parse time: response parsing and polling are
# imported only when a task runs.

#: task_state_store key of the submitted clip job.
CLIP_JOB_STATE_KEY = "videodb_clip_job"

PreviousJob = Literal["reattach", "done", "fresh"]


class _Log(Protocol):
    def info(self, event: Any, *args: Any, **kw: Any) -> Any: ...
    def warning(self, event: Any, *args: Any, **kw: Any) -> Any: ...


def request_fingerprint(conn_id: str, request: dict[str, Any]) -> str:
    """Identifies a request, so that a retry never reattaches to a different one."""
    import hashlib  # OpenSSL-backed: a few ms at import, not needed to parse DAGs

    blob = json.dumps([conn_id, request], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class ClipJobMemory:
    """The clip job of one task instance, remembered across its tries."""

    def __init__(self, store: Any, fingerprint: str) -> None:
        self.store = store
        self.fingerprint = fingerprint

    @property
    def available(self) -> bool:
        return self.store is not None

    def recall(self) -> tuple[AsyncJob, float] | None:
        """The job an earlier try stored for this same request, and its submission time."""
        from airflow_provider_videodb.responses import AsyncJob

        if self.store is None:
            return None
        value = self.store.get(CLIP_JOB_STATE_KEY)
        if not isinstance(value, dict) or value.get("request") != self.fingerprint:
            return None
        job_id, output_url = value.get("job_id"), value.get("output_url")
        if not isinstance(job_id, str) or not isinstance(output_url, str):
            return None
        submitted_at = value.get("submitted_at")
        started = float(submitted_at) if isinstance(submitted_at, int | float) else time.time()
        return AsyncJob(job_id=job_id, output_url=output_url), started

    def remember(self, job: AsyncJob, submitted_at: float) -> None:
        if self.store is not None:
            self.store.set(
                CLIP_JOB_STATE_KEY,
                {
                    "job_id": job.job_id,
                    "output_url": job.output_url,
                    "submitted_at": submitted_at,
                    "request": self.fingerprint,
                },
            )


def previous_job_state(hook: VideoDBHook, job: AsyncJob, log: _Log) -> PreviousJob:
    """What to do with a job stored by an earlier try.

    Still running: reattach. Done: finish from it. Failed, or unknown (404, another origin):
    submit afresh. State unreadable for a transient reason: reattach, and let the wait
    decide, rather than start a second job on a guess. An answer we do not understand (a
    status that is neither running, done nor failed, a malformed result:
    :class:`VideoDBResponseError`) says neither "done" nor "failed": it is "cannot tell",
    so reattach and let the wait decide too.
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
