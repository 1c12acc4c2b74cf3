"""Media side of the local server: probe, cut once into HLS, playlists that FFmpeg can play."""

from __future__ import annotations

import itertools
import random
import subprocess
from pathlib import Path

import pytest

from videodb_local_server.media import hls
from videodb_local_server.media.demo import FPS, generate_demo
from videodb_local_server.media.transcript import load_transcript

FRAME = 1.0 / FPS


def ffmpeg(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [hls.ffmpeg_exe(), "-hide_banner", "-nostdin", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def decode(playlist: Path) -> tuple[int, str]:
    """Decode every frame of a playlist; return (video frames, error output)."""
    report = hls.decode(playlist)
    return report.video_frames, report.errors


def make_clip(path: Path, *extra: str, seconds: int = 8) -> Path:
    """A small synthetic clip with the given codec options."""
    proc = ffmpeg("-v", "error", "-y",
                  "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10",
                  "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=22050",
                  "-t", str(seconds), *extra, str(path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("demo")
    videos = generate_demo(folder)
    return {v.path.stem: v.path for v in videos}


@pytest.fixture(scope="module")
def news(demo: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> hls.Rendition:
    out = tmp_path_factory.mktemp("news") / "hls"
    return hls.segment_to_hls(demo["evening-news-roundup"], out, segment_seconds=2.0)


def timeline_coverage(rendition: hls.Rendition, timeline: list[tuple[float, float]]) -> float:
    """Seconds of media a timeline playlist really contains (after snapping outward)."""
    return sum(s.duration for piece in hls.select_timeline(rendition, timeline) for s in piece)


def write_playlist(rendition: hls.Rendition, text: str, name: str) -> Path:
    path = rendition.directory / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- probe


def test_probe_reports_length_codecs_and_subtitles(demo: dict[str, Path]) -> None:
    news = hls.probe(demo["evening-news-roundup"])
    assert news.duration == pytest.approx(180.0, abs=0.1)
    assert (news.video_codec, news.audio_codec) == ("h264", "aac")
    assert (news.width, news.height, news.pixel_format) == (320, 180, "yuv420p")
    assert not news.has_subtitles
    assert news.hls_friendly
    science = hls.probe(demo["science-desk"])
    assert science.duration == pytest.approx(60.0, abs=0.1)
    assert science.has_subtitles


def test_probe_rejects_a_file_that_is_not_media(tmp_path: Path) -> None:
    junk = tmp_path / "notes.mp4"
    junk.write_text("this is not a video\n")
    with pytest.raises(hls.MediaError):
        hls.probe(junk)
    with pytest.raises(hls.MediaError):
        hls.probe(tmp_path / "missing.mp4")


def test_probe_falls_back_to_reading_the_streams_when_no_duration_is_stated(
    tmp_path: Path,
) -> None:
    raw = tmp_path / "raw.h264"  # an elementary stream: no container, no stated duration
    proc = ffmpeg("-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-t", "4",
                  "-c:v", "libx264", "-f", "h264", str(raw))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Duration: N/A" in ffmpeg("-i", str(raw)).stderr
    info = hls.probe(raw)
    assert info.video_codec == "h264"
    assert info.duration == pytest.approx(4.0, abs=0.3)


def test_parse_probe_output_of_audio_only_file() -> None:
    stderr = (
        "Input #0, wav, from 'a.wav':\n  Duration: 01:02:03.50, bitrate: 705 kb/s\n"
        "  Stream #0:0: Audio: pcm_s16le ([1][0][0][0] / 0x0001), 44100 Hz, mono, s16\n"
    )
    info = hls.parse_probe_output(stderr)
    assert info.duration == pytest.approx(3723.5)
    assert (info.video_codec, info.audio_codec) == (None, "pcm_s16le")
    assert not info.hls_friendly


# --------------------------------------------------------------------------- cutting


def test_demo_is_cut_by_stream_copy_into_short_even_segments(news: hls.Rendition) -> None:
    assert news.stream_copy is True
    assert news.duration == pytest.approx(180.0, abs=0.1)
    assert len(news.segments) == 90
    assert all(s.duration == pytest.approx(2.0, abs=0.01) for s in news.segments)
    files = sorted(p.name for p in news.directory.glob("*.ts"))
    assert files == [s.uri for s in news.segments]


def test_whole_video_playlist_decodes_without_errors(news: hls.Rendition) -> None:
    path = write_playlist(news, hls.build_full_playlist(news), "whole.m3u8")
    frames, errors = decode(path)
    assert errors == ""
    assert frames * FRAME == pytest.approx(180.0, abs=2 * FRAME)


def test_cutting_is_done_once(news: hls.Rendition, demo: dict[str, Path]) -> None:
    index = news.directory / hls.INDEX_NAME
    before = index.stat().st_mtime_ns
    again = hls.segment_to_hls(demo["evening-news-roundup"], news.directory)
    assert index.stat().st_mtime_ns == before
    assert again.segments == news.segments


def test_non_hls_codecs_are_transcoded(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.mkv", "-c:v", "mpeg4", "-c:a", "libvorbis")
    assert not hls.probe(src).hls_friendly
    rendition = hls.segment_to_hls(src, tmp_path / "out", segment_seconds=1.0)
    assert rendition.stream_copy is False
    assert rendition.duration == pytest.approx(8.0, abs=0.2)
    assert rendition.max_segment_duration <= 1.0 + 0.11
    frames, errors = decode(rendition.directory / hls.INDEX_NAME)
    assert errors == ""
    assert frames == pytest.approx(80, abs=1)


def test_h264_that_browsers_cannot_play_is_transcoded(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "444.mp4", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv444p", "-g", "10", "-c:a", "aac")  # fmt: skip
    info = hls.probe(src)
    assert (info.video_codec, info.pixel_format) == ("h264", "yuv444p")
    assert not info.hls_friendly
    rendition = hls.segment_to_hls(src, tmp_path / "out", segment_seconds=2.0)
    assert rendition.stream_copy is False
    assert hls.probe(rendition.directory / rendition.segments[0].uri).pixel_format == "yuv420p"


def test_sparse_keyframes_force_a_transcode_so_segments_stay_short(tmp_path: Path) -> None:
    # H.264 + AAC is HLS-friendly, but a keyframe every 8 s makes 8 s segments on stream copy.
    src = make_clip(tmp_path / "gop.mp4", "-c:v", "libx264", "-preset", "ultrafast",
                    "-g", "80", "-keyint_min", "80", "-sc_threshold", "0", "-c:a", "aac",
                    seconds=16)  # fmt: skip
    assert hls.probe(src).hls_friendly
    rendition = hls.segment_to_hls(src, tmp_path / "out", segment_seconds=2.0)
    assert rendition.stream_copy is False
    assert len(rendition.segments) == 8
    assert rendition.max_segment_duration == pytest.approx(2.0, abs=0.11)


def test_a_failed_cut_leaves_nothing_behind(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(hls.MediaError):
        hls.segment_to_hls(junk, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.mp4"]


# --------------------------------------------------------------------------- timelines


def test_timeline_playlist_plays_pieces_in_order_within_precision(news: hls.Rendition) -> None:
    timeline = [(65.0, 70.5), (3.0, 9.0), (120.2, 121.0), (170.0, 180.0)]
    text = hls.build_timeline_playlist(news, timeline, "")
    assert text.count("#EXT-X-DISCONTINUITY") == len(timeline) - 1
    assert text.rstrip().endswith("#EXT-X-ENDLIST")

    # Order and coverage: each piece is a contiguous run of segments covering its range,
    # snapped outward by less than one segment per edge.
    starts = {s.uri: s for s in news.segments}
    pieces = [
        [starts[line] for line in block.splitlines() if line.endswith(".ts")]
        for block in text.split("#EXT-X-DISCONTINUITY")
    ]
    edge = news.max_segment_duration
    for (start, end), piece in zip(timeline, pieces, strict=True):
        assert all(a.end == pytest.approx(b.start) for a, b in itertools.pairwise(piece))
        assert piece[0].start <= start < piece[0].start + edge
        assert piece[-1].end - edge < end <= piece[-1].end + 1e-6

    covered = timeline_coverage(news, timeline)
    requested = sum(end - start for start, end in timeline)
    assert requested <= covered <= requested + 2 * edge * len(timeline)

    frames, errors = decode(write_playlist(news, text, "timeline.m3u8"))
    assert errors == ""
    assert frames * FRAME == pytest.approx(covered, abs=len(timeline) * FRAME + 1e-6)


def test_timeline_on_segment_boundaries_is_exact(news: hls.Rendition) -> None:
    assert timeline_coverage(news, [(4.0, 10.0), (0.0, 2.0)]) == pytest.approx(8.0)


def test_timeline_segment_uris_get_the_prefix(news: hls.Rendition) -> None:
    text = hls.build_timeline_playlist(news, [(0, 1)], "/hls/seg/m-1/")
    assert "/hls/seg/m-1/seg_00000.ts" in text.splitlines()


@pytest.mark.parametrize("timeline", [[], [(200.0, 210.0)], [(5.0, 5.0)]])
def test_timeline_outside_the_video_or_empty_is_refused(
    news: hls.Rendition, timeline: list[tuple[float, float]]
) -> None:
    with pytest.raises(ValueError):
        hls.build_timeline_playlist(news, timeline)


def test_load_rendition_is_cached_and_bisects(news: hls.Rendition) -> None:
    assert hls.load_rendition(news.directory) is hls.load_rendition(news.directory)
    assert news.span(0.0, 0.5) == (0, 1)
    assert news.span(59.9, 60.1) == (29, 31)
    assert news.span(178.5, 999.0) == (89, 90)


# --------------------------------------------------------------------------- subtitles


def test_embedded_subtitles_are_extracted_as_webvtt(demo: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "sub.vtt"
    assert hls.extract_subtitles(demo["science-desk"], out)
    cues = load_transcript(out)
    assert len(cues) == 10
    assert cues[0].text.startswith("On the science desk")
    assert cues[0].start == pytest.approx(0.25)


def test_no_subtitle_track_extracts_nothing(demo: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "sub.vtt"
    assert not hls.extract_subtitles(demo["evening-news-roundup"], out)
    assert not out.exists()


def test_picture_subtitle_tracks_are_skipped_and_failures_tolerated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first.vtt", tmp_path / "second.vtt"
    first.write_text("WEBVTT\n\n00:01.000 --> 00:02.000\nfirst track\n")
    second.write_text("WEBVTT\n\n00:01.000 --> 00:02.500\nsecond track\n")
    src = tmp_path / "two-tracks.mkv"
    proc = ffmpeg("-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10",
                  "-i", str(first), "-i", str(second), "-map", "0:v", "-map", "1:s", "-map", "2:s",
                  "-t", "3", "-c:v", "libx264", "-c:s", "webvtt", str(src))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    real = hls.probe(src)
    assert len(real.subtitle_codecs) == 2
    # FFmpeg cannot write picture subtitles from text, so pretend track 0 is a DVD one.
    fake = hls.MediaInfo(real.duration, real.video_codec, None, ("dvd_subtitle", "webvtt"))
    monkeypatch.setattr(hls, "probe", lambda path: fake)
    out = tmp_path / "out.vtt"
    assert hls.extract_subtitles(src, out)
    assert load_transcript(out)[0].text == "second track"
    # A text track that FFmpeg cannot convert is skipped, not fatal; nothing is left behind.
    out.unlink()
    fake_unreadable = hls.MediaInfo(1.0, "h264", None, ("hdmv_pgs_subtitle", "subrip"))
    monkeypatch.setattr(hls, "probe", lambda path: fake_unreadable)
    nothing = tmp_path / "none.mkv"
    nothing.write_bytes(b"")
    assert not hls.extract_subtitles(nothing, out)
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_many_random_jumps_still_play_cleanly(news: hls.Rendition) -> None:
    rng = random.Random(5)
    for _ in range(5):
        timeline = []
        for _ in range(20):
            start = rng.uniform(0.0, 170.0)
            timeline.append((start, start + rng.uniform(0.5, 10.0)))
        path = write_playlist(news, hls.build_timeline_playlist(news, timeline), "random.m3u8")
        frames, errors = decode(path)
        assert errors == ""
        assert frames * FRAME == pytest.approx(timeline_coverage(news, timeline), abs=0.5)


def test_jumping_back_into_the_first_segment_plays_cleanly(news: hls.Rendition) -> None:
    path = write_playlist(news, hls.build_timeline_playlist(news, [(4, 6), (0, 2)]), "b.m3u8")
    proc = ffmpeg("-v", "error", "-i", str(path), "-f", "null", "-")  # even without vfr
    assert proc.returncode == 0 and proc.stderr == ""
