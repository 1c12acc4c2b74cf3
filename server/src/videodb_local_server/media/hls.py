"""Real media for the local VideoDB server: probe, cut once into HLS, build playlists.

FFmpeg comes from the ``imageio-ffmpeg`` wheel (a dependency of ``videodb-local-server``),
so nothing needs a system package. That build ships no ``ffprobe``; :func:`probe` parses the
header that ``ffmpeg -i`` prints instead.

How streams work here:

* An ingested video is cut **once** by :func:`segment_to_hls` into short MPEG-TS segments plus an
  ``index.m3u8`` (stream copy when the codecs are HLS-friendly and the keyframes are close
  enough together, a fast transcode with forced keyframes otherwise).
* Every stream (whole video or a timeline) is then only a *playlist* over those segments:
  :func:`build_timeline_playlist` never re-encodes, so its cost depends on the number of
  timeline pieces and segments emitted, not on the video's length (segment lookup is a binary
  search over a cached, parsed index).

Precision of a timeline stream: HLS cannot start or stop inside a segment, so each requested
``(start, end)`` is snapped **outward** to segment boundaries. The stream therefore contains all
requested media, plus at most one segment duration of extra media at each edge of each piece
(see :attr:`Rendition.max_segment_duration`; ~1-2 s for renditions cut by this module).

Playing timeline streams with the ``ffmpeg`` command line: its HLS reader does not act on
``#EXT-X-DISCONTINUITY``; it re-bases jumping timestamps heuristically, which can leave two
frames on one timestamp after a jump, and its default constant-frame-rate output then reports
"non monotonically increasing dts". Decode with ``-fps_mode vfr`` (as :func:`decode` does);
real HLS players (hls.js, AVPlayer, ExoPlayer) reset their timeline at each discontinuity.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

INDEX_NAME = "index.m3u8"
META_NAME = "rendition.json"
SEGMENT_PATTERN = "seg_%05d.ts"
DEFAULT_SEGMENT_SECONDS = 2.0
#: Copied segments longer than this multiple of the target mean sparse keyframes: transcode.
MAX_COPY_SEGMENT_FACTOR = 1.5
#: Codecs that can go into MPEG-TS HLS segments unchanged and play everywhere.
HLS_VIDEO_CODECS = frozenset({"h264"})
HLS_AUDIO_CODECS = frozenset({"aac", "mp3"})
HLS_PIXEL_FORMATS = frozenset({"yuv420p", "yuvj420p"})
#: Boundary tolerance (s) so float noise never pulls in a neighbouring segment.
_EPS = 1e-3
PLAYLIST_CONTENT_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_CONTENT_TYPE = "video/mp2t"


class MediaError(RuntimeError):
    """FFmpeg could not read or convert a file (message carries FFmpeg's own last lines)."""


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the FFmpeg binary shipped by the imageio-ffmpeg wheel (or $IMAGEIO_FFMPEG_EXE)."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MediaError(
            "FFmpeg is needed for the local server: pip install imageio-ffmpeg"
            " (a dependency of videodb-local-server)"
        ) from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Ask Linux to SIGKILL this child when the thread that started it dies (a kill -9 of
    the server included), so no FFmpeg outlives the server as an orphan."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _ffmpeg_run(cmd: Sequence[str], timeout: float | None) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` for every FFmpeg this module starts: output captured, never
    outliving the server (Linux; elsewhere a plain run)."""
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    return subprocess.run(
        list(cmd),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=preexec,  # only an async-signal-safe prctl call
    )


def run_ffmpeg(args: Sequence[str], *, timeout: float | None = 3600.0) -> str:
    """Run ffmpeg with ``args``; return its stderr. Raise MediaError on a non-zero exit."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", *args]
    try:
        proc = _ffmpeg_run(cmd, timeout)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"ffmpeg timed out after {timeout}s") from exc
    if proc.returncode != 0:
        raise MediaError(f"ffmpeg failed ({proc.returncode}): {_tail(proc.stderr)}")
    return proc.stderr


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


