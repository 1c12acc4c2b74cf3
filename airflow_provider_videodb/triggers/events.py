"""Event triggers: start a DAG run when something happens in VideoDB.

:class:`VideoDBNewVideoTrigger` fires one event per video that appears in a collection, for
``schedule=[Asset("videodb://<collection>", watchers=[AssetWatcher(name=..., trigger=...)])]``.

**One poll per collection.** On Airflow 3.3+ every trigger of one connection, collection,
interval and failure budget joins one *shared stream* (``shared_stream_key``): the triggerer
runs one :class:`CollectionPoller` for the group and hands each poll (the collection's video
list) to every trigger's :meth:`~VideoDBNewVideoTrigger.filter_shared_stream`, which picks the
videos new to it (and matching its ``name_pattern``). Triggers with equal kwargs are already
one trigger (Airflow de-duplicates watchers by their kwargs). On 3.1/3.2 (no shared streams)
each trigger polls on its own in :meth:`~VideoDBNewVideoTrigger.run`.

**The cursor** is the set of video ids a trigger has handled, kept in the asset state store
of the asset(s) it watches (Airflow 3.3+ gives an event trigger ``asset_state_store``), under
a key naming the connection, the collection and the pattern. It is written only after the
events of a poll are *stored in the metadata database*: the poller runs the shared stream in
ack mode, and a poll's ``persisted`` future is resolved by the triggerer's own persistence
confirmation (:meth:`CollectionPoller.advance`). So:

* first start (no cursor): the videos already there do NOT fire; they are the baseline;
* a triggerer killed while down: the videos that arrived meanwhile are not in the cursor
  and fire on the next start (never lost);
* a video already fired: its id is in the cursor as soon as its event is stored; only a
  kill within the second or two between the event being stored and the cursor being written
  fires it again (at least once, never lost);
* the cursor mirrors the collection (ids no longer listed are dropped once it exceeds
  :data:`MAX_CURSOR_IDS`, so that a listing that briefly omits a video does not re-fire it).

Without a state store (Airflow 3.1/3.2, or the trigger run outside a watcher) the cursor is
kept in memory only: existing videos still do not fire, but after a triggerer restart the
baseline is taken again, so videos that arrived while it was down do not fire either (the
narrower guarantee: at most once). The version check is :func:`supports_durable_cursor`.

Polls follow the job trigger's rules: the connection is resolved with the async API (cached
per loop), every request goes through the loop's shared session with the same error, size,
same-origin and key rules (:func:`~..transport.async_http.list_videos`); a transient failure
(5xx, 429 with its ``Retry-After``, a dropped connection, a malformed answer) is logged and
polled again, up to ``max_consecutive_failures`` in a row; a permanent one (401/403/404, a
broken connection) ends every trigger of the group with a :class:`VideoDBWatchError` that
names the collection.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections.abc import AsyncIterator, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_videodb.exceptions import VideoDBError, VideoDBValidationError
from airflow_provider_videodb.polling import WaitPolicy, is_permanent
from airflow_provider_videodb.validation import validate_collection_id

log = logging.getLogger(__name__)

#: The shared stream's name, first in every key.
STREAM_NAME = "videodb-new-video"
#: Prefix of the cursor's key in the asset state store.
CURSOR_KEY_PREFIX = "videodb.new_video"
#: Ids a cursor keeps at most beyond those still listed (see the module docstring).
MAX_CURSOR_IDS = 5000
#: Longest wait for a poll's events to be confirmed stored before its cursor is written.
PERSIST_WAIT_SECONDS = 120.0


class VideoDBWatchError(VideoDBError):
    """Watching a collection stopped: a permanent failure, or the failure budget spent."""


@dataclass(frozen=True, slots=True)
class CollectionPoll:
    """One raw event of the shared stream.

    :param videos: the collection's videos as one poll saw them; ``None`` for the marker the
        poller sends right after a poll that changed, so that every trigger moves past that
        poll at once (which is what lets its events be confirmed).
    :param persisted: resolved (with Airflow's ``AdvanceOutcome``, or ``None`` where nothing
        confirms) once every event derived from this poll is stored.
    """

    videos: tuple[dict[str, Any], ...] | None
    persisted: asyncio.Future[Any]


async def poll_collection(
    conn_id: str, collection_id: str, poll_interval: float, max_consecutive_failures: int
) -> AsyncIterator[tuple[dict[str, Any], ...] | None]:
    """Poll the collection forever: its videos per poll, and ``None`` after a changed poll.

    Raises :class:`VideoDBWatchError` on a permanent failure, or when more than
    ``max_consecutive_failures`` polls fail in a row.

    :param conn_id: VideoDB connection id.
    :param collection_id: the collection watched.
    :param poll_interval: seconds between polls.
    :param max_consecutive_failures: transient failures tolerated in a row.
    """
    from airflow_provider_videodb.hooks.videodb import VideoDBHook
    from airflow_provider_videodb.transport.async_http import list_videos
    from airflow_provider_videodb.transport.loop import LoopTransport

    failures = 0
    seen: tuple[str, ...] | None = None
    async with LoopTransport.current().session() as session:
        while True:
            wait = poll_interval
            try:  # cached per loop and connection: no lookup per poll
                settings = await VideoDBHook.aget_settings(conn_id)
                videos = await list_videos(settings, collection_id, session=session)
                ids = tuple(_video_id(video) for video in videos)
            except VideoDBError as error:
                failures += 1
                where = f"collection {collection_id!r} (connection {conn_id!r})"
                if is_permanent(error):
                    raise VideoDBWatchError(f"Watching {where} stopped: {error}") from None
                if failures > max_consecutive_failures:
                    raise VideoDBWatchError(
                        f"Watching {where} stopped after {failures} failed polls in a row: {error}"
                    ) from None
                log.warning(
                    "A poll of %s failed (%d/%d in a row), polling again: %s",
                    where,
                    failures,
                    max_consecutive_failures,
                    error,
                )
                wait = max(wait, getattr(error, "retry_after", None) or 0.0)
            else:
                failures = 0
                yield tuple(videos)
                if ids != seen:  # the first poll too: a restart may find videos at once
                    yield None
                seen = ids
            await asyncio.sleep(wait)


def _video_id(video: dict[str, Any]) -> str:
    from airflow_provider_videodb.responses import RequestInfo, response_error

    video_id = video.get("id")
    if not isinstance(video_id, str) or not video_id:
        raise response_error(RequestInfo("GET", "/video"), f"a video without an id: {video!r}")
    return video_id


class CollectionPoller:
    """The shared stream's producer (ack mode): one poll loop per group of triggers.

    Follows Airflow 3.3's ``airflow.triggers.shared_stream.SharedStreamProducer`` protocol
    (``open_stream``, ``advance``, ``get_advance_lane``, ``aclose``) without subclassing it,
    so that this module still imports on 3.1/3.2, where that module does not exist.

    :param kwargs: one trigger's serialized kwargs (only the fields of the stream key are read).
    """

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.kwargs = kwargs

    async def open_stream(self) -> AsyncIterator[tuple[CollectionPoll, asyncio.Future[Any]]]:
        """Yield ``(poll, its persisted future)``; :meth:`advance` resolves the future."""
        loop = asyncio.get_running_loop()
        async for videos in _polls_of(self.kwargs):
            persisted: asyncio.Future[Any] = loop.create_future()
            yield CollectionPoll(videos, persisted), persisted

    async def advance(self, batch: Sequence[Any]) -> None:
        """Every event derived from these polls is stored: let their triggers write cursors."""
        for item in batch:
            future = item.broker_payload
            if not future.done():
                future.set_result(item.outcome)

    def get_advance_lane(self, broker_payload: Any) -> Hashable:
        """One lane: polls are confirmed in the order they were made."""
        return None

    async def aclose(self) -> None:
        """Nothing to release (the session belongs to the loop's transport)."""


def _polls_of(kwargs: dict[str, Any]) -> AsyncIterator[tuple[dict[str, Any], ...] | None]:
    return poll_collection(
        kwargs["conn_id"],
        kwargs["collection_id"],
        kwargs["poll_interval"],
        kwargs["max_consecutive_failures"],
    )


def supports_durable_cursor(trigger: BaseEventTrigger) -> bool:
    """Whether the triggerer gave ``trigger`` an asset state store (Airflow 3.3+)."""
    return getattr(trigger, "asset_state_store", None) is not None


class VideoDBNewVideoTrigger(BaseEventTrigger):
    """Fire one event per video that appears in a collection (see the module docstring).

    The event's payload is ``{"video_id", "collection_id", "name", "created_at"}``; in the
    DAG it is ``triggering_asset_events[asset][i].extra["payload"]``.

    :param conn_id: VideoDB connection id (the key is looked up, never serialized).
    :param collection_id: the collection watched, ``default`` or ``c-...``.
    :param poll_interval: seconds between polls of the collection.
    :param name_pattern: only videos whose name matches this ``fnmatch`` pattern fire
        (``None``: every video); triggers that differ only in it share one poll.
    :param max_consecutive_failures: transient poll failures tolerated in a row.
    """

    def __init__(
        self,
        conn_id: str = "videodb_default",
        collection_id: str = "default",
        poll_interval: float = 30.0,
        name_pattern: str | None = None,
        max_consecutive_failures: int = 10,
    ) -> None:
        super().__init__()
        # Strict, as the job trigger: a bad value fails where the DAG is parsed.
        policy = WaitPolicy(
            poll_interval=poll_interval, max_consecutive_failures=max_consecutive_failures
        )
        self.conn_id = _text("conn_id", conn_id)
        self.collection_id = validate_collection_id(collection_id)
        self.poll_interval = policy.poll_interval
        self.max_consecutive_failures = policy.max_consecutive_failures
        self.name_pattern = None if name_pattern is None else _text("name_pattern", name_pattern)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "conn_id": self.conn_id,
            "collection_id": self.collection_id,
            "poll_interval": self.poll_interval,
            "name_pattern": self.name_pattern,
            "max_consecutive_failures": self.max_consecutive_failures,
        }

    # -- the shared stream (Airflow 3.3+) --------------------------------------------------

    def shared_stream_key(self) -> Hashable | None:
        """Triggers of one connection, collection, interval and budget share one poll."""
        return (
            STREAM_NAME,
            self.conn_id,
            self.collection_id,
            self.poll_interval,
            self.max_consecutive_failures,
        )

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> Any:
        """The group's :class:`CollectionPoller` (ack mode: cursors follow persistence)."""
        return CollectionPoller(kwargs)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The stream without persistence confirmation (every ``persisted`` already done)."""
        loop = asyncio.get_running_loop()
        async for videos in _polls_of(kwargs):
            done: asyncio.Future[Any] = loop.create_future()
            done.set_result(None)
            yield CollectionPoll(videos, done)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll on its own (Airflow 3.1/3.2, or outside a triggerer's shared streams)."""
        async for event in self.filter_shared_stream(
            type(self).open_shared_stream(self.serialize()[1])
        ):
            yield event

    async def filter_shared_stream(
        self, shared_stream: AsyncIterator[Any]
    ) -> AsyncIterator[TriggerEvent]:
        """Yield an event per video new to this trigger; keep the cursor (module docstring)."""
        cursor = await self._load_cursor()
        if not supports_durable_cursor(self):
            self.log.warning(
                "No asset state store (Airflow < 3.3, or not run by an asset watcher): the "
                "cursor of collection %s is kept in memory, videos that arrive while the "
                "triggerer is down will not fire",
                self.collection_id,
            )
        unconfirmed: tuple[asyncio.Future[Any], set[str]] | None = None
        async for poll in shared_stream:
            if unconfirmed is not None:
                await self._save_when_persisted(*unconfirmed)
                unconfirmed = None
            if poll.videos is None:
                continue
            listed = {video["id"] for video in poll.videos}
            if cursor is None:
                cursor = listed
                self.log.info(
                    "Watching collection %s: %d existing video(s) taken as already seen",
                    self.collection_id,
                    len(listed),
                )
                await self._save_cursor(cursor)
                continue
            new = [video for video in poll.videos if video["id"] not in cursor]
            if not new:
                continue
            cursor = _next_cursor(cursor, listed)
            fired = False
            for video in new:
                if self._matches(video):
                    fired = True
                    yield TriggerEvent(_payload(video, self.collection_id))
            if fired:  # written once these events are stored
                unconfirmed = (poll.persisted, cursor)
            else:
                await self._save_cursor(cursor)

    def _matches(self, video: dict[str, Any]) -> bool:
        if self.name_pattern is None:
            return True
        name = video.get("name")
        return isinstance(name, str) and fnmatch.fnmatchcase(name, self.name_pattern)

    # -- the cursor ---------------------------------------------------------------------

    @property
    def cursor_key(self) -> str:
        """The cursor's key in the asset state store (no secret in it)."""
        parts = [CURSOR_KEY_PREFIX, self.conn_id, self.collection_id]
        if self.name_pattern is not None:
            parts.append(self.name_pattern)
        return "/".join(parts)

    async def _load_cursor(self) -> set[str] | None:
        """The ids stored for this trigger (union over its watched assets); ``None``: none."""
        stored: set[str] | None = None
        for accessor in _accessors(getattr(self, "asset_state_store", None)):
            value = await accessor.aget(self.cursor_key)
            ids = value.get("seen") if isinstance(value, dict) else None
            if isinstance(ids, list):
                stored = (stored or set()) | {item for item in ids if isinstance(item, str)}
        return stored

    async def _save_cursor(self, cursor: set[str]) -> None:
        value = {"version": 1, "collection_id": self.collection_id, "seen": sorted(cursor)}
        for accessor in _accessors(getattr(self, "asset_state_store", None)):
            await accessor.aset(self.cursor_key, value)

    async def _save_when_persisted(self, persisted: asyncio.Future[Any], cursor: set[str]) -> None:
        """Write ``cursor`` once the events behind it are confirmed stored; else keep the old
        one (those videos then fire again after a restart rather than never)."""
        try:
            outcome = await asyncio.wait_for(asyncio.shield(persisted), PERSIST_WAIT_SECONDS)
        except TimeoutError:
            self.log.warning(
                "Events of collection %s not confirmed stored within %gs; cursor not advanced",
                self.collection_id,
                PERSIST_WAIT_SECONDS,
            )
            return
        if outcome is not None and outcome.failed:
            self.log.warning(
                "Events of collection %s not all stored; cursor not advanced", self.collection_id
            )
            return
        await self._save_cursor(cursor)


