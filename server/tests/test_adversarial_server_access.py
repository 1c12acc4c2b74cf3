"""Issue 10, classes 9-12 and 14: the local server cannot be turned against its host.

Everything runs against real server processes on 127.0.0.1. No test sends traffic off the
machine: a non-loopback callback must be refused with 400 while the request is checked, before
anything would connect (the addresses used are IP literals, so no DNS query leaves either).
"""

from __future__ import annotations

import http.server
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from videodb_local_server.control import LocalVideoDBServer

VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nThe database password is hunter2\n"
ADMIN_HEADER = "x-twin-admin-token"


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def assert_envelope(resp: requests.Response, status: int, *words: str) -> dict[str, Any]:
    """``resp`` is a VideoDB error envelope with ``status`` whose message holds ``words``."""
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert body["success"] is False and body["error_code"] and body["message"]
    for word in words:
        assert word in body["message"], body["message"]
    return dict(body)


@pytest.fixture
def video_id(server: LocalVideoDBServer) -> str:
    return server.video_ids()[0]


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Any]:
    """Start servers with extra flags (no demo media, so they start in a second or two)."""
    started: list[LocalVideoDBServer] = []

    def start(*extra: str) -> LocalVideoDBServer:
        srv = LocalVideoDBServer.start(
            tmp_path / f"srv{len(started)}", demo=False, job_seconds=0.2, extra_args=extra
        )
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def register(srv: LocalVideoDBServer, url: str) -> requests.Response:
    headers = {"x-access-token": srv.api_key}
    return requests.post(
        f"{srv.base_url}/collection/default/upload", json={"url": url}, headers=headers, timeout=30
    )


# -- class 9: no request off this machine, never to its own admin API ------------------------


@pytest.mark.parametrize(
    "host",
    ["169.254.169.254", "10.0.0.7", "192.168.1.1", "8.8.8.8", "[::ffff:169.254.169.254]"],
)
def test_class9_callback_off_the_machine_is_refused(api, server, video_id, host):
    resp = api.post(
        f"{server.base_url}/video/{video_id}/clip",
        json={"prompt": "hello", "callback_url": f"http://{host}/hook"},
    )
    assert_envelope(resp, 400, "callback_url", "loopback")


@pytest.mark.parametrize(
    "path",
    ["/_twin/faults", "/_TWIN/faults", "/%5Ftwin/faults", "/_twin%2Ffaults", "//_twin/faults"],
)
def test_class9_callback_to_own_admin_api_is_refused(api, server, video_id, path):
    server.set_faults([{"path": "/nothing-here", "kind": "status", "status": 503}])
    resp = api.post(
        f"{server.base_url}/video/{video_id}/index",
        json={"index_type": "spoken_word", "callback_url": f"{server.base_url}{path}"},
    )
    assert_envelope(resp, 400, "callback_url", "admin")
    time.sleep(0.5)
    assert (
        server.stats()
        and requests.get(
            f"{server.base_url}/_twin/faults", headers=server.admin_headers, timeout=10
        ).json()["data"]["rules"]
    ), "the fault rules were cleared"


class _Hook(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        _Hook.bodies.append(self.rfile.read(length))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def test_class9_loopback_callback_is_still_delivered(api, server, video_id):
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    _Hook.bodies.clear()
    try:
        resp = api.post(
            f"{server.base_url}/video/{video_id}/clip",
            json={"prompt": "hello", "callback_url": f"http://localhost:{hook.server_port}/cb"},
        )
        assert resp.status_code == 200, resp.text
        deadline = time.monotonic() + 30
        while not _Hook.bodies and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _Hook.bodies, "the loopback callback never arrived"
        assert json.loads(_Hook.bodies[0])["success"] is True
    finally:
        hook.shutdown()


# -- class 10: reads no file it was not given ------------------------------------------------


def test_class10_file_urls_are_off_by_default(own_server, tmp_path):
    srv = own_server()
    outside = tmp_path / "secret.vtt"
    outside.write_text(VTT)
    resp = register(srv, outside.as_uri())
    assert_envelope(resp, 400, "url", "--media-root")
    assert "hunter2" not in resp.text


def test_class10_file_urls_confined_to_media_root(own_server, tmp_path):
    root = tmp_path / "media-root"
    root.mkdir()
    (root / "ok.vtt").write_text(VTT)
    outside = tmp_path / "secret.vtt"
    outside.write_text(VTT)
    (root / "link.vtt").symlink_to(outside)
    srv = own_server("--media-root", str(root))
    messages = set()
    for url in [
        outside.as_uri(),
        (root / "link.vtt").as_uri(),
        f"file://{root}/../secret.vtt",
        "file:///etc/passwd",
        f"file://{root}/missing.vtt",
    ]:
        messages.add(assert_envelope(register(srv, url), 400, "url")["message"])
    assert len(messages) == 1, messages  # the same answer whether or not the file exists
    assert str(tmp_path) not in messages.pop()
    inside = register(srv, (root / "ok.vtt").as_uri())
    assert inside.status_code == 200, inside.text


# -- class 11: checks before it reads --------------------------------------------------------


def test_class11_huge_unauthenticated_body_is_refused_unread(own_server):
    srv = own_server("--journal-size", "1000")
    before = rss_kib(srv.pid)
    total = 400 * 1024 * 1024
    chunk = b"x" * (1 << 20)
    head = (
        f"POST /video/m-x/clip HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {total}\r\n\r\n"
    ).encode()
    answer = b""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall(head)
        sent = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sent < total else [], [], 5)
            if readable:
                answer = sock.recv(65536)
                break
            if writable:
                try:
                    sent += sock.send(chunk)
                except OSError:
                    break
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert sent < total, "the server read the whole body before answering"
    grown_mib = (rss_kib(srv.pid) - before) / 1024
    assert grown_mib < 100, f"server RSS grew by {grown_mib:.0f} MiB"


