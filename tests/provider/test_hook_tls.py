"""TLS verification is on by default, proven against a real TLS server with a self-signed
certificate (the local VideoDB server speaks plain HTTP on loopback, so this one is a stub)."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hook_support import set_conn

from airflow_provider_videodb import exceptions as exc
from airflow_provider_videodb.hooks.async_client import fetch_job_status
from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.settings import VideoDBSettings


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.path == "/user":
            payload = {"success": True, "data": {"user_id": "u-1", "user_name": "TLS User"}}
        else:
            payload = {"success": True, "status": "processing", "data": {"percentage": 5}}
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path) -> Iterator[tuple[str, Path, list[str]]]:
    """(base URL, CA bundle path, paths requested) of a TLS server with a self-signed cert."""
    pytest.importorskip("cryptography")
    cert, key = _self_signed(tmp_path)
    seen: list[str] = []
    handler = type("Handler", (_Handler,), {"seen": seen})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}", cert, seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_untrusted_certificate_is_refused_once_and_nothing_is_sent(tls_server, monkeypatch):
    base_url, _, seen = tls_server
    set_conn(monkeypatch, "videodb_tls", host=base_url, password="sk-tls-000000")
    hook = VideoDBHook("videodb_tls")
    assert hook.settings.verify is True
    with pytest.raises(exc.VideoDBTransportError) as info:
        hook.get_user()
    err = info.value
    assert (err.sent, err.retryable, err.attempts) == (False, False, 1)
    assert "certificate" in str(err).lower()
    assert seen == []  # the handshake failed: no request reached the server


def test_a_ca_bundle_in_verify_is_used(tls_server, monkeypatch):
    base_url, cert, seen = tls_server
    set_conn(monkeypatch, "videodb_ca", host=base_url, password="sk-tls-000000", verify=str(cert))
    ok, message = VideoDBHook("videodb_ca").test_connection()
    assert ok and "TLS User" in message
    assert seen == ["/user"]


async def test_async_client_verifies_tls_too(tls_server):
    base_url, cert, seen = tls_server
    url = f"{base_url}/async-response/j1"
    with pytest.raises(exc.VideoDBTransportError) as info:
        await fetch_job_status(VideoDBSettings(base_url, "sk-tls-000000"), url)
    assert info.value.retryable is False and info.value.sent is False
    assert seen == []
    status = await fetch_job_status(
        VideoDBSettings(base_url, "sk-tls-000000", verify=str(cert)), url
    )
    assert (status.state, status.percentage) == ("processing", 5.0)
