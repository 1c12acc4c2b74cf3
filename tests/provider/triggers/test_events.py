"""VideoDBNewVideoTrigger against the local VideoDB server, videos uploaded through its HTTP API.

The shared-stream tests drive Airflow's own ``SharedStreamManager`` the way the triggerer's
``run_trigger`` does (subscribe, ``filter_shared_stream``, ``bind_pending_event``, and the
persistence confirmation the supervisor sends back). The asset state store is the one
stand-in: :class:`MemoryStateStore` has the ``aget``/``aset`` of Airflow's accessor (the real
one needs a triggerer's supervisor; ``tests/e2e/test_new_video_dag.py`` runs with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from airflow.triggers.base import BaseEventTrigger

try:
    from airflow.triggers.shared_stream import SharedStreamManager
except ImportError:  # Airflow < 3.3: no shared streams (each trigger polls for itself)
    SharedStreamManager = None  # type: ignore[assignment,misc]

from airflow_provider_videodb.exceptions import VideoDBValidationError
from airflow_provider_videodb.triggers.events import VideoDBNewVideoTrigger, VideoDBWatchError
from tests.provider.triggers.collection_support import upload, video_polls

INTERVAL = 0.2  # seconds between polls in these tests


class MemoryStateStore:
    """An asset state store held in memory: ``aget``/``aset`` as Airflow's accessor has them."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        assert value is not None
        self.values[key] = value


def make(collection_id: str, **kwargs: Any) -> VideoDBNewVideoTrigger:
    kwargs.setdefault("poll_interval", INTERVAL)
    return VideoDBNewVideoTrigger(conn_id="videodb_default", collection_id=collection_id, **kwargs)


class Watch:
    """A trigger run in the background, its events collected."""

    def __init__(self, events: AsyncIterator[Any]) -> None:
        self.payloads: list[dict] = []
        self.error: BaseException | None = None
        self._task = asyncio.ensure_future(self._collect(events))

    async def _collect(self, events: AsyncIterator[Any]) -> None:
        try:
            async for event in events:
                self.payloads.append(event.payload)
        except Exception as error:  # what a triggerer would record as the trigger's failure
            self.error = error

    @property
    def done(self) -> bool:
        return self._task.done()

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def standalone(trigger: VideoDBNewVideoTrigger, store: MemoryStateStore | None) -> Watch:
    trigger.asset_state_store = store  # type: ignore[assignment]
    return Watch(trigger.run())


async def until(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def settle(polls: int = 3) -> None:
    """Let the trigger make a few more polls."""
    await asyncio.sleep(INTERVAL * polls)


async def baseline_taken(store: MemoryStateStore) -> None:
    await until(lambda: bool(store.values))


def in_thread(call: Callable[..., str], *args: Any) -> Any:
    return asyncio.to_thread(call, *args)


# -- kwargs ----------------------------------------------------------------------------------


def test_serialize_round_trips_and_is_deterministic() -> None:
    trigger = make("c-abc", name_pattern="*.mp4", max_consecutive_failures=3)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_videodb.triggers.events.VideoDBNewVideoTrigger"
    assert kwargs == {
        "conn_id": "videodb_default",
        "collection_id": "c-abc",
        "poll_interval": INTERVAL,
        "name_pattern": "*.mp4",
        "max_consecutive_failures": 3,
    }
    again = VideoDBNewVideoTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)
    # Airflow de-duplicates watchers by this hash: equal kwargs, one trigger.
    twin = make("c-abc", name_pattern="*.mp4", max_consecutive_failures=3)
    assert BaseEventTrigger.hash(path, kwargs) == BaseEventTrigger.hash(*twin.serialize())
    assert BaseEventTrigger.hash(path, kwargs) != BaseEventTrigger.hash(*make("c-abd").serialize())