def test_class11_too_big_json_body_is_413(api, server):
    big = [{"video_id": "m-x", "shots": [[0, 1]], "pad": "y" * 1000}] * 6000
    resp = api.post(f"{server.base_url}/compile", json=big)
    assert_envelope(resp, 413, "larger than")


def test_class11_upload_over_the_maximum_is_413(own_server):
    srv = own_server("--max-upload-bytes", "4096")
    headers = {"x-access-token": srv.api_key}
    got = requests.get(f"{srv.base_url}/collection/default/upload_url", headers=headers, timeout=10)
    upload_url = got.json()["data"]["upload_url"]
    resp = requests.post(upload_url, files={"file": ("a.vtt", b"x" * 100_000)}, timeout=30)
    assert_envelope(resp, 413, "4096")
    small = requests.post(upload_url, files={"file": ("a.vtt", VTT.encode())}, timeout=30)
    assert small.status_code == 200, small.text


@pytest.mark.parametrize("sent", [b"", b"GET /user HTTP/1.1\r\nHost: x\r\n"])
def test_class11_silent_client_is_disconnected(own_server, sent):
    srv = own_server("--idle-timeout", "1")
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as sock:
        sock.sendall(sent)
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            data = b""
        except TimeoutError:
            pytest.fail("the server kept a silent connection open for 20 s")
    assert time.monotonic() - start < 15
    assert b"200 OK" not in data


# -- class 12: the admin API needs a token ---------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_twin/journal"),
        ("DELETE", "/_twin/faults"),
        ("POST", "/_twin/config"),
        ("GET", "/_twin/stats"),
    ],
)
def test_class12_admin_api_needs_the_token(server, method, path, token):
    server.set_faults([{"path": "/nothing-here", "kind": "status", "status": 503}])
    headers = {} if token is None else {ADMIN_HEADER: token}
    resp = requests.request(
        method,
        f"{server.base_url}{path}",
        json={"public_origin": "http://evil.invalid"} if method == "POST" else None,
        headers=headers,
        timeout=10,
    )
    assert_envelope(resp, 401, ADMIN_HEADER)
    assert server.config()["public_origin"] == ""
    assert server.config()["faults"]["rules"], "the fault rules were cleared"


def test_class12_random_admin_token_is_printed_at_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "VIDEODB_LOCAL_ADMIN_TOKEN"}
    port_file = tmp_path / "port"
    cmd = [sys.executable, "-m", "videodb_local_server", "--port", "0"]
    cmd += ["--data-dir", str(tmp_path / "d"), "--port-file", str(port_file)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        token = ""
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not token:
            line = proc.stdout.readline().decode()
            if "Admin token" in line:
                token = line.rsplit(" ", 1)[-1].strip()
        assert len(token) >= 20
        base = f"http://127.0.0.1:{int(port_file.read_text())}"
        assert requests.get(f"{base}/_twin/stats", timeout=10).status_code == 401
        ok = requests.get(f"{base}/_twin/stats", headers={ADMIN_HEADER: token}, timeout=10)
        assert ok.status_code == 200 and "requests" in ok.json()["data"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# -- class 14: every bad request is a 4xx envelope -------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


def test_class14_deep_json_is_a_400_envelope(api, server, video_id):
    resp = api.post(
        f"{server.base_url}/video/{video_id}/clip",
        data=DEEP,
        headers={"Content-Type": "application/json"},
    )
    assert_envelope(resp, 400, "JSON")
    admin = requests.post(
        f"{server.base_url}/_twin/config",
        data=DEEP,
        headers={"Content-Type": "application/json", **server.admin_headers},
        timeout=10,
    )
    assert_envelope(admin, 400, "JSON")


def test_class14_unparseable_urls_are_400_naming_the_field(api, server, video_id):
    resp = api.post(
        f"{server.base_url}/video/{video_id}/clip",
        json={"prompt": "hello", "callback_url": "http://[::1"},
    )
    assert_envelope(resp, 400, "callback_url")
    up = api.post(f"{server.base_url}/collection/default/upload", json={"url": "http://[::1"})
    assert_envelope(up, 400, "url")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/_twin/faults", "just a string"),
        ("POST", "/_twin/faults", 5),
        ("POST", "/_twin/config", {"job_seconds": "abc"}),
        ("GET", "/_twin/journal?since=abc", None),
    ],
)
def test_class14_bad_admin_requests_are_400_envelopes(server, method, path, body):
    resp = requests.request(
        method,
        f"{server.base_url}{path}",
        json=body,
        headers=server.admin_headers,
        timeout=10,
    )
    assert_envelope(resp, 400)


def test_class14_journal_redacts_every_credential(api, server, video_id):
    secrets_sent = ["S-auth", "S-proxy", "S-xapi", "S-cookie", "S-admin", "S-q1", "S-q2"]
    secrets_sent += ["S-user", "S-pass", "S-sig"]
    api.post(
        f"{server.base_url}/video/{video_id}/clip?token=S-q1&api_key=S-q2&page=1",
        json={
            "prompt": "hello",
            "callback_url": "http://S-user:S-pass@127.0.0.1:9/cb?signature=S-sig",
        },
        headers={
            "Authorization": "Bearer S-auth",
            "Proxy-Authorization": "Basic S-proxy",
            "X-Api-Key": "S-xapi",
            "Cookie": "session=S-cookie",
            ADMIN_HEADER: "S-admin",
        },
    )
    journal = json.dumps(server.journal())
    assert "/clip" in journal and "page=1" in journal
    leaked = [s for s in [*secrets_sent, server.api_key] if s in journal]
    assert not leaked, leaked