# --------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` learnt about a media file."""

    duration: float
    video_codec: str | None = None
    audio_codec: str | None = None
    subtitle_codecs: tuple[str, ...] = ()
    width: int | None = None
    height: int | None = None
    pixel_format: str | None = None

    @property
    def has_subtitles(self) -> bool:
        return bool(self.subtitle_codecs)

    @property
    def hls_friendly(self) -> bool:
        """True when the streams can be copied into HLS MPEG-TS segments unchanged."""
        video_ok = self.video_codec is None or (
            self.video_codec in HLS_VIDEO_CODECS
            and self.pixel_format in (None, *HLS_PIXEL_FORMATS)  # 8-bit 4:2:0 plays everywhere
        )
        audio_ok = self.audio_codec is None or self.audio_codec in HLS_AUDIO_CODECS
        return video_ok and audio_ok and (self.video_codec or self.audio_codec) is not None


_DURATION_RE = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_STREAM_RE = re.compile(
    r"Stream #\d+:\d+(?:\[[^\]]*\])?(?:\([^)]*\))?:\s*(Video|Audio|Subtitle):\s*([\w-]+)(.*)"
)
_SIZE_RE = re.compile(r",\s*(\d{2,5})x(\d{2,5})[\s,]")
_TIME_RE = re.compile(r"time=\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")


def _hms(h: str, m: str, s: str) -> float:
    return int(h) * 3600 + int(m) * 60 + float(s)


def parse_probe_output(stderr: str) -> MediaInfo:
    """Parse the input description that ``ffmpeg -i FILE`` prints (no ffprobe needed)."""
    if "Input #0" not in stderr:
        raise MediaError(f"not a media file: {_tail(stderr, 2)}")
    match = _DURATION_RE.search(stderr)
    duration = _hms(*match.groups()) if match else 0.0
    video = audio = None
    subtitles: list[str] = []
    width = height = None
    pix_fmt = None
    for kind, codec, rest in _STREAM_RE.findall(stderr):
        if kind == "Video" and video is None:
            video = codec
            size = _SIZE_RE.search(rest + " ")
            if size:
                width, height = int(size.group(1)), int(size.group(2))
            pix_fmt = _pixel_format(rest)
        elif kind == "Audio" and audio is None:
            audio = codec
        elif kind == "Subtitle":
            subtitles.append(codec)
    return MediaInfo(duration, video, audio, tuple(subtitles), width, height, pix_fmt)


def _pixel_format(rest: str) -> str | None:
    """The pixel format in a video stream line: the first bare word after the codec details."""
    for part in re.split(r",\s*(?![^()]*\))", rest):
        word = part.strip().split("(", 1)[0].strip()
        if re.fullmatch(r"(yuv|yuvj|nv|gray|rgb|bgr|p0)[a-z0-9]*", word):
            return word
    return None


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Length, codecs and subtitle tracks of a media file.

    When the container states no duration (raw elementary streams), the file is decoded once
    into the null muxer and the last timestamp is used.
    """
    src = Path(path)
    if not src.is_file():
        raise MediaError(f"no such file: {src}")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(src)]
    try:
        proc = _ffmpeg_run(cmd, 120)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"probing {src.name} timed out") from exc
    info = parse_probe_output(proc.stderr)
    if info.duration > 0:
        return info
    stderr = run_ffmpeg(["-i", str(src), "-map", "0", "-f", "null", "-"])
    times = _TIME_RE.findall(stderr)
    if not times:
        raise MediaError(f"could not determine the duration of {src.name}")
    return MediaInfo(
        _hms(*times[-1]),
        info.video_codec,
        info.audio_codec,
        info.subtitle_codecs,
        info.width,
        info.height,
        info.pixel_format,
    )


#: Picture-based subtitle codecs: no text to convert to WebVTT.
BITMAP_SUBTITLE_CODECS = frozenset({"dvd_subtitle", "hdmv_pgs_subtitle", "dvb_subtitle", "xsub"})


def extract_subtitles(
    src: str | os.PathLike[str], dest: str | os.PathLike[str], *, info: MediaInfo | None = None
) -> bool:
    """Write the first embedded *text* subtitle track of ``src`` to ``dest`` as WebVTT.

    Returns False (and writes nothing) when the file has no subtitle track that converts
    (none at all, or only picture-based ones such as DVD/PGS). ``info``: a probe result already
    at hand.
    """
    info = info or probe(src)
    out = Path(dest)
    tmp = out.with_name(out.name + ".part")
    for number, codec in enumerate(info.subtitle_codecs):
        if codec in BITMAP_SUBTITLE_CODECS:
            continue
        args = ["-y", "-i", str(src), "-map", f"0:s:{number}", "-f", "webvtt", str(tmp)]
        try:
            run_ffmpeg(args, timeout=300)
        except MediaError as exc:
            log.info("subtitle track %d (%s) of %s not converted: %s", number, codec, src, exc)
            tmp.unlink(missing_ok=True)
            continue
        os.replace(tmp, out)
        return True
    return False


@dataclass(frozen=True)
class DecodeReport:
    """What :func:`decode` saw: decoded video frames and FFmpeg's error output ("" = clean)."""

    video_frames: int
    errors: str


