"""--demo media: generated locally, distinct topics, transcripts in all three arrival forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from videodb_local_server.media import demo, hls, ingest
from videodb_local_server.media.ranking import rank
from videodb_local_server.media.transcript import Cue, load_transcript


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[demo.DemoVideo]:
    return demo.generate_demo(tmp_path_factory.mktemp("demo"))


def test_demo_set_has_distinct_titles_lengths_and_transcript_forms(
    videos: list[demo.DemoVideo],
) -> None:
    assert len({v.name for v in videos}) == len(videos) == 3
    main = videos[0]
    assert main.name == "Evening News Roundup"
    assert 150 <= main.duration <= 240
    assert 120 <= sum(v.duration for v in videos) <= 600
    forms = [v.transcript_path.suffix if v.transcript_path else "embedded" for v in videos]
    assert forms == [".vtt", "embedded", ".srt"]
    for video in videos:
        info = hls.probe(video.path)
        assert info.duration == pytest.approx(video.duration, abs=0.1)
        assert (info.video_codec, info.audio_codec, info.width, info.height) == (
            "h264", "aac", 320, 180,
        )  # fmt: skip
        assert info.has_subtitles == (video.transcript_path is None)


def test_transcripts_match_the_topics(videos: list[demo.DemoVideo], tmp_path: Path) -> None:
    for video, spec in zip(videos, demo.DEMO_SPECS, strict=True):
        if video.transcript_path is None:
            assert hls.extract_subtitles(video.path, tmp_path / "embedded.vtt")
            cues = load_transcript(tmp_path / "embedded.vtt")
        else:
            cues = load_transcript(video.transcript_path)
        assert _close(cues, demo.spec_cues(spec))
        assert [t["title"] for t in video.topics] == [t.title for t in spec.topics]
        assert all(c.end <= video.duration for c in cues)


def _close(got: list[Cue], want: list[Cue]) -> bool:
    return len(got) == len(want) and all(
        g.text == w.text and abs(g.start - w.start) < 0.01 and abs(g.end - w.end) < 0.01
        for g, w in zip(got, want, strict=True)
    )


def test_keyframes_every_second_allow_one_second_segments(
    videos: list[demo.DemoVideo], tmp_path: Path
) -> None:
    rendition = hls.segment_to_hls(videos[1].path, tmp_path / "hls", segment_seconds=1.0)
    assert rendition.stream_copy is True
    assert rendition.max_segment_duration == pytest.approx(1.0, abs=0.01)


def test_existing_demo_is_reused_and_an_incomplete_one_redone(
    videos: list[demo.DemoVideo],
) -> None:
    folder = videos[0].path.parent
    mtime = videos[0].path.stat().st_mtime_ns
    assert demo.generate_demo(folder) == videos
    assert videos[0].path.stat().st_mtime_ns == mtime
    videos[2].path.unlink()
    assert demo.load_demo(folder) is None
    again = demo.generate_demo(folder)
    assert again == videos and videos[2].path.is_file()


def test_ingested_demo_answers_the_weather_prompt(
    videos: list[demo.DemoVideo], tmp_path: Path
) -> None:
    news = videos[0]
    result = ingest.ingest_video(news.path, tmp_path / "m-1")
    assert result.length == pytest.approx(news.duration, abs=0.1)
    assert news.transcript_path is not None
    cues = load_transcript(news.transcript_path)
    shots = rank("the part about the weather", cues)
    weather = next(t for t in news.topics if t["title"] == "Weather")
    assert shots and weather["start"] <= shots[0]["start"] < shots[0]["end"] <= weather["end"]
    playlist = ingest.timeline_playlist(
        "m-1", tmp_path / "m-1", [(s["start"], s["end"]) for s in shots]
    )
    assert "seg/m-1/seg_00000.ts" in playlist.splitlines()


def test_embedded_transcript_arrives_through_ingest(
    videos: list[demo.DemoVideo], tmp_path: Path
) -> None:
    result = ingest.ingest_video(videos[1].path, tmp_path / "m-2")
    assert result.cue_source == "embedded"
    assert len(result.cues) == 10
    shots = rank("volcano eruption", [Cue(**c) for c in result.cues])
    assert shots and shots[0]["start"] >= 30.0
