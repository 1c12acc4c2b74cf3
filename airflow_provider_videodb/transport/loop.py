"""What the async side keeps per event loop, in one object with the loop's lifetime.

A triggerer runs thousands of :class:`ClipJobTrigger` coroutines in one loop. What they share
lives in that loop's :class:`LoopTransport` (``LoopTransport.current()``), and nowhere else:

* **the aiohttp session** (one bounded, keep-alive connection pool): reference-counted, the
  first user opens it, the last one closes it (:meth:`LoopTransport.acquire` /
  :meth:`LoopTransport.release`, or :meth:`LoopTransport.session` where a ``with`` fits);
* **the CA contexts** of connections that name a CA bundle, by path: reading a bundle is file
  I/O, done once per loop, off the loop;
* **the resolved connection settings**, by connection id. Resolving a connection once per
  trigger would re-initialise the secrets backends and queue every lookup on asgiref's single
  ``sync_to_async`` thread, delaying first polls by seconds (see ``bench/README.md``). So:

  - concurrent callers share ONE in-flight lookup (single flight);
  - a successful result is reused for :data:`SETTINGS_TTL_SECONDS`, then looked up again, so
    a rotated key or a changed base URL is picked up by triggers started after that;
  - a failed (or cancelled) lookup is not kept: the next caller tries again;
  - the lookup itself masks the key, so that happens once per entry, not once per trigger;
* **the job poller** (:class:`~.poller.JobPoller`), while it watches any job.

Scoping by loop keeps independent loops (tests, ``asyncio.run`` per call) apart; a loop's
transport, and with it everything above, goes away with its loop.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_videodb.settings import VideoDBSettings

if TYPE_CHECKING:
    import aiohttp

    from airflow_provider_videodb.transport.poller import JobPoller

#: Connections per process (per loop) to the API; requests beyond it queue for a free one.
CONNECTION_LIMIT = 100
KEEPALIVE_SECONDS = 30.0
#: How long resolved settings are reused (seconds); key rotation is picked up after this.
SETTINGS_TTL_SECONDS = 60.0

Resolver = Callable[[str], Coroutine[Any, Any, VideoDBSettings]]


def new_session() -> aiohttp.ClientSession:
    """A session with the provider's pool settings (a loop's shared one is opened by
    :meth:`LoopTransport.acquire`)."""
    # Imported here: the sync hook imports this module (for ``aget_settings``) and never
    # needs aiohttp.
    import aiohttp

    connector = aiohttp.TCPConnector(
        limit=CONNECTION_LIMIT, keepalive_timeout=KEEPALIVE_SECONDS, enable_cleanup_closed=True
    )
    # Timeouts and TLS are per request (connections may differ); cookies are never wanted.
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


@dataclass
class _Entry:
    """Settings of one connection id: a lookup in flight, or its result until it expires."""

    lookup: asyncio.Future[VideoDBSettings] | None
    value: VideoDBSettings | None = None
    expires_at: float = float("inf")  # set when the lookup succeeds


class LoopTransport:
    """The async transport of one event loop: session, CA contexts, settings, poller.

    Get the running loop's with :meth:`current`; nothing here is shared between loops.
    ``users`` counts the holders of the open session (0 when none is open); ``poller`` is
    the loop's job poller while it watches any job, else ``None``.
    """

    __slots__ = ("__weakref__", "_ca_contexts", "_session", "_settings", "poller", "users")

    def __init__(self) -> None:
        self.users = 0
        self.poller: JobPoller | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ca_contexts: dict[str, ssl.SSLContext] = {}
        self._settings: dict[str, _Entry] = {}

    @classmethod
    def current(cls) -> LoopTransport:
        """The running loop's transport (made on first use)."""
        loop = asyncio.get_running_loop()
        transport = _BY_LOOP.get(loop)
        if transport is None:
            transport = _BY_LOOP[loop] = cls()
        return transport

    # -- the session ---------------------------------------------------------------------

    def acquire(self) -> aiohttp.ClientSession:
        """Hold the loop's session (opening it if none is open); pair with :meth:`release`.
        Prefer :meth:`session` where a ``with`` block fits."""
        session = self._session
        if session is None or session.closed:
            session = self._session = new_session()
            self.users = 0
        self.users += 1
        return session

    async def release(self, session: aiohttp.ClientSession) -> None:
        """Let go of a session held by :meth:`acquire`; the last user closes it."""
        if session is not self._session:  # closed and replaced meanwhile: nothing to count
            return
        self.users -= 1
        if self.users == 0:
            self._session = None
            await session.close()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[aiohttp.ClientSession]:
        """The loop's session, open while at least one user is inside this context.

        Keeps the pool open across several ad-hoc calls; the loop's poller holds the session
        through :meth:`acquire` for as long as any job is watched.
        """
        session = self.acquire()
        try:
            yield session
        finally:
            await self.release(session)

    @property
    def watches(self) -> int:
        """Jobs the loop's poller is watching (0 when it has none)."""
        return 0 if self.poller is None else self.poller.watches

    # -- CA contexts ---------------------------------------------------------------------

    async def ca_context(self, path: str) -> ssl.SSLContext:
        """The verifying context of a CA bundle (read once per loop)."""
        context = self._ca_contexts.get(path)
        if context is None:  # reading the CA bundle is file I/O: keep it off the loop
            context = await asyncio.to_thread(ssl.create_default_context, cafile=path)
            self._ca_contexts[path] = context
        return context

    # -- settings ------------------------------------------------------------------------

    async def settings(self, conn_id: str, resolve: Resolver) -> VideoDBSettings:
        """``resolve(conn_id)``, shared with this loop's other callers and reused for the TTL."""
        loop = asyncio.get_running_loop()
        entry = self._settings.get(conn_id)
        if entry is None or entry.expires_at <= loop.time():
            lookup = loop.create_task(resolve(conn_id))
            fresh = entry = self._settings[conn_id] = _Entry(lookup)
            lookup.add_done_callback(lambda done: self._settle(conn_id, fresh, done))
        if entry.lookup is None:  # settled: the value is kept
            assert entry.value is not None
            return entry.value
        # shield: a caller cancelled while waiting does not cancel the lookup the others share.
        return await asyncio.shield(entry.lookup)

    def _settle(self, conn_id: str, entry: _Entry, lookup: asyncio.Future[VideoDBSettings]) -> None:
        if not lookup.cancelled() and lookup.exception() is None:
            # Keep the result, not the task: a task holds its loop, which must stay collectable.
            entry.value, entry.lookup = lookup.result(), None
            entry.expires_at = lookup.get_loop().time() + SETTINGS_TTL_SECONDS
        elif self._settings.get(conn_id) is entry:  # failures are not cached
            del self._settings[conn_id]

    def forget_settings(self) -> None:
        """Forget the cached settings (e.g. after changing a connection)."""
        self._settings.clear()


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopTransport] = (
    weakref.WeakKeyDictionary()
)
