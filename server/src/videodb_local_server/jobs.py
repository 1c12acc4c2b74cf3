"""Async jobs whose state is a function of the clock and of the work behind them.

A job's status is computed from ``created_at + duration``: nothing ticks in the background,
a restart loses nothing, and a poll costs a dict lookup plus (when terminal) a cached body.
A job whose result arrives later (an upload fetched from a URL) is ``pending`` until its work
calls :meth:`Job.finish` or :meth:`Job.fail`: it is done once the clock has passed *and* the
work has finished. A pending job found at start-up lost its work in a restart and is failed
(:meth:`Job.lost_in_restart`), so no client waits for it forever.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

TERMINAL_SHAPES = ("flat", "wrapped")
PROGRESS_STYLES = ("processing", "in progress", "mixed")


@dataclass
class Job:
    id: str
    kind: str
    video_id: str | None
    created_at: float
    duration: float
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    #: The work behind the job has not finished yet (its result arrives later).
    pending: bool = False
    _bodies: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def failed(self) -> bool:
        return self.error is not None

    def is_done(self, now: float) -> bool:
        """The clock has passed the job's duration and its work has finished.

        :param now: the wall-clock time (``time.time()``).
        """
        return not self.pending and now >= self.created_at + self.duration

    def finish(self, result: dict[str, Any]) -> None:
        """The work behind a pending job ended well: ``result`` is its terminal ``data``.

        :param result: the terminal payload's ``data``.
        """
        self.result = result
        self.pending = False
        self._bodies.clear()

    def lost_in_restart(self) -> None:
        """A job still pending when the server started: its work died with the old process."""
        self.fail("The server restarted before this job's work finished", "job_lost")

    def percentage(self, now: float) -> float:
        if self.duration <= 0:
            return 100.0
        done = (now - self.created_at) / self.duration
        return round(min(99.0, max(0.0, done * 100.0)), 1)

    def fail(self, message: str, error_code: str) -> None:
        """End the job as failed (its work, if any, has ended too).

        :param message: what went wrong, for the client.
        :param error_code: the envelope's ``error_code``.
        """
        self.error = {"message": message, "error_code": error_code}
        self.pending = False
        self._bodies.clear()

    def terminal_body(self, shape: str) -> bytes:
        """The terminal answer, serialised once per shape."""
        body = self._bodies.get(shape)
        if body is None:
            body = json.dumps(self._terminal_payload(shape)).encode()
            self._bodies[shape] = body
        return body

    def _terminal_payload(self, shape: str) -> dict[str, Any]:
        if self.error is not None:
            inner: dict[str, Any] = {"success": False, **self.error}
            status = "failed"
        else:
            inner = {"success": True, "data": self.result or {}}
            status = "done"
        if shape == "wrapped":
            return {"status": status, "response": inner}
        return {**inner, "status": status}

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "video_id": self.video_id,
            "created_at": self.created_at,
            "duration": self.duration,
            "result": self.result,
            "error": self.error,
            "pending": self.pending,
        }


def progress_body(job: Job, now: float, style: str) -> bytes:
    """The answer while a job runs: ``processing`` or ``in progress`` with a percentage."""
    pct = job.percentage(now)
    status = style
    if style == "mixed":
        status = "processing" if pct < 50 else "in progress"
    return (
        b'{"success": true, "status": "'
        + status.encode()
        + b'", "data": {"percentage": '
        + repr(pct).encode()
        + b"}}"
    )


def status_body(job: Job, *, shape: str, style: str, now: float | None = None) -> bytes:
    now = time.time() if now is None else now
    if job.is_done(now):
        return job.terminal_body(shape)
    return progress_body(job, now, style)
