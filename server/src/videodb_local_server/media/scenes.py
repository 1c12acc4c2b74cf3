"""Scenes of a video, found in its real frames with FFmpeg: the twin's scene index.

Two ways to cut a video into scenes, as the SDK's ``SceneExtractionType`` names them:

* ``shot``: the shot changes FFmpeg's scene score finds (``select='gt(scene,T)'`` and
  ``showinfo`` print the time of each frame that starts a new shot);
* ``time``: fixed windows of ``seconds``.

Each scene is then described from its frames, since the twin has no vision model: the average
colour of each sampled frame (``showinfo``'s per-plane means of a small, area-scaled frame)
gets a plain name and a brightness ("a bright red scene", "a dark blue scene"), so a visual
query such as "red" finds the frames that really are red.

Blocking (FFmpeg): the server calls these in a worker thread.
"""

from __future__ import annotations

import colorsys
import os
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from .hls import run_ffmpeg

#: Frames per second sampled for colours (a frame is at most 1/8 s from the time asked).
SAMPLE_FPS = 4
#: Size the sampled frames are averaged down to before their means are read.
SAMPLE_SIZE = "32:18"
#: Frame positions a caller may name (``select_frames``).
FRAME_POSITIONS = ("first", "middle", "last")
#: A scene shorter than this (s) is merged into the one before it.
MIN_SCENE_SECONDS = 0.2
_PTS_RE = re.compile(r"pts_time:\s*(-?[0-9.]+)")
_MEAN_RE = re.compile(r"pts_time:\s*(-?[0-9.]+).*?mean:\[(\d+) (\d+) (\d+)\]")
#: Hue (degrees) upper bounds and the colour names below them.
_HUES = (
    (15, "red"),
    (40, "orange"),
    (70, "yellow"),
    (165, "green"),
    (195, "cyan"),
    (255, "blue"),
    (290, "purple"),
    (335, "magenta"),
    (360, "red"),
)

Rgb = tuple[int, int, int]


@dataclass(frozen=True)
class Frame:
    """One sampled frame of a scene: its time (s), average colour and the colour's words."""

    time: float
    rgb: Rgb
    description: str

    def to_dict(self) -> dict[str, object]:
        return {"frame_time": self.time, "rgb": list(self.rgb), "description": self.description}


@dataclass(frozen=True)
class Scene:
    """One scene: where it is (s), what it looks like, and the frames that say so."""

    start: float
    end: float
    description: str
    frames: tuple[Frame, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "description": self.description,
            "frames": [f.to_dict() for f in self.frames],
        }


