"""The VideoDB API handlers (``videodb-api.md``): collections, videos, upload, streams, jobs."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import json
import math
import os
import re
import secrets
import shutil
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, quote, unquote, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from . import ingest, media, ranking
from .app import (
    STATE,
    ApiError,
    TwinState,
    add_route,
    bad_request,
    ok,
    origin_of,
    read_capped,
    too_large,
)
from .jobs import Job, status_body
from .store import new_id
from .transcript import Cue

CONTENT_TYPES = ("spoken", "visual", "multimodal")
MODEL_NAMES = ("basic", "pro", "ultra")
PLAN_GATED_MODELS = ("pro", "ultra")
MAX_TIMELINE_SEGMENTS = 1000
#: Ids are checked for safety (characters, length), not for a guessed format
#: (``videodb-api.md``): the reference's example ``idx-12345`` and the SDKs' 16 hex characters
#: are both valid. Written here on its own (the server shares no code with the provider); a
#: test checks that both sides accept and refuse the same ids. Used with ``fullmatch`` (a
#: ``$`` would let a trailing newline through).
MAX_ID_CHARS = 128
_SCENE_INDEX_RE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_ID_CHARS - 1}}}")
#: Timeline ends may overshoot the length by float noise (``length`` is rounded to 1 µs).
LENGTH_TOLERANCE = 0.05


# --------------------------------------------------------------------------- helpers


async def json_body(request: web.Request) -> Any:
    raw = await read_capped(request)
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise bad_request("Request body is not valid JSON (or nested too deeply)") from exc


def split_url(url: Any, field: str) -> SplitResult:
    """``url`` parsed, or a 400 naming ``field`` (``http://[::1`` is not a URL)."""
    if not isinstance(url, str) or not url:
        raise bad_request(f"{field} is required")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise bad_request(f"{field} is not a valid URL: {url!r}") from exc
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
        raise bad_request(f"{field} must be an http(s) URL, got {url!r}")
    if parts.username is not None or parts.password is not None or "\\" in str(url):
        raise bad_request(f"{field} must not carry userinfo or backslashes")
    if is_admin_path(parts.path):
        raise bad_request(f"{field} must not point at the server's admin API (/_twin/...)")
    if not state.allow_remote_urls:
        host = parts.hostname.rstrip(".")
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 80)
        except (OSError, UnicodeError) as exc:
            raise bad_request(f"{field} host {parts.hostname!r} does not resolve") from exc
        addresses = {str(info[4][0]) for info in infos}
        if not addresses or not all(_is_loopback(a) for a in addresses):
            raise bad_request(
                f"{field} must point at this machine (loopback); {parts.hostname!r} does not"
                " (start the server with --allow-remote-urls to allow other hosts)"
            )
    return str(url)


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    return body


def require_plan(request: web.Request, *, billable: bool, gated: bool = False) -> None:
    state = request.app[STATE]
    plan = state.keys.get(request.headers.get("x-access-token", ""), "pro")
    if billable and plan == "broke":
        raise ApiError(402, "Insufficient credits for this request", "insufficient_credits")
    if gated and plan == "free":
        raise ApiError(403, "This feature is not available on your plan", "plan_upgrade_required")


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def stream_urls(origin: str, stream_id: str) -> dict[str, str]:
    stream_url = f"{origin}/hls/{stream_id}.m3u8"
    return {"stream_url": stream_url, "player_url": f"{origin}/player?url={quote(stream_url)}"}


def video_payload(state: TwinState, origin: str, row: dict[str, Any]) -> dict[str, Any]:
    urls: dict[str, str | None] = {"stream_url": None, "player_url": None}
    if row["stream_id"]:
        urls.update(stream_urls(origin, row["stream_id"]))
    length = float(row["length"])
    return {
        "id": row["id"],
        "collection_id": row["collection_id"],
        "name": row["name"],
        "description": row["description"],
        **urls,
        "thumbnail_url": None,
        "length": f"{length:.6f}" if state.config.length_style == "string" else length,
        "created_at": iso(row["created_at"]),
    }


def get_collection_or_404(state: TwinState, cid: str) -> dict[str, Any]:
    row = state.store.get_collection(cid)
    if row is None:
        raise ApiError(404, f"Collection not found: {cid}", "not_found")
    return row


def get_video_or_404(state: TwinState, vid: str, cid: str | None = None) -> dict[str, Any]:
    row = state.store.get_video(vid)
    if row is None or (cid and row["collection_id"] != cid):
        raise ApiError(404, f"Video not found: {vid}", "not_found")
    return row


