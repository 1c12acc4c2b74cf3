"""Subtitle files (WebVTT, SRT) to transcript cues, and back to WebVTT.

Tolerant on purpose, because transcripts come from users and from FFmpeg: a UTF-8 BOM, CRLF
line ends, cue identifiers, cue settings after the timing (``align:start``), ``NOTE``/``STYLE``/
``REGION`` blocks, multi-line cue text, inline tags (``<v Bob>``, ``<b>``), HTML entities and
timestamps without hours (``01:02.500``) are all accepted. Cues come back sorted by start.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Cue:
    """One subtitle cue: seconds from the start of the video, and its plain text."""

    start: float
    end: float
    text: str

    def to_dict(self) -> dict[str, float | str]:
        return {"start": self.start, "end": self.end, "text": self.text}


class TranscriptError(ValueError):
    """The file is not a subtitle file this module can read."""


_TS = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?"
_TIMING_RE = re.compile(rf"^\s*{_TS}\s*-->\s*{_TS}")
_TAG_RE = re.compile(r"<[^>]*>")
_SPACE_RE = re.compile(r"[ \t]+")


def _seconds(h: str | None, m: str, s: str, frac: str | None) -> float:
    millis = int((frac or "0").ljust(3, "0"))
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + millis / 1000.0


def _clean(lines: Iterable[str]) -> str:
    text = " ".join(_TAG_RE.sub("", line).strip() for line in lines)
    return _SPACE_RE.sub(" ", html.unescape(text)).strip()


def _blocks(text: str) -> list[list[str]]:
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return [block.split("\n") for block in re.split(r"\n[ \t]*\n", text) if block.strip()]


def _parse_blocks(blocks: list[list[str]]) -> list[Cue]:
    cues: list[Cue] = []
    for block in blocks:
        lines = [line for line in block if line.strip()]
        for i, line in enumerate(lines[:2]):  # timing is line 1, or line 2 after an identifier
            match = _TIMING_RE.match(line)
            if match:
                g = match.groups()
                start, end = _seconds(*g[:4]), _seconds(*g[4:])
                text = _clean(lines[i + 1 :])
                if text and end > start:
                    cues.append(Cue(start, end, text))
                break
    cues.sort(key=lambda c: (c.start, c.end))
    return cues


def parse_webvtt(text: str) -> list[Cue]:
    """Cues of a WebVTT document. Raises TranscriptError without the ``WEBVTT`` header."""
    blocks = _blocks(text)
    if not blocks or not blocks[0][0].strip().startswith("WEBVTT"):
        raise TranscriptError("not a WebVTT file (no WEBVTT header)")
    body = [b for b in blocks[1:] if not b[0].strip().startswith(("NOTE", "STYLE", "REGION"))]
    # The header block may itself continue into a cue when a blank line is missing.
    return _parse_blocks([blocks[0][1:], *body])


def parse_srt(text: str) -> list[Cue]:
    """Cues of a SubRip (SRT) document."""
    return _parse_blocks(_blocks(text))


def parse_subtitles(text: str) -> list[Cue]:
    """Cues of a WebVTT or SRT document (detected from the content)."""
    if text.lstrip("\ufeff").lstrip().startswith("WEBVTT"):
        return parse_webvtt(text)
    cues = parse_srt(text)
    if not cues and text.strip():
        raise TranscriptError("no subtitle cues found (expected WebVTT or SRT)")
    return cues


def load_transcript(path: str | os.PathLike[str]) -> list[Cue]:
    """Read a WebVTT or SRT file (UTF-8, falling back to Latin-1)."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return parse_subtitles(text)


def format_timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    h, rest = divmod(millis, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def format_webvtt(cues: Iterable[Cue]) -> str:
    """Serialise cues as a WebVTT document."""
    parts = ["WEBVTT", ""]
    for cue in cues:
        parts += [f"{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}", cue.text, ""]
    return "\n".join(parts)
