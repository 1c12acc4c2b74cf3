"""Streams served by the local server play over HTTP (FFmpeg as the player)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
from server_support import post_stream

from videodb_local_server.media import hls
from videodb_local_server.media.demo import FPS

FRAME = 1.0 / FPS


def play(url: str) -> tuple[int, str]:
    """Decode a stream over HTTP; return (video frames, FFmpeg's error output)."""
    report = hls.decode(url)
    return report.video_frames, report.errors


def stream(server: Any, api: requests.Session, video: dict[str, Any], timeline: Any) -> str:
    return str(post_stream(server.base_url, api, video, timeline)["stream_url"])


def test_whole_video_stream_plays_with_hls_content_types(
    server: Any, api: requests.Session, news: dict[str, Any]
) -> None:
    url = stream(server, api, news, None)
    playlist = requests.get(url, timeout=30)
    assert playlist.headers["Content-Type"].startswith(hls.PLAYLIST_CONTENT_TYPE)
    first = next(line for line in playlist.text.splitlines() if line.endswith(".ts"))
    segment = requests.get(requests.compat.urljoin(url, first), timeout=30)
    assert segment.headers["Content-Type"].startswith(hls.SEGMENT_CONTENT_TYPE)
    assert segment.content[:1] == b"\x47"  # MPEG-TS sync byte
    frames, errors = play(url)
    assert errors == ""
    assert frames * FRAME == pytest.approx(float(news["length"]), abs=2 * FRAME)


def test_timeline_stream_plays_the_requested_pieces(
    server: Any, api: requests.Session, news: dict[str, Any]
) -> None:
    timeline = [[95.0, 101.0], [10.5, 14.0], [150.0, 152.0]]
    url = stream(server, api, news, timeline)
    text = requests.get(url, timeout=30).text
    assert text.count("#EXT-X-DISCONTINUITY") == 2
    durations = [float(d) for d in re.findall(r"#EXTINF:([\d.]+)", text)]
    covered = sum(durations)
    requested = sum(end - start for start, end in timeline)
    # Each piece is snapped outward to segment boundaries: at most one segment per edge.
    assert requested <= covered <= requested + 2 * max(durations) * len(timeline)
    frames, errors = play(url)
    assert errors == ""
    assert frames * FRAME == pytest.approx(covered, abs=len(timeline) * FRAME + 1e-6)


def test_weather_prompt_clips_the_weather_segment(
    server: Any, api: requests.Session, news: dict[str, Any]
) -> None:
    base = server.base_url
    body = {"prompt": "the part about the weather", "content_type": "spoken"}
    start = api.post(f"{base}/video/{news['id']}/clip", json=body, timeout=30).json()
    output_url = start["data"]["output_url"]
    deadline = time.time() + 60
    while time.time() < deadline:
        payload = api.get(output_url, timeout=30).json()
        if payload.get("status") not in ("processing", "in progress"):
            break
        time.sleep(0.2)
    data = payload.get("data") or payload["response"]["data"]
    docs = data["results"][0]["docs"]
    assert docs, payload
    best = docs[0]
    assert 0.0 <= float(best["start"]) < float(best["end"]) <= 30.0
    assert "weather" in best["text"].lower()


def test_compiled_stream_across_two_videos_plays(
    server: Any, api: requests.Session, news: dict[str, Any]
) -> None:
    videos = api.get(f"{server.base_url}/video", timeout=30).json()["data"]["videos"]
    science = next(v for v in videos if v["name"] == "Science Desk")
    body = [
        {"video_id": science["id"], "collection_id": "default", "shots": [[30.0, 34.0]]},
        {"video_id": news["id"], "collection_id": "default", "shots": [[0.0, 4.0], [60, 62]]},
    ]
    reply = api.post(f"{server.base_url}/compile", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    url = reply.json()["data"]["stream_url"]
    text = requests.get(url, timeout=30).text
    uris = [line for line in text.splitlines() if line.endswith(".ts")]
    assert [u.split("/")[-2] for u in uris] == [science["id"]] * 2 + [news["id"]] * 3
    frames, errors = play(url)
    assert errors == ""
    assert frames * FRAME == pytest.approx(10.0, abs=3 * FRAME)
