"""Glue between the HTTP layer (api.py) and the media modules: ingest files, build playlists.

Functions here are blocking (FFmpeg, file I/O); the server calls them in an executor.

Layout of one video's ``media_dir``: ``index.m3u8`` + ``seg_NNNNN.ts`` (cut once) and
``transcript.vtt`` (when the file carried embedded subtitles).

Segment URIs in every playlist are **relative** to the playlist: ``seg/{video_id}/seg_NNNNN.ts``.
A playlist served at ``/hls/{stream_id}.m3u8`` therefore fetches
``/hls/seg/{video_id}/seg_NNNNN.ts`` (the ``hls`` handlers), which maps to
``{media_dir}/seg_NNNNN.ts``, whatever the origin or path prefix the server runs behind.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import hls
from .hls import (
    DEFAULT_SEGMENT_SECONDS,
    MediaInfo,
    Rendition,
    build_full_playlist,
    load_rendition,
    select_timeline,
)
from .transcript import (
    Cue,
    TranscriptError,
    load_transcript,
)

TRANSCRIPT_NAME = "transcript.vtt"
SUBTITLE_SUFFIXES = frozenset({".vtt", ".webvtt", ".srt"})
_SEGMENT_NAME_RE = re.compile(r"^seg_\d{5,}\.ts$")

__all__ = [
    "IngestResult",
    "compiled_playlist",
    "ingest_video",
    "read_subtitle",
    "segment_file",
    "segment_prefix",
    "timeline_playlist",
    "whole_playlist",
]


@dataclass(frozen=True)
class IngestResult:
    """An ingested video: its length (s), the rendition, and embedded-transcript cues if any."""

    info: MediaInfo
    rendition: Rendition
    cues: list[dict[str, Any]] = field(default_factory=list)
    cue_source: str | None = None  # "embedded" when cues came from a subtitle track in the file

    @property
    def length(self) -> float:
        """Seconds that really play: a truncated file's header promises more than it holds,
        so the rendition (what FFmpeg actually decoded) caps the header's duration."""
        if not self.rendition.segments:
            return self.info.duration
        return min(self.info.duration, self.rendition.duration)


def _cue_dicts(cues: Sequence[Cue]) -> list[dict[str, Any]]:
    return [c.to_dict() for c in cues]


def read_subtitle(src: str | os.PathLike[str]) -> list[dict[str, Any]] | None:
    """Cues of ``src`` if it is a subtitle file (WebVTT/SRT), ``[]`` if it looks like one but has
    no readable cues, ``None`` if it is not a subtitle file at all (e.g. a video)."""
    path = Path(src)
    with path.open("rb") as fh:
        head = fh.read(4096)
    if b"\x00" in head:
        return None
    text_head = head.decode("utf-8", "ignore").lstrip("\ufeff").lstrip()
    looks_like = (
        path.suffix.lower() in SUBTITLE_SUFFIXES
        or text_head.startswith("WEBVTT")
        or "-->" in text_head
    )
    if not looks_like:
        return None
    try:
        return _cue_dicts(load_transcript(path))
    except (TranscriptError, UnicodeDecodeError):
        return []


def ingest_video(
    src: str | os.PathLike[str],
    media_dir: str | os.PathLike[str],
    *,
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
) -> IngestResult:
    """Probe ``src``, cut it once into HLS in ``media_dir``, extract embedded subtitles.

    Idempotent (a finished rendition/transcript is reused). Raises hls.MediaError for a file
    FFmpeg cannot read.
    """
    folder = Path(media_dir)
    info = hls.probe(src)
    rendition = hls.segment_to_hls(src, folder, segment_seconds=segment_seconds, info=info)
    dest = folder / TRANSCRIPT_NAME
    cues: list[Cue] = []
    if dest.is_file() or (info.has_subtitles and hls.extract_subtitles(src, dest, info=info)):
        try:
            cues = load_transcript(dest)
        except TranscriptError:
            cues = []
    return IngestResult(info, rendition, _cue_dicts(cues), "embedded" if cues else None)


def segment_prefix(video_id: str) -> str:
    """Relative URI prefix of a video's segments inside any of its playlists."""
    return f"seg/{video_id}/"


def segment_file(media_dir: str | os.PathLike[str], name: str) -> Path | None:
    """Path of segment ``name`` of a video, or None if the name is not a segment name."""
    if not _SEGMENT_NAME_RE.match(name):
        return None
    path = Path(media_dir) / name
    return path if path.is_file() else None


def _rendition(media_dir: str | os.PathLike[str]) -> Rendition:
    return load_rendition(Path(media_dir))


def whole_playlist(video_id: str, media_dir: str | os.PathLike[str]) -> str:
    """Playlist of the whole video."""
    return build_full_playlist(_rendition(media_dir), segment_prefix(video_id))


def timeline_playlist(
    video_id: str, media_dir: str | os.PathLike[str], timeline: Sequence[Sequence[float]]
) -> str:
    """Playlist of ``timeline`` pieces of one video, in order (ValueError if a piece is empty)."""
    return compiled_playlist([(video_id, media_dir, timeline)])


def compiled_playlist(
    items: Sequence[tuple[str, str | os.PathLike[str], Sequence[Sequence[float]]]],
) -> str:
    """One playlist over shots of one or more videos: ``[(video_id, media_dir, shots), ...]``."""
    pieces = []
    for video_id, media_dir, shots in items:
        rendition = _rendition(media_dir)
        prefix = segment_prefix(video_id)
        for piece in select_timeline(rendition, [(float(s), float(e)) for s, e in shots]):
            pieces.append(tuple(hls.Segment(prefix + s.uri, s.start, s.duration) for s in piece))
    if not pieces:
        raise ValueError("timeline is empty")
    return hls.playlist_from_pieces(pieces)
