"""Callback delivery: the one place the server makes an outbound HTTP call.

A job started with a ``callback_url`` POSTs its terminal payload there once it is done (best
effort). The URL was checked when the job was created (``backend.check_outbound_url``: http(s)
only, never ``/_twin/...``, loopback only unless ``--allow-remote-urls``); the loopback rule is
checked again at connect time by :class:`LoopbackResolver`, and redirects are never followed.
"""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from .backend import TwinState, is_loopback
from .jobs import Job

#: Seconds one delivery may take (connect, send, read the answer).
DELIVERY_TIMEOUT = 10


class LoopbackResolver(AbstractResolver):
    """Resolves like aiohttp does, then refuses any non-loopback address (checked at connect
    time too, so a name that changes its answer after the first check gains nothing)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not results or not all(is_loopback(r["host"]) for r in results):
            raise OSError(f"{host} does not resolve to loopback only")
        return results

    async def close(self) -> None:
        await self._inner.close()


def schedule_delivery(state: TwinState, job: Job, url: str) -> None:
    """Deliver ``job``'s terminal payload to ``url`` when it ends (a background task of
    ``state``, cancelled on shutdown)."""
    state.spawn(deliver(state, job, url))


async def deliver(state: TwinState, job: Job, url: str) -> None:
    """POST the terminal payload to the callback URL once the job is done (best effort)."""
    await asyncio.sleep(max(0.0, job.created_at + job.duration - time.time()))
    body = job.terminal_body(state.config.terminal_shape)
    timeout = aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)
    resolver = None if state.allow_remote_urls else LoopbackResolver()
    connector = aiohttp.TCPConnector(resolver=resolver)
    try:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            headers = {"Content-Type": "application/json"}
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                await resp.read()
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        pass
