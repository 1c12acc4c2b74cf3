"""Collections of the local server for the event trigger's tests: uploads and the polls seen.

Shared by ``test_events.py`` and ``tests/e2e/test_new_video_dag.py``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def upload(server: Any, api: Any, collection_id: str, path: Path, name: str) -> str:
    """Upload ``path`` into the collection the way the SDK does; the new video's id."""
    base = server.base_url
    asked = api.get(
        f"{base}/collection/{collection_id}/upload_url", params={"name": name}, timeout=30
    )
    asked.raise_for_status()
    upload_url = asked.json()["data"]["upload_url"]
    with path.open("rb") as media:
        sent = api.post(upload_url, files={"file": (path.name, media)}, timeout=60)
    sent.raise_for_status()
    body = {"url": upload_url, "name": name, "description": None}
    body.update(callback_url=None, media_type="video")
    answer = api.post(f"{base}/collection/{collection_id}/upload", json=body, timeout=60).json()
    deadline = time.time() + 60
    while answer.get("status") in ("processing", "in progress"):
        assert time.time() < deadline, answer
        time.sleep(0.05)
        answer = api.get(answer["data"]["output_url"], timeout=30).json()
    data = answer.get("response", answer)["data"]
    return str(data["id"])


def video_polls(server: Any, collection_id: str) -> list[dict]:
    return [
        entry
        for entry in server.journal()
        if entry["method"] == "GET"
        and entry["path"] == "/video"
        and f"collection_id={collection_id}" in (entry.get("query") or "")
    ]
