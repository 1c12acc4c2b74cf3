"""Demo media for ``--demo``: small videos with transcripts of distinct topics, made locally.

Everything is synthesised with FFmpeg's lavfi sources (test pattern + tone), so nothing is
downloaded. Each video is 320x180, 15 fps, H.264 (ultrafast, a keyframe every second) + AAC, and
shows its current topic's title when the FFmpeg build has ``drawtext`` and a font.

The transcripts exercise the three ways a transcript can arrive:

* ``evening-news``  (~3 min): WebVTT sidecar; weather, football, cooking, markets, space, music.
* ``science-desk``  (~1 min): subtitles *embedded* in the MP4 (mov_text), no sidecar.
* ``kitchen-garden`` (~45 s): SRT sidecar.

:func:`generate_demo` writes them (in parallel, a few seconds on two cores), reuses an existing
set, and returns :class:`DemoVideo` descriptors for the server to ingest.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from .hls import MediaError, ffmpeg_exe, run_ffmpeg
from .transcript import Cue, format_timestamp, format_webvtt

DEMO_VERSION = 2
MANIFEST = "demo.json"
WIDTH, HEIGHT, FPS = 320, 180, 15
KEYFRAME_SECONDS = 1.0
CUE_SECONDS = 5.5  # each sentence is shown for 5.5 s, then a 0.5 s pause
TOPIC_SENTENCES = 5  # -> 30 s per topic
#: Each topic fills the frame with one colour (in turn): a real shot change at every topic
#: boundary, and scenes whose colour a visual search can name.
TOPIC_COLOURS = ("red", "blue", "green", "yellow", "purple", "orange")


@dataclass(frozen=True)
class Topic:
    title: str
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class DemoSpec:
    name: str
    description: str
    transcript: str  # "vtt" (sidecar), "srt" (sidecar) or "embedded"
    tone_hz: int
    topics: tuple[Topic, ...]


@dataclass(frozen=True)
class DemoVideo:
    """What the server needs to ingest one demo video."""

    name: str
    description: str
    path: Path
    transcript_path: Path | None  # None: the transcript is embedded in the video file
    duration: float
    topics: list[dict[str, float | str]] = field(default_factory=list)  # {title, start, end}

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["path"] = self.path.name
        data["transcript_path"] = self.transcript_path.name if self.transcript_path else None
        return data

    @classmethod
    def from_json(cls, folder: Path, data: dict) -> DemoVideo:
        transcript = data["transcript_path"]
        return cls(
            name=data["name"],
            description=data["description"],
            path=folder / data["path"],
            transcript_path=folder / transcript if transcript else None,
            duration=float(data["duration"]),
            topics=list(data["topics"]),
        )


def _t(title: str, *sentences: str) -> Topic:
    assert len(sentences) == TOPIC_SENTENCES, title
    return Topic(title, sentences)


WEATHER = _t(
    "Weather",
    "Good evening, and first the weather forecast for the weekend.",
    "Heavy rain and strong winds are expected along the coast tonight.",
    "The weather clears on Saturday with sunny spells and a high of eighteen degrees.",
    "Sunday brings cloud, light showers and a chance of thunder in the hills.",
    "That was the weather; take an umbrella if you travel early tomorrow.",
)
FOOTBALL = _t(
    "Football",
    "In football, the city derby ended two goals to one after a late penalty.",
    "The key moment came in stoppage time, when the keeper saved a free kick.",
    "The coach praised the midfield and said the league title race is wide open.",
    "Supporters filled the stadium for the first time since the new stand opened.",
    "Next week the team travels north for the cup quarter final.",
)
COOKING = _t(
    "Cooking",
    "Now to the kitchen, where our chef is cooking a simple tomato pasta.",
    "Fry the garlic gently in olive oil, then add the chopped tomatoes and basil.",
    "Let the sauce simmer for twenty minutes while the pasta boils in salted water.",
    "Finish the recipe with grated parmesan and a little of the cooking water.",
    "It is a cheap dinner for four that takes less than half an hour.",
)
MARKETS = _t(
    "Markets",
    "On the markets, shares fell sharply after the central bank raised interest rates.",
    "Technology stocks led the losses while energy companies gained on higher oil prices.",
    "The currency weakened against the dollar and bond yields hit a ten year high.",
    "Investors expect inflation to ease later in the year, analysts said.",
    "The stock exchange index closed the day down one and a half percent.",
)
SPACE = _t(
    "Space",
    "In space news, a rocket carried a new telescope into orbit this morning.",
    "The telescope will study distant galaxies and the atmospheres of other planets.",
    "Astronauts on the space station will test the instruments next month.",
    "Engineers watched the launch from mission control and cheered at separation.",
    "The first images from the observatory are expected in the spring.",
)
MUSIC = _t(
    "Music",
    "Finally, music: the orchestra opens its summer festival with a free concert.",
    "The programme mixes classical symphonies with new songs by local composers.",
    "A young violinist from the conservatory will play the solo on opening night.",
    "Tickets for the jazz evenings sold out within an hour, organisers said.",
    "That is all from us tonight, goodbye and enjoy the music.",
)
OCEAN = _t(
    "Oceans",
    "On the science desk, researchers mapped a coral reef in the deep ocean.",
    "The reef hosts fish and sponges that live without sunlight at great depth.",
    "Warmer sea water is bleaching coral closer to the surface, the team warned.",
    "Underwater robots collected samples of the reef for the marine laboratory.",
    "The ocean survey will continue along the continental shelf next year.",
)
VOLCANO = _t(
    "Volcanoes",
    "A volcano in the north erupted overnight, sending ash high into the sky.",
    "The key moment: lava flowed down the eastern slope but stopped short of the village.",
    "Geologists measured small earthquakes under the crater for several weeks.",
    "Flights were diverted around the ash cloud as a precaution.",
    "The eruption is expected to weaken over the coming days, scientists said.",
)
GARDEN = _t(
    "Gardening",
    "In the garden this week, plant tulip bulbs before the first frost arrives.",
    "Prune the roses and cover tender plants with fleece on cold nights.",
    "Compost fallen leaves to feed the soil for next season's vegetables.",
    "Water seedlings in the morning so the roots dry before evening.",
    "A little care now gives a colourful garden in the spring.",
)
BAKING = _t(
    "Baking",
    "Time for baking: today we make a loaf of sourdough bread.",
    "Mix flour, water, salt and the starter, then knead the dough for ten minutes.",
    "Leave the dough to rise overnight in a cool place covered with a cloth.",
    "The key moment is the bake, in a hot oven until the crust is dark and crisp.",
    "Let the bread cool before slicing, or the crumb will be gummy.",
)

DEMO_SPECS: tuple[DemoSpec, ...] = (
    DemoSpec(
        "Evening News Roundup",
        "Demo newscast: weather, football, cooking, markets, space and music (WebVTT sidecar).",
        "vtt",
        440,
        (WEATHER, FOOTBALL, COOKING, MARKETS, SPACE, MUSIC),
    ),
    DemoSpec(
        "Science Desk",
        "Demo science bulletin: oceans and volcanoes (subtitles embedded in the file).",
        "embedded",
        330,
        (OCEAN, VOLCANO),
    ),
    DemoSpec(
        "Kitchen and Garden",
        "Demo lifestyle show: gardening and baking (SRT sidecar).",
        "srt",
        550,
        (GARDEN, BAKING),
    ),
)


def topic_seconds() -> float:
    return TOPIC_SENTENCES * (CUE_SECONDS + 0.5)


def spec_cues(spec: DemoSpec) -> list[Cue]:
    """The transcript of a demo video: one cue per sentence, topics back to back."""
    cues = []
    for t, topic in enumerate(spec.topics):
        for s, sentence in enumerate(topic.sentences):
            start = t * topic_seconds() + s * (CUE_SECONDS + 0.5) + 0.25
            cues.append(Cue(start, start + CUE_SECONDS, sentence))
    return cues


def format_srt(cues: list[Cue]) -> str:
    blocks = []
    for n, cue in enumerate(cues, 1):
        times = f"{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}".replace(".", ",")
        blocks.append(f"{n}\n{times}\n{cue.text}\n")
    return "\n".join(blocks)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@lru_cache(maxsize=1)
def drawtext_font() -> str | None:
    """A font file usable by this FFmpeg's ``drawtext``, or None (then titles are not drawn)."""
    candidates = [
        os.environ.get("VIDEODB_DEMO_FONT", ""),
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/System/Library/Fonts/Supplemental/Arial.ttf",
        "C:/Windows/Fonts/arial.ttf",
    ]
    for font in filter(None, candidates):
        if not Path(font).is_file():
            continue
        probe = f"color=c=black:s=64x36:d=0.1,drawtext=fontfile='{_esc(font)}':text=x"
        try:
            run_ffmpeg(["-v", "error", "-f", "lavfi", "-i", probe, "-f", "null", "-"], timeout=30)
        except MediaError:
            return None  # drawtext missing from this build: no point trying other fonts
        return font
    return None


