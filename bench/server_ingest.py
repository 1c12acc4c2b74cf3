"""Ingest speed of the local VideoDB server: seconds of video cut into HLS per wall-clock second.

The server cuts every uploaded video once into 2 s MPEG-TS segments (``media/hls.py``). It has
two paths, and this benchmark times both, side by side in one run:

  copy       an HLS-friendly source (H.264 yuv420p + AAC in MP4, a keyframe every 2 s): the
             segments are cut with stream copy, nothing is re-encoded
  re-encode  a source that is not HLS-friendly (VP9 + Opus in WebM): FFmpeg transcodes it to
             H.264/AAC with a forced keyframe every 2 s (libx264 ultrafast)

each measured two ways, interleaved repetition by repetition so drift hits both alike:

  direct     ``ingest.ingest_video(src, fresh_dir)`` in this process (probe + cut + subtitles)
  server     the HTTP upload flow against a local server started here: GET upload_url, POST
             the file (multipart), POST /collection/default/upload (register = ingest, answered
             when the video is cut)

Sources are synthetic 720p30 (``testsrc`` + light temporal noise so the bitrate is a camera's,
~3 Mbit/s, not a test card's few hundred kbit/s; a 440 Hz sine, 48 kHz stereo). A 60 s clip is
encoded once per kind; longer sources are that clip joined by stream copy. All of it is cached
(``--cache-dir``, default ``$TMPDIR/videodb-bench-media``). Nothing is pinned: FFmpeg's encoder
uses every core, as it would in the server. Outputs go to a scratch directory (in RAM under
``/dev/shm`` when possible) that is removed afterwards; the server is stopped by its pid.

Columns: wall med/min/max s over ``--repeats``; spread = (max - min) / median; video-s/wall-s =
video seconds / median wall seconds (how many times real time); MB/s = source file size /
median wall; CPU s (median) = CPU time of this process and its FFmpeg children (direct) or of
the server and its FFmpeg children (server, from /proc); cores = CPU s / wall s; others' CPU s =
the worst repetition's CPU time used by *other* processes meanwhile (busy time of the cores from
/proc/stat minus ours: the noise indicator on a shared machine); upload s and register s
(medians) split the server's wall time. The script stops with an error if a source did not
take the path it stands for (stream copy yes/no, as recorded in the rendition).

Run: ``.venv/bin/python bench/server_ingest.py [--lengths 60,300] [--repeats 3]
[--json out.json]``; ``--quick`` (5 s sources at 360p, 2 repeats) finishes in well under 30 s.
Prints figures; asserts nothing about timing.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

from videodb_local_server.media import hls, ingest

BASE_SECONDS = 60
FPS = 30
SEGMENT_SECONDS = hls.DEFAULT_SEGMENT_SECONDS
COLLECTION = "default"
MB = 1_000_000


@dataclass(frozen=True)
class SourceKind:
    """One kind of source file: how to encode it and which ingest path it must take."""

    name: str
    label: str
    suffix: str
    stream_copy: bool
    codec_args: tuple[str, ...]


GOP = str(int(FPS * SEGMENT_SECONDS))  # a keyframe every segment: stream copy cuts cleanly
KINDS = (
    SourceKind(
        "copy", "h264+aac mp4", ".mp4", True,
        ("-c:v", "libx264", "-preset", "veryfast", "-b:v", "3M", "-maxrate", "3M",
         "-bufsize", "6M", "-g", GOP, "-keyint_min", GOP, "-sc_threshold", "0",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k"),
    ),
    SourceKind(
        "re-encode", "vp9+opus webm", ".webm", False,
        ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
         "-b:v", "3M", "-g", GOP, "-c:a", "libopus", "-b:a", "128k"),
    ),
)  # fmt: skip


def _ffmpeg(*args: str) -> None:
    hls.run_ffmpeg(["-v", "error", "-y", *args], timeout=3600)


def make_source(cache: Path, kind: SourceKind, seconds: int, size: str) -> Path:
    """A ``seconds`` long source of ``kind`` at ``size`` (cached): encoded directly up to
    60 s, longer ones joined from the 60 s clip by stream copy (seconds, not minutes)."""
    path = cache / f"ingest-{kind.name}-{size}-{seconds}s{kind.suffix}"
    if path.is_file():
        return path
    tmp = path.with_name(f"{path.stem}.part{kind.suffix}")
    if seconds <= BASE_SECONDS:
        _ffmpeg(
            "-f", "lavfi", "-i", f"testsrc=size={size}:rate={FPS}",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(seconds), "-vf", "noise=alls=8:allf=t", "-ac", "2",
            *kind.codec_args, str(tmp),
        )  # fmt: skip
    else:
        base = make_source(cache, kind, BASE_SECONDS, size)
        listing = cache / f"{path.stem}.concat.txt"
        listing.write_text(f"file '{base.name}'\n" * (seconds // BASE_SECONDS), encoding="utf-8")
        try:
            _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(tmp))
        finally:
            listing.unlink()
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- one ingest, two ways


def children_cpu_seconds() -> float:
    """CPU time of this process plus its waited-for children (the FFmpegs)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return common.cpu_seconds() + kids.ru_utime + kids.ru_stime


