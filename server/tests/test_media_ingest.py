"""ingest.py: what api.py calls to turn uploads into streams and transcripts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from videodb_local_server.media import hls, ingest


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    cmd = [hls.ffmpeg_exe(), "-v", "error", "-nostdin",
           "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10",
           "-f", "lavfi", "-i", "sine=frequency=300",
           "-t", "12", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10",
           "-c:a", "aac", str(path)]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=120)
    return path


def test_read_subtitle_tells_subtitles_from_media(clip: Path, tmp_path: Path) -> None:
    vtt = tmp_path / "talk.vtt"
    vtt.write_text("WEBVTT\n\n00:01.000 --> 00:02.000\nhello\n")
    assert ingest.read_subtitle(vtt) == [{"start": 1.0, "end": 2.0, "text": "hello"}]
    srt = tmp_path / "no-extension"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nhi\n")
    assert ingest.read_subtitle(srt) == [{"start": 1.0, "end": 2.0, "text": "hi"}]
    broken = tmp_path / "broken.srt"
    broken.write_text("not really subtitles\n")
    assert ingest.read_subtitle(broken) == []
    prose = tmp_path / "notes.txt"
    prose.write_text("just notes\n")
    assert ingest.read_subtitle(prose) is None
    assert ingest.read_subtitle(clip) is None


def test_ingest_keeps_other_files_and_is_idempotent(clip: Path, tmp_path: Path) -> None:
    media_dir = tmp_path / "m-1"
    media_dir.mkdir()
    (media_dir / "keep.txt").write_text("mine")
    first = ingest.ingest_video(clip, media_dir)
    assert first.length == pytest.approx(12.0, abs=0.1)
    assert first.cues == [] and first.cue_source is None
    assert (media_dir / "keep.txt").read_text() == "mine"
    again = ingest.ingest_video(clip, media_dir)
    assert again.rendition.segments == first.rendition.segments
    name = first.rendition.segments[0].uri
    assert ingest.segment_file(media_dir, name) == media_dir / name
    assert ingest.segment_file(media_dir, "../keep.txt") is None
    assert ingest.segment_file(media_dir, "seg_99999.ts") is None


def test_compiled_playlist_spans_videos_in_order(clip: Path, tmp_path: Path) -> None:
    for vid in ("m-a", "m-b"):
        ingest.ingest_video(clip, tmp_path / vid)
    text = ingest.compiled_playlist(
        [("m-b", tmp_path / "m-b", [(4.0, 6.0)]), ("m-a", tmp_path / "m-a", [(0.0, 2.0), (10, 12)])]
    )
    uris = [line for line in text.splitlines() if line.endswith(".ts")]
    assert uris == ["seg/m-b/seg_00002.ts", "seg/m-a/seg_00000.ts", "seg/m-a/seg_00005.ts"]
    assert text.count("#EXT-X-DISCONTINUITY") == 2
    whole = ingest.whole_playlist("m-a", tmp_path / "m-a")
    assert "#EXT-X-DISCONTINUITY" not in whole and whole.count(".ts") == 6
    with pytest.raises(ValueError):
        ingest.timeline_playlist("m-a", tmp_path / "m-a", [])
    with pytest.raises(ValueError):
        ingest.timeline_playlist("m-a", tmp_path / "m-a", [(30.0, 40.0)])
