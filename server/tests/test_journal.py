"""The request journal: what a client sent, with the key redacted; admin calls left out."""

from __future__ import annotations

import json

import requests


def test_entries_describe_each_request(server, api):
    vid = server.video_ids()[0]
    server.clear_journal()
    api.post(f"{server.base_url}/video/{vid}/clip?x=1", json={"prompt": "weather"})
    api.get(f"{server.base_url}/video/{vid}", params={"collection_id": "default"})
    first, second = server.journal()
    assert second["seq"] == first["seq"] + 1 and second["time"] >= first["time"]
    assert (first["method"], first["path"], first["query"]) == ("POST", f"/video/{vid}/clip", "x=1")
    assert first["status"] == 200 and first["fault"] is None
    assert first["body"] == {"prompt": "weather"}
    assert first["auth"] == "ok"
    assert first["headers"]["x-access-token"] == "<redacted>"
    assert first["headers"]["content-type"] == "application/json"
    assert second["query"] == "collection_id=default" and second["body"] is None


def test_key_never_appears(server, api):
    api.get(f"{server.base_url}/user")
    requests.get(f"{server.base_url}/user", headers={"x-access-token": "sk-wrong-secret"})
    requests.get(f"{server.base_url}/user")
    entries = server.journal()
    dumped = json.dumps(entries)
    assert server.api_key not in dumped and "sk-wrong-secret" not in dumped
    assert [e["auth"] for e in entries] == ["ok", "bad", "missing"]
    assert [e["status"] for e in entries] == [200, 401, 401]


def test_admin_calls_are_not_journaled(server):
    server.stats()
    server.set_faults([])
    server.configure(job_seconds=1)
    assert server.journal() == []


def test_faults_are_recorded(server, api):
    server.set_faults([{"path": "/user", "kind": "status", "status": 503}])
    api.get(f"{server.base_url}/user")
    (entry,) = server.journal()
    assert entry["fault"] == "status" and entry["status"] == 503


def test_connection_reuse_is_visible(server):
    before = server.stats()["connections_opened"]
    with requests.Session() as one:
        one.headers["x-access-token"] = server.api_key
        one.get(f"{server.base_url}/user")
        one.get(f"{server.base_url}/user")
    requests.get(f"{server.base_url}/user", headers={"x-access-token": server.api_key})
    a, b, c = server.journal()
    assert a["connection"] == b["connection"] != c["connection"]
    # two client connections + one each for journal() and stats() (urllib does not keep alive)
    assert server.stats()["connections_opened"] - before == 4


def test_multipart_bodies_are_summarised(server, api):
    step1 = api.get(f"{server.base_url}/collection/default/upload_url").json()["data"]
    requests.post(step1["upload_url"], files={"file": ("x", b"0123456789")})
    upload = server.journal()[-1]
    assert upload["path"].startswith("/upload/") and upload["auth"] == "missing"
    assert upload["status"] == 200 and upload["body"]["bytes"] > 10


def test_journal_can_be_disabled_and_cleared(server, api):
    server.configure(journal_size=0)
    api.get(f"{server.base_url}/user")
    assert server.journal() == []
    server.configure(journal_size=2)
    for _ in range(3):
        api.get(f"{server.base_url}/user")
    assert len(server.journal()) == 2
    server.clear_journal()
    assert server.journal() == []
