"""Time to build a 20-piece timeline stream over videos from 1 minute to 2 hours long.

The local VideoDB server cuts each video into HLS segments once, at ingest; a timeline stream
is then only a playlist over those segments (binary search per piece, no re-encoding). This
benchmark shows that the cost stays flat, in milliseconds, whatever the video's length.

Real media: a 60 s clip (96x54, 5 fps, keyframe every 2 s, H.264 + AAC) is encoded once and
concatenated with stream copy into 1 min ... 2 h videos, each then cut into 2 s segments. All of
it is cached (``--cache-dir``, default ``$TMPDIR/videodb-bench-media``), so reruns are quick.

Columns:
  build       hls.build_timeline_playlist() alone (median / p95 over --repeats, new random
              20-piece timeline each time)
  request     what the server does per POST /stream: load_rendition() (cached) + build
  cold index  parsing index.m3u8 after a restart (O(n), once per video, then cached; median of 7)
  server      optional (--server): POST /video/{id}/stream end to end through the local server
              over one keep-alive connection, a fresh timeline each call (median / p95)

Run: ``.venv/bin/python bench/timeline_stream.py [--lengths 1,10,30,60,120] [--repeats 200]
[--server] [--json out.json]``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

from videodb_local_server.media import hls

PIECES = 20
SEGMENT_SECONDS = 2.0
BASE_SECONDS = 60


def _ffmpeg(*args: str) -> None:
    hls.run_ffmpeg(["-v", "error", "-y", *args], timeout=3600)


def base_clip(cache: Path) -> Path:
    """A 60 s clip that concatenates cleanly (fixed GOP, constant frame rate)."""
    path = cache / "base-60s.mp4"
    if not path.is_file():
        tmp = cache / "base-60s.part.mp4"
        _ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=96x54:rate=5",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050",
            "-t", str(BASE_SECONDS),
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "40", "-g", "10",
            "-keyint_min", "10", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "16k", "-ac", "1", str(tmp),
        )  # fmt: skip
        os.replace(tmp, path)
    return path


def long_video(cache: Path, minutes: int) -> Path:
    """``minutes`` copies of the base clip, joined by stream copy (seconds, not minutes)."""
    path = cache / f"video-{minutes}min.mp4"
    if not path.is_file():
        listing = cache / f"concat-{minutes}.txt"
        line = f"file '{base_clip(cache).name}'\n"
        listing.write_text(line * (minutes * 60 // BASE_SECONDS), encoding="utf-8")
        tmp = cache / f"video-{minutes}min.part.mp4"
        _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(tmp))
        os.replace(tmp, path)
        listing.unlink()
    return path


def random_timeline(rng: random.Random, length: float) -> list[tuple[float, float]]:
    """20 pieces of 2-12 s anywhere in the video, in random order (not sorted)."""
    pieces = []
    for _ in range(PIECES):
        span = rng.uniform(2.0, 12.0)
        start = rng.uniform(0.0, length - span)
        pieces.append((round(start, 3), round(start + span, 3)))
    return pieces


def time_ms(func: Callable[[], Any], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def bench_local(rendition_dir: Path, repeats: int, seed: int) -> dict[str, Any]:
    def cold_load() -> hls.Rendition:
        hls._cache.clear()  # cold: as after a server restart
        return hls.load_rendition(rendition_dir)

    cold = common.median(time_ms(cold_load, 7))
    rendition = hls.load_rendition(rendition_dir)
    rng = random.Random(seed)
    timelines = [random_timeline(rng, rendition.duration) for _ in range(repeats)]
    it = iter(timelines)
    build = time_ms(lambda: hls.build_timeline_playlist(rendition, next(it), "seg/m-x/"), repeats)
    it2 = iter(timelines)

    def request() -> str:
        return hls.build_timeline_playlist(hls.load_rendition(rendition_dir), next(it2), "seg/m-x/")

    req = time_ms(request, repeats)
    return {
        "segments": len(rendition.segments),
        "build_med": common.median(build),
        "build_p95": common.percentile(build, 95),
        "req_med": common.median(req),
        "req_p95": common.percentile(req, 95),
        "cold": cold,
    }


def bench_server(videos: dict[int, Path], repeats: int, seed: int) -> dict[int, dict[str, float]]:
    """POST /video/{id}/stream through the local server (upload + ingest first, not timed)."""
    import requests

    data_dir = common.bench_data_dir()
    server = common.start_server(data_dir, core=common.core_plan()[1], demo=False)
    out: dict[int, dict[str, float]] = {}
    try:
        session = requests.Session()
        session.headers["x-access-token"] = common.BENCH_API_KEY
        base = server.base_url
        for minutes, path in videos.items():
            upload = session.get(
                f"{base}/collection/default/upload_url", params={"name": path.name}, timeout=60
            ).json()["data"]["upload_url"]
            with path.open("rb") as fh:
                session.post(
                    upload, files={"file": (path.name, fh)}, timeout=600
                ).raise_for_status()
            body = {"url": upload, "name": path.stem, "description": None,
                    "callback_url": None, "media_type": "video"}  # fmt: skip
            reply = session.post(f"{base}/collection/default/upload", json=body, timeout=3600)
            reply.raise_for_status()
            video = reply.json()["data"]
            length = float(video["length"])
            rng = random.Random(seed)

            def call(vid: str = video["id"], length: float = length, rng: Any = rng) -> None:
                body = {"timeline": random_timeline(rng, length), "length": length}
                resp = session.post(f"{base}/video/{vid}/stream", json=body, timeout=60)
                resp.raise_for_status()

            call()  # warm: first call loads the index
            samples = time_ms(call, repeats)
            out[minutes] = {
                "srv_med": common.median(samples),
                "srv_p95": common.percentile(samples, 95),
            }
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)  # uploads + segments, possibly in RAM
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lengths", default="1,10,30,60,120", help="video lengths, minutes")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "videodb-bench-media")  # fmt: skip
    parser.add_argument("--server", action="store_true", help="also time POST /stream end to end")
    parser.add_argument("--json", type=Path, help="also write the rows + machine info here")
    args = parser.parse_args(argv)
    common.ensure_airflow_home()
    cache: Path = args.cache_dir
    cache.mkdir(parents=True, exist_ok=True)
    lengths = [int(x) for x in args.lengths.split(",")]

    videos: dict[int, Path] = {}
    rows = []
    for minutes in lengths:
        t0 = time.perf_counter()
        videos[minutes] = long_video(cache, minutes)
        rendition_dir = cache / f"hls-{minutes}min"
        hls.segment_to_hls(videos[minutes], rendition_dir, segment_seconds=SEGMENT_SECONDS)
        prep = time.perf_counter() - t0
        row = {"video": f"{minutes} min", **bench_local(rendition_dir, args.repeats, args.seed)}
        row["prep"] = prep
        rows.append(row)
        print(f"  {minutes} min ready ({prep:.1f} s to make/cut, cached afterwards)", flush=True)

    columns = [
        ("video", "video"), ("segments", "segments"),
        ("build_med", "build med ms"), ("build_p95", "build p95 ms"),
        ("req_med", "request med ms"), ("req_p95", "request p95 ms"),
        ("cold", "cold index ms"),
    ]  # fmt: skip
    if args.server:
        served = bench_server(videos, args.repeats, args.seed)
        for row, minutes in zip(rows, lengths, strict=True):
            row.update(served.get(minutes, {}))
        columns += [("srv_med", "server med ms"), ("srv_p95", "server p95 ms")]

    print()
    command = " ".join(["python bench/timeline_stream.py", *(argv or sys.argv[1:])])
    print(
        f"{PIECES}-piece timeline playlist, {SEGMENT_SECONDS:g} s segments, {args.repeats} repeats"
    )
    print(f"command: {command}")
    info = common.machine_info()
    print(common.machine_line(info))
    print(common.table(rows, columns))
    if args.json:
        payload = {"command": command, "machine": info, "rows": rows}
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