def _text(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise VideoDBValidationError(field, value, "must be a non-empty string")
    return value


def _next_cursor(cursor: set[str], listed: set[str]) -> set[str]:
    merged = cursor | listed
    return merged if len(merged) <= MAX_CURSOR_IDS else set(listed)


def _payload(video: dict[str, Any], collection_id: str) -> dict[str, Any]:
    """The event: small, JSON, no URL (the run fetches what it needs with its own key)."""
    created = video.get("created_at")
    name = video.get("name")
    return {
        "video_id": video["id"],
        "collection_id": video.get("collection_id") or collection_id,
        "name": name if isinstance(name, str) else None,
        "created_at": created if isinstance(created, str | int | float) else None,
    }


def _accessors(store: Any) -> Iterable[Any]:
    """The per-asset accessors of a trigger's ``AssetStateStoreAccessors``.

    A trigger shared by several assets (equal kwargs) has one accessor per asset, and the
    mapping's own ``aget``/``aset`` refuse to choose; its per-asset maps are read here (the
    one place this module relies on Airflow internals; a store without them is used whole).
    """
    if store is None:
        return ()
    by_name = getattr(store, "_by_name", None)
    by_uri = getattr(store, "_by_uri", None)
    if isinstance(by_name, dict) and isinstance(by_uri, dict):
        return [*by_name.values(), *by_uri.values()]
    return (store,)
