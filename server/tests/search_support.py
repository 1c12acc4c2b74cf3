"""Media and uploads the search tests share (test_search_api.py, test_sdk_search.py)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import requests

from videodb_local_server.media import hls

#: The colour video: (colour, seconds) back to back; FFmpeg names, and the words the
#: server's frame descriptions use for them.
COLOURS = (("red", 4), ("blue", 4), ("white", 4))
COLOUR_WORDS = {"red": "bright red", "blue": "bright blue", "white": "white"}


def make_colour_video(path: Path) -> Path:
    """A real H.264 video of solid colours (``COLOURS``), 10 fps, a keyframe a second."""
    args = ["-y", "-v", "error"]
    for colour, seconds in COLOURS:
        args += ["-f", "lavfi", "-i", f"color=c={colour}:s=160x90:r=10:d={seconds}"]
    inputs = "".join(f"[{n}]" for n in range(len(COLOURS)))
    args += [
        "-filter_complex", f"{inputs}concat=n={len(COLOURS)}:v=1:a=0",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10",
        str(path),
    ]  # fmt: skip
    hls.run_ffmpeg(args, timeout=120)
    return path


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def upload(base_url: str, api: requests.Session, path: Path, name: str) -> dict:
    """The SDK's upload flow over HTTP: upload URL, the file, then the registration."""
    step1 = api.get(f"{base_url}/collection/default/upload_url", params={"name": name})
    assert step1.status_code == 200, step1.text
    upload_url = step1.json()["data"]["upload_url"]
    with path.open("rb") as fh:
        posted = requests.post(upload_url, files={"file": (path.name, fh)}, timeout=60)
    assert posted.status_code == 200, posted.text
    body = {"url": upload_url, "name": name, "description": None, "callback_url": None,
            "media_type": None}  # fmt: skip
    registered = api.post(f"{base_url}/collection/default/upload", json=body, timeout=120)
    assert registered.status_code == 200, registered.text
    return dict(registered.json()["data"])


def demo_file(data_dir: Path, pattern: str, folder: Path) -> Path:
    """A copy of a demo file (so each upload is a new video with a fresh index state)."""
    src = next((data_dir / "demo").glob(pattern))
    dest = folder / f"{uuid.uuid4().hex[:8]}{src.suffix}"
    shutil.copy(src, dest)
    return dest
