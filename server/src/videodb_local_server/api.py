"""The VideoDB API handlers (``videodb-api.md``): collections, videos, upload, streams, jobs."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from .app import add_route, ok, origin_of, read_capped
from .backend import (
    TwinState,
    clip_result,
    get_collection_or_404,
    get_video_or_404,
    parse_timeline,
    save_stream,
    stream_digest,
    stream_urls,
    video_payload,
)
from .errors import (
    BadRequest,
    InsufficientCredits,
    InvalidMedia,
    NotFound,
    PayloadTooLarge,
    PlanUpgradeRequired,
)
from .jobs import Job, status_body
from .media import hls, ingest
from .store import new_id

CONTENT_TYPES = ("spoken", "visual", "multimodal")
MODEL_NAMES = ("basic", "pro", "ultra")
PLAN_GATED_MODELS = ("pro", "ultra")
#: Ids are checked for safety (characters, length), not for a guessed format
#: (``videodb-api.md``): the reference's example ``idx-12345`` and the SDKs' 16 hex characters
#: are both valid. Written here on its own (the server shares no code with the provider); a
#: test checks that both sides accept and refuse the same ids. Used with ``fullmatch`` (a
#: ``$`` would let a trailing newline through).
MAX_ID_CHARS = 128
_SCENE_INDEX_RE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_ID_CHARS - 1}}}")


# --------------------------------------------------------------------------- helpers


async def json_body(request: web.Request) -> Any:
    raw = await read_capped(request)
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("Request body is not valid JSON (or nested too deeply)") from exc


def split_url(url: Any, field: str) -> SplitResult:
    """``url`` parsed, or a 400 naming ``field`` (``http://[::1`` is not a URL)."""
    if not isinstance(url, str) or not url:
        raise BadRequest(f"{field} is required")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise BadRequest(f"{field} is not a valid URL: {url!r}") from exc
    return parts


def is_admin_path(path: str) -> bool:
    """Whether ``path`` names the admin API in any spelling (case, %-encoding, dots, slashes)."""
    for _ in range(5):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    segments = [s for s in path.replace("\\", "/").split("/") if s not in ("", ".")]
    return bool(segments) and segments[0].lower().rstrip(".").strip() == "_twin"


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class LoopbackResolver(AbstractResolver):
    """Resolves like aiohttp does, then refuses any non-loopback address (checked at connect
    time too, so a name that changes its answer after the first check gains nothing)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not results or not all(_is_loopback(r["host"]) for r in results):
            raise OSError(f"{host} does not resolve to loopback only")
        return results

    async def close(self) -> None:
        await self._inner.close()


async def check_outbound_url(state: TwinState, url: Any, field: str) -> str:
    """An http(s) URL the server may call: never its admin API, and loopback only unless the
    server was started with ``--allow-remote-urls``.

    :param state: the server state (its opt-in flag).
    :param url: the URL from the request body.
    :param field: the body field, named in the 400.
    """
    parts = split_url(url, field)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(f"{field} must be an http(s) URL, got {url!r}")
    if parts.username is not None or parts.password is not None or "\\" in str(url):
        raise BadRequest(f"{field} must not carry userinfo or backslashes")
    if is_admin_path(parts.path):
        raise BadRequest(f"{field} must not point at the server's admin API (/_twin/...)")
    if not state.allow_remote_urls:
        host = parts.hostname.rstrip(".")
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 80)
        except (OSError, UnicodeError) as exc:
            raise BadRequest(f"{field} host {parts.hostname!r} does not resolve") from exc
        addresses = {str(info[4][0]) for info in infos}
        if not addresses or not all(_is_loopback(a) for a in addresses):
            raise BadRequest(
                f"{field} must point at this machine (loopback); {parts.hostname!r} does not"
                " (start the server with --allow-remote-urls to allow other hosts)"
            )
    return str(url)


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


def require_plan(
    state: TwinState, request: web.Request, *, billable: bool, gated: bool = False
) -> None:
    plan = state.keys.get(request.headers.get("x-access-token", ""), "pro")
    if billable and plan == "broke":
        raise InsufficientCredits("Insufficient credits for this request")
    if gated and plan == "free":
        raise PlanUpgradeRequired("This feature is not available on your plan")


def async_start(origin: str, job: Job, *, request_type: str = "sync") -> web.Response:
    data = {"id": job.id, "output_url": f"{origin}/async-response/{job.id}"}
    return web.json_response(
        {"success": True, "status": "processing", "data": data, "request_type": request_type}
    )


def new_job(state: TwinState, request: web.Request, kind: str, video_id: str | None) -> Job:
    job = Job(
        id=secrets.token_hex(12),
        kind=kind,
        video_id=video_id,
        created_at=time.time(),
        duration=state.config.job_seconds,
    )
    if request.get("fail_job"):
        job.fail("Injected job failure", "job_failed")
    return job


def _uploaded_file(state: TwinState, url: Any) -> Path:
    parts = split_url(url, "url")
    if parts.scheme == "file":
        return _media_root_file(state, unquote(parts.path))
    if parts.path.startswith("/upload/"):
        row = state.store.get_upload(parts.path.rsplit("/", 1)[-1])
        if row is None or not row["path"]:
            raise BadRequest("Nothing was uploaded to this upload URL")
        path = Path(row["path"])
        if not path.is_file():
            raise BadRequest("Nothing was uploaded to this upload URL")
        return path
    raise BadRequest("The local server cannot fetch remote URLs (url)")


def _media_root_file(state: TwinState, path: str) -> Path:
    """A ``file://`` path, only inside ``--media-root`` (real path, so no symlink or ``..``
    escapes); one message for "outside" and "missing", so it is no existence oracle."""
    root = state.media_root
    if root is None:
        raise BadRequest("url: file:// URLs are off (start the server with --media-root DIR)")
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(root) or not real.is_file():
        raise BadRequest("url: file:// URL is not a file inside the media root")
    return real


def _register_subtitle(
    state: TwinState, cid: str, name: str, cues: list[dict[str, Any]] | None
) -> web.Response:
    """A WebVTT/SRT upload is the transcript of the video with the same name (now or later)."""
    if not cues:
        raise BadRequest("Subtitle file has no cues (expected WebVTT or SRT)")
    video = state.store.find_video_by_name(cid, name)
    sid = new_id("sub")
    state.store.add_subtitle(sid, cid, name, cues, video["id"] if video else None)
    if video is not None:
        state.set_transcript(video["id"], cues, "sidecar")
    data = {"id": sid, "name": name, "collection_id": cid, "cues": len(cues)}
    return ok({**data, "video_id": video["id"] if video else None})


async def _in_thread(func: Any, *args: Any) -> Any:
    try:
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc


def _check_choice(body: dict[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = body.get(name)
    if value is None:
        return default
    if value not in choices:
        raise BadRequest(f"Invalid {name} {value!r}; expected one of {choices}")
    return str(value)


async def _callback_url(state: TwinState, body: dict[str, Any]) -> str | None:
    url = body.get("callback_url")
    if url is None:
        return None
    return await check_outbound_url(state, url, "callback_url")


def _started(
    state: TwinState, request: web.Request, job: Job, callback_url: str | None
) -> web.Response:
    if callback_url is None:
        return async_start(origin_of(state, request), job)
    state.spawn(_deliver_callback(state, job, callback_url))
    return async_start(origin_of(state, request), job, request_type="async")


async def _deliver_callback(state: TwinState, job: Job, url: str) -> None:
    """POST the terminal payload to the callback URL once the job is done (best effort)."""
    await asyncio.sleep(max(0.0, job.created_at + job.duration - time.time()))
    body = job.terminal_body(state.config.terminal_shape)
    timeout = aiohttp.ClientTimeout(total=10)
    resolver = None if state.allow_remote_urls else LoopbackResolver()
    connector = aiohttp.TCPConnector(resolver=resolver)
    try:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            headers = {"Content-Type": "application/json"}
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                await resp.read()
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        pass


class VideoDBApi:
    """The VideoDB API handlers: request -> backend call -> envelope; they share one state."""

    def __init__(self, state: TwinState) -> None:
        self.state = state

    # ----------------------------------------------------------------------- user, collections

    async def get_user(self, request: web.Request) -> web.Response:
        state = self.state
        key = request.headers["x-access-token"]
        user_id = "u-" + hashlib.sha256(key.encode()).hexdigest()[:12]
        collections = [c["id"] for c in state.store.list_collections()]
        return ok(
            {
                "user_id": user_id,
                "user_name": "Local User",
                "user_email": "local@videodb.invalid",
                "plan": state.keys.get(key, "pro"),
                "collections": collections,
                "default_collection": "default",
            }
        )

    async def list_collections(self, request: web.Request) -> web.Response:
        return ok({"collections": self.state.store.list_collections()})

    async def get_collection(self, request: web.Request) -> web.Response:
        state = self.state
        return ok(get_collection_or_404(state, request.match_info["cid"]))

    # ----------------------------------------------------------------------- videos

    async def list_videos(self, request: web.Request) -> web.Response:
        state = self.state
        cid = request.query.get("collection_id", "default")
        get_collection_or_404(state, cid)
        rows = state.store.list_videos(cid)
        try:
            page = int(request.query.get("page_index", 0))
            count = int(request.query.get("count", 0)) or len(rows) or 1
        except ValueError as exc:
            raise BadRequest("page_index and count must be integers") from exc
        if page < 0 or count < 0:
            raise BadRequest("page_index and count must be >= 0")
        rows = rows[page * count : (page + 1) * count]
        origin = origin_of(state, request)
        return ok({"videos": [video_payload(state, origin, r) for r in rows]})

    async def get_video(self, request: web.Request) -> web.Response:
        state = self.state
        row = get_video_or_404(state, request.match_info["vid"], request.query.get("collection_id"))
        return ok(video_payload(state, origin_of(state, request), row))

    # ----------------------------------------------------------------------- upload

    async def get_upload_url(self, request: web.Request) -> web.Response:
        state = self.state
        cid = request.match_info["cid"]
        get_collection_or_404(state, cid)
        token = secrets.token_urlsafe(18)
        state.store.add_upload(token, cid, request.query.get("name"))
        return ok({"upload_url": f"{origin_of(state, request)}/upload/{token}"})

    async def receive_upload(self, request: web.Request) -> web.Response:
        """The presigned-URL stand-in: multipart with a ``file`` field, written to the data dir."""
        state = self.state
        token = request.match_info["token"]
        if state.store.get_upload(token) is None:
            raise NotFound("Unknown upload URL")
        if not request.content_type.startswith("multipart/"):
            raise BadRequest("Upload must be multipart/form-data with a 'file' field")
        limit = state.max_upload_bytes
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge.over(limit)
        reader = await request.multipart()
        dest = state.data_dir / "uploads" / token
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
            state.store.set_upload_path(token, str(dest))
            return web.json_response({"success": True})
        raise BadRequest("Upload has no 'file' field")

    async def register_upload(self, request: web.Request) -> web.Response:
        state = self.state
        cid = request.match_info["cid"]
        get_collection_or_404(state, cid)
        body = require_object(await json_body(request))
        require_plan(state, request, billable=True)
        src = _uploaded_file(state, body.get("url"))
        name = body.get("name") or src.stem
        media_type = body.get("media_type")
        if media_type not in (None, "video", "subtitle"):
            raise BadRequest(f"Unsupported media_type {media_type!r}")
        loop = asyncio.get_running_loop()
        cues = await loop.run_in_executor(None, ingest.read_subtitle, src)
        if cues is not None or media_type == "subtitle":
            return _register_subtitle(state, cid, name, cues)
        # Idempotent by (collection, source URL, name): registering the same upload again (a
        # client retrying after a lost answer) returns the video it made, not a second one.
        source = str(body["url"])
        existing = state.store.find_video_by_source(cid, source, name)
        if existing is not None:
            return ok(video_payload(state, origin_of(state, request), existing))
        vid = new_id("m")
        media_dir = state.data_dir / "media" / vid
        try:
            result = await loop.run_in_executor(None, ingest.ingest_video, src, media_dir)
        except (hls.MediaError, ValueError) as exc:
            raise InvalidMedia(f"Could not process the media file: {exc}") from exc
        try:
            state.store.add_video(
                vid=vid,
                collection_id=cid,
                name=name,
                description=body.get("description"),
                length=result.length,
                media_dir=str(media_dir),
                source=source,
            )
        except sqlite3.IntegrityError:  # the same registration, sent twice at once, won the race
            await loop.run_in_executor(None, shutil.rmtree, media_dir, True)
            winner = state.store.find_video_by_source(cid, source, name)
            if winner is None:
                raise
            return ok(video_payload(state, origin_of(state, request), winner))
        cues = result.cues or state.store.take_pending_subtitle(cid, name, vid)
        if cues:
            state.set_transcript(vid, cues, result.cue_source or "sidecar")
        row = get_video_or_404(state, vid)
        return ok(video_payload(state, origin_of(state, request), row))

    # ----------------------------------------------------------------------- streams

    async def generate_stream(self, request: web.Request) -> web.Response:
        state = self.state
        video = get_video_or_404(state, request.match_info["vid"])
        body = require_object(await json_body(request))
        length = float(video["length"])
        raw_timeline = body.get("timeline")
        origin = origin_of(state, request)
        if raw_timeline is None:
            sid = video["stream_id"]
            if sid is None:
                sid = "s-" + video["id"][2:]
                playlist = await _in_thread(ingest.whole_playlist, video["id"], video["media_dir"])
                save_stream(state, sid, video["id"], None, playlist)
                state.store.set_whole_stream(video["id"], sid)
            return ok(stream_urls(origin, sid))
        timeline = parse_timeline(raw_timeline, length)
        sid = "t-" + stream_digest([video["id"], timeline])
        if sid not in state.playlists and state.store.get_stream(sid) is None:
            playlist = await _in_thread(
                ingest.timeline_playlist, video["id"], video["media_dir"], timeline
            )
            save_stream(state, sid, video["id"], timeline, playlist)
        return ok(stream_urls(origin, sid))

    async def compile_shots(self, request: web.Request) -> web.Response:
        state = self.state
        body = await json_body(request)
        if not isinstance(body, list) or not body:
            raise BadRequest("Body must be a non-empty JSON array of shots")
        items = []
        for entry in body:
            entry = require_object(entry)
            vid = entry.get("video_id")
            if not isinstance(vid, str):
                raise BadRequest("Each entry needs a video_id")
            video = get_video_or_404(state, vid, entry.get("collection_id"))
            shots = parse_timeline(entry.get("shots"), float(video["length"]), "shots")
            items.append((vid, video["media_dir"], shots))
        sid = "c-" + stream_digest([(vid, shots) for vid, _, shots in items])
        if sid not in state.playlists and state.store.get_stream(sid) is None:
            playlist = await _in_thread(ingest.compiled_playlist, items)
            save_stream(state, sid, None, [[v, s] for v, _, s in items], playlist)
        return ok(stream_urls(origin_of(state, request), sid))

    # ----------------------------------------------------------------------- async jobs

    async def clip(self, request: web.Request) -> web.Response:
        state = self.state
        video = get_video_or_404(state, request.match_info["vid"])
        body = require_object(await json_body(request))
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise BadRequest("prompt is required")
        _check_choice(body, "content_type", CONTENT_TYPES, "spoken")
        model = _check_choice(body, "model_name", MODEL_NAMES, "basic")
        scene_index_id = body.get("scene_index_id")
        if scene_index_id is not None and not (
            isinstance(scene_index_id, str) and _SCENE_INDEX_RE.fullmatch(scene_index_id)
        ):
            raise BadRequest(
                f"scene_index_id must be 1 to {MAX_ID_CHARS} ASCII letters, digits, '-' or "
                "'_', starting with a letter or digit"
            )
        callback_url = await _callback_url(state, body)
        require_plan(state, request, billable=True, gated=model in PLAN_GATED_MODELS)
        job = new_job(state, request, "clip", video["id"])
        job.result = clip_result(state, video, prompt)
        state.add_job(job)
        return _started(state, request, job, callback_url)

    async def index_video(self, request: web.Request) -> web.Response:
        state = self.state
        video = get_video_or_404(state, request.match_info["vid"])
        body = require_object(await json_body(request))
        index_type = body.get("index_type", "spoken_word")
        if index_type != "spoken_word":
            raise BadRequest(f"Unsupported index_type {index_type!r}")
        callback_url = await _callback_url(state, body)
        require_plan(state, request, billable=True)
        job = new_job(state, request, "index", video["id"])
        cues = state.store.get_transcript(video["id"])
        if not cues and not job.failed:
            job.fail("No spoken words found: the video has no transcript", "no_transcript")
        else:
            job.result = {
                "video_id": video["id"],
                "index_type": index_type,
                "cues": len(cues or []),
            }
        state.add_job(job)
        return _started(state, request, job, callback_url)

    async def poll_job(self, request: web.Request) -> web.Response:
        """The hot path: a dict lookup and a small (or cached) body."""
        state = self.state
        state.stats["polls"] += 1
        job = state.jobs.get(request.match_info["job"])
        if job is None:
            raise NotFound("Job not found")
        if request.get("fail_job") and not job.failed:
            job.fail("Injected job failure", "job_failed")
            state.store.save_job(job)
        config = state.config
        body = status_body(job, shape=config.terminal_shape, style=config.progress_style)
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