def topic_colour(number: int) -> str:
    """The colour that fills the frame during topic ``number`` (0-based)."""
    return TOPIC_COLOURS[number % len(TOPIC_COLOURS)]


def _esc(value: str) -> str:
    """Escape a value for use inside a quoted filtergraph option."""
    return value.replace("\\", "/").replace("'", "").replace(":", "\\:")


def _video_filter(spec: DemoSpec, font: str | None) -> str:
    size = f"{WIDTH}x{HEIGHT}"
    chain = f"testsrc2=size={size}:rate={FPS}"
    span = topic_seconds()
    for n in range(len(spec.topics)):
        colour = topic_colour(n)
        chain += (
            f",drawbox=x=0:y=0:w=iw:h=ih:color={colour}:t=fill"
            f":enable='between(t,{n * span},{(n + 1) * span})'"
        )
    if font is None:
        return chain
    for n, topic in enumerate(spec.topics):
        title = re.sub(r"[^A-Za-z0-9 &-]", "", topic.title)
        chain += (
            f",drawbox=x=0:y=ih-44:w=iw:h=44:color=black@0.6:t=fill"
            f":enable='between(t,{n * span},{(n + 1) * span})'"
            f",drawtext=fontfile='{_esc(font)}':text='{title}':fontsize=26:fontcolor=white"
            f":x=(w-text_w)/2:y=h-36:enable='between(t,{n * span},{(n + 1) * span})'"
        )
    return chain