def shot_starts(source: str | os.PathLike[str], threshold: float) -> list[float]:
    """Times (s, from the first frame) at which FFmpeg's scene score exceeds ``threshold``.

    :param source: a media file or HLS playlist FFmpeg can read.
    :param threshold: the scene score (0..1) above which a frame starts a new shot.
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
    graph = f"select='eq(n\\,0)+gt(scene\\,{threshold:.4f})',showinfo"
    err = run_ffmpeg(["-i", str(source), "-an", "-sn", "-vf", graph, "-f", "null", "-"])
    lines = [line for line in err.splitlines() if "showinfo" in line and "pts_time:" in line]
    times = [float(m.group(1)) for line in lines if (m := _PTS_RE.search(line))]
    if not times:
        return []
    base = times[0]  # an MPEG-TS stream rarely starts at 0
    return [round(t - base, 3) for t in times[1:]]


def spans_from_cuts(cuts: Sequence[float], length: float) -> list[tuple[float, float]]:
    """Back-to-back ``(start, end)`` spans covering ``0..length`` split at ``cuts``."""
    edges = [0.0]
    for cut in sorted(cuts):
        if cut - edges[-1] >= MIN_SCENE_SECONDS and cut <= length - MIN_SCENE_SECONDS:
            edges.append(cut)
    edges.append(length)
    return [(round(a, 3), round(b, 3)) for a, b in pairwise(edges)]


def time_windows(length: float, seconds: float) -> list[tuple[float, float]]:
    """Windows of ``seconds`` covering ``0..length`` (the last one may be shorter)."""
    if seconds <= 0:
        raise ValueError(f"time must be > 0 seconds, got {seconds!r}")
    count = max(1, int(-(-length // seconds)))
    return [(round(i * seconds, 3), round(min(length, (i + 1) * seconds), 3)) for i in range(count)]


def frame_times(
    start: float, end: float, frame_count: int, select_frames: Sequence[str] | None
) -> list[float]:
    """When to look at a scene: the named positions, else ``frame_count`` evenly spread.

    "first" and "last" sit a little inside the scene, so a frame across a cut is never taken.
    """
    span = end - start
    inset = min(0.5, span / 10)
    named = {"first": start + inset, "middle": start + span / 2, "last": end - inset}
    if select_frames:
        return [round(named[p], 3) for p in dict.fromkeys(select_frames)]
    return [round(start + span * (i + 0.5) / frame_count, 3) for i in range(frame_count)]


def sample_colours(source: str | os.PathLike[str], times: Sequence[float]) -> list[Rgb]:
    """The average colour of the frame nearest each of ``times`` (one FFmpeg pass).

    :param source: a media file or HLS playlist FFmpeg can read.
    :param times: seconds from the first frame.
    """
    if not times:
        return []
    graph = f"fps={SAMPLE_FPS},scale={SAMPLE_SIZE}:flags=area,showinfo"
    err = run_ffmpeg(["-i", str(source), "-an", "-sn", "-vf", graph, "-f", "null", "-"])
    samples = [
        (float(m.group(1)), (int(m.group(2)), int(m.group(3)), int(m.group(4))))
        for line in err.splitlines()
        if "showinfo" in line and (m := _MEAN_RE.search(line))
    ]
    if not samples:
        raise ValueError("the video has no frames to describe")
    base = samples[0][0]
    stamps = [t - base for t, _ in samples]
    out = []
    for t in times:
        i = min(bisect_left(stamps, t), len(stamps) - 1)
        if i > 0 and abs(stamps[i - 1] - t) <= abs(stamps[i] - t):
            i -= 1
        out.append(yuv_to_rgb(*samples[i][1]))
    return out


def yuv_to_rgb(y: int, u: int, v: int) -> Rgb:
    """BT.601 limited-range YUV (what H.264 video carries) to 8-bit RGB."""
    c, d, e = 1.164 * (y - 16), u - 128, v - 128
    r, g, b = c + 1.596 * e, c - 0.392 * d - 0.813 * e, c + 2.017 * d
    return (_byte(r), _byte(g), _byte(b))


def _byte(x: float) -> int:
    return max(0, min(255, round(x)))


def colour_words(rgb: Rgb) -> str:
    """A plain name for a colour with its brightness: "bright red", "dark blue", "grey"."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    if v < 0.12:
        return "black"
    if s < 0.2:
        return "white" if v > 0.85 else ("dark grey" if v < 0.4 else "grey")
    hue = h * 360
    name = next(n for bound, n in _HUES if hue < bound)
    brightness = "bright " if v >= 0.7 else ("dark " if v < 0.4 else "")
    return brightness + name


def describe(frames: Sequence[Frame]) -> str:
    """A scene's description from its frames' colours: "a bright red scene"."""
    words = list(dict.fromkeys(f.description for f in frames))
    if not words:
        return "a scene"
    return f"a {' and '.join(words)} scene"


def extract_scenes(
    source: str | os.PathLike[str],
    length: float,
    spans: Sequence[tuple[float, float]],
    *,
    frame_count: int = 1,
    select_frames: Sequence[str] | None = None,
) -> list[Scene]:
    """``spans`` described from their frames (one FFmpeg pass for all of them).

    :param source: a media file or HLS playlist FFmpeg can read.
    :param length: the video's length (s); frame times stay inside it.
    :param spans: the scenes' ``(start, end)`` in seconds.
    :param frame_count: frames per scene when ``select_frames`` names none.
    :param select_frames: positions to look at ("first", "middle", "last").
    """
    wanted = [frame_times(a, b, frame_count, select_frames) for a, b in spans]
    flat = [min(t, max(0.0, length - 0.01)) for times in wanted for t in times]
    colours = iter(sample_colours(source, flat))
    scenes = []
    for (start, end), times in zip(spans, wanted, strict=True):
        frames = []
        for t in times:
            rgb = next(colours)
            frames.append(Frame(t, rgb, colour_words(rgb)))
        scenes.append(Scene(start, end, describe(frames), tuple(frames)))
    return scenes


__all__ = [
    "FRAME_POSITIONS",
    "Frame",
    "Scene",
    "colour_words",
    "extract_scenes",
    "frame_times",
    "sample_colours",
    "shot_starts",
    "spans_from_cuts",
    "time_windows",
    "yuv_to_rgb",
]