def parse_timeline(raw: Any, length: float, field: str = "timeline") -> list[tuple[float, float]]:
    """Pairs of finite numbers with 0 <= start < end <= length; 400 otherwise."""
    if not isinstance(raw, list) or not raw:
        raise bad_request(f"{field} must be a non-empty list of [start, end]")
    if len(raw) > MAX_TIMELINE_SEGMENTS:
        raise bad_request(f"{field} has more than {MAX_TIMELINE_SEGMENTS} pieces")
    pairs = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2 and all(_is_num(x) for x in item)):
            raise bad_request(f"Invalid {field} entry {item!r}")
        start, end = float(item[0]), float(item[1])
        if not 0 <= start < end:
            raise bad_request(f"Invalid {field} range {item!r}")
        if end > length + LENGTH_TOLERANCE:
            raise bad_request(f"{field} range {item!r} is beyond the video length")
        pairs.append((start, min(end, length)))
    return pairs


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def async_start(origin: str, job: Job, *, request_type: str = "sync") -> web.Response:
    data = {"id": job.id, "output_url": f"{origin}/async-response/{job.id}"}
    return web.json_response(
        {"success": True, "status": "processing", "data": data, "request_type": request_type}
    )


def new_job(request: web.Request, kind: str, video_id: str | None) -> Job:
    state = request.app[STATE]
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


# --------------------------------------------------------------------------- user, collections


async def get_user(request: web.Request) -> web.Response:
    state = request.app[STATE]
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


async def list_collections(request: web.Request) -> web.Response:
    return ok({"collections": request.app[STATE].store.list_collections()})


