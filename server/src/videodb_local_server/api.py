"""The VideoDB API handlers (``videodb-api.md``): collections, videos, audio, images,
upload, thumbnails, streams, jobs.

Each handler parses the request, makes one call into ``backend`` (the rules) and wraps the
result in the API's envelope.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from . import backend, callbacks, library, uploads
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
    state: TwinState,
    request: web.Request,
    job: Job,
    callback_url: str | None,
    *,
    callback_request_type: str = "async",
) -> web.Response:
    """The async start of ``job``; with a callback URL, its delivery is scheduled (after the
    job's work, for a job whose result arrives later).

    :param callback_request_type: the ``request_type`` answered when there is a callback.
    """
    if callback_url is None:
        return async_start(origin_of(state, request), job)
    if job.pending:  # its result arrives later: deliver once the work has finished
        state.spawn(_deliver_after_work(state, job, callback_url))
    else:
        callbacks.schedule_delivery(state, job, callback_url)
    return async_start(origin_of(state, request), job, request_type=callback_request_type)


#: Seconds between looks at a pending job whose callback waits for its work.
WORK_POLL_SECONDS = 0.1


async def _deliver_after_work(state: TwinState, job: Job, url: str) -> None:
    while job.pending:
        await asyncio.sleep(WORK_POLL_SECONDS)
    await callbacks.deliver(state, job, url)


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

    async def create_collection(self, request: web.Request) -> web.Response:
        return ok(library.create_collection(self.state, await json_body(request)))

    async def update_collection(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        get_collection_or_404(self.state, cid)  # before the body is read: a 404 wins
        return ok(library.update_collection(self.state, cid, await json_body(request)))

    async def delete_collection(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        return ok(await library.delete_collection(self.state, cid), message="Collection deleted")

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

    async def delete_video(self, request: web.Request) -> web.Response:
        vid, cid = request.match_info["vid"], request.query.get("collection_id")
        return ok(await library.delete_video(self.state, vid, cid), message="Video deleted")

    # ----------------------------------------------------------------------- thumbnails

    async def get_thumbnail(self, request: web.Request) -> web.Response:
        state = self.state
        origin = origin_of(state, request)
        return ok(await library.thumbnail_url(state, origin, request.match_info["vid"]))

    async def create_thumbnail(self, request: web.Request) -> web.Response:
        state, vid = self.state, request.match_info["vid"]
        get_video_or_404(state, vid)  # before the body is read: a 404 wins over a 400
        body = await json_body(request)
        return ok(await library.create_thumbnail(state, origin_of(state, request), vid, body))

    async def list_thumbnails(self, request: web.Request) -> web.Response:
        state = self.state
        vid = request.match_info["vid"]
        return ok(library.list_thumbnails(state, origin_of(state, request), vid))

    # ----------------------------------------------------------------------- upload

    async def get_upload_url(self, request: web.Request) -> web.Response:
        state = self.state
        token = uploads.new_upload(state, request.match_info["cid"], request.query.get("name"))
        return ok({"upload_url": f"{origin_of(state, request)}/upload/{token}"})

    async def receive_upload(self, request: web.Request) -> web.Response:
        """The presigned-URL stand-in: multipart with a ``file`` field, written to the data dir."""
        state = self.state
        token = request.match_info["token"]
        dest = uploads.upload_destination(state, token)
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
            uploads.upload_received(state, token, dest)
            return web.json_response({"success": True})
        raise BadRequest("Upload has no 'file' field")

    async def register_upload(self, request: web.Request) -> web.Response:
        state = self.state
        cid = request.match_info["cid"]
        get_collection_or_404(state, cid)  # before the body is read: a 404 wins over a 400
        body = require_object(await json_body(request))
        origin = origin_of(state, request)
        answer = await uploads.register_upload(state, origin, cid, body, _key(request))
        if isinstance(answer, uploads.UploadStarted):
            # "sync" even with a callback: the SDK's upload() reads the media object out of
            # the answer (an "async" start makes it return None and then fail on it).
            return _started(
                state, request, answer.job, answer.callback_url, callback_request_type="sync"
            )
        return ok(answer)

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


class AssetHandlers:
    """``/audio`` or ``/image``: list (``?collection_id``), get, delete, ``generate_url``."""

    def __init__(self, state: TwinState, kind: str) -> None:
        self.state = state
        self.kind = kind

    def _ids(self, request: web.Request) -> tuple[str, str | None]:
        return request.match_info["aid"], request.query.get("collection_id")

    async def list(self, request: web.Request) -> web.Response:
        state, cid = self.state, request.query.get("collection_id", "default")
        items = library.list_assets(state, origin_of(state, request), self.kind, cid)
        return ok({f"{self.kind}s": items})

    async def get(self, request: web.Request) -> web.Response:
        state = self.state
        return ok(library.get_asset(state, origin_of(state, request), self.kind,
                                    *self._ids(request)))  # fmt: skip

    async def delete(self, request: web.Request) -> web.Response:
        deleted = await library.delete_asset(self.state, self.kind, *self._ids(request))
        return ok(deleted, message=f"{self.kind.capitalize()} deleted")

    async def generate_url(self, request: web.Request) -> web.Response:
        state = self.state
        url = library.asset_url(state, origin_of(state, request), self.kind, *self._ids(request))
        return ok({"signed_url": url})

    def setup_routes(self, app: web.Application) -> None:
        base = f"/{self.kind}"
        add_route(app, "GET", base, self.list)
        add_route(app, "GET", base + "/{aid}", self.get)
        add_route(app, "DELETE", base + "/{aid}", self.delete)
        add_route(app, "POST", base + "/{aid}/generate_url", self.generate_url)


def setup_routes(app: web.Application, state: TwinState) -> None:
    handlers = VideoDBApi(state)
    add_route(app, "GET", "/user", handlers.get_user)
    add_route(app, "GET", "/collection", handlers.list_collections)
    add_route(app, "POST", "/collection", handlers.create_collection)
    add_route(app, "GET", "/collection/{cid}", handlers.get_collection)
    add_route(app, "PATCH", "/collection/{cid}", handlers.update_collection)
    add_route(app, "DELETE", "/collection/{cid}", handlers.delete_collection)
    add_route(app, "GET", "/collection/{cid}/upload_url", handlers.get_upload_url)
    add_route(app, "POST", "/collection/{cid}/upload", handlers.register_upload)
    add_route(app, "POST", "/upload/{token}", handlers.receive_upload)
    add_route(app, "GET", "/video", handlers.list_videos)
    add_route(app, "GET", "/video/{vid}", handlers.get_video)
    add_route(app, "DELETE", "/video/{vid}", handlers.delete_video)
    add_route(app, "GET", "/video/{vid}/thumbnail", handlers.get_thumbnail)
    add_route(app, "POST", "/video/{vid}/thumbnail", handlers.create_thumbnail)
    add_route(app, "GET", "/video/{vid}/thumbnails", handlers.list_thumbnails)
    add_route(app, "POST", "/video/{vid}/stream", handlers.generate_stream)
    add_route(app, "POST", "/video/{vid}/clip", handlers.clip)
    add_route(app, "POST", "/video/{vid}/index", handlers.index_video)
    add_route(app, "POST", "/compile", handlers.compile_shots)
    add_route(app, "GET", "/async-response/{job}", handlers.poll_job)
    for kind in library.ASSET_PREFIXES:
        AssetHandlers(state, kind).setup_routes(app)
