"""State survives a restart: videos, transcripts, streams, and jobs that are still pollable."""

from __future__ import annotations

import requests

from videodb_local_server.control import LocalVideoDBServer


def test_restart_keeps_everything(tmp_path):
    with LocalVideoDBServer.start(tmp_path / "srv", job_seconds=3600) as srv:
        session = requests.Session()
        session.headers["x-access-token"] = srv.api_key
        base = srv.base_url
        ids = srv.video_ids()
        news = next(
            v["id"]
            for v in session.get(f"{base}/video").json()["data"]["videos"]
            if v["name"] == "Evening News Roundup"
        )
        whole = session.post(f"{base}/video/{news}/stream", json={"timeline": None}).json()
        part = session.post(f"{base}/video/{news}/stream", json={"timeline": [[3, 9]]}).json()
        slow = session.post(f"{base}/video/{news}/clip", json={"prompt": "weather"}).json()
        srv.configure(job_seconds=0)
        quick = session.post(f"{base}/video/{news}/clip", json={"prompt": "weather"}).json()
        quick_before = session.get(quick["data"]["output_url"]).json()
        playlist_before = requests.get(part["data"]["stream_url"]).text
        port, pid = srv.port, srv.pid
        session.close()

        srv.restart()

        assert srv.port == port and srv.pid != pid
        assert srv.video_ids() == ids
        session = requests.Session()
        session.headers["x-access-token"] = srv.api_key
        video = session.get(f"{base}/video/{news}").json()["data"]
        assert video["stream_url"] == whole["data"]["stream_url"]
        assert requests.get(part["data"]["stream_url"]).text == playlist_before
        again = session.post(f"{base}/video/{news}/stream", json={"timeline": [[3, 9]]}).json()
        assert again == part
        assert session.get(quick["data"]["output_url"]).json() == quick_before
        still = session.get(slow["data"]["output_url"]).json()
        assert still["status"] in ("processing", "in progress")
        assert still["data"]["percentage"] < 100
        # the transcript came back too: a new clip still finds the weather segment
        srv.configure(job_seconds=0)
        fresh = session.post(f"{base}/video/{news}/clip", json={"prompt": "weather"}).json()
        docs = session.get(fresh["data"]["output_url"]).json()["data"]["results"][0]["docs"]
        assert docs and "weather" in docs[0]["text"].lower()
        session.close()


def test_demo_is_created_once(tmp_path):
    with LocalVideoDBServer.start(tmp_path / "srv") as srv:
        ids = srv.video_ids()
        srv.restart()
        assert srv.video_ids() == ids


def test_announces_port_and_stops_cleanly_on_sigterm(tmp_path):
    srv = LocalVideoDBServer.start(tmp_path / "srv", demo=False)
    announced = f"VideoDB local server listening on http://127.0.0.1:{srv.port}"
    assert announced in srv.log_path.read_text()
    assert (srv.data_dir / "server.port").read_text().strip() == str(srv.port)
    proc = srv._proc
    srv.stop()
    assert proc is not None and proc.returncode == 0
    assert not srv.running