async def get_collection(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return ok(get_collection_or_404(state, request.match_info["cid"]))


# --------------------------------------------------------------------------- videos


async def list_videos(request: web.Request) -> web.Response:
    state = request.app[STATE]
    cid = request.query.get("collection_id", "default")
    get_collection_or_404(state, cid)
    rows = state.store.list_videos(cid)
    try:
        page = int(request.query.get("page_index", 0))
        count = int(request.query.get("count", 0)) or len(rows) or 1
    except ValueError as exc:
        raise bad_request("page_index and count must be integers") from exc
    if page < 0 or count < 0:
        raise bad_request("page_index and count must be >= 0")
    rows = rows[page * count : (page + 1) * count]
    origin = origin_of(request)
    return ok({"videos": [video_payload(state, origin, r) for r in rows]})


async def get_video(request: web.Request) -> web.Response:
    state = request.app[STATE]
    row = get_video_or_404(state, request.match_info["vid"], request.query.get("collection_id"))
    return ok(video_payload(state, origin_of(request), row))


# --------------------------------------------------------------------------- upload


async def get_upload_url(request: web.Request) -> web.Response:
    state = request.app[STATE]
    cid = request.match_info["cid"]
    get_collection_or_404(state, cid)
    token = secrets.token_urlsafe(18)
    state.store.add_upload(token, cid, request.query.get("name"))
    return ok({"upload_url": f"{origin_of(request)}/upload/{token}"})


async def receive_upload(request: web.Request) -> web.Response:
    """The presigned-URL stand-in: multipart with a ``file`` field, written to the data dir."""
    state = request.app[STATE]
    token = request.match_info["token"]
    if state.store.get_upload(token) is None:
        raise ApiError(404, "Unknown upload URL", "not_found")
    if not request.content_type.startswith("multipart/"):
        raise bad_request("Upload must be multipart/form-data with a 'file' field")
    limit = state.max_upload_bytes
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
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
            raise too_large(limit)
        state.store.set_upload_path(token, str(dest))
        return web.json_response({"success": True})
    raise bad_request("Upload has no 'file' field")


def _uploaded_file(state: TwinState, url: Any) -> Path:
    parts = split_url(url, "url")
    if parts.scheme == "file":
        return _media_root_file(state, unquote(parts.path))
    if parts.path.startswith("/upload/"):
        row = state.store.get_upload(parts.path.rsplit("/", 1)[-1])
        if row is None or not row["path"]:
            raise bad_request("Nothing was uploaded to this upload URL")
        path = Path(row["path"])
        if not path.is_file():
            raise bad_request("Nothing was uploaded to this upload URL")
        return path
    raise bad_request("The local server cannot fetch remote URLs (url)")


def _media_root_file(state: TwinState, path: str) -> Path:
    """A ``file://`` path, only inside ``--media-root`` (real path, so no symlink or ``..``
    escapes); one message for "outside" and "missing", so it is no existence oracle."""
    root = state.media_root
    if root is None:
        raise bad_request("url: file:// URLs are off (start the server with --media-root DIR)")
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(root) or not real.is_file():
        raise bad_request("url: file:// URL is not a file inside the media root")
    return real


async def register_upload(request: web.Request) -> web.Response:
    state = request.app[STATE]
    cid = request.match_info["cid"]
    get_collection_or_404(state, cid)
    body = require_object(await json_body(request))
    require_plan(request, billable=True)
    src = _uploaded_file(state, body.get("url"))
    name = body.get("name") or src.stem
    media_type = body.get("media_type")
    if media_type not in (None, "video", "subtitle"):
        raise bad_request(f"Unsupported media_type {media_type!r}")
    loop = asyncio.get_running_loop()
    cues = await loop.run_in_executor(None, ingest.read_subtitle, src)
    if cues is not None or media_type == "subtitle":
        return _register_subtitle(state, cid, name, cues)
    # Idempotent by (collection, source URL, name): registering the same upload again (a
    # client retrying after a lost answer) returns the video it made, not a second one.
    source = str(body["url"])
    existing = state.store.find_video_by_source(cid, source, name)
    if existing is not None:
        return ok(video_payload(state, origin_of(request), existing))
    vid = new_id("m")
    media_dir = state.data_dir / "media" / vid
    try:
        result = await loop.run_in_executor(None, ingest.ingest_video, src, media_dir)
    except (media.MediaError, ValueError) as exc:
        raise ApiError(400, f"Could not process the media file: {exc}", "invalid_media") from exc
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
        return ok(video_payload(state, origin_of(request), winner))
    cues = result.cues or state.store.take_pending_subtitle(cid, name, vid)
    if cues:
        state.set_transcript(vid, cues, result.cue_source or "sidecar")
    row = get_video_or_404(state, vid)
    return ok(video_payload(state, origin_of(request), row))


def _register_subtitle(
    state: TwinState, cid: str, name: str, cues: list[dict[str, Any]] | None
) -> web.Response:
    """A WebVTT/SRT upload is the transcript of the video with the same name (now or later)."""
    if not cues:
        raise bad_request("Subtitle file has no cues (expected WebVTT or SRT)")
    video = state.store.find_video_by_name(cid, name)
    sid = new_id("sub")
    state.store.add_subtitle(sid, cid, name, cues, video["id"] if video else None)
    if video is not None:
        state.set_transcript(video["id"], cues, "sidecar")
    data = {"id": sid, "name": name, "collection_id": cid, "cues": len(cues)}
    return ok({**data, "video_id": video["id"] if video else None})


# --------------------------------------------------------------------------- streams


async def generate_stream(request: web.Request) -> web.Response:
    state = request.app[STATE]
    video = get_video_or_404(state, request.match_info["vid"])
    body = require_object(await json_body(request))
    length = float(video["length"])
    raw_timeline = body.get("timeline")
    origin = origin_of(request)
    if raw_timeline is None:
        sid = video["stream_id"]
        if sid is None:
            sid = "s-" + video["id"][2:]
            playlist = await _in_thread(ingest.whole_playlist, video["id"], video["media_dir"])
            _save_stream(state, sid, video["id"], None, playlist)
            state.store.set_whole_stream(video["id"], sid)
        return ok(stream_urls(origin, sid))
    timeline = parse_timeline(raw_timeline, length)
    sid = "t-" + _digest([video["id"], timeline])
    if sid not in state.playlists and state.store.get_stream(sid) is None:
        playlist = await _in_thread(
            ingest.timeline_playlist, video["id"], video["media_dir"], timeline
        )
        _save_stream(state, sid, video["id"], timeline, playlist)
    return ok(stream_urls(origin, sid))


async def compile_shots(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await json_body(request)
    if not isinstance(body, list) or not body:
        raise bad_request("Body must be a non-empty JSON array of shots")
    items = []
    for entry in body:
        entry = require_object(entry)
        vid = entry.get("video_id")
        if not isinstance(vid, str):
            raise bad_request("Each entry needs a video_id")
        video = get_video_or_404(state, vid, entry.get("collection_id"))
        shots = parse_timeline(entry.get("shots"), float(video["length"]), "shots")
        items.append((vid, video["media_dir"], shots))
    sid = "c-" + _digest([(vid, shots) for vid, _, shots in items])
    if sid not in state.playlists and state.store.get_stream(sid) is None:
        playlist = await _in_thread(ingest.compiled_playlist, items)
        _save_stream(state, sid, None, [[v, s] for v, _, s in items], playlist)
    return ok(stream_urls(origin_of(request), sid))


def _save_stream(state: TwinState, sid: str, vid: str | None, spec: Any, playlist: str) -> None:
    state.store.add_stream(sid, vid, spec, playlist)
    state.remember_playlist(sid, playlist)


def _digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value).encode()).hexdigest()[:16]


async def _in_thread(func: Any, *args: Any) -> Any:
    try:
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)
    except ValueError as exc:
        raise bad_request(str(exc)) from exc


# --------------------------------------------------------------------------- async jobs


