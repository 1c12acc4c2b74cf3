"""Every fault kind, observed from plain clients (``requests`` and a raw socket)."""

from __future__ import annotations

import json
import socket

import pytest
import requests

from videodb_local_server.control import LocalVideoDBServer


def clip_url(server) -> str:
    return f"{server.base_url}/video/{server.video_ids()[0]}/clip"


def jobs_created(server) -> int:
    return int(server.stats()["jobs_created"])


def raw_request(server, method: str, path: str, body: bytes = b"") -> bytes:
    """Send one HTTP/1.1 request on a fresh socket; return everything read until EOF/reset."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"x-access-token: {server.api_key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    chunks = []
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + body)
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def test_status_fault_matches_method_and_path_only(server, api):
    rule = {"method": "POST", "path": "/video/*/clip", "kind": "status", "status": 503}
    server.set_faults([rule])
    resp = api.post(clip_url(server), json={"prompt": "weather"})
    assert resp.status_code == 503
    assert resp.json() == {
        "success": False,
        "message": "Injected fault: HTTP 503",
        "error_code": "injected_fault",
    }
    assert api.get(clip_url(server)).status_code != 503  # other method
    assert api.get(f"{server.base_url}/user").status_code == 200  # other path


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors(server, api, status):
    server.set_faults([{"path": "/user", "kind": "status", "status": status}])
    assert api.get(f"{server.base_url}/user").status_code == status


def test_429_carries_retry_after(server, api):
    server.set_faults([{"path": "/user", "kind": "status", "status": 429, "retry_after": 2}])
    resp = api.get(f"{server.base_url}/user/")
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "2"
    assert resp.json()["error_code"] == "rate_limited"
    server.set_faults([{"path": "/user", "kind": "status", "status": 429}])
    assert api.get(f"{server.base_url}/user").headers["Retry-After"] == "1"


def test_drop_before_creates_nothing(server, api):
    before = jobs_created(server)
    server.set_faults([{"method": "POST", "path": "/video/*/clip", "kind": "drop_before"}])
    with pytest.raises(requests.ConnectionError):
        api.post(clip_url(server), json={"prompt": "weather"})
    assert jobs_created(server) == before
    (entry,) = [e for e in server.journal() if e["path"].endswith("/clip")]
    assert entry["fault"] == "drop_before" and entry["status"] is None
    assert entry["connection"].startswith("127.0.0.1:")


def test_drop_after_processes_then_drops(server, api):
    before = jobs_created(server)
    server.set_faults([{"method": "POST", "path": "/video/*/clip", "kind": "drop_after"}])
    with pytest.raises(requests.ConnectionError):
        api.post(clip_url(server), json={"prompt": "weather"})
    assert jobs_created(server) == before + 1
    (entry,) = [e for e in server.journal() if e["path"].endswith("/clip")]
    assert entry["fault"] == "drop_after" and entry["status"] == 200


def test_drops_seen_on_a_raw_socket(server):
    server.set_faults([{"path": "/user", "kind": "drop_before"}])
    assert raw_request(server, "GET", "/user") == b""
    server.clear_faults()
    assert raw_request(server, "GET", "/user").startswith(b"HTTP/1.1 200")


def test_delay_holds_the_answer(server, api):
    server.set_faults([{"path": "/user", "kind": "delay", "seconds": 3}])
    with pytest.raises(requests.Timeout):
        api.get(f"{server.base_url}/user", timeout=0.3)
    server.set_faults([{"path": "/user", "kind": "delay", "seconds": 0.2}])
    assert api.get(f"{server.base_url}/user", timeout=10).status_code == 200


def test_malformed_json(server, api):
    server.set_faults([{"path": "/user", "kind": "malformed_json"}])
    resp = api.get(f"{server.base_url}/user")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        json.loads(resp.text)


def test_success_false_with_http_200(server, api):
    server.set_faults([{"path": "/video/*", "kind": "success_false", "message": "nope"}])
    resp = api.get(f"{server.base_url}/video/{server.video_ids()[0]}")
    assert resp.status_code == 200
    assert resp.json() == {"success": False, "message": "nope", "error_code": "injected_failure"}


def test_fail_job_on_start(server, api):
    server.configure(job_seconds=0)
    server.set_faults([{"method": "POST", "path": "/video/*/clip", "kind": "fail_job"}])
    start = api.post(clip_url(server), json={"prompt": "weather"})
    assert start.status_code == 200
    body = api.get(start.json()["data"]["output_url"]).json()
    assert body["success"] is False and body["status"] == "failed"
    assert body["error_code"] == "job_failed" and body["message"]


def test_fail_job_on_poll(server, api):
    server.configure(job_seconds=0)
    start = api.post(clip_url(server), json={"prompt": "weather"}).json()["data"]
    server.set_faults([{"method": "GET", "path": "/async-response/*", "kind": "fail_job"}])
    assert api.get(start["output_url"]).json()["status"] == "failed"


def faulted_pattern(server, api, n: int = 40) -> list[bool]:
    return [api.get(f"{server.base_url}/user").status_code == 503 for _ in range(n)]


def test_rate_is_seeded_and_repeatable(server, api):
    rule = {"path": "/user", "kind": "status", "status": 503, "rate": 0.5}
    server.set_faults([rule], seed=7)
    first = faulted_pattern(server, api)
    server.set_faults([rule], seed=7)
    assert faulted_pattern(server, api) == first
    assert 0 < sum(first) < len(first)


def test_times_limits_a_rule(server, api):
    server.set_faults([{"path": "/user", "kind": "status", "status": 502, "times": 2}])
    codes = [api.get(f"{server.base_url}/user").status_code for _ in range(4)]
    assert codes == [502, 502, 200, 200]


def test_admin_is_never_faulted_and_validates_rules(server):
    server.set_faults([{"method": "*", "path": "*", "kind": "drop_before"}])
    assert "requests" in server.stats()  # admin still answers (not dropped)
    server.clear_faults()
    admin = server.admin_headers
    bad = requests.post(
        f"{server.base_url}/_twin/faults", json=[{"kind": "explode"}], headers=admin
    )
    assert bad.status_code == 400
    faults = requests.get(f"{server.base_url}/_twin/faults", headers=admin)
    assert faults.json()["data"]["rules"] == []


def test_faults_given_at_start(tmp_path):
    rules = json.dumps([{"path": "/user", "kind": "status", "status": 429, "retry_after": 5}])
    extra = ["--faults", rules, "--seed", "3"]
    with LocalVideoDBServer.start(tmp_path / "srv", demo=False, extra_args=extra) as srv:
        resp = requests.get(f"{srv.base_url}/user", headers={"x-access-token": srv.api_key})
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "5"
        faults = requests.get(f"{srv.base_url}/_twin/faults", headers=srv.admin_headers)
        assert faults.json()["data"]["seed"] == 3


def test_rule_files_and_validation(tmp_path):
    from videodb_local_server.faults import FaultRuleError, FaultSet, load_rules

    path = tmp_path / "faults.json"
    path.write_text(json.dumps({"rules": [{"path": "/video/*/clip", "kind": "drop_after"}]}))
    assert load_rules(f"@{path}") == load_rules(str(path))
    rules = FaultSet()
    rules.replace(load_rules(str(path)))
    assert rules.pick("POST", "/video/m-1/clip") is not None
    assert rules.pick("POST", "/video/m-1/stream") is None
    for bad in ({"kind": "status", "status": 200}, {"kind": "delay", "rate": 2}, {"oops": 1}, {}):
        with pytest.raises(FaultRuleError):
            load_rules(json.dumps([bad]))