def pid_cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid`` plus its waited-for children (utime..cstime in /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """Non-idle CPU seconds of every core this process may use, all processes (/proc/stat)."""
    return sum(common.core_busy_seconds(core) for core in sorted(os.sched_getaffinity(0)))


def check_path(kind: SourceKind, rendition: hls.Rendition, where: str) -> None:
    if rendition.stream_copy is not kind.stream_copy:
        raise SystemExit(
            f"{where}: the {kind.name} source was cut with stream_copy={rendition.stream_copy},"
            f" expected {kind.stream_copy}; the figures would not be about the {kind.name} path"
        )


def ingest_direct(src: Path, scratch: Path, kind: SourceKind) -> dict[str, float]:
    """``ingest.ingest_video`` into a fresh directory, timed; the directory is removed."""
    out = Path(tempfile.mkdtemp(prefix="direct-", dir=scratch))
    try:
        busy0, cpu0, t0 = busy_seconds(), children_cpu_seconds(), time.perf_counter()
        result = ingest.ingest_video(src, out / "media")
        wall = time.perf_counter() - t0
        cpu = children_cpu_seconds() - cpu0
        others = busy_seconds() - busy0 - cpu
        check_path(kind, result.rendition, "direct")
        return {"wall": wall, "cpu": cpu, "others": others,
                "segments": len(result.rendition.segments), "length": result.length}  # fmt: skip
    finally:
        shutil.rmtree(out, ignore_errors=True)


class ServerIngest:
    """The HTTP upload flow against one local server (started and stopped here)."""

    def __init__(self, data_dir: Path) -> None:
        import requests

        self.data_dir = data_dir
        self.server = common.start_server(data_dir, core=None, demo=False)
        self.session = requests.Session()
        self.session.headers["x-access-token"] = common.BENCH_API_KEY
        self.base = self.server.base_url

    def ingest(self, src: Path, kind: SourceKind) -> dict[str, float]:
        session, base, pid = self.session, self.base, self.server.pid
        busy0, client0 = busy_seconds(), common.cpu_seconds()
        cpu0, t0 = pid_cpu_seconds(pid), time.perf_counter()
        reply = session.get(
            f"{base}/collection/{COLLECTION}/upload_url", params={"name": src.name}, timeout=60
        )
        reply.raise_for_status()
        upload = reply.json()["data"]["upload_url"]
        with src.open("rb") as fh:
            session.post(upload, files={"file": (src.name, fh)}, timeout=600).raise_for_status()
        t1 = time.perf_counter()
        body = {"url": upload, "name": src.stem, "description": None,
                "callback_url": None, "media_type": "video"}  # fmt: skip
        reply = session.post(f"{base}/collection/{COLLECTION}/upload", json=body, timeout=3600)
        reply.raise_for_status()
        t2 = time.perf_counter()
        cpu = pid_cpu_seconds(pid) - cpu0
        others = busy_seconds() - busy0 - cpu - (common.cpu_seconds() - client0)
        video = reply.json()["data"]
        # The server keeps a video's segments in {data_dir}/media/{id} (backend.register_upload).
        media_dir = self.data_dir / "media" / video["id"]
        rendition = hls.load_rendition(media_dir)
        check_path(kind, rendition, "server")
        segments = len(rendition.segments)
        # Free the RAM disk: this video is never used again (the upload goes with the token).
        shutil.rmtree(media_dir, ignore_errors=True)
        shutil.rmtree(self.data_dir / "uploads", ignore_errors=True)
        return {"wall": t2 - t0, "cpu": cpu, "others": others, "upload": t1 - t0,
                "register": t2 - t1, "segments": segments,
                "length": float(video["length"])}  # fmt: skip

    def stop(self) -> None:
        self.session.close()
        self.server.stop()


# ---------------------------------------------------------------- figures


def summarize(
    kind: SourceKind, seconds: int, src: Path, path: str, samples: list[dict[str, float]]
) -> dict[str, Any]:
    walls = [s["wall"] for s in samples]
    med = common.median(walls)
    size_mb = src.stat().st_size / MB
    cpu = common.median([s["cpu"] for s in samples])
    row: dict[str, Any] = {
        "source": kind.name,
        "codecs": kind.label,
        "video_s": float(seconds),
        "path": path,
        "size_mb": size_mb,
        "repeats": len(samples),
        "wall_med_s": med,
        "wall_min_s": min(walls),
        "wall_max_s": max(walls),
        "spread_pct": (max(walls) - min(walls)) / med * 100,
        "video_s_per_wall_s": seconds / med,
        "mb_per_s": size_mb / med,
        "cpu_s": cpu,
        "cores": cpu / med,
        "others_cpu_s": max(s["others"] for s in samples),
        "segments": int(samples[0]["segments"]),
        "stream_copy": kind.stream_copy,
        "ingested_length_s": samples[0]["length"],
        "walls_s": walls,
    }
    if path == "server":
        row["upload_s"] = common.median([s["upload"] for s in samples])
        row["register_s"] = common.median([s["register"] for s in samples])
    return row


COLUMNS = [
    ("source", "source"), ("codecs", "codecs"), ("video_s", "video s"), ("path", "path"),
    ("size_mb", "MB"), ("wall_med_s", "wall med s"), ("wall_min_s", "wall min s"),
    ("wall_max_s", "wall max s"), ("spread_pct", "spread %"),
    ("video_s_per_wall_s", "video-s/wall-s"), ("mb_per_s", "MB/s"), ("cpu_s", "CPU s"),
    ("cores", "cores"), ("others_cpu_s", "others' CPU s"), ("upload_s", "upload s"),
    ("register_s", "register s"), ("segments", "segments"),
]  # fmt: skip


def interleaved(
    runs: dict[str, Callable[[], dict[str, float]]], repeats: int
) -> dict[str, list[dict[str, float]]]:
    """``repeats`` rounds of every run, the order alternating per round (drift hits all)."""
    names = list(runs)
    out: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for rnd in range(repeats):
        for name in names if rnd % 2 == 0 else reversed(names):
            out[name].append(runs[name]())
    return out


def parse_lengths(text: str) -> list[int]:
    try:
        lengths = [int(x) for x in text.split(",")]
    except ValueError:
        raise SystemExit(f"--lengths: expected whole seconds like 60,300, got {text!r}") from None
    for n in lengths:
        if n <= 0 or (n > BASE_SECONDS and n % BASE_SECONDS):
            raise SystemExit(
                f"--lengths: {n} must be 1-{BASE_SECONDS} or a multiple of {BASE_SECONDS} s"
            )
    return lengths


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lengths", default="60,300", help="source lengths, seconds")
    parser.add_argument("--size", default="1280x720", help="source frame size, WxH")
    parser.add_argument("--repeats", type=int, default=3, help="ingests per path and source")
    parser.add_argument("--quick", action="store_true",
                        help="5 s sources at 640x360, 2 repeats (the smoke test)")  # fmt: skip
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "videodb-bench-media")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the rows + machine info here")
    args = parser.parse_args(argv)
    # A plain kill must still stop the server and remove the scratch directory (finally:).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.quick:
        args.lengths, args.size, args.repeats = "5", "640x360", 2
    if args.repeats < 1:
        raise SystemExit(f"--repeats: must be >= 1, got {args.repeats}")
    lengths = parse_lengths(args.lengths)
    common.ensure_airflow_home()
    cache: Path = args.cache_dir
    cache.mkdir(parents=True, exist_ok=True)

    sources: dict[tuple[str, int], Path] = {}
    for kind in KINDS:
        for seconds in lengths:
            t0 = time.perf_counter()
            sources[kind.name, seconds] = make_source(cache, kind, seconds, args.size)
            prep = time.perf_counter() - t0
            print(f"  {kind.name} {seconds} s source ready ({prep:.1f} s, cached)", flush=True)

    scratch = common.bench_data_dir()
    rows = []
    server: ServerIngest | None = None
    try:
        server = ServerIngest(scratch / "server")
        for kind in KINDS:
            for seconds in lengths:
                src = sources[kind.name, seconds]
                runs: dict[str, Callable[[], dict[str, float]]] = {
                    "direct": functools.partial(ingest_direct, src, scratch, kind),
                    "server": functools.partial(server.ingest, src, kind),
                }
                for path, samples in interleaved(runs, args.repeats).items():
                    rows.append(summarize(kind, seconds, src, path, samples))
                print(f"  {kind.name} {seconds} s measured", flush=True)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)  # uploads + segments, possibly in RAM

    print()
    command = " ".join(["python bench/server_ingest.py", *(argv or sys.argv[1:])])
    print(
        f"Ingest to HLS ({SEGMENT_SECONDS:g} s segments), {args.size} {FPS} fps sources,"
        f" {args.repeats} repeats, direct ingest_video() vs HTTP upload + register,"
        f" outputs in {scratch.parent}"
    )
    print(f"command: {command}")
    info = common.machine_info()
    print(common.machine_line(info))
    print(common.table(rows, COLUMNS))
    if args.json:
        payload = {"command": command, "machine": info, "scratch": str(scratch), "rows": rows}
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
