"""Keys and settings the server suite's session server is started with (see conftest.py),
and the requests many of its tests make."""

from __future__ import annotations

from typing import Any

import requests

TEST_API_KEY = "sk-test-0123456789abcdef"
#: Extra keys the session server accepts: a free plan (403 on gated options), no credits (402).
FREE_API_KEY = "sk-test-free-0000000000"
BROKE_API_KEY = "sk-test-broke-000000000"
JOB_SECONDS = 2.0
DEFAULT_CONFIG = {
    "job_seconds": JOB_SECONDS,
    "terminal_shape": "flat",
    "progress_style": "mixed",
    "length_style": "string",
    "journal_size": 10_000,
}


def demo_video(base_url: str, api: requests.Session, name: str = "Evening News Roundup") -> dict:
    """The demo video ``name`` of the default collection, as ``GET /video`` lists it."""
    reply = api.get(f"{base_url}/video", params={"collection_id": "default"}, timeout=30)
    videos = reply.json()["data"]["videos"]
    return dict(next(v for v in videos if v["name"] == name))


def post_stream(
    base_url: str, api: requests.Session, video: dict[str, Any], timeline: Any
) -> dict[str, Any]:
    """``POST /video/{id}/stream`` of ``timeline`` (``[[start, end], ...]``); its ``data``."""
    body = {"timeline": timeline, "length": float(video["length"])}
    reply = api.post(f"{base_url}/video/{video['id']}/stream", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["data"])