def _check_choice(body: dict[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = body.get(name)
    if value is None:
        return default
    if value not in choices:
        raise bad_request(f"Invalid {name} {value!r}; expected one of {choices}")
    return str(value)


async def clip(request: web.Request) -> web.Response:
    state = request.app[STATE]
    video = get_video_or_404(state, request.match_info["vid"])
    body = require_object(await json_body(request))
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad_request("prompt is required")
    _check_choice(body, "content_type", CONTENT_TYPES, "spoken")
    model = _check_choice(body, "model_name", MODEL_NAMES, "basic")
    scene_index_id = body.get("scene_index_id")
    if scene_index_id is not None and not (
        isinstance(scene_index_id, str) and _SCENE_INDEX_RE.fullmatch(scene_index_id)
    ):
        raise bad_request(
            f"scene_index_id must be 1 to {MAX_ID_CHARS} ASCII letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    callback_url = await _callback_url(state, body)
    require_plan(request, billable=True, gated=model in PLAN_GATED_MODELS)
    job = new_job(request, "clip", video["id"])
    job.result = _clip_result(state, video, prompt)
    state.add_job(job)
    return _started(request, job, callback_url)


CLIP_CACHE_SIZE = 4096


def _clip_result(state: TwinState, video: dict[str, Any], prompt: str) -> dict[str, Any]:
    """Ranked at creation (and memoised), so the poll path only serves a cached answer."""
    key = (video["id"], prompt)
    cached = state.clip_cache.get(key)
    if cached is None:
        cached = _rank_clip(state, video, prompt)
        if len(state.clip_cache) >= CLIP_CACHE_SIZE:
            state.clip_cache.clear()
        state.clip_cache[key] = cached
    return cached


def _rank_clip(state: TwinState, video: dict[str, Any], prompt: str) -> dict[str, Any]:
    cues = state.store.get_transcript(video["id"]) or []
    docs = ranking.rank(prompt, [Cue(**c) for c in cues]) if cues else []
    result = {
        "video_id": video["id"],
        "collection_id": video["collection_id"],
        "length": float(video["length"]),
        "title": video["name"],
        "docs": docs,
    }
    data: dict[str, Any] = {"results": [result]}
    if not cues:
        data["message"] = "The video has no transcript; upload a WebVTT/SRT file with its name"
    return data


async def index_video(request: web.Request) -> web.Response:
    state = request.app[STATE]
    video = get_video_or_404(state, request.match_info["vid"])
    body = require_object(await json_body(request))
    index_type = body.get("index_type", "spoken_word")
    if index_type != "spoken_word":
        raise bad_request(f"Unsupported index_type {index_type!r}")
    callback_url = await _callback_url(state, body)
    require_plan(request, billable=True)
    job = new_job(request, "index", video["id"])
    cues = state.store.get_transcript(video["id"])
    if not cues and not job.failed:
        job.fail("No spoken words found: the video has no transcript", "no_transcript")
    else:
        job.result = {"video_id": video["id"], "index_type": index_type, "cues": len(cues or [])}
    state.add_job(job)
    return _started(request, job, callback_url)


async def _callback_url(state: TwinState, body: dict[str, Any]) -> str | None:
    url = body.get("callback_url")
    if url is None:
        return None
    return await check_outbound_url(state, url, "callback_url")


def _started(request: web.Request, job: Job, callback_url: str | None) -> web.Response:
    if callback_url is None:
        return async_start(origin_of(request), job)
    state = request.app[STATE]
    state.spawn(_deliver_callback(state, job, callback_url))
    return async_start(origin_of(request), job, request_type="async")


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


async def poll_job(request: web.Request) -> web.Response:
    """The hot path: a dict lookup and a small (or cached) body."""
    state = request.app[STATE]
    state.stats["polls"] += 1
    job = state.jobs.get(request.match_info["job"])
    if job is None:
        raise ApiError(404, "Job not found", "not_found")
    if request.get("fail_job") and not job.failed:
        job.fail("Injected job failure", "job_failed")
        state.store.save_job(job)
    config = state.config
    body = status_body(job, shape=config.terminal_shape, style=config.progress_style)
    return web.Response(body=body, content_type="application/json")


def setup_routes(app: web.Application) -> None:
    add_route(app, "GET", "/user", get_user)
    add_route(app, "GET", "/collection", list_collections)
    add_route(app, "GET", "/collection/{cid}", get_collection)
    add_route(app, "GET", "/collection/{cid}/upload_url", get_upload_url)
    add_route(app, "POST", "/collection/{cid}/upload", register_upload)
    add_route(app, "POST", "/upload/{token}", receive_upload)
    add_route(app, "GET", "/video", list_videos)
    add_route(app, "GET", "/video/{vid}", get_video)
    add_route(app, "POST", "/video/{vid}/stream", generate_stream)
    add_route(app, "POST", "/video/{vid}/clip", clip)
    add_route(app, "POST", "/video/{vid}/index", index_video)
    add_route(app, "POST", "/compile", compile_shots)
    add_route(app, "GET", "/async-response/{job}", poll_job)