def test_defaults_are_serialized_too() -> None:
    _, kwargs = VideoDBNewVideoTrigger().serialize()
    assert kwargs == {
        "conn_id": "videodb_default",
        "collection_id": "default",
        "poll_interval": 30.0,
        "name_pattern": None,
        "max_consecutive_failures": 10,
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"collection_id": "bad id"}, "collection_id"),
        ({"collection_id": 7}, "collection_id"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": "5"}, "poll_interval"),
        ({"max_consecutive_failures": -1}, "max_consecutive_failures"),
        ({"conn_id": ""}, "conn_id"),
        ({"name_pattern": ""}, "name_pattern"),
    ],
)
def test_bad_kwargs_are_refused_naming_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(VideoDBValidationError) as raised:
        VideoDBNewVideoTrigger(**kwargs)
    assert raised.value.field == field
    assert field in str(raised.value)


def test_stream_key_ignores_only_the_per_trigger_filter() -> None:
    assert make("c-a").shared_stream_key() == make("c-a", name_pattern="x*").shared_stream_key()
    assert make("c-a").shared_stream_key() != make("c-b").shared_stream_key()
    assert make("c-a").shared_stream_key() != make("c-a", poll_interval=1).shared_stream_key()


# -- one event per new video, none for existing ones -----------------------------------------


async def test_existing_videos_do_not_fire_new_ones_fire_once_each(
    server, api, videodb_conn, fresh_collection, new_media
) -> None:
    server.configure(job_seconds=0)
    before = await in_thread(upload, server, api, fresh_collection, new_media[0], "already here")
    store = MemoryStateStore()
    watch = standalone(make(fresh_collection), store)
    try:
        await baseline_taken(store)
        [cursor] = store.values.values()
        assert cursor["seen"] == [before]
        first = await in_thread(upload, server, api, fresh_collection, new_media[1], "first new")
        second = await in_thread(upload, server, api, fresh_collection, new_media[2], "second new")
        await until(lambda: len(watch.payloads) >= 2)
        await settle()
    finally:
        await watch.stop()
    assert watch.error is None
    assert watch.payloads == [
        {
            "video_id": first,
            "collection_id": fresh_collection,
            "name": "first new",
            "created_at": watch.payloads[0]["created_at"],
        },
        {
            "video_id": second,
            "collection_id": fresh_collection,
            "name": "second new",
            "created_at": watch.payloads[1]["created_at"],
        },
    ]
    assert sorted(store.values[make(fresh_collection).cursor_key]["seen"]) == sorted(
        [before, first, second]
    )


async def test_name_pattern_filters_what_fires(
    server, api, videodb_conn, fresh_collection, new_media
) -> None:
    server.configure(job_seconds=0)
    store = MemoryStateStore()
    watch = standalone(make(fresh_collection, name_pattern="keep-*"), store)
    try:
        await baseline_taken(store)
        await in_thread(upload, server, api, fresh_collection, new_media[0], "skip-1")
        kept = await in_thread(upload, server, api, fresh_collection, new_media[1], "keep-1")
        await until(lambda: len(watch.payloads) >= 1)
        await settle()
    finally:
        await watch.stop()
    assert [p["video_id"] for p in watch.payloads] == [kept]


# -- the cursor across restarts --------------------------------------------------------------


async def test_cursor_survives_a_restart_no_loss_no_duplicate(
    server, api, videodb_conn, fresh_collection, new_media
) -> None:
    server.configure(job_seconds=0)
    store = MemoryStateStore()
    first_run = standalone(make(fresh_collection), store)
    await baseline_taken(store)
    seen_first = await in_thread(upload, server, api, fresh_collection, new_media[0], "one")
    await until(lambda: len(first_run.payloads) == 1)
    await settle()
    await first_run.stop()  # the triggerer goes down
    while_down = await in_thread(upload, server, api, fresh_collection, new_media[1], "two")

    second_run = standalone(make(fresh_collection), store)  # a new instance, the same store
    try:
        await until(lambda: len(second_run.payloads) >= 1)
        after = await in_thread(upload, server, api, fresh_collection, new_media[2], "three")
        await until(lambda: len(second_run.payloads) >= 2)
        await settle()
    finally:
        await second_run.stop()
    assert [p["video_id"] for p in first_run.payloads] == [seen_first]
    assert [p["video_id"] for p in second_run.payloads] == [while_down, after]


