"""Rank a text prompt against transcript cues: the twin's answer to ``POST /video/{id}/clip``.

A small, dependency-free BM25 (Okapi, with the always-positive idf of BM25+/Lucene) over the
cues of one video, with light normalisation: lowercase, ASCII folding, stopwords (including
prompt filler such as "show me the part about"), and a tiny suffix stemmer.

Scores are in 0..1: a cue's BM25 score divided by the score a cue of average length would get
if it contained every prompt word once (prompt words absent from the transcript count in the
denominator, so "weather and cars" scores lower than "weather"). Cues below ``min_score`` are
dropped, so an unrelated prompt yields no shots. Matching cues that share a prompt term and are
adjacent, or separated by at most ``max_gap_cues`` other cues within ``max_gap_seconds``, merge
into one shot (the talk about a topic rarely repeats the keyword in every sentence); a shot's
score is its best cue's.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .transcript import Cue

K1 = 1.2
B = 0.75
DEFAULT_MIN_SCORE = 0.2
DEFAULT_MAX_GAP_CUES = 1
DEFAULT_MAX_GAP_SECONDS = 10.0

_STOPWORDS_TEXT = """
    a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just me more
    most my no nor not now of off on once only or other our ours out over own same she should so
    some such than that the their theirs them then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you
    your yours
    show find give get want see clip clips part parts bit bits section sections segment segments
    moment moments scene scenes where talk talks talking discuss discussed discussing mention
    mentions mentioned video please let us say says said thing things something
    """
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_TOKEN_RE = re.compile(r"[a-z0-9]+")
_SUFFIXES = ("ingly", "edly", "ings", "ing", "ies", "ied", "ers", "er", "ed", "ly", "es", "s", "y")


def stem(word: str) -> str:
    """A deliberately small suffix stripper that maps common forms of a word together.

    forecast/forecasts/forecasting -> forecast, score/scores/scoring -> scor,
    rain/rainy -> rain, run/running -> run, party/parties -> part.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):
                break
            word = word[: -len(suffix)]
            if word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # running -> run
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def tokenize(text: str) -> list[str]:
    """Normalised terms of ``text``: folded, lowercased, stopwords removed, stemmed."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return [stem(t) for t in _TOKEN_RE.findall(folded) if t not in STOPWORDS]


@dataclass(frozen=True)
class ScoredCue:
    index: int
    cue: Cue
    score: float
    terms: frozenset[str] = frozenset()  # prompt terms found in the cue


class TranscriptIndex:
    """BM25 statistics over the cues of one transcript; build once, query many times."""

    def __init__(self, cues: Sequence[Cue], *, k1: float = K1, b: float = B) -> None:
        self.cues = list(cues)
        self.k1, self.b = k1, b
        self._tf = [Counter(tokenize(c.text)) for c in self.cues]
        self._len = [sum(tf.values()) for tf in self._tf]
        self._avgdl = (sum(self._len) / len(self._len)) if self._len else 0.0
        self._df: Counter[str] = Counter()
        for tf in self._tf:
            self._df.update(tf.keys())

    def idf(self, term: str) -> float:
        n, df = len(self.cues), self._df.get(term, 0)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def score_cues(self, prompt: str) -> list[ScoredCue]:
        """Every cue with a normalised score in 0..1 (in transcript order)."""
        terms = list(dict.fromkeys(tokenize(prompt)))
        if not terms or not self.cues or self._avgdl == 0:
            return [ScoredCue(i, c, 0.0) for i, c in enumerate(self.cues)]
        idf = {t: self.idf(t) for t in terms}
        ceiling = sum(idf.values())  # tf=1 in a cue of average length gives exactly idf
        out = []
        for i, (cue, tf, dl) in enumerate(zip(self.cues, self._tf, self._len, strict=True)):
            norm = self.k1 * (1 - self.b + self.b * dl / self._avgdl)
            found = frozenset(t for t in terms if tf[t])
            raw = sum(idf[t] * tf[t] * (self.k1 + 1) / (tf[t] + norm) for t in found)
            out.append(ScoredCue(i, cue, min(1.0, raw / ceiling), found))
        return out

    def search(
        self,
        prompt: str,
        *,
        min_score: float = DEFAULT_MIN_SCORE,
        max_gap_cues: int = DEFAULT_MAX_GAP_CUES,
        max_gap_seconds: float = DEFAULT_MAX_GAP_SECONDS,
        limit: int | None = None,
    ) -> list[dict[str, float | str]]:
        """Shots for ``prompt``: ``[{start, end, text, score}]``, best first; ``[]`` if none."""
        hits = [s for s in self.score_cues(prompt) if s.score >= min_score]
        groups: list[list[ScoredCue]] = []
        for hit in hits:
            if groups and self._continues(groups[-1], hit, max_gap_cues, max_gap_seconds):
                groups[-1].append(hit)
            else:
                groups.append([hit])
        shots = [self._shot(group) for group in groups]
        shots.sort(key=lambda s: (-float(s["score"]), float(s["start"])))
        return shots[:limit] if limit is not None else shots

    @staticmethod
    def _continues(group: list[ScoredCue], hit: ScoredCue, gap_cues: int, gap_s: float) -> bool:
        """Same talk: close after the group, and sharing a prompt term with it."""
        prev = group[-1]
        close = hit.index - prev.index - 1 <= gap_cues and hit.cue.start - prev.cue.end <= gap_s
        return close and any(hit.terms & g.terms for g in group)

    def _shot(self, group: list[ScoredCue]) -> dict[str, float | str]:
        first, last = group[0].index, group[-1].index
        cues = self.cues[first : last + 1]  # includes bridged non-matching cues
        return {
            "start": round(cues[0].start, 3),
            "end": round(max(c.end for c in cues), 3),
            "text": " ".join(c.text for c in cues),
            "score": round(max(h.score for h in group), 4),
        }


def rank(prompt: str, cues: Sequence[Cue], **options: float | int | None) -> list[dict]:
    """One-shot helper: ``TranscriptIndex(cues).search(prompt, **options)``."""
    return TranscriptIndex(cues).search(prompt, **options)  # type: ignore[arg-type]