def decode(source: str | os.PathLike[str], *, timeout: float = 600.0) -> DecodeReport:
    """Decode every frame of a file, playlist or stream URL like a player would.

    Used to prove that streams play (tests, end-to-end checks). ``-fps_mode vfr``: see the
    module docstring about discontinuities.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-nostats",
           "-progress", "pipe:1", "-i", str(source),
           "-fps_mode", "vfr", "-f", "null", "-"]  # fmt: skip
    proc = _ffmpeg_run(cmd, timeout)
    frames = re.findall(r"^frame=(\d+)$", proc.stdout, re.M)
    errors = proc.stderr.strip()
    if proc.returncode != 0 and not errors:
        errors = f"ffmpeg exited with {proc.returncode}"
    return DecodeReport(int(frames[-1]) if frames else 0, errors)


# --------------------------------------------------------------------------- renditions


@dataclass(frozen=True)
class Segment:
    """One MPEG-TS segment of a rendition; times are offsets into the video, in seconds."""

    uri: str
    start: float
    duration: float

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Rendition:
    """A video cut into HLS segments: parsed ``index.m3u8`` plus lookup helpers."""

    directory: Path
    segments: tuple[Segment, ...]
    stream_copy: bool | None = None
    _starts: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._starts:
            object.__setattr__(self, "_starts", tuple(s.start for s in self.segments))

    @property
    def duration(self) -> float:
        return self.segments[-1].end if self.segments else 0.0

    @property
    def max_segment_duration(self) -> float:
        """Upper bound of the extra media per timeline edge (see module docstring)."""
        return max((s.duration for s in self.segments), default=0.0)

    def span(self, start: float, end: float) -> tuple[int, int]:
        """Indexes ``[first, last)`` of the segments covering ``[start, end)``, snapped outward.

        O(log n). ``start``/``end`` are clamped to the video; raises ValueError if nothing is left.
        """
        start = max(0.0, start)
        end = min(self.duration, end)
        if end - start <= _EPS:
            raise ValueError(f"empty range ({start}, {end}) for a {self.duration:.3f}s video")
        first = max(0, bisect_right(self._starts, start + _EPS) - 1)
        last = max(first + 1, bisect_left(self._starts, end - _EPS))
        return first, last


def parse_playlist(text: str, directory: Path) -> Rendition:
    """Parse a media playlist (EXTINF + URI pairs) into a :class:`Rendition`."""
    segments: list[Segment] = []
    offset = 0.0
    pending: float | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            pending = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line and not line.startswith("#") and pending is not None:
            segments.append(Segment(line, round(offset, 6), pending))
            offset += pending
            pending = None
    return Rendition(directory, tuple(segments))


_cache_lock = threading.Lock()
_cache: OrderedDict[tuple[str, int, int], Rendition] = OrderedDict()
_CACHE_SIZE = 256


def load_rendition(directory: str | os.PathLike[str]) -> Rendition:
    """Parsed rendition of a directory written by :func:`segment_to_hls` (cached).

    The cache key includes the index's mtime and size, so a re-cut is picked up.
    """
    folder = Path(directory)
    index = folder / INDEX_NAME
    try:
        stat = index.stat()
    except FileNotFoundError as exc:
        raise MediaError(f"no HLS rendition in {folder}") from exc
    key = (str(folder.resolve()), stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    rendition = parse_playlist(index.read_text(encoding="utf-8"), folder)
    meta = folder / META_NAME
    if meta.is_file():
        copied = json.loads(meta.read_text(encoding="utf-8")).get("stream_copy")
        rendition = Rendition(folder, rendition.segments, copied)
    with _cache_lock:
        _cache[key] = rendition
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return rendition


def _is_complete(folder: Path) -> bool:
    index = folder / INDEX_NAME
    return index.is_file() and "#EXT-X-ENDLIST" in index.read_text(encoding="utf-8")


def _hls_args(info: MediaInfo, segment_seconds: float, *, copy: bool) -> list[str]:
    # No mux delay/preload: with FFmpeg's default 0.7 s, a playlist that jumps back into the
    # first segment makes audio timestamps go backwards across the discontinuity.
    args = ["-map", "0:v:0?", "-map", "0:a:0?", "-sn", "-dn", "-muxdelay", "0", "-muxpreload", "0"]
    if copy:
        args += ["-c", "copy"]
    else:
        if info.video_codec is not None:
            args += [
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2",
                "-force_key_frames", f"expr:gte(t,n_forced*{segment_seconds:g})",
                "-sc_threshold", "0",
            ]  # fmt: skip
        if info.audio_codec is not None:
            args += ["-c:a", "aac", "-b:a", "96k"]
    args += [
        "-f", "hls", "-hls_time", f"{segment_seconds:g}", "-hls_playlist_type", "vod",
        "-hls_segment_type", "mpegts", "-hls_list_size", "0",
    ]  # fmt: skip
    return args


def segment_to_hls(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
    info: MediaInfo | None = None,
    timeout: float = 3600.0,
) -> Rendition:
    """Cut ``src`` once into MPEG-TS segments + ``index.m3u8`` in ``out_dir``.

    Idempotent: a complete rendition already in ``out_dir`` is reused. The work happens in a
    sibling temporary folder moved into place index-last, so a crash never leaves something that
    looks like a finished rendition; other files already in ``out_dir`` are kept.
    Stream copy is tried when the codecs are HLS-friendly; if the source's keyframes are too far
    apart for short segments (longest > 1.5 x ``segment_seconds``), it transcodes instead with a
    forced keyframe every ``segment_seconds``.
    """
    if segment_seconds <= 0:
        raise ValueError("segment_seconds must be > 0")
    out = Path(out_dir)
    if _is_complete(out):
        return load_rendition(out)
    info = info or probe(src)
    if info.video_codec is None and info.audio_codec is None:
        raise MediaError(f"{Path(src).name} has neither video nor audio")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    work.chmod(0o755)  # mkdtemp makes it private; the rendition is an ordinary folder
    try:
        copied = False
        if info.hls_friendly:
            try:
                copied = _cut(src, work, info, segment_seconds, True, timeout)
            except MediaError as exc:
                log.info("stream copy of %s failed, transcoding: %s", src, exc)
        if not copied:
            _clear(work)
            _cut(src, work, info, segment_seconds, False, timeout)
        meta = {"stream_copy": copied, "segment_seconds": segment_seconds, "source": info.__dict__}
        (work / META_NAME).write_text(json.dumps(meta, default=list), encoding="utf-8")
        _install(work, out)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    log.info("cut %s into %s (%s)", src, out, "stream copy" if copied else "transcoded")
    return load_rendition(out)


def _cut(
    src: str | os.PathLike[str],
    work: Path,
    info: MediaInfo,
    segment_seconds: float,
    copy: bool,
    timeout: float,
) -> bool:
    """Run one cut; with ``copy``, report whether the segments came out short enough."""
    args = ["-y", "-i", str(src), *_hls_args(info, segment_seconds, copy=copy)]
    args += ["-hls_segment_filename", str(work / SEGMENT_PATTERN), str(work / INDEX_NAME)]
    run_ffmpeg(args, timeout=timeout)
    if not copy:
        return False
    rendition = parse_playlist((work / INDEX_NAME).read_text(encoding="utf-8"), work)
    limit = max(segment_seconds * MAX_COPY_SEGMENT_FACTOR, segment_seconds + 0.5)
    # Every segment counts, the last included: a long last one (a source with a single
    # keyframe gives one segment) would make any timeline over it play far more than asked.
    return all(s.duration <= limit for s in rendition.segments)


def sweep_stale_work(media_root: str | os.PathLike[str]) -> list[str]:
    """Delete the temporary cut folders a crash left in ``media_root`` (call before serving).

    :func:`segment_to_hls` works in hidden sibling folders (``.<video>.<random>``) and moves
    the result into place; one still there at start belongs to a cut that never finished.
    Returns the names removed.
    """
    root = Path(media_root)
    if not root.is_dir():
        return []
    removed = []
    for child in root.iterdir():
        if child.name.startswith(".") and child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child.name)
    if removed:
        log.info("removed %d unfinished cut folder(s) from %s", len(removed), root)
    return removed


def _install(work: Path, out: Path) -> None:
    """Move a finished cut into place; the index goes last, so it marks completeness.

    A missing (or empty) ``out`` is replaced by a rename. Otherwise files are moved one by one,
    so nothing else in ``out`` (a transcript, an upload) is ever deleted.
    """
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        os.replace(work, out)
        return
    (out / INDEX_NAME).unlink(missing_ok=True)
    for child in sorted(work.iterdir(), key=lambda p: p.name == INDEX_NAME):
        os.replace(child, out / child.name)


def _clear(folder: Path) -> None:
    for child in folder.iterdir():
        child.unlink()


# --------------------------------------------------------------------------- playlists


def playlist_from_pieces(pieces: Iterable[Sequence[Segment]], segment_uri_prefix: str = "") -> str:
    """A VOD playlist of segment runs, with ``#EXT-X-DISCONTINUITY`` between runs."""
    pieces = [p for p in pieces if p]
    longest = max((s.duration for p in pieces for s in p), default=1.0)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(longest - _EPS))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    for number, piece in enumerate(pieces):
        if number:
            lines.append("#EXT-X-DISCONTINUITY")
        for seg in piece:
            lines.append(f"#EXTINF:{seg.duration:.6f},")
            lines.append(segment_uri_prefix + seg.uri)
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def select_timeline(
    rendition: Rendition, timeline: Sequence[tuple[float, float]]
) -> list[tuple[Segment, ...]]:
    """Segments for each ``(start, end)`` of ``timeline``, in the given order (snapped outward)."""
    pieces = []
    for start, end in timeline:
        first, last = rendition.span(float(start), float(end))
        pieces.append(rendition.segments[first:last])
    return pieces


def build_timeline_playlist(
    rendition: Rendition,
    timeline: Sequence[tuple[float, float]],
    segment_uri_prefix: str = "",
) -> str:
    """A VOD playlist that plays the ``timeline`` pieces in order, by segment selection only.

    Pieces are separated by ``#EXT-X-DISCONTINUITY`` (their timestamps jump). Cost: O(k log n)
    lookups plus the lines written, independent of the video's length. Each edge may carry up to
    one segment of extra media (see module docstring). ``segment_uri_prefix`` is prepended to
    each segment file name (e.g. ``"/media/m-123/"`` or an absolute URL).
    Raises ValueError for an empty timeline or a piece that lies outside the video.
    """
    if not timeline:
        raise ValueError("timeline is empty")
    return playlist_from_pieces(select_timeline(rendition, timeline), segment_uri_prefix)


def build_full_playlist(rendition: Rendition, segment_uri_prefix: str = "") -> str:
    """The whole-video playlist, with segment URIs prefixed."""
    return playlist_from_pieces([rendition.segments], segment_uri_prefix)