async def test_without_a_state_store_the_baseline_is_taken_in_memory(
    server, api, videodb_conn, fresh_collection, new_media
) -> None:
    server.configure(job_seconds=0)
    existing = await in_thread(upload, server, api, fresh_collection, new_media[0], "old")
    watch = standalone(make(fresh_collection), None)
    try:
        await until(lambda: len(video_polls(server, fresh_collection)) >= 2)
        new = await in_thread(upload, server, api, fresh_collection, new_media[1], "new")
        await until(lambda: len(watch.payloads) >= 1)
        await settle()
    finally:
        await watch.stop()
    assert [p["video_id"] for p in watch.payloads] == [new]
    assert existing != new


# -- bad answers -----------------------------------------------------------------------------


async def test_bad_answers_within_the_budget_do_not_stop_it(
    server, api, videodb_conn, fresh_collection, new_media
) -> None:
    server.configure(job_seconds=0)
    store = MemoryStateStore()
    watch = standalone(make(fresh_collection, max_consecutive_failures=3), store)
    try:
        await baseline_taken(store)
        rule = {"method": "GET", "path": "/video"}
        before = len(video_polls(server, fresh_collection))
        server.set_faults(
            [
                {**rule, "kind": "status", "status": 503, "times": 1},
                {**rule, "kind": "malformed_json", "times": 1},
                {**rule, "kind": "drop_before", "times": 1},
            ]
        )
        await until(lambda: len(video_polls(server, fresh_collection)) >= before + 4)
        new = await in_thread(upload, server, api, fresh_collection, new_media[0], "after faults")
        await until(lambda: len(watch.payloads) >= 1)
    finally:
        await watch.stop()
    assert watch.error is None
    assert [p["video_id"] for p in watch.payloads] == [new]
    statuses = [entry["status"] for entry in video_polls(server, fresh_collection)]
    assert statuses[before] == 503


async def test_failures_beyond_the_budget_end_it_naming_the_collection(
    server, videodb_conn, fresh_collection
) -> None:
    server.set_faults([{"method": "GET", "path": "/video", "kind": "status", "status": 502}])
    watch = standalone(make(fresh_collection, max_consecutive_failures=2), MemoryStateStore())
    await until(lambda: watch.done)
    assert isinstance(watch.error, VideoDBWatchError)
    assert fresh_collection in str(watch.error) and "3 failed polls in a row" in str(watch.error)
    assert server.api_key not in str(watch.error)
    assert len(video_polls(server, fresh_collection)) == 3


async def test_an_unknown_collection_ends_it_at_once(server, videodb_conn) -> None:
    watch = standalone(make("c-doesnotexist"), MemoryStateStore())
    await until(lambda: watch.done)
    assert isinstance(watch.error, VideoDBWatchError)
    assert "c-doesnotexist" in str(watch.error) and "404" in str(watch.error)
    assert len(video_polls(server, "c-doesnotexist")) == 1


