"""The handlers of transcripts, search (legacy and V2) and scene indexes.

Each parses the request, makes one call into ``search`` (the rules) and wraps the result in
the API's envelope. Jobs start through the same handler as clips and spoken-word indexes
(the class extends ``api.VideoDBApi``): the async start, callbacks and injected failures
behave alike.
"""

from __future__ import annotations

from aiohttp import web

from . import api, search
from .app import add_route, ok, origin_of
from .backend import TwinState, get_video_or_404, require_object


class SearchApi(api.VideoDBApi):
    """Transcript, search and scene index handlers sharing one state; jobs start through
    the inherited ``_start_job`` (video 404 first, then the body, then the rule)."""

    def _video(self, request: web.Request) -> dict:
        return get_video_or_404(self.state, request.match_info["vid"])

    async def _body(self, request: web.Request) -> dict:
        return require_object(await api.json_body(request))

    # ----------------------------------------------------------------------- transcripts

    async def get_transcript(self, request: web.Request) -> web.Response:
        return ok(search.transcript(self.state, self._video(request), request.query))

    async def generate_transcript(self, request: web.Request) -> web.Response:
        return await self._start_job(request, search.start_transcription)

    # ----------------------------------------------------------------------- search

    async def search_video(self, request: web.Request) -> web.Response:
        video = self._video(request)
        return ok(search.search_video(self.state, video, await self._body(request)))

    async def search_collection(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        return ok(search.search_collection(self.state, cid, await self._body(request)))

    async def search_video_v2(self, request: web.Request) -> web.Response:
        return await self._search_v2(request, [self._video(request)])

    async def search_collection_v2(self, request: web.Request) -> web.Response:
        videos = search.collection_videos(self.state, request.match_info["cid"])
        return await self._search_v2(request, videos)

    async def _search_v2(self, request: web.Request, videos: list[dict]) -> web.Response:
        state = self.state
        body = await self._body(request)
        return ok(await search.search_v2(state, origin_of(state, request), videos, body))

    # ----------------------------------------------------------------------- scene indexes

    async def index_scenes(self, request: web.Request) -> web.Response:
        return await self._start_job(request, search.start_scene_index)

    async def list_scene_indexes(self, request: web.Request) -> web.Response:
        return ok(search.list_scene_indexes(self.state, self._video(request)))

    async def get_scene_index(self, request: web.Request) -> web.Response:
        video, sid = self._video(request), request.match_info["sid"]
        return ok(search.get_scene_index(self.state, video, sid))

    async def delete_scene_index(self, request: web.Request) -> web.Response:
        video, sid = self._video(request), request.match_info["sid"]
        return ok(search.delete_scene_index(self.state, video, sid))


def setup_routes(app: web.Application, state: TwinState) -> None:
    handlers = SearchApi(state)
    add_route(app, "GET", "/video/{vid}/transcription", handlers.get_transcript)
    add_route(app, "POST", "/video/{vid}/transcription", handlers.generate_transcript)
    add_route(app, "POST", "/video/{vid}/search", handlers.search_video)
    add_route(app, "POST", "/video/{vid}/search/v2", handlers.search_video_v2)
    add_route(app, "POST", "/collection/{cid}/search", handlers.search_collection)
    add_route(app, "POST", "/collection/{cid}/search/v2", handlers.search_collection_v2)
    add_route(app, "POST", "/video/{vid}/index/scene", handlers.index_scenes)
    add_route(app, "GET", "/video/{vid}/index/scene", handlers.list_scene_indexes)
    add_route(app, "GET", "/video/{vid}/index/scene/{sid}", handlers.get_scene_index)
    add_route(app, "DELETE", "/video/{vid}/index/scene/{sid}", handlers.delete_scene_index)
