"""One poller per event loop: every waiting job of the loop is polled by a few worker tasks.

Why not let each trigger poll in its own task? In a triggerer every trigger task carries a
greenback portal (``TriggerRunner.run_trigger`` calls ``greenback.ensure_portal()``), so each
time the task resumes it pays two greenlet switches. A trigger polling in its own task
resumes three or four times per poll (its sleep, a free pooled connection, the answer's
headers, its body). Here the trigger's task waits on one future and resumes only when there
is something to log or the job has ended; the polls run in at most
:data:`~.loop.CONNECTION_LIMIT` worker tasks. As many workers as pooled connections
also means a poll never queues inside aiohttp for a connection: due polls wait here, in one
FIFO, in the order they fell due.

Waits between polls are kept on a wheel of :data:`TICK`-second slots instead of one timer
each: scheduling a poll then allocates nothing that outlives it (a timer per poll also copies
the context and survives long enough to reach the garbage collector's oldest generation,
whose full collections stall the loop in proportion to everything alive in the process).
A poll may so start up to one tick later than its wait.

The waiting rules stay in :class:`~airflow_provider_videodb.polling.PollTracker`; a watch
only carries it from one poll to the next. Workers and the wheel's timer run in an empty
``contextvars`` context, so nothing they might log is attributed to the trigger that started
them; a trigger's own lines (progress, warnings, its end) are logged in its own task.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import math
import time
from types import TracebackType

from airflow_provider_videodb.exceptions import VideoDBError
from airflow_provider_videodb.polling import PollStep, PollTracker
from airflow_provider_videodb.responses import JobStatus
from airflow_provider_videodb.settings import VideoDBSettings
from airflow_provider_videodb.transport.async_http import PollTarget, poll_job_status, poll_target
from airflow_provider_videodb.transport.loop import CONNECTION_LIMIT, LoopTransport

#: Resolution of the waits between polls (seconds).
TICK = 0.01


class JobWatch:
    """One job polled for one waiter, by the loop's shared poller.

    Use it as ``async with JobWatch(settings, output_url, tracker, first_wait=...) as
    watch:``, then ``step = await watch.next_step()`` until ``step.event`` is set. Only steps
    worth the waiter's attention come back (one with a log line, or the last one); polls
    that need neither happen unseen.
    """

    __slots__ = (
        "_answer",
        "_poller",
        "_wait",
        "closed",
        "output_url",
        "settings",
        "target",
        "tracker",
    )

    def __init__(
        self,
        settings: VideoDBSettings,
        output_url: str,
        tracker: PollTracker,
        *,
        first_wait: float,
    ) -> None:
        self.settings = settings
        self.output_url = output_url
        self.target: PollTarget | None = None  # checked on the first poll, then reused
        self.tracker = tracker
        self.closed = False
        self._poller: JobPoller | None = None
        self._answer: asyncio.Future[PollStep] | None = None
        self._wait = first_wait  # before the next poll

    async def __aenter__(self) -> JobWatch:
        self._poller = JobPoller.join()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.closed = True  # an answer on its way is dropped, a scheduled poll skipped
        if self._poller is not None:
            poller, self._poller = self._poller, None
            await poller.leave()

    def next_step(self) -> asyncio.Future[PollStep]:
        """Poll (after the wait due) until a step needs attention; await the result."""
        if self._poller is None or self.closed:
            raise RuntimeError("this watch is not open")
        self._answer = self._poller.loop.create_future()
        self._poller.schedule(self, self._wait)
        return self._answer

    # -- called by the poller ------------------------------------------------------------

    def _deliver(self, step: PollStep) -> None:
        """Hand a poll's outcome over: to the waiter if it must see it, else poll again."""
        if self.closed or self._poller is None:
            return
        if step.event is None and not step.log_message:
            self._poller.schedule(self, step.wait)
            return
        self._wait = step.wait
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(step)

    def _fail(self, error: BaseException) -> None:
        """A bug, not a poll failure: surface it in the waiter's task."""
        if not self.closed and self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)