def _render(spec: DemoSpec, folder: Path, font: str | None) -> DemoVideo:
    name = slug(spec.name)
    cues = spec_cues(spec)
    duration = len(spec.topics) * topic_seconds()
    video = folder / f"{name}.mp4"
    transcript: Path | None = None
    args = [
        "-y", "-v", "error",
        "-f", "lavfi", "-i", _video_filter(spec, font),
        "-f", "lavfi", "-i", f"sine=frequency={spec.tone_hz}:sample_rate=44100",
    ]  # fmt: skip
    maps = ["-map", "0:v", "-map", "1:a"]
    if spec.transcript == "embedded":
        embedded = folder / f"{name}.embedded.vtt"
        embedded.write_text(format_webvtt(cues), encoding="utf-8")
        args += ["-i", str(embedded)]
        maps += ["-map", "2:s", "-c:s", "mov_text", "-metadata:s:s:0", "language=eng"]
    else:
        transcript = folder / f"{name}.{spec.transcript}"
        text = format_webvtt(cues) if spec.transcript == "vtt" else format_srt(cues)
        transcript.write_text(text, encoding="utf-8")
    args += [
        *maps,
        "-t", f"{duration:g}",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-crf", "32",
        "-pix_fmt", "yuv420p",
        "-force_key_frames", f"expr:gte(t,n_forced*{KEYFRAME_SECONDS:g})",
        "-c:a", "aac", "-b:a", "64k", "-ac", "1",
        "-metadata", f"title={spec.name}", "-movflags", "+faststart",
        str(video),
    ]  # fmt: skip
    run_ffmpeg(args, timeout=300)
    if spec.transcript == "embedded":
        (folder / f"{name}.embedded.vtt").unlink()
    topics: list[dict[str, float | str]] = [
        {
            "title": t.title,
            "start": n * topic_seconds(),
            "end": (n + 1) * topic_seconds(),
            "colour": topic_colour(n),
        }
        for n, t in enumerate(spec.topics)
    ]
    return DemoVideo(spec.name, spec.description, video, transcript, duration, topics)


def load_demo(folder: str | os.PathLike[str]) -> list[DemoVideo] | None:
    """Descriptors of a complete demo set already in ``folder``, or None."""
    root = Path(folder)
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("version") != DEMO_VERSION:
        return None
    videos = [DemoVideo.from_json(root, item) for item in manifest["videos"]]
    if all(v.path.is_file() and (v.transcript_path is None or v.transcript_path.is_file())
           for v in videos):  # fmt: skip
        return videos
    return None


def generate_demo(folder: str | os.PathLike[str], *, force: bool = False) -> list[DemoVideo]:
    """Create (or reuse) the demo set in ``folder`` and describe it.

    The manifest is written last, so an interrupted run is redone on the next call.
    """
    root = Path(folder)
    if not force:
        existing = load_demo(root)
        if existing is not None:
            return existing
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).unlink(missing_ok=True)
    ffmpeg_exe()  # fail early with the install hint
    font = drawtext_font()
    with ThreadPoolExecutor(max_workers=len(DEMO_SPECS)) as pool:
        videos = list(pool.map(lambda spec: _render(spec, root, font), DEMO_SPECS))
    manifest = {"version": DEMO_VERSION, "videos": [v.to_json() for v in videos]}
    tmp = root / (MANIFEST + ".part")
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp, root / MANIFEST)
    return videos


def main() -> None:  # pragma: no cover - convenience: python -m videodb_local_server.media.demo DIR
    import sys

    for video in generate_demo(sys.argv[1] if len(sys.argv) > 1 else "videodb-demo"):
        print(
            f"{video.name}: {video.path} ({video.duration:g}s), transcript {video.transcript_path}"
        )


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["DEMO_SPECS", "DemoVideo", "generate_demo", "load_demo", "spec_cues"]
