"""Issue 10, local server state and media: classes 13 (config/fault rules validated whole),
15 (streams contain what was asked) and 16 (a crash leaves nothing half-done).

Everything runs against the real server process; media is made with the project's FFmpeg.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from videodb_local_server.control import LocalVideoDBServer
from videodb_local_server.media import hls

# --------------------------------------------------------------------------- helpers


def admin_error(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """Status and envelope of an admin call that must be refused."""
    with pytest.raises(urllib.error.HTTPError) as caught:
        call(*args, **kwargs)
    return caught.value.code, json.loads(caught.value.read())


def make_video(path: Path, seconds: float, *, extra: tuple[str, ...] = ()) -> Path:
    """An H.264 + AAC MP4 of ``seconds`` made with the project's FFmpeg."""
    cmd = [hls.ffmpeg_exe(), "-v", "error", "-nostdin", "-y",
           "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10",
           "-f", "lavfi", "-i", "sine=frequency=300",
           "-t", f"{seconds:g}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           "-c:a", "aac", *extra, str(path)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return path


def upload_url(server: LocalVideoDBServer, path: Path, name: str) -> str:
    """Put ``path`` behind a fresh upload URL of the default collection."""
    base, headers = server.base_url, {"x-access-token": server.api_key}
    reply = requests.get(
        f"{base}/collection/default/upload_url", params={"name": name}, headers=headers, timeout=30
    )
    url = str(reply.json()["data"]["upload_url"])
    with path.open("rb") as fh:
        posted = requests.post(url, files={"file": (path.name, fh)}, timeout=60)
    assert posted.status_code == 200, posted.text
    return url


def register(server: LocalVideoDBServer, url: str, name: str, timeout: float = 300) -> Any:
    body = {"url": url, "name": name, "media_type": None, "callback_url": None}
    return requests.post(
        f"{server.base_url}/collection/default/upload",
        json=body,
        headers={"x-access-token": server.api_key},
        timeout=timeout,
    )


def ingest(server: LocalVideoDBServer, path: Path, name: str) -> dict[str, Any]:
    reply = register(server, upload_url(server, path, name), name)
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["data"])


def played_seconds(server: LocalVideoDBServer, video: dict[str, Any], timeline: Any) -> float:
    """Sum of the EXTINF durations of the stream the server gives for ``timeline``."""
    body = {"timeline": timeline, "length": float(video["length"])}
    reply = requests.post(
        f"{server.base_url}/video/{video['id']}/stream",
        json=body,
        headers={"x-access-token": server.api_key},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    playlist = requests.get(reply.json()["data"]["stream_url"], timeout=30).text
    return sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+)", playlist))


def ffmpeg_children(marker: str) -> list[int]:
    """Pids of live FFmpeg processes whose command line mentions ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "ffmpeg" in cmdline and marker in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def wait_for(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[LocalVideoDBServer]:
    """A private server on its own data dir (these tests kill and restart it)."""
    server = LocalVideoDBServer.start(tmp_path / "data", demo=False, job_seconds=0)
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- class 13


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"job_seconds": "nan"}, "job_seconds"),
        ({"job_seconds": "inf"}, "job_seconds"),
        ({"job_seconds": -1}, "job_seconds"),
        ({"job_seconds": "abc"}, "job_seconds"),
        ({"job_seconds": True}, "job_seconds"),
        ({"journal_size": 2.5}, "journal_size"),
        ({"journal_size": "10"}, "journal_size"),
        ({"terminal_shape": 5}, "terminal_shape"),
        ({"public_origin": ["x"]}, "public_origin"),
        ({"no_such_setting": 1}, "no_such_setting"),
        # A valid change next to an invalid one: neither applies.
        ({"job_seconds": 7, "length_style": "roman"}, "length_style"),
    ],
)
def test_class13_rejected_config_changes_nothing(
    server: LocalVideoDBServer, changes: dict[str, Any], field: str
) -> None:
    before = server.config()
    status, envelope = admin_error(server.configure, **changes)
    assert status == 400
    assert envelope["success"] is False and field in envelope["message"]
    assert server.config() == before
    server.configure(job_seconds=0.5)  # still usable afterwards
    assert server.config()["job_seconds"] == 0.5


def test_class13_non_finite_json_number_is_refused(server: LocalVideoDBServer) -> None:
    before = server.config()
    # Python's json writes NaN/Infinity literals; the server's parser accepts them.
    status, envelope = admin_error(server.configure, job_seconds=math.inf)
    assert status == 400 and "job_seconds" in envelope["message"]
    assert server.config() == before


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"kind": "status", "times": "3"}, "times"),
        ({"kind": "delay", "seconds": "x"}, "seconds"),
        ({"kind": "delay", "seconds": math.nan}, "seconds"),
        ({"kind": "status", "rate": 1.5}, "rate"),
        ({"kind": "status", "rate": -0.1}, "rate"),
        ({"kind": "status", "status": "503"}, "status"),
        ({"kind": "status", "path": 5}, "path"),
        ({"kind": "status", "retry_after": "soon"}, "retry_after"),
        ({"kind": "status", "times": -1}, "times"),
        ({"kind": "status", "times": 1.5}, "times"),
        ({"kind": ["status"]}, "kind"),
    ],
)
def test_class13_bad_fault_rule_is_400_and_keeps_old_rules(
    server: LocalVideoDBServer, api: requests.Session, rule: dict[str, Any], field: str
) -> None:
    server.set_faults([{"kind": "status", "path": "/user", "status": 418}])
    before = server.config()["faults"]
    status, envelope = admin_error(server.set_faults, [{"kind": "status", "path": "/x"}, rule])
    assert status == 400
    assert field in envelope["message"]
    assert server.config()["faults"] == before
    # The old rule still applies, and nothing else turned into a 500.
    assert api.get(f"{server.base_url}/user", timeout=10).status_code == 418
    assert api.get(f"{server.base_url}/collection", timeout=10).status_code == 200


def test_class13_fault_seed_of_wrong_type_is_400(server: LocalVideoDBServer) -> None:
    status, envelope = admin_error(server.set_faults, [], seed="42")
    assert status == 400 and "seed" in envelope["message"]


# --------------------------------------------------------------------------- class 15


@pytest.fixture(scope="module")
def single_keyframe_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s whose only keyframe is the first frame: stream copy would give one 10 s segment."""
    folder = tmp_path_factory.mktemp("media15")
    return make_video(
        folder / "onekey.mp4", 10, extra=("-g", "1000", "-keyint_min", "1000", "-sc_threshold", "0")
    )


