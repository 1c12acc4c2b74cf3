"""The loop's transport: its settings cache (behind ``VideoDBHook.aget_settings``, for
triggers), its CA contexts and its lifetime."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from airflow_provider_videodb import exceptions as exc
from airflow_provider_videodb.hooks import videodb as hook_module
from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.settings import VideoDBSettings
from airflow_provider_videodb.transport import loop as transport_loop
from airflow_provider_videodb.transport.loop import LoopTransport
from tests.provider.hook_support import set_conn


async def cached_settings(conn_id, resolve):
    return await LoopTransport.current().settings(conn_id, resolve)


class CountingResolver:
    """Resolves to fresh settings per call; optionally fails or waits for a gate."""

    def __init__(self, *, fail_first: int = 0, gate: asyncio.Event | None = None) -> None:
        self.calls = 0
        self.fail_first = fail_first
        self.gate = gate

    async def __call__(self, conn_id: str) -> VideoDBSettings:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.calls <= self.fail_first:
            raise exc.VideoDBConfigError(f"connection {conn_id!r} broken (call {self.calls})")
        return VideoDBSettings("http://127.0.0.1:1", f"sk-cache-{self.calls:08d}")


async def test_concurrent_callers_share_one_lookup():
    gate = asyncio.Event()
    resolve = CountingResolver(gate=gate)
    waiters = [asyncio.ensure_future(cached_settings("c1", resolve)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters)
    assert resolve.calls == 1
    assert all(result is results[0] for result in results)
    assert await cached_settings("c1", resolve) is results[0]  # and reused afterwards
    assert resolve.calls == 1
    other = await cached_settings("c2", resolve)  # per connection id
    assert (resolve.calls, other.api_key) == (2, "sk-cache-00000002")


async def test_entries_expire_after_the_ttl(monkeypatch):
    resolve = CountingResolver()
    first = await cached_settings("c1", resolve)
    monkeypatch.setattr(transport_loop, "SETTINGS_TTL_SECONDS", 0.0)
    assert await cached_settings("c1", resolve) is first  # entry made with the 60 s TTL
    LoopTransport.current().forget_settings()
    second = await cached_settings("c1", resolve)  # made with TTL 0: already stale
    third = await cached_settings("c1", resolve)
    assert resolve.calls == 3
    assert (first.api_key, second.api_key, third.api_key) == (
        "sk-cache-00000001",
        "sk-cache-00000002",
        "sk-cache-00000003",
    )


async def test_failures_are_not_cached():
    gate = asyncio.Event()
    resolve = CountingResolver(fail_first=1, gate=gate)
    waiters = [asyncio.ensure_future(cached_settings("c1", resolve)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(o, exc.VideoDBConfigError) for o in outcomes)  # shared failure
    assert resolve.calls == 1
    settings = await cached_settings("c1", resolve)  # the next caller looks up again
    assert (resolve.calls, settings.api_key) == (2, "sk-cache-00000002")


async def test_a_cancelled_caller_does_not_cancel_the_shared_lookup():
    gate = asyncio.Event()
    resolve = CountingResolver(gate=gate)
    first = asyncio.ensure_future(cached_settings("c1", resolve))
    second = asyncio.ensure_future(cached_settings("c1", resolve))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert (await second).api_key == "sk-cache-00000001"
    assert first.cancelled() and resolve.calls == 1


def test_each_event_loop_has_its_own_entries():
    resolve = CountingResolver()
    one = asyncio.run(cached_settings("c1", resolve))
    two = asyncio.run(cached_settings("c1", resolve))
    assert resolve.calls == 2 and one is not two


def test_a_loops_transport_and_its_entries_go_away_with_the_loop():
    async def used() -> weakref.ref[LoopTransport]:
        transport = LoopTransport.current()
        assert LoopTransport.current() is transport  # one per loop
        await transport.settings("c1", CountingResolver())
        return weakref.ref(transport)

    gone = asyncio.run(used())
    gc.collect()
    assert gone() is None  # nothing it kept (a lookup's task, say) holds its loop


async def test_hook_resolves_and_masks_once_for_many_triggers(server, monkeypatch):
    """Through the real connection lookup: 200 concurrent triggers, one lookup, one mask."""
    set_conn(monkeypatch, "videodb_cached", host=server.base_url, password=server.api_key)
    lookups: list[str] = []
    masked: list[str] = []
    real_lookup, real_mask = hook_module.aget_connection, hook_module.amask_secret

    async def counting_lookup(conn_id: str):
        lookups.append(conn_id)
        return await real_lookup(conn_id)

    async def counting_mask(secret, name=None):
        masked.append(secret)
        await real_mask(secret, name)

    monkeypatch.setattr(hook_module, "aget_connection", counting_lookup)
    monkeypatch.setattr(hook_module, "amask_secret", counting_mask)
    results = await asyncio.gather(
        *(VideoDBHook.aget_settings("videodb_cached") for _ in range(200))
    )
    assert {r.api_key for r in results} == {server.api_key}
    assert (lookups, masked) == (["videodb_cached"], [server.api_key])


async def test_hook_picks_up_a_rotated_key_after_the_ttl(server, monkeypatch):
    set_conn(monkeypatch, "videodb_rotating", host=server.base_url, password="sk-old-000000")
    assert (await VideoDBHook.aget_settings("videodb_rotating")).api_key == "sk-old-000000"
    set_conn(monkeypatch, "videodb_rotating", host=server.base_url, password="sk-new-000000")
    assert (await VideoDBHook.aget_settings("videodb_rotating")).api_key == "sk-old-000000"
    monkeypatch.setattr(transport_loop, "SETTINGS_TTL_SECONDS", 0.0)
    LoopTransport.current().forget_settings()
    assert (await VideoDBHook.aget_settings("videodb_rotating")).api_key == "sk-new-000000"


async def test_hook_does_not_cache_a_missing_connection(server, monkeypatch):
    with pytest.raises(exc.VideoDBConfigError, match="is not defined"):
        await VideoDBHook.aget_settings("videodb_later")
    set_conn(monkeypatch, "videodb_later", host=server.base_url, password=server.api_key)
    assert (await VideoDBHook.aget_settings("videodb_later")).base_url == server.base_url