async def test_a_missing_connection_ends_it_naming_the_connection(server, monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_VIDEODB_DEFAULT", raising=False)
    trigger = VideoDBNewVideoTrigger(conn_id="no_such_videodb_conn", collection_id="default")
    watch = standalone(trigger, MemoryStateStore())
    await until(lambda: watch.done)
    assert isinstance(watch.error, VideoDBWatchError)
    assert "no_such_videodb_conn" in str(watch.error)


# -- shared streams: one poll per interval, cursors follow persistence -------------------------


class Triggerer:
    """What the triggerer's ``run_trigger`` does with shared-stream triggers (Airflow 3.3),
    with the supervisor's persistence confirmation switched on or off."""

    def __init__(self) -> None:
        if SharedStreamManager is None:
            pytest.skip("this Airflow has no shared streams (3.3+)")
        self.manager = SharedStreamManager()
        self.confirming = True
        self._unconfirmed: list[int] = []
        self._next_id = 1
        self._confirmer = asyncio.ensure_future(self._confirm())

    def run(self, trigger: VideoDBNewVideoTrigger, store: MemoryStateStore) -> Watch:
        trigger.asset_state_store = store  # type: ignore[assignment]
        trigger_id, self._next_id = self._next_id, self._next_id + 1
        return Watch(self._events(trigger_id, trigger))

    async def _events(self, trigger_id: int, trigger: VideoDBNewVideoTrigger) -> AsyncIterator:
        key = trigger.shared_stream_key()
        stream = self.manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
        try:
            async for event in trigger.filter_shared_stream(stream):
                seq = self.manager.bind_pending_event(trigger_id=trigger_id, key=key)
                assert seq is not None  # ack mode: every event is gated on being stored
                self._unconfirmed.append(seq)
                yield event
        finally:
            await self.manager.unsubscribe(trigger_id, key)

    async def _confirm(self) -> None:  # the supervisor stores events, the next sync says so
        while True:
            await asyncio.sleep(0.05)
            if self.confirming and self._unconfirmed:
                seqs, self._unconfirmed = self._unconfirmed, []
                self.manager.confirm_persisted(seqs)

    async def stop(self) -> None:
        self._confirmer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._confirmer
        await self.manager.stop_all()


@pytest.fixture
async def triggerer() -> AsyncIterator[Triggerer]:
    runner = Triggerer()
    try:
        yield runner
    finally:
        await runner.stop()


async def test_two_triggers_share_one_poll_per_interval(
    server, api, videodb_conn, fresh_collection, new_media, triggerer
) -> None:
    server.configure(job_seconds=0)
    stores = MemoryStateStore(), MemoryStateStore()
    every = triggerer.run(make(fresh_collection), stores[0])
    named = triggerer.run(make(fresh_collection, name_pattern="clip-*"), stores[1])
    try:
        await baseline_taken(stores[0])
        await baseline_taken(stores[1])
        server.clear_journal()
        started = time.monotonic()
        other = await in_thread(upload, server, api, fresh_collection, new_media[0], "other")
        clip = await in_thread(upload, server, api, fresh_collection, new_media[1], "clip-1")
        await until(lambda: len(every.payloads) >= 2 and len(named.payloads) >= 1)
        await settle(5)
        polls, elapsed = len(video_polls(server, fresh_collection)), time.monotonic() - started
    finally:
        await every.stop()
        await named.stop()
    assert [p["video_id"] for p in every.payloads] == [other, clip]
    assert [p["video_id"] for p in named.payloads] == [clip]
    # One poll per interval for both (two loops would make twice as many).
    assert polls <= elapsed / INTERVAL + 2, (polls, elapsed)


async def test_cursor_is_written_only_once_the_events_are_stored(
    server, api, videodb_conn, fresh_collection, new_media, triggerer
) -> None:
    server.configure(job_seconds=0)
    store = MemoryStateStore()
    trigger = make(fresh_collection)
    watch = triggerer.run(trigger, store)
    try:
        await baseline_taken(store)
        triggerer.confirming = False  # the supervisor has not stored the event yet
        new = await in_thread(upload, server, api, fresh_collection, new_media[0], "pending")
        await until(lambda: len(watch.payloads) == 1)
        await settle()
        assert store.values[trigger.cursor_key]["seen"] == []  # not advanced: no loss on a kill
        triggerer.confirming = True
        await until(lambda: store.values[trigger.cursor_key]["seen"] == [new])
    finally:
        await watch.stop()
    assert [p["video_id"] for p in watch.payloads] == [new]


async def test_a_restart_before_the_event_is_stored_fires_it_again(
    server, api, videodb_conn, fresh_collection, new_media, triggerer
) -> None:
    server.configure(job_seconds=0)
    store = MemoryStateStore()
    watch = triggerer.run(make(fresh_collection), store)
    await baseline_taken(store)
    triggerer.confirming = False
    new = await in_thread(upload, server, api, fresh_collection, new_media[0], "lost in a kill")
    await until(lambda: len(watch.payloads) == 1)
    await watch.stop()  # killed before the supervisor stored the event: it was lost with it
    triggerer.confirming = True
    again = triggerer.run(make(fresh_collection), store)
    try:
        await until(lambda: len(again.payloads) == 1)
        await settle()
    finally:
        await again.stop()
    assert [p["video_id"] for p in again.payloads] == [new]
