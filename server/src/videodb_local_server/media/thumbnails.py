"""Thumbnails: one JPEG frame cut with FFmpeg from a video's HLS segments.

Blocking; the server calls it in an executor. The frame is read from the segment that holds
the requested second (no source file is needed, only the rendition ``ingest`` cut).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from . import hls

#: Seconds FFmpeg may take for one frame.
THUMBNAIL_TIMEOUT = 60.0
#: Where the default thumbnail of a video goes in its ``media_dir``.
DEFAULT_NAME = "thumbnail.jpg"
#: Seconds before the end a frame is still cut from (the last frame may be shorter).
LAST_FRAME_MARGIN = 0.05
#: Second the default thumbnail is taken at (or the middle of a shorter video).
DEFAULT_SECOND = 1.0


def default_time(length: float) -> float:
    """The second a video's default thumbnail shows.

    :param length: the video's length in seconds.
    """
    return min(DEFAULT_SECOND, max(0.0, length / 2))


def cut_thumbnail(media_dir: str | os.PathLike[str], second: float, dest: Path) -> Path:
    """Write the frame at ``second`` of the video in ``media_dir`` to ``dest`` (JPEG).

    Written beside ``dest`` first and moved into place, so a reader never sees half a file.

    :param media_dir: the video's rendition folder.
    :param second: offset into the video, within its length.
    :param dest: the JPEG to write (its folder is created).
    :raises hls.MediaError: when FFmpeg cannot cut the frame.
    """
    rendition = hls.load_rendition(media_dir)
    if not rendition.segments:
        raise hls.MediaError("the video has no segments")
    second = max(0.0, min(second, rendition.duration - LAST_FRAME_MARGIN))
    first, _ = rendition.span(second, min(rendition.duration, second + LAST_FRAME_MARGIN))
    segment = rendition.segments[first]
    offset = max(0.0, second - segment.start)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.with_name(f".{dest.stem}.{secrets.token_hex(6)}.jpg")  # one per cut
    # Output seeking (decode and drop up to the offset): a segment is a couple of seconds, and
    # input seeking inside one MPEG-TS segment can land past its last frame. Full-range YUV
    # is what the JPEG encoder takes.
    try:
        hls.run_ffmpeg(
            ["-y", "-v", "error", "-i", str(Path(media_dir) / segment.uri), "-ss",
             f"{offset:.3f}", "-frames:v", "1", "-update", "1", "-pix_fmt", "yuvj420p",
             "-q:v", "3", "-f", "image2", str(work)],
            timeout=THUMBNAIL_TIMEOUT,
        )  # fmt: skip
        if not work.is_file() or work.stat().st_size == 0:
            raise hls.MediaError(f"no frame at {second:g}s")
        os.replace(work, dest)
    finally:
        work.unlink(missing_ok=True)  # gone already after a successful replace
    return dest