@pytest.mark.parametrize(
    ("timeline", "asked"),
    [([[3, 4]], 1.0), ([[0, 2], [5, 8]], 5.0), ([[8, 10]], 2.0)],
)
def test_class15_single_keyframe_upload_streams_only_what_was_asked(
    server: LocalVideoDBServer, single_keyframe_video: Path, timeline: Any, asked: float
) -> None:
    video = ingest(server, single_keyframe_video, f"onekey-{len(timeline)}-{asked:g}")
    played = played_seconds(server, video, timeline)
    # Snapping outward adds at most one ~2 s segment per edge; never the whole 10 s per piece.
    assert asked <= played <= asked + 2 * 3.0 * len(timeline)
    assert played < 10.0 * len(timeline)


def test_class15_truncated_file_length_is_what_was_decoded(
    server: LocalVideoDBServer, tmp_path: Path
) -> None:
    full = make_video(tmp_path / "full.mp4", 60, extra=("-movflags", "+faststart"))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size * 3 // 10])
    video = ingest(server, truncated, "truncated")
    length = float(video["length"])
    assert 5.0 < length < 40.0, length  # the header says 60 s; about a third was kept
    whole = played_seconds(server, video, None)
    assert whole == pytest.approx(length, abs=0.5)
    # A timeline over the whole advertised length plays what exists.
    assert played_seconds(server, video, [[0, length]]) == pytest.approx(length, abs=0.5)


# --------------------------------------------------------------------------- class 16


def test_class16_same_upload_registered_twice_is_one_video(
    own_server: LocalVideoDBServer, tmp_path: Path
) -> None:
    clip = make_video(tmp_path / "clip.mp4", 3)
    url = upload_url(own_server, clip, "twice")
    first = register(own_server, url, "twice")
    second = register(own_server, url, "twice")
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json()["data"]["id"] == second.json()["data"]["id"]
    assert own_server.video_ids() == [first.json()["data"]["id"]]
    # Another name is another video (the key is URL + name + collection).
    other = register(own_server, url, "twice, renamed")
    assert other.status_code == 200
    assert other.json()["data"]["id"] != first.json()["data"]["id"]
    assert len(own_server.video_ids()) == 2


def test_class16_kill_during_transcode_leaves_no_ffmpeg_nor_temp_folder(
    own_server: LocalVideoDBServer, tmp_path: Path
) -> None:
    # Big enough that the transcode (single keyframe forces one) runs for a while.
    source = make_video(
        tmp_path / "long.mp4",
        240,
        extra=("-s", "640x360", "-g", "100000", "-keyint_min", "100000", "-sc_threshold", "0"),
    )
    url = upload_url(own_server, source, "long")
    marker = str(own_server.data_dir / "media")
    worker = threading.Thread(target=lambda: _ignore_errors(register, own_server, url, "long"))
    worker.start()
    assert wait_for(lambda: ffmpeg_children(marker), 120), "no transcode seen"
    os.kill(own_server.pid, signal.SIGKILL)
    worker.join(60)
    assert wait_for(lambda: not ffmpeg_children(marker), 15), ffmpeg_children(marker)
    own_server.restart()
    leftovers = [p.name for p in (own_server.data_dir / "media").iterdir() if p.name[0] == "."]
    assert leftovers == []
    assert own_server.video_ids() == []


def _ignore_errors(func: Any, *args: Any) -> None:
    with contextlib.suppress(requests.RequestException):
        func(*args)


def test_class16_kill_during_demo_setup_leaves_no_duplicate(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    db = data_dir / "videodb.sqlite3"

    def videos_in_db() -> int:
        if not db.exists():
            return 0
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
                return int(conn.execute("SELECT COUNT(*) FROM videos").fetchone()[0])
        except sqlite3.Error:
            return 0

    command = [
        sys.executable, "-m", "videodb_local_server",
        "--data-dir", str(data_dir), "--demo", "--port", "0",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: videos_in_db() >= 1, 600), "demo setup stored no video"
        assert not (data_dir / "demo-ingested").exists(), "setup finished before the kill"
    finally:
        proc.kill()
        proc.wait(30)
    with LocalVideoDBServer.start(data_dir, demo=True, job_seconds=0) as server:
        reply = requests.get(
            f"{server.base_url}/video",
            params={"collection_id": "default"},
            headers={"x-access-token": server.api_key},
            timeout=30,
        )
        names = [v["name"] for v in reply.json()["data"]["videos"]]
    assert names and len(names) == len(set(names)), names
