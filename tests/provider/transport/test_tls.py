"""TLS verification is on by default, proven against a real TLS server with a self-signed
certificate (the local VideoDB server speaks plain HTTP on loopback, so this one is a stub)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_videodb import exceptions as exc
from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.settings import VideoDBSettings
from airflow_provider_videodb.transport.async_http import fetch_job_status
from airflow_provider_videodb.transport.loop import LoopTransport
from airflow_provider_videodb.triggers.videodb import ClipJobTrigger
from tests.provider.hook_support import set_conn
from tests.tls_support import TLSServer, serve_tls

PROCESSING = {"success": True, "status": "processing", "data": {"percentage": 5}}


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TLSServer]:
    """A TLS server with a self-signed certificate that records the paths requested."""
    pytest.importorskip("cryptography")
    with serve_tls(tmp_path, PROCESSING) as server:
        yield server


def test_untrusted_certificate_is_refused_once_and_nothing_is_sent(tls_server, monkeypatch):
    base_url = tls_server.base_url
    set_conn(monkeypatch, "videodb_tls", host=base_url, password="sk-tls-000000")
    hook = VideoDBHook("videodb_tls")
    assert hook.settings.verify is True
    with pytest.raises(exc.VideoDBTransportError) as info:
        hook.get_user()
    err = info.value
    assert (err.sent, err.retryable, err.attempts) == (False, False, 1)
    assert "certificate" in str(err).lower()
    assert tls_server.paths == []  # the handshake failed: no request reached the server


def test_a_ca_bundle_in_verify_is_used(tls_server, monkeypatch):
    base_url, cert = tls_server.base_url, tls_server.ca_bundle
    set_conn(monkeypatch, "videodb_ca", host=base_url, password="sk-tls-000000", verify=str(cert))
    ok, message = VideoDBHook("videodb_ca").test_connection()
    assert ok and "TLS User" in message, message
    # Test checks the key, then the connection's collection: both over the verified TLS
    assert tls_server.paths == ["/user", "/collection/default"]


async def test_async_read_verifies_tls_too(tls_server):
    base_url, cert = tls_server.base_url, tls_server.ca_bundle
    url = f"{base_url}/async-response/j1"
    with pytest.raises(exc.VideoDBTransportError) as info:
        await fetch_job_status(VideoDBSettings(base_url, "sk-tls-000000"), url)
    assert info.value.retryable is False and info.value.sent is False
    assert tls_server.paths == []
    status = await fetch_job_status(
        VideoDBSettings(base_url, "sk-tls-000000", verify=str(cert)), url
    )
    assert (status.state, status.percentage) == ("processing", 5.0)


def test_ca_contexts_are_read_once_per_loop_and_go_with_it(tls_server):
    path = str(tls_server.ca_bundle)

    async def twice() -> tuple[ssl.SSLContext, ssl.SSLContext]:
        transport = LoopTransport.current()
        return await transport.ca_context(path), await transport.ca_context(path)

    one, again = asyncio.run(twice())
    other, _ = asyncio.run(twice())  # a new loop reads the bundle again (e.g. after a change)
    assert one is again and other is not one


async def test_trigger_ends_at_once_on_an_untrusted_certificate(tls_server, monkeypatch):
    """Not retried poll after poll until the failure budget is spent: it cannot get better."""
    set_conn(monkeypatch, "videodb_tls", host=tls_server.base_url, password="sk-tls-000000")
    trigger = ClipJobTrigger(
        conn_id="videodb_tls",
        job_id="j1",
        output_url=f"{tls_server.base_url}/async-response/j1",
        poll_interval=0.05,
        end_time=time.time() + 30,
        max_consecutive_failures=5,
    )
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1 and events[0]["status"] == "error"
    assert "permanently" in events[0]["message"]  # not "failed 6 times in a row"
    assert "certificate" in events[0]["message"].lower()
    assert tls_server.paths == []
