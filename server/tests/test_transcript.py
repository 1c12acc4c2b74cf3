"""WebVTT / SRT parsing: the tolerant reader behind clip prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from videodb_local_server.media.transcript import (
    Cue,
    TranscriptError,
    format_webvtt,
    load_transcript,
    parse_srt,
    parse_subtitles,
    parse_webvtt,
)

VTT = """\ufeffWEBVTT - news
Kind: captions
Language: en

NOTE this block is a comment
spanning two lines

STYLE
::cue { color: yellow }

intro-1
00:00:01.000 --> 00:00:04.500 align:start position:10%
<v Anchor>Good evening &amp; welcome</v>
to the <b>weather</b>.

00:05.250 --> 00:07.000
Hour-less timing.

1:02:03.5 --> 1:02:04.25 line:0
Short fractions
"""


def test_webvtt_handles_bom_header_notes_settings_tags_and_short_timestamps() -> None:
    cues = parse_webvtt(VTT.replace("\n", "\r\n"))
    assert cues == [
        Cue(1.0, 4.5, "Good evening & welcome to the weather."),
        Cue(5.25, 7.0, "Hour-less timing."),
        Cue(3723.5, 3724.25, "Short fractions"),
    ]


def test_webvtt_requires_its_header() -> None:
    with pytest.raises(TranscriptError):
        parse_webvtt("00:00:01.000 --> 00:00:02.000\nno header\n")


def test_srt_with_comma_decimals_multiline_and_unsorted_cues() -> None:
    srt = (
        "2\n00:00:10,000 --> 00:00:12,000\nsecond\n\n"
        "1\r\n00:00:01,500 --> 00:00:03,000\r\nfirst line\r\n<i>second line</i>\r\n\r\n"
        "3\n00:00:20,000 --> 00:00:19,000\nends before it starts: dropped\n\n"
        "4\n00:00:30,000 --> 00:00:31,000\n\n"
    )
    assert parse_srt(srt) == [
        Cue(1.5, 3.0, "first line second line"),
        Cue(10.0, 12.0, "second"),
    ]


def test_parse_subtitles_detects_the_format() -> None:
    assert parse_subtitles("WEBVTT\n\n00:01.000 --> 00:02.000\nvtt\n") == [Cue(1.0, 2.0, "vtt")]
    assert parse_subtitles("1\n00:00:01,000 --> 00:00:02,000\nsrt\n") == [Cue(1.0, 2.0, "srt")]
    assert parse_subtitles("") == []
    with pytest.raises(TranscriptError):
        parse_subtitles("just some prose\nwithout any timing\n")


def test_load_transcript_falls_back_to_latin1(tmp_path: Path) -> None:
    path = tmp_path / "old.srt"
    path.write_bytes("1\n00:00:01,000 --> 00:00:02,000\ncaf\xe9\n".encode("latin-1"))
    assert load_transcript(path) == [Cue(1.0, 2.0, "caf\xe9")]


def test_webvtt_round_trip() -> None:
    cues = [Cue(0.25, 5.75, "one"), Cue(3725.125, 3726.0, "two & more")]
    text = format_webvtt(cues)
    assert "01:02:05.125 --> 01:02:06.000" in text
    assert parse_webvtt(text) == cues