class JobPoller:
    """The loop's shared poller: a wheel of waiting watches, a FIFO of due ones, workers.

    Held by the loop's :class:`~.loop.LoopTransport` (``poller``) from the first watch to
    the last, and holding the transport's session as long.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: LoopTransport) -> None:
        self.loop = loop
        self.watches = 0
        self._transport = transport
        self._session = transport.acquire()
        # Nothing the poller runs belongs to the trigger that happened to start it.
        self._context = contextvars.Context()
        self._due: asyncio.Queue[JobWatch] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._slots: dict[int, list[JobWatch]] = {}  # tick number -> watches due then
        self._ticks: list[int] = []  # heap of the slots' tick numbers
        self._timer: asyncio.TimerHandle | None = None
        self._timer_tick: int | None = None
        self._on_tick_cb = self._on_tick  # one bound method, not one per arming

    # -- membership ----------------------------------------------------------------------

    @classmethod
    def join(cls) -> JobPoller:
        """The running loop's poller (created with the first watch), counting one more."""
        loop = asyncio.get_running_loop()
        transport = LoopTransport.current()
        poller = transport.poller
        if poller is None:
            poller = transport.poller = cls(loop, transport)
        poller.watches += 1
        if len(poller._workers) < min(poller.watches, CONNECTION_LIMIT):
            poller._workers.append(poller._context.run(loop.create_task, poller._work()))
        return poller

    async def leave(self) -> None:
        """One watch fewer; the last one stops the workers and gives the session back."""
        self.watches -= 1
        if self.watches:
            return
        if self._transport.poller is self:
            self._transport.poller = None
        if self._timer is not None:
            self._timer.cancel()
        for worker in self._workers:
            worker.cancel()
        try:
            if self._workers:
                await asyncio.wait(self._workers)
        finally:  # even if the leaving task is cancelled meanwhile: never leak the session
            await self._transport.release(self._session)

    # -- the wheel -----------------------------------------------------------------------

    def schedule(self, watch: JobWatch, wait: float) -> None:
        """Poll ``watch`` after ``wait`` seconds (rounded up to the next tick)."""
        if wait <= 0:
            self._due.put_nowait(watch)
            return
        tick = math.ceil((self.loop.time() + wait) / TICK)
        slot = self._slots.get(tick)
        if slot is not None:
            slot.append(watch)
            return
        self._slots[tick] = [watch]
        heapq.heappush(self._ticks, tick)
        if self._timer_tick is None or tick < self._timer_tick:
            self._arm(tick)

    def _arm(self, tick: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_tick = tick
        self._timer = self.loop.call_at(tick * TICK, self._on_tick_cb, context=self._context)

    def _on_tick(self) -> None:
        fired = self._timer_tick if self._timer_tick is not None else -1
        self._timer, self._timer_tick = None, None
        while self._ticks and self._ticks[0] <= fired:
            for watch in self._slots.pop(heapq.heappop(self._ticks)):
                if not watch.closed:
                    self._due.put_nowait(watch)
        if self._ticks:
            self._arm(self._ticks[0])

    # -- the workers ---------------------------------------------------------------------

    async def _work(self) -> None:
        session = self._session
        while True:
            watch = await self._due.get()
            if watch.closed:
                continue
            try:
                # The URL never changes: check its origin once (an unsafe one fails the
                # first poll, permanently, exactly as a per-poll check would).
                watch.target = watch.target or poll_target(watch.settings, watch.output_url)
                # No poll runs past the wait's own deadline (see polling.request_budget).
                status = await poll_job_status(
                    watch.target, session=session, deadline=watch.tracker.end_time
                )
            except asyncio.CancelledError:
                raise
            except VideoDBError as error:
                outcome: JobStatus | VideoDBError = error
            except Exception as error:
                watch._fail(error)
                continue
            else:
                outcome = status
            try:  # a bug in the tracker must reach the waiter, never kill this worker
                now = time.time()
                watch._deliver(
                    watch.tracker.on_error(outcome, now)
                    if isinstance(outcome, VideoDBError)
                    else watch.tracker.on_status(outcome, now)
                )
            except Exception as error:
                watch._fail(error)
