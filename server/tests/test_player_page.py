"""The player page loads nothing from elsewhere, and a browser without HLS gets an MP4.

Against the real server process: the page's markup and script, the ``/hls/{id}.mp4`` copy of
a stream (decoded by FFmpeg like a player would), its cache, and the remux helpers.
"""

from __future__ import annotations

import html.parser
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from server_support import post_stream

from videodb_local_server.media import hls, remux
from videodb_local_server.media.demo import FPS

FRAME = 1.0 / FPS


def _stream(server: Any, api: requests.Session, video: dict[str, Any], timeline: Any) -> dict:
    return post_stream(server.base_url, api, video, timeline)


def _sid(stream_url: str) -> str:
    return urlsplit(stream_url).path.rsplit("/", 1)[1].removesuffix(".m3u8")


class _Resources(html.parser.HTMLParser):
    """Every URL the page would load by itself (src, link href) and every link target."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "src" and value:
                self.loads.append(value)
            if name == "href" and value:
                (self.links if tag == "a" else self.loads).append(value)


def _parse(page: str) -> _Resources:
    parser = _Resources()
    parser.feed(page)
    return parser


def _js_value(page: str, name: str) -> str | None:
    match = re.search(rf"\b{name} = (null|\"[^\"]*\")", page)
    assert match, f"{name} not in the page script"
    return None if match[1] == "null" else match[1][1:-1]


# -- the page ---------------------------------------------------------------------------------


def test_watch_page_loads_nothing_and_falls_back_to_mp4(server, api, news):
    data = _stream(server, api, news, None)
    page = requests.get(data["player_url"], timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    parsed = _parse(page.text)
    assert parsed.loads == []  # no script, style sheet or image from anywhere
    assert "cdn" not in page.text.lower() and "hls.js" not in page.text
    assert parsed.links == [data["stream_url"]]
    assert _js_value(page.text, "hls") == data["stream_url"]
    sid = _sid(data["stream_url"])
    assert _js_value(page.text, "mp4") == f"{server.base_url}/hls/{sid}.mp4"
    assert 'canPlayType("application/vnd.apple.mpegurl")' in page.text


def test_player_page_falls_back_to_mp4_only_for_streams_of_this_server(server, api, news):
    data = _stream(server, api, news, None)
    own = requests.get(f"{server.base_url}/player", params={"url": data["stream_url"]}, timeout=30)
    assert _js_value(own.text, "mp4") == f"{server.base_url}/hls/{_sid(data['stream_url'])}.mp4"
    other = "https://stream.example.com/hls/abc.m3u8"
    page = requests.get(f"{server.base_url}/player", params={"url": other}, timeout=30)
    assert page.status_code == 200
    assert _js_value(page.text, "mp4") is None and _js_value(page.text, "hls") == other


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _full(colour: str) -> str:
    colour = colour.lstrip("#")
    return "".join(ch * 2 for ch in colour) if len(colour) == 3 else colour


def test_link_colours_are_readable_on_the_page_background(server, api, news):
    page = requests.get(_stream(server, api, news, None)["player_url"], timeout=30).text
    background = re.search(r"body\{[^}]*background:#([0-9a-fA-F]{3,6})", page)
    assert background
    colours = re.findall(r"a(?::visited)?\{color:#([0-9a-fA-F]{3,6})\}", page)
    assert len(colours) == 2  # links and visited links both have a colour of their own
    dark = _luminance(_full(background[1]))
    for colour in colours:
        ratio = (_luminance(_full(colour)) + 0.05) / (dark + 0.05)
        assert ratio >= 4.5, colour  # WCAG AA for normal text


# -- the MP4 copy -----------------------------------------------------------------------------


def test_whole_stream_as_mp4_plays_and_seeks(server, api, news):
    data = _stream(server, api, news, None)
    url = f"{server.base_url}/hls/{_sid(data['stream_url'])}.mp4"
    reply = requests.get(url, timeout=120)
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"] == "video/mp4"
    assert reply.content[4:8] == b"ftyp"
    assert b"moov" in reply.content[:4096]  # index first: plays before the whole file arrives
    part = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=30)
    assert part.status_code == 206 and part.content == reply.content[100:200]
    report = hls.decode(url)
    assert report.errors == ""
    assert report.video_frames * FRAME == pytest.approx(float(news["length"]), abs=2 * FRAME)


def test_timeline_stream_as_mp4_holds_every_piece(server, api, news):
    timeline = [[95.0, 101.0], [10.5, 14.0], [150.0, 152.0]]
    data = _stream(server, api, news, timeline)
    playlist = requests.get(data["stream_url"], timeout=30).text
    covered = sum(segment.duration for segment in hls.parse_playlist(playlist, Path()).segments)
    url = f"{server.base_url}/hls/{_sid(data['stream_url'])}.mp4"
    report = hls.decode(url)
    assert report.errors == ""
    assert report.video_frames * FRAME == pytest.approx(covered, abs=len(timeline) * FRAME + 0.05)


def test_mp4_is_made_once_and_served_from_the_cache(server, api, news):
    data = _stream(server, api, news, [[20.0, 26.0]])
    url = f"{server.base_url}/hls/{_sid(data['stream_url'])}.mp4"
    first = requests.get(url, timeout=120)
    playlist = requests.get(data["stream_url"], timeout=30).text
    cached = Path(server.data_dir) / "mp4-cache" / remux.cache_name(playlist)
    assert cached.is_file() and cached.read_bytes() == first.content
    made = cached.stat().st_mtime_ns
    second = requests.get(url, timeout=30)
    assert second.content == first.content and cached.stat().st_mtime_ns == made
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".")]  # no leftovers


def test_mp4_of_an_unknown_stream_is_a_404(server):
    reply = requests.get(f"{server.base_url}/hls/{quote('s-nosuchstream')}.mp4", timeout=30)
    assert reply.status_code == 404


# -- the remux helpers ------------------------------------------------------------------------


def test_a_discontinuous_playlist_gives_its_segments_in_order():
    """What the MP4 route joins: a timeline stream's segments, across discontinuities."""
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000000,\nseg/m-1/seg_00000.ts\n"
        "#EXT-X-DISCONTINUITY\n#EXTINF:1.5,title\nseg/m-2/seg_00007.ts\n#EXT-X-ENDLIST\n"
    )
    segments = hls.parse_playlist(text, Path()).segments
    assert [(s.uri, s.duration) for s in segments] == [
        ("seg/m-1/seg_00000.ts", 2.0),
        ("seg/m-2/seg_00007.ts", 1.5),
    ]


def test_concat_script_quotes_paths(tmp_path):
    odd = tmp_path / "it's here.ts"
    script = remux.concat_script([(odd, 2.0)])
    assert script.splitlines() == [
        "ffconcat version 1.0",
        "file '" + str(odd.resolve()).replace("'", "'\\''") + "'",
        "duration 2.000000",
    ]


def test_remux_without_segments_is_a_media_error(tmp_path):
    with pytest.raises(hls.MediaError, match="no segments"):
        remux.remux_to_mp4([], tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
