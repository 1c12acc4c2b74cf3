"""What a video player (or a browser) fetches: playlists, MPEG-TS segments, a tiny player
page, and the media files of audio, images and thumbnails.

The HTTP side of the ``/hls/...``, ``/watch``, ``/embed``, ``/player`` and ``/media/...``
routes (none needs an API key); the FFmpeg side (cutting, playlists) is ``media.hls``.
"""

from __future__ import annotations

import html
import json

from aiohttp import web

from . import backend, library
from .app import add_route, origin_of
from .backend import TwinState
from .errors import BadRequest
from .media.hls import PLAYLIST_CONTENT_TYPE, SEGMENT_CONTENT_TYPE

PLAYER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>VideoDB local player</title>
<style>body{{margin:0;background:#111;color:#ddd;font-family:sans-serif}}
video{{width:100%;max-height:90vh;background:#000}}p{{padding:0 1em}}</style></head>
<body><video id="v" controls autoplay playsinline></video>
<p>Stream: <a href="{url}">{url}</a></p>
<script src="https://cdn.jsdelivr.net/npm/hls.js@1"></script>
<script>
const v = document.getElementById("v"), src = {url_js};
if (v.canPlayType("application/vnd.apple.mpegurl")) {{ v.src = src; }}
else if (window.Hls && Hls.isSupported()) {{ const h = new Hls(); h.loadSource(src);
  h.attachMedia(v); }}
else {{ document.body.insertAdjacentHTML("beforeend",
  "<p>This browser cannot play HLS without hls.js (offline?). Use the stream URL.</p>"); }}
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

    async def player(self, request: web.Request) -> web.Response:
        url = request.query.get("url", "")
        if not url.startswith(("http://", "https://")):
            raise BadRequest("player needs ?url=<stream url>")
        return _page(url)

    async def watch(self, request: web.Request) -> web.Response:
        """``/watch?v=<stream id>`` (the ``player_url`` shape) and ``/embed?v=...`` (what the
        SDK's ``get_embed_code()`` makes of it): the player page of a known stream."""
        sid = request.query.get("v", "")
        if not sid:
            raise BadRequest("watch needs ?v=<stream id>")
        backend.stream_playlist(self.state, sid)  # 404 for an unknown (or deleted) stream
        return _page(backend.stream_url_of(origin_of(self.state, request), sid))

    async def media_file(self, request: web.Request) -> web.StreamResponse:
        path = await library.media_file(
            self.state, request.match_info["mid"], request.match_info["name"]
        )
        return web.FileResponse(path)


def _page(url: str) -> web.Response:
    page = PLAYER_PAGE.format(url=html.escape(url), url_js=_js_string(url))
    return web.Response(text=page, content_type="text/html")


def setup_routes(app: web.Application, state: TwinState) -> None:
    handlers = PlayerHandlers(state)
    app.router.add_get("/hls/{sid}.m3u8", handlers.playlist)
    # Segment URIs are relative to the playlist; serve the layouts ingest.segment_prefix uses.
    app.router.add_get("/hls/seg/{vid}/{name}", handlers.segment)
    app.router.add_get("/hls/{vid}/{name}", handlers.segment)
    add_route(app, "GET", "/player", handlers.player)
    add_route(app, "GET", "/watch", handlers.watch)
    add_route(app, "GET", "/embed", handlers.watch)
    app.router.add_get("/media/{mid}/{name}", handlers.media_file)
