"""What a video player (or a browser) fetches: playlists, MPEG-TS segments, a tiny player
page, the stream as one MP4, and the media files of audio, images and thumbnails.

The HTTP side of the ``/hls/...``, ``/watch``, ``/embed``, ``/player`` and ``/media/...``
routes (none needs an API key); the FFmpeg side (cutting, playlists, remuxing) is
``media.hls`` and ``media.remux``.

The player page loads nothing from anywhere else: a browser that plays HLS by itself
(Safari, recent Chromium) gets the playlist; any other gets ``/hls/{stream id}.mp4``, the
same segments copied into one MP4 by this server.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from pathlib import Path
from urllib.parse import quote, unquote

from aiohttp import web

from . import backend, library
from .app import add_route, origin_of
from .backend import TwinState
from .errors import BadRequest, InternalError, NotFound
from .media import remux
from .media.hls import PLAYLIST_CONTENT_TYPE, SEGMENT_CONTENT_TYPE, MediaError, parse_playlist

#: Where the MP4 copies of streams are kept, under the server's data folder.
MP4_CACHE_DIR = "mp4-cache"
#: A segment URI of the server's own playlists, relative to ``/hls/``.
_SEGMENT_URI_RE = re.compile(r"^(?:/hls/)?(?:seg/)?(?P<vid>[^/]+)/(?P<name>[^/]+)$")

PLAYER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>VideoDB local player</title>
<style>body{{margin:0;background:#111;color:#ddd;font-family:sans-serif}}
video{{width:100%;max-height:90vh;background:#000}}p{{padding:0 1em}}
a{{color:#8cf}}a:visited{{color:#c9f}}</style></head>
<body><video id="v" controls autoplay muted playsinline></video>
<p>Stream: <a href="{url}">{url}</a></p>
<p id="how"></p>
<script>
const v = document.getElementById("v"), how = document.getElementById("how");
const hls = {url_js}, mp4 = {mp4_js};
if (v.canPlayType("application/vnd.apple.mpegurl")) {{
  v.dataset.source = "hls"; v.src = hls; how.textContent = "Playing the HLS stream.";
}} else if (mp4) {{
  v.dataset.source = "mp4"; v.src = mp4;
  how.textContent = "This browser cannot play HLS by itself: playing the stream as MP4.";
}} else {{
  v.dataset.source = "none";
  how.textContent = "This browser cannot play HLS by itself; open the stream URL in a player.";
}}
</script></body></html>
"""


def _js_string(value: str) -> str:
    return json.dumps(value).replace("<", "\\u003c")


class PlayerHandlers:
    """What a player fetches: playlists and segments of the streams in one state."""

    def __init__(self, state: TwinState) -> None:
        self.state = state

    async def playlist(self, request: web.Request) -> web.Response:
        text = backend.stream_playlist(self.state, request.match_info["sid"])
        return web.Response(text=text, content_type=PLAYLIST_CONTENT_TYPE)

    async def segment(self, request: web.Request) -> web.StreamResponse:
        path = backend.segment_path(
            self.state, request.match_info["vid"], request.match_info["name"]
        )
        return web.FileResponse(path, headers={"Content-Type": SEGMENT_CONTENT_TYPE})

    async def mp4(self, request: web.Request) -> web.StreamResponse:
        """``/hls/{sid}.mp4``: the stream's segments copied into one MP4 (cached)."""
        sid = request.match_info["sid"]
        playlist = backend.stream_playlist(self.state, sid)  # 404 for an unknown stream
        # Cached by the playlist's digest (a stream's playlist never changes): a cached MP4
        # needs no segment looked up; a new one has its segments found here, on the loop's
        # thread (the store's), and only FFmpeg's copy runs in a worker thread.
        path = self.state.data_dir / MP4_CACHE_DIR / remux.cache_name(playlist)
        if not path.is_file():
            files = [
                (self._segment_file(segment.uri), segment.duration)
                for segment in parse_playlist(playlist, Path()).segments
            ]
            try:
                await asyncio.to_thread(remux.remux_to_mp4, files, path)
            except MediaError as error:
                raise InternalError(f"The stream could not be remuxed to MP4: {error}") from None
        return web.FileResponse(path, headers={"Content-Type": remux.MP4_CONTENT_TYPE})

    def _segment_file(self, uri: str) -> Path:
        match = _SEGMENT_URI_RE.match(uri)
        if match is None:
            raise NotFound("Segment not found")
        return backend.segment_path(self.state, match["vid"], match["name"])

    async def player(self, request: web.Request) -> web.Response:
        url = request.query.get("url", "")
        if not url.startswith(("http://", "https://")):
            raise BadRequest("player needs ?url=<stream url>")
        return _page(url, _own_mp4(origin_of(self.state, request), url))

    async def watch(self, request: web.Request) -> web.Response:
        """``/watch?v=<stream id>`` (the ``player_url`` shape) and ``/embed?v=...`` (what the
        SDK's ``get_embed_code()`` makes of it): the player page of a known stream."""
        sid = request.query.get("v", "")
        if not sid:
            raise BadRequest("watch needs ?v=<stream id>")
        backend.stream_playlist(self.state, sid)  # 404 for an unknown (or deleted) stream
        origin = origin_of(self.state, request)
        return _page(backend.stream_url_of(origin, sid), mp4_url_of(origin, sid))

    async def media_file(self, request: web.Request) -> web.StreamResponse:
        path = await library.media_file(
            self.state, request.match_info["mid"], request.match_info["name"]
        )
        return web.FileResponse(path)


def mp4_url_of(origin: str, stream_id: str) -> str:
    """Where the server serves stream ``stream_id`` as one MP4.

    :param origin: the server's origin (``scheme://host:port``).
    :param stream_id: the stream.
    """
    return f"{origin}/hls/{quote(stream_id)}.mp4"


def _own_mp4(origin: str, url: str) -> str | None:
    """The MP4 URL of ``url`` when it is a stream of this server (``/hls/<id>.m3u8``)."""
    prefix = f"{origin}/hls/"
    if not (url.startswith(prefix) and url.endswith(".m3u8")):
        return None
    sid = unquote(url[len(prefix) : -len(".m3u8")])
    return None if not sid or "/" in sid else mp4_url_of(origin, sid)


def _page(url: str, mp4: str | None) -> web.Response:
    """The player page of stream ``url``, falling back to ``mp4`` (None: no fallback).

    :param url: the HLS stream URL.
    :param mp4: the same stream as MP4 on this server, or None.
    """
    page = PLAYER_PAGE.format(
        url=html.escape(url),
        url_js=_js_string(url),
        mp4_js="null" if mp4 is None else _js_string(mp4),
    )
    return web.Response(text=page, content_type="text/html")


def setup_routes(app: web.Application, state: TwinState) -> None:
    handlers = PlayerHandlers(state)
    app.router.add_get("/hls/{sid}.m3u8", handlers.playlist)
    app.router.add_get("/hls/{sid}.mp4", handlers.mp4)
    # Segment URIs are relative to the playlist; serve the layouts ingest.segment_prefix uses.
    app.router.add_get("/hls/seg/{vid}/{name}", handlers.segment)
    app.router.add_get("/hls/{vid}/{name}", handlers.segment)
    add_route(app, "GET", "/player", handlers.player)
    add_route(app, "GET", "/watch", handlers.watch)
    add_route(app, "GET", "/embed", handlers.watch)
    app.router.add_get("/media/{mid}/{name}", handlers.media_file)
