"""A stream as one MP4 file, for browsers that cannot play HLS by themselves.

The stream's MPEG-TS segments are joined by FFmpeg's concat demuxer and copied (no
re-encode) into an MP4 with its index at the front (``+faststart``), so a plain
``<video src>`` plays it and can seek in it. The concat demuxer lays the segments end to end
whatever their own timestamps, which is what a timeline or compiled stream needs: its pieces
jump in time where the playlist says ``#EXT-X-DISCONTINUITY``.

An MP4 is written to a temporary name and renamed, so concurrent requests never see half a
file; :func:`cache_name` names it by the playlist's digest (a stream's playlist never
changes), which is how ``player``'s route keeps it. No HTTP here: the route is ``player``'s.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .hls import MediaError, run_ffmpeg

MP4_CONTENT_TYPE = "video/mp4"
#: Seconds one remux may take (stream copy: well under a second for the demo videos).
REMUX_TIMEOUT_SECONDS = 600.0


def _quoted(path: Path) -> str:
    """``path`` as a concat-script string: single-quoted, a quote written ``'\\''``."""
    return "'" + str(path).replace("'", "'\\''") + "'"


def concat_script(files: Sequence[tuple[Path, float]]) -> str:
    """An ``ffconcat`` script playing ``files`` end to end.

    :param files: ``(segment file, duration in seconds)`` in playing order.
    """
    lines = ["ffconcat version 1.0"]
    for path, duration in files:
        lines.append(f"file {_quoted(path.resolve())}")
        lines.append(f"duration {duration:.6f}")
    return "\n".join(lines) + "\n"


def cache_name(playlist: str) -> str:
    """The cached MP4's file name for a playlist: its digest (same playlist, same file).

    :param playlist: the playlist text.
    """
    return hashlib.sha256(playlist.encode()).hexdigest()[:32] + ".mp4"


def remux_to_mp4(
    files: Sequence[tuple[Path, float]],
    out: Path,
    *,
    timeout: float = REMUX_TIMEOUT_SECONDS,
) -> Path:
    """Copy the segments ``files`` into the MP4 ``out`` (written whole, then renamed).

    :param files: ``(segment file, duration in seconds)`` in playing order.
    :param out: the MP4 to write; its folder is created if needed.
    :param timeout: seconds FFmpeg may take.
    """
    if not files:
        raise MediaError("the stream has no segments to remux")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, script_name = tempfile.mkstemp(prefix=".concat-", suffix=".txt", dir=out.parent)
    script = Path(script_name)
    work = out.with_name(f".{out.stem}-{os.getpid()}-{os.urandom(4).hex()}.mp4")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(concat_script(files))
        args = ["-v", "error", "-f", "concat", "-safe", "0", "-i", str(script)]
        args += ["-map", "0:v?", "-map", "0:a?", "-c", "copy", "-movflags", "+faststart"]
        run_ffmpeg([*args, "-f", "mp4", str(work)], timeout=timeout)
        os.replace(work, out)
    finally:
        script.unlink(missing_ok=True)
        work.unlink(missing_ok=True)
    return out
