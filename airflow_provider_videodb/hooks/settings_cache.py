"""Per-event-loop cache of resolved connection settings, for triggers.

A triggerer may start thousands of :class:`ClipJobTrigger` s at once, all for the same
connection. Resolving it once per trigger re-initialises the secrets backends and queues
every lookup on asgiref's single ``sync_to_async`` thread (measured: 14 % of the loop's time
at 10,000 triggers, first polls delayed by seconds). Here, per event loop and connection id:

* concurrent callers share ONE in-flight lookup (single flight);
* a successful result is reused for :data:`SETTINGS_TTL_SECONDS`, then looked up again, so a
  rotated key or a changed base URL is picked up by triggers started after that;
* a failed (or cancelled) lookup is not kept: the next caller tries again;
* the lookup itself masks the key, so that happens once per entry, not once per trigger.

Scoping by loop keeps independent loops (tests, ``asyncio.run`` per call) apart; an entry
goes away with its loop.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from airflow_provider_videodb.settings import VideoDBSettings

#: How long resolved settings are reused (seconds); key rotation is picked up after this.
SETTINGS_TTL_SECONDS = 60.0

Resolver = Callable[[str], Coroutine[Any, Any, VideoDBSettings]]


@dataclass
class _Entry:
    lookup: asyncio.Future[VideoDBSettings]
    expires_at: float = float("inf")  # set when the lookup succeeds


_CACHE: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Entry]] = (
    weakref.WeakKeyDictionary()
)


async def cached_settings(conn_id: str, resolve: Resolver) -> VideoDBSettings:
    """``resolve(conn_id)``, shared with this loop's other callers and reused for the TTL."""
    loop = asyncio.get_running_loop()
    entries = _CACHE.setdefault(loop, {})
    entry = entries.get(conn_id)
    if entry is None or entry.expires_at <= loop.time():
        entry = _Entry(loop.create_task(resolve(conn_id)))
        entries[conn_id] = entry
        entry.lookup.add_done_callback(lambda lookup: _settle(entries, conn_id, entry, loop))
    # shield: a caller cancelled while waiting does not cancel the lookup the others share.
    return await asyncio.shield(entry.lookup)


def _settle(
    entries: dict[str, _Entry], conn_id: str, entry: _Entry, loop: asyncio.AbstractEventLoop
) -> None:
    lookup = entry.lookup
    if not lookup.cancelled() and lookup.exception() is None:
        entry.expires_at = loop.time() + SETTINGS_TTL_SECONDS
    elif entries.get(conn_id) is entry:  # failures are not cached
        del entries[conn_id]


def clear_settings_cache() -> None:
    """Forget the running loop's cached settings (e.g. after changing a connection)."""
    _CACHE.pop(asyncio.get_running_loop(), None)
