"""The wait for one asynchronous VideoDB job, as a pure state machine.

Both ways of waiting use it, so they behave the same: :class:`ClipJobTrigger` on the
triggerer (async) and :func:`wait_for_job` on a worker (``deferrable=False``). The tracker
does no I/O and reads no clock: the caller passes ``now`` (wall clock, ``time.time()``,
because a deadline crosses processes) and gets back a :class:`PollStep`.

Semantics:

* The deadline ``end_time`` is checked after every poll: a job seen still running at or
  after it ends with a ``timeout`` event. Waits are cut so that the last poll lands on the
  deadline rather than past it, and a job found done late still counts as a success.
* No poll runs past the deadline either: each request of a wait ends by ``end_time``
  (:func:`request_budget`; the poll due at the deadline still gets
  :data:`LAST_POLL_SECONDS`), on the worker through :func:`wait_deadline` and on the
  triggerer through the poller. A poll cut by it is a failed poll, so at the deadline the
  wait ends with ``timeout``.
* Transient failures (5xx, 429, dropped connections, malformed answers) count against
  ``max_consecutive_failures``; a good poll resets the count. That many failures in a row are
  tolerated, the next one ends with an ``error`` event. Permanent failures (400-404, an
  unsafe URL, a configuration problem, an untrusted TLS certificate) end at once.
* A ``Retry-After`` from the service is the minimum wait before the next poll.
* Optional growth: with ``max_poll_interval`` set, the interval grows to a tenth of the time
  the job has been running, bounded by ``max_poll_interval``. A result is then noticed at most
  ~10 % later than it would be at the base interval (and never more than
  ``max_poll_interval`` late), while an hour-long job at a 5 s base interval needs about 85
  polls instead of 720 (with ``max_poll_interval=60``).
* The first poll is spread uniformly over one interval, so that triggers deferred together
  do not poll in lockstep.
* Progress is reported for logging when the percentage enters a new quarter (at most one
  line per ``PROGRESS_MIN_GAP`` seconds), or after ``progress_log_every`` seconds without
  one; never per poll. A job that ends within half a minute logs nothing of its own but
  its end at DEBUG: the triggerer already logs each trigger's start and event, and at ten
  thousand triggers every extra line per poll is measurable CPU.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from airflow_provider_videodb.exceptions import (
    VideoDBAPIError,
    VideoDBConfigError,
    VideoDBTransportError,
    VideoDBUnknownJobStatusError,
    VideoDBUnsafeURLError,
    VideoDBValidationError,
)
from airflow_provider_videodb.validation import (
    validate_count,
    validate_positive_seconds,
    validate_timestamp,
)

if TYPE_CHECKING:
    from airflow_provider_videodb.exceptions import VideoDBError
    from airflow_provider_videodb.responses import JobStatus

EventStatus = Literal["success", "error", "timeout"]

#: With growth enabled, the poll interval is this fraction of the time the job has run.
GROWTH_FRACTION = 0.1
#: HTTP statuses that polling again cannot change.
PERMANENT_STATUSES = frozenset({400, 401, 402, 403, 404})
#: Progress buckets: a log line when the percentage enters a new quarter...
PROGRESS_BUCKET = 25.0
#: ...but never sooner than this many seconds after the previous line.
PROGRESS_MIN_GAP = 30.0
#: A poll due at (or after) the wait's deadline still gets this long for its whole answer,
#: so that a job done by then is seen done (a late success is a success); no request of a
#: wait runs longer than this past the wait's deadline.
LAST_POLL_SECONDS = 1.0

#: The deadline of the wait this thread or task is polling for (see :func:`wait_deadline`).
_WAIT_DEADLINE: ContextVar[float | None] = ContextVar("videodb_wait_deadline", default=None)


@contextmanager
def wait_deadline(end_time: float) -> Iterator[None]:
    """Within this block, every hook request ends by ``end_time`` (see :func:`request_budget`).

    :func:`wait_for_job` wraps each poll in it, so no request of a wait runs past the
    wait's deadline whatever ``fetch`` it was given.
    """
    token = _WAIT_DEADLINE.set(end_time)
    try:
        yield
    finally:
        _WAIT_DEADLINE.reset(token)


def current_wait_deadline() -> float | None:
    """The deadline set by the innermost :func:`wait_deadline`, if any."""
    return _WAIT_DEADLINE.get()


def request_budget(timeout: float, deadline: float | None, now: float) -> float:
    """Seconds one request may take in total (connect, headers and body).

    The connection's ``timeout``, cut so that the request ends by ``deadline`` (a wait's
    ``end_time``), but never below :data:`LAST_POLL_SECONDS`: the poll due at the deadline
    still gets its chance to see the job done.
    """
    if deadline is None:
        return timeout
    return min(timeout, max(deadline - now, LAST_POLL_SECONDS))


#: Transient poll failures in a row a wait may tolerate at most.
MAX_CONSECUTIVE_FAILURES = 1000


@dataclass(frozen=True, slots=True)
class WaitPolicy:
    """How the wait for a job polls: the knobs a DAG author sets, checked once.

    :param poll_interval: seconds between polls.
    :param max_poll_interval: with a value, the interval grows for long jobs up to this
        (see the module docstring); ``None`` keeps it fixed.
    :param max_consecutive_failures: transient poll failures tolerated in a row.
    """

    poll_interval: float = 5.0
    max_poll_interval: float | None = None
    max_consecutive_failures: int = 5

    def __post_init__(self) -> None:
        interval = validate_positive_seconds("poll_interval", self.poll_interval)
        longest = self.max_poll_interval
        if longest is not None:
            longest = validate_positive_seconds("max_poll_interval", longest)
            if longest < interval:
                raise VideoDBValidationError(
                    "max_poll_interval",
                    self.max_poll_interval,
                    f"must be >= poll_interval ({interval:g})",
                )
        failures = validate_count(
            "max_consecutive_failures", self.max_consecutive_failures, MAX_CONSECUTIVE_FAILURES
        )
        object.__setattr__(self, "poll_interval", interval)
        object.__setattr__(self, "max_poll_interval", longest)
        object.__setattr__(self, "max_consecutive_failures", failures)

    @property
    def longest_wait(self) -> float:
        """The longest wait between two polls this policy allows."""
        return max(self.poll_interval, self.max_poll_interval or 0.0)


@dataclass(frozen=True, slots=True)
class JobWait:
    """Everything the wait for one job needs; the one value the operator, the trigger and
    the worker wait share.

    The trigger is serialized from :meth:`to_primitives` (field by field, plain values) and
    rebuilt with :meth:`from_primitives`, so a triggerer restart resumes the same wait.

    :param job_id: the job's id, for messages and the event.
    :param output_url: where the job's status is read.
    :param end_time: the wait's wall-clock deadline, epoch seconds (``time.time()``).
    :param started_at: when the job was submitted, epoch seconds; drives interval growth
        and the elapsed time in messages.
    :param policy: how to poll.
    """

    job_id: str
    output_url: str
    end_time: float
    started_at: float
    policy: WaitPolicy = WaitPolicy()

    def __post_init__(self) -> None:
        for name in ("job_id", "output_url"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise VideoDBValidationError(name, value, "must be a non-empty string")
        if not isinstance(self.policy, WaitPolicy):
            raise VideoDBValidationError("policy", self.policy, "must be a WaitPolicy")
        object.__setattr__(self, "end_time", validate_timestamp("end_time", self.end_time))
        object.__setattr__(self, "started_at", validate_timestamp("started_at", self.started_at))

    @classmethod
    def start(cls, job_id: str, output_url: str, timeout: float, policy: WaitPolicy) -> JobWait:
        """The wait for a job submitted now, ending ``timeout`` seconds from now.

        :param job_id: the job's id.
        :param output_url: where its status is read.
        :param timeout: seconds from now to the wait's deadline.
        :param policy: how to poll.
        """
        now = time.time()
        return cls(job_id, output_url, now + timeout, now, policy)

    def to_primitives(self) -> dict[str, Any]:
        """The fields as plain values (a trigger's serialized kwargs)."""
        return {
            "job_id": self.job_id,
            "output_url": self.output_url,
            "end_time": self.end_time,
            "started_at": self.started_at,
            "poll_interval": self.policy.poll_interval,
            "max_poll_interval": self.policy.max_poll_interval,
            "max_consecutive_failures": self.policy.max_consecutive_failures,
        }

    @classmethod
    def from_primitives(
        cls,
        *,
        job_id: str,
        output_url: str,
        end_time: float,
        poll_interval: float,
        started_at: float | None = None,
        max_poll_interval: float | None = None,
        max_consecutive_failures: int = 5,
    ) -> JobWait:
        """The inverse of :meth:`to_primitives` (``started_at`` absent: now).

        :param job_id: the job's id.
        :param output_url: where its status is read.
        :param end_time: the deadline, epoch seconds.
        :param poll_interval: see :class:`WaitPolicy`.
        :param started_at: when the job was submitted, epoch seconds.
        :param max_poll_interval: see :class:`WaitPolicy`.
        :param max_consecutive_failures: see :class:`WaitPolicy`.
        """
        policy = WaitPolicy(poll_interval, max_poll_interval, max_consecutive_failures)
        started = time.time() if started_at is None else started_at
        return cls(job_id, output_url, end_time, started, policy)


class LogSink(Protocol):
    """Anything with ``log(level, message)``: a stdlib or an Airflow task logger."""

    def log(self, level: int, event: Any, *args: Any, **kw: Any) -> Any: ...


def make_event(status: EventStatus, job_id: str, output_url: str, message: str) -> dict[str, str]:
    """The one trigger event shape; small and free of secrets."""
    return {"status": status, "job_id": job_id, "output_url": output_url, "message": message}


def is_permanent(error: BaseException) -> bool:
    """Whether polling again cannot help.

    A poll is an idempotent GET, so anything that is not a definite refusal (a 4xx that
    another try cannot change, a URL we will not follow, a broken connection setup) is
    worth another try within the failure budget, including 500 and malformed answers. A
    transport failure marked not retryable (a TLS certificate the client does not trust)
    would fail the same way every time, and so would a job status this provider does not
    know (asking again cannot turn it into a success).
    """
    if isinstance(error, VideoDBUnsafeURLError | VideoDBConfigError | VideoDBValidationError):
        return True
    if isinstance(error, VideoDBUnknownJobStatusError):
        return True
    if isinstance(error, VideoDBTransportError):
        return not error.retryable
    return isinstance(error, VideoDBAPIError) and error.status in PERMANENT_STATUSES


@dataclass(frozen=True, slots=True)
class PollStep:
    """The tracker's answer to one poll: finish with ``event``, or poll again after ``wait``.

    ``log_message`` (at ``log_level``) is set only when the poll is worth a log line.
    """

    event: dict[str, str] | None = None
    wait: float = 0.0
    log_level: int = logging.INFO
    log_message: str | None = None


class PollTracker:
    """State of the wait for one job; see the module docstring for the rules.

    :param wait: the job and how to wait for it.
    :param progress_log_every: seconds without a progress line after which one is logged.
    """

    __slots__ = ("_last_bucket", "_last_log", "failures", "polls", "progress_log_every", "wait")

    def __init__(self, wait: JobWait, *, progress_log_every: float = 300.0) -> None:
        self.wait = wait
        self.progress_log_every = progress_log_every
        self.polls = 0
        self.failures = 0
        self._last_bucket: int | None = None
        # Quiet at first: short jobs log nothing of their own (the triggerer already logs
        # each trigger's start and event), long ones a line per quarter or per period.
        self._last_log = wait.started_at

    @property
    def end_time(self) -> float:
        """The wait's deadline (epoch seconds)."""
        return self.wait.end_time

    # -- timing ---------------------------------------------------------------------------

    def interval(self, now: float) -> float:
        """The poll interval at ``now``: the base one, or grown for a long-running job."""
        if self.wait.policy.max_poll_interval is None:
            return self.wait.policy.poll_interval
        grown = GROWTH_FRACTION * max(0.0, now - self.wait.started_at)
        return min(self.wait.policy.max_poll_interval, max(self.wait.policy.poll_interval, grown))

    def first_delay(self, now: float, rand: Callable[[], float] = random.random) -> float:
        """Delay before the first poll: uniform over one interval, never past the deadline."""
        return rand() * self._bounded(self.wait.policy.poll_interval, now)

    def _bounded(self, wait: float, now: float) -> float:
        return max(0.0, min(wait, self.wait.end_time - now))

    # -- transitions ----------------------------------------------------------------------

    def on_status(self, status: JobStatus, now: float) -> PollStep:
        """Digest one successful poll."""
        self.polls += 1
        self.failures = 0
        if status.state == "done":
            return self._finish("success", f"done after {self._elapsed(now)} ({self._polls()})")
        if status.state == "failed":
            reason = status.message or "no reason given"
            if status.error_code:
                reason = f"{reason} [{status.error_code}]"
            return self._finish("error", reason)
        if now >= self.wait.end_time:
            return self._timeout(now, f"still {status.state}{_percent(status.percentage)}")
        wait = self._bounded(self.interval(now), now)
        return PollStep(wait=wait, log_message=self._progress(status, now, wait))

    def on_error(self, error: VideoDBError, now: float) -> PollStep:
        """Digest one failed poll."""
        self.polls += 1
        if is_permanent(error):
            return self._finish("error", f"polling failed permanently: {error}")
        self.failures += 1
        if self.failures > self.wait.policy.max_consecutive_failures:
            return self._finish(
                "error",
                f"polling failed {self.failures} times in a row "
                f"(budget {self.wait.policy.max_consecutive_failures}); last error: {error}",
            )
        if now >= self.wait.end_time:
            return self._timeout(now, f"last poll failed: {error}")
        wait = self.interval(now)
        retry_after = getattr(error, "retry_after", None)
        if retry_after:
            wait = max(wait, float(retry_after))
        wait = self._bounded(wait, now)
        return PollStep(
            wait=wait,
            log_level=logging.WARNING,
            log_message=(
                f"Polling job {self.wait.job_id} failed ({self.failures}/"
                f"{self.wait.policy.max_consecutive_failures} in a row), "
                f"next try in {wait:.3g}s: {error}"
            ),
        )

    # -- helpers --------------------------------------------------------------------------

    def _finish(self, status: EventStatus, message: str) -> PollStep:
        """The final step; the event message does not repeat the job id, the log line does."""
        return PollStep(
            event=make_event(status, self.wait.job_id, self.wait.output_url, message),
            log_level=logging.DEBUG if status == "success" else logging.ERROR,
            log_message=f"Job {self.wait.job_id} {status}: {message}",
        )

    def _timeout(self, now: float, detail: str) -> PollStep:
        return self._finish(
            "timeout",
            f"not finished by its deadline ({self._elapsed(now)} waited, "
            f"{self._polls()}); {detail}",
        )

    def _progress(self, status: JobStatus, now: float, wait: float) -> str | None:
        bucket = None if status.percentage is None else int(status.percentage // PROGRESS_BUCKET)
        quiet_for = now - self._last_log
        due = quiet_for >= self.progress_log_every or (
            bucket != self._last_bucket and quiet_for >= PROGRESS_MIN_GAP
        )
        if not due:
            return None
        self._last_bucket = bucket
        self._last_log = now
        return (
            f"Job {self.wait.job_id} {status.state}{_percent(status.percentage)} after "
            f"{self._elapsed(now)} ({self._polls()}); next poll in {wait:.3g}s"
        )

    def _elapsed(self, now: float) -> str:
        return f"{max(0.0, now - self.wait.started_at):.0f}s"

    def _polls(self) -> str:
        return f"{self.polls} poll" + ("" if self.polls == 1 else "s")


def _percent(percentage: float | None) -> str:
    return "" if percentage is None else f" {percentage:.0f}%"


def wait_for_job(
    tracker: PollTracker,
    fetch: Callable[[], JobStatus],
    log: LogSink,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> dict[str, str]:
    """Wait on this thread (the worker) until the tracker produces its event; return it.

    Each ``fetch`` runs inside :func:`wait_deadline`: the hook's requests end by the
    tracker's ``end_time`` (plus at most :data:`LAST_POLL_SECONDS` for the last poll).
    """
    from airflow_provider_videodb.exceptions import VideoDBError

    sleep(tracker.first_delay(clock()))
    while True:
        try:
            with wait_deadline(tracker.end_time):
                status = fetch()
        except VideoDBError as error:
            step = tracker.on_error(error, clock())
        else:
            step = tracker.on_status(status, clock())
        if step.log_message:
            log.log(step.log_level, step.log_message)
        if step.event is not None:
            return step.event
        sleep(step.wait)
