"""The VideoDB API handlers (``videodb-api.md``): collections, videos, upload, streams, jobs.

Each handler parses the request, makes one call into ``backend`` (the rules) and wraps the
result in the API's envelope.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from . import backend, callbacks
from .app import add_route, ok, origin_of, read_capped
from .backend import TwinState, get_collection_or_404, get_video_or_404, require_object
from .errors import BadRequest, PayloadTooLarge
from .jobs import Job

#: A backend rule that starts a job on a video: ``(state, video, body, key, *, fail)``.
JobStarter = Callable[..., Awaitable[tuple[Job, "str | None"]]]


async def json_body(request: web.Request) -> Any:
    raw = await read_capped(request)
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("Request body is not valid JSON (or nested too deeply)") from exc


def _key(request: web.Request) -> str:
    return request.headers.get("x-access-token", "")


def async_start(origin: str, job: Job, *, request_type: str = "sync") -> web.Response:
    data = {"id": job.id, "output_url": f"{origin}/async-response/{job.id}"}
    return web.json_response(
        {"success": True, "status": "processing", "data": data, "request_type": request_type}
    )


def _started(
    state: TwinState, request: web.Request, job: Job, callback_url: str | None
) -> web.Response:
    if callback_url is None:
        return async_start(origin_of(state, request), job)
    callbacks.schedule_delivery(state, job, callback_url)
    return async_start(origin_of(state, request), job, request_type="async")


class VideoDBApi:
    """The VideoDB API handlers: request -> backend call -> envelope; they share one state."""

    def __init__(self, state: TwinState) -> None:
        self.state = state

    # ----------------------------------------------------------------------- user, collections

    async def get_user(self, request: web.Request) -> web.Response:
        return ok(backend.user_of(self.state, request.headers["x-access-token"]))

    async def list_collections(self, request: web.Request) -> web.Response:
        return ok({"collections": backend.list_collections(self.state)})

    async def get_collection(self, request: web.Request) -> web.Response:
        return ok(get_collection_or_404(self.state, request.match_info["cid"]))

    # ----------------------------------------------------------------------- videos

    async def list_videos(self, request: web.Request) -> web.Response:
        state, query = self.state, request.query
        videos = backend.list_videos(
            state,
            origin_of(state, request),
            query.get("collection_id", "default"),
            query.get("page_index", 0),
            query.get("count", 0),
        )
        return ok({"videos": videos})

    async def get_video(self, request: web.Request) -> web.Response:
        state = self.state
        row = get_video_or_404(state, request.match_info["vid"], request.query.get("collection_id"))
        return ok(backend.video_payload(state, origin_of(state, request), row))

    # ----------------------------------------------------------------------- upload

    async def get_upload_url(self, request: web.Request) -> web.Response:
        state = self.state
        token = backend.new_upload(state, request.match_info["cid"], request.query.get("name"))
        return ok({"upload_url": f"{origin_of(state, request)}/upload/{token}"})

    async def receive_upload(self, request: web.Request) -> web.Response:
        """The presigned-URL stand-in: multipart with a ``file`` field, written to the data dir."""
        state = self.state
        token = request.match_info["token"]
        dest = backend.upload_destination(state, token)
        if not request.content_type.startswith("multipart/"):
            raise BadRequest("Upload must be multipart/form-data with a 'file' field")
        limit = state.max_upload_bytes
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge.over(limit)
        reader = await request.multipart()
        dest.parent.mkdir(parents=True, exist_ok=True)
        async for part in reader:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name != "file":
                continue
            written = 0
            with dest.open("wb") as out:
                while chunk := await part.read_chunk(1 << 20):
                    written += len(chunk)
                    if written > limit:
                        break
                    out.write(chunk)
            if written > limit:
                dest.unlink(missing_ok=True)
                raise PayloadTooLarge.over(limit)
            backend.upload_received(state, token, dest)
            return web.json_response({"success": True})
        raise BadRequest("Upload has no 'file' field")

    async def register_upload(self, request: web.Request) -> web.Response:
        state = self.state
        cid = request.match_info["cid"]
        get_collection_or_404(state, cid)  # before the body is read: a 404 wins over a 400
        body = require_object(await json_body(request))
        origin = origin_of(state, request)
        return ok(await backend.register_upload(state, origin, cid, body, _key(request)))

    # ----------------------------------------------------------------------- streams

    async def generate_stream(self, request: web.Request) -> web.Response:
        state = self.state
        video = get_video_or_404(state, request.match_info["vid"])
        body = require_object(await json_body(request))
        origin = origin_of(state, request)
        return ok(await backend.video_stream(state, origin, video, body.get("timeline")))

    async def compile_shots(self, request: web.Request) -> web.Response:
        state = self.state
        body = await json_body(request)
        return ok(await backend.compile_stream(state, origin_of(state, request), body))

    # ----------------------------------------------------------------------- async jobs

    async def clip(self, request: web.Request) -> web.Response:
        return await self._start_job(request, backend.start_clip)

    async def index_video(self, request: web.Request) -> web.Response:
        return await self._start_job(request, backend.start_index)

    async def _start_job(self, request: web.Request, start: JobStarter) -> web.Response:
        """A job on a video: the video (404 first), then the body, then the backend's rule."""
        state = self.state
        video = get_video_or_404(state, request.match_info["vid"])
        body = require_object(await json_body(request))
        fail = bool(request.get("fail_job"))
        job, callback_url = await start(state, video, body, _key(request), fail=fail)
        return _started(state, request, job, callback_url)

    async def poll_job(self, request: web.Request) -> web.Response:
        """The hot path: a dict lookup and a small (or cached) body."""
        fail = bool(request.get("fail_job"))
        body = backend.poll_job(self.state, request.match_info["job"], fail=fail)
        return web.Response(body=body, content_type="application/json")


def setup_routes(app: web.Application, state: TwinState) -> None:
    handlers = VideoDBApi(state)
    add_route(app, "GET", "/user", handlers.get_user)
    add_route(app, "GET", "/collection", handlers.list_collections)
    add_route(app, "GET", "/collection/{cid}", handlers.get_collection)
    add_route(app, "GET", "/collection/{cid}/upload_url", handlers.get_upload_url)
    add_route(app, "POST", "/collection/{cid}/upload", handlers.register_upload)
    add_route(app, "POST", "/upload/{token}", handlers.receive_upload)
    add_route(app, "GET", "/video", handlers.list_videos)
    add_route(app, "GET", "/video/{vid}", handlers.get_video)
    add_route(app, "POST", "/video/{vid}/stream", handlers.generate_stream)
    add_route(app, "POST", "/video/{vid}/clip", handlers.clip)
    add_route(app, "POST", "/video/{vid}/index", handlers.index_video)
    add_route(app, "POST", "/compile", handlers.compile_shots)
    add_route(app, "GET", "/async-response/{job}", handlers.poll_job)
