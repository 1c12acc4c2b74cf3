"""Transcript cues cut other ways: into timed words, time windows, batches, exact-word hits.

Pure functions over :class:`~.transcript.Cue` (no state, no I/O): the server's transcripts
(``GET /video/{id}/transcription``), keyword search and transcript scenes use them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from .transcript import Cue

_WORD_RE = re.compile(r"[a-z0-9]+")

Segment = dict[str, Any]


def words_of(cues: Sequence[Cue]) -> list[Segment]:
    """Every word of ``cues`` with a time: each cue's span shared among its words by length
    (a word and the space after it), so the words tile the cue exactly."""
    words = []
    for cue in cues:
        parts = cue.text.split()
        total = sum(len(p) + 1 for p in parts)
        at = cue.start
        for part in parts:
            step = (cue.end - cue.start) * (len(part) + 1) / total
            words.append({"start": round(at, 3), "end": round(at + step, 3), "text": part})
            at += step
    return words


def overlapping(items: Sequence[Segment], start: float, end: float) -> list[Segment]:
    """The ``items`` (``{start, end, ...}``) that overlap ``start..end``."""
    return [i for i in items if i["end"] > start and i["start"] < end]


def time_windows(words: Sequence[Segment], origin: float, length: float) -> list[Segment]:
    """``words`` grouped into windows of ``length`` seconds counted from ``origin`` (windows
    with no word are left out)."""
    windows: dict[int, list[Segment]] = {}
    for word in words:
        windows.setdefault(int(max(0.0, word["start"] - origin) // length), []).append(word)
    return [
        {
            "start": round(origin + n * length, 3),
            "end": round(origin + (n + 1) * length, 3),
            "text": " ".join(str(w["text"]) for w in group),
        }
        for n, group in sorted(windows.items())
    ]


def batches(items: Sequence[Segment], size: int) -> list[Segment]:
    """``items`` joined ``size`` at a time into one segment each."""
    return [
        {
            "start": batch[0]["start"],
            "end": batch[-1]["end"],
            "text": " ".join(str(i["text"]) for i in batch),
        }
        for batch in (items[i : i + size] for i in range(0, len(items), max(1, size)))
    ]


def exact_words(text: str) -> set[str]:
    """The words of ``text`` as written (ASCII-folded, lowercased; no stemming)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return set(_WORD_RE.findall(folded))


def keyword_hits(cues: Sequence[Cue], query: str) -> list[Segment]:
    """The cues holding every word of ``query`` exactly, in time order, each scored 1."""
    wanted = exact_words(query)
    if not wanted:
        return []
    return [
        {"start": c.start, "end": c.end, "text": c.text, "score": 1.0}
        for c in cues
        if wanted <= exact_words(c.text)
    ]
