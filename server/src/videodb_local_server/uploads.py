"""The upload rules: upload URLs, registering an upload (``POST /collection/{cid}/upload``),
and the job that fetches an http(s) upload URL. No HTTP server code in it (the fetch itself is
``fetch``, standard library only).

A file already on this machine (sent to an upload URL of this server, or ``file://`` inside
``--media-root``) is registered at once; an http(s) URL elsewhere becomes a job whose terminal
``data`` is the media object. Videos are cut into HLS segments (``media.ingest``), audio files
and images are checked and kept as they are (``media.assets``), WebVTT/SRT files become the
transcript of the video with their name.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import sqlite3
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from .backend import (
    MAX_NAME_CHARS,
    TwinState,
    _callback_url,
    asset_payload,
    check_description,
    check_outbound_url,
    check_text,
    check_url_shape,
    get_collection_or_404,
    get_video_or_404,
    media_payload,
    new_job,
    require_plan,
    split_url,
    video_payload,
)
from .errors import ApiError, BadRequest, InvalidMedia, NotFound
from .fetch import FetchError, fetch_to_file
from .jobs import Job
from .media import assets, hls, ingest
from .store import new_id

#: ``media_type`` values of an upload (None: a video, or a subtitle file by its content).
MEDIA_TYPES = ("video", "audio", "image", "subtitle")

log = logging.getLogger(__name__)


def new_upload(state: TwinState, cid: str, name: str | None) -> str:
    """A fresh upload token for collection ``cid`` (the presigned-URL stand-in)."""
    get_collection_or_404(state, cid)
    token = secrets.token_urlsafe(18)
    state.store.add_upload(token, cid, name)
    return token


def upload_destination(state: TwinState, token: str) -> Path:
    """Where the file sent to upload ``token`` is written (404 for an unknown token)."""
    if state.store.get_upload(token) is None:
        raise NotFound("Unknown upload URL")
    return state.data_dir / "uploads" / token


def upload_received(state: TwinState, token: str, path: Path) -> None:
    state.store.set_upload_path(token, str(path))


def _local_upload_file(state: TwinState, parts: SplitResult) -> Path | None:
    """The file a ``file://`` URL or one of this server's upload URLs names (None: neither;
    a remote URL to fetch)."""
    if parts.scheme == "file":
        return _media_root_file(state, unquote(parts.path))
    if not parts.path.startswith("/upload/"):
        return None
    row = state.store.get_upload(parts.path.rsplit("/", 1)[-1])
    if row is None:
        return None
    path = Path(row["path"]) if row["path"] else None
    if path is None or not path.is_file():
        raise BadRequest("Nothing was uploaded to this upload URL (url)")
    return path


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
) -> dict[str, Any]:
    """A WebVTT/SRT upload is the transcript of the video with the same name (now or later)."""
    if not cues:
        raise BadRequest("Subtitle file has no cues (expected WebVTT or SRT)")
    video = state.store.find_video_by_name(cid, name)
    sid = new_id("sub")
    state.store.add_subtitle(sid, cid, name, cues, video["id"] if video else None)
    if video is not None:
        state.set_transcript(video["id"], cues, "sidecar")
    data = {"id": sid, "name": name, "collection_id": cid, "cues": len(cues)}
    return {**data, "video_id": video["id"] if video else None}


@dataclass(frozen=True)
class UploadRequest:
    """A checked ``POST /collection/{cid}/upload`` body."""

    cid: str
    url: str
    name: str | None
    description: str | None
    media_type: str | None

    def named(self, default: str) -> UploadRequest:
        return self if self.name else replace(self, name=default[:MAX_NAME_CHARS] or "upload")


@dataclass(frozen=True)
class UploadStarted:
    """A URL upload running as a job (the answer is the async start)."""

    job: Job
    callback_url: str | None


def _upload_request(cid: str, body: dict[str, Any]) -> UploadRequest:
    media_type = body.get("media_type")
    if media_type is not None and media_type not in MEDIA_TYPES:
        raise BadRequest(f"media_type must be one of {MEDIA_TYPES}, got {media_type!r:.80}")
    description = check_description(body)
    url = body.get("url")
    split_url(url, "url")
    return UploadRequest(cid, str(url), check_text(body, "name", MAX_NAME_CHARS), description,
                         media_type)  # fmt: skip


def _known_media(state: TwinState, origin: str, request: UploadRequest) -> dict[str, Any] | None:
    """The media object already made from this (collection, url, name), if any."""
    assert request.name is not None
    existing = state.store.find_source(request.cid, request.url, request.name)
    return None if existing is None else media_payload(state, origin, existing)


async def register_upload(
    state: TwinState, origin: str, cid: str, body: dict[str, Any], key: str
) -> dict[str, Any] | UploadStarted:
    """``POST /collection/{cid}/upload``: the media object (a file already on this machine:
    uploaded to an upload URL, or ``file://`` in the media root), or, for an http(s) URL, the
    job that fetches it (its terminal ``data`` is the media object).

    Idempotent by (collection, source URL, name): registering the same upload again (a client
    retrying after a lost answer) returns the media it made, or the job still making it.

    :param state: the server state.
    :param origin: the origin absolute URLs are written with.
    :param cid: the collection (checked by the caller).
    :param body: ``url, name, description, callback_url, media_type``.
    :param key: the caller's API key (its plan).
    """
    request = _upload_request(cid, body)
    parts = split_url(request.url, "url")
    src = _local_upload_file(state, parts)
    if src is None and parts.path.startswith("/upload/") and parts.netloc in origin:
        raise BadRequest("Nothing was uploaded to this upload URL (url)")
    if src is None:
        return await _start_url_upload(state, origin, request, body, key)
    require_plan(state, key, billable=True)
    return await ingest_upload(state, origin, request.named(src.stem), src)


async def _start_url_upload(
    state: TwinState, origin: str, request: UploadRequest, body: dict[str, Any], key: str
) -> dict[str, Any] | UploadStarted:
    url = await check_outbound_url(state, request.url, "url")
    callback_url = await _callback_url(state, body)
    require_plan(state, key, billable=True)
    request = replace(request, url=url).named(Path(unquote(urlsplit(url).path)).stem)
    assert request.name is not None
    payload = _known_media(state, origin, request)
    if payload is not None:
        return payload
    flight = (request.cid, url, request.name)
    running = state.jobs.get(state.uploads_in_flight.get(flight, ""))
    if running is not None:
        return UploadStarted(running, callback_url)
    job = new_job(state, "upload", None)
    job.pending = True
    state.add_job(job)
    state.uploads_in_flight[flight] = job.id
    state.spawn(_fetch_and_ingest(state, origin, request, job, flight))
    return UploadStarted(job, callback_url)


async def _fetch_and_ingest(
    state: TwinState,
    origin: str,
    request: UploadRequest,
    job: Job,
    flight: tuple[str, str, str],
) -> None:
    """The work of a URL upload job: fetch (bounded, loopback unless allowed), ingest, and
    end the job with the media object or a failure naming what went wrong."""
    dest = state.data_dir / "uploads" / f"url-{job.id}"
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(
            None,
            partial(
                fetch_to_file,
                request.url,
                dest,
                max_bytes=state.max_upload_bytes,
                allow_remote=state.allow_remote_urls,
                check=_redirect_check,
            ),
        )
        job.finish(await ingest_upload(state, origin, request, dest))
    except FetchError as exc:
        job.fail(f"Could not fetch the upload url: {exc}", "fetch_failed")
    except ApiError as exc:
        job.fail(exc.message, exc.error_code)
    except Exception:
        log.exception("URL upload %s failed", job.id)
        job.fail("Internal error while processing the upload", "internal_error")
    finally:
        state.uploads_in_flight.pop(flight, None)
        if not job.pending:  # cancelled at shutdown: stays pending, failed at the next start
            state.store.save_job(job)
        dest.unlink(missing_ok=True)  # no await here: this also runs when cancelled


def _redirect_check(url: str) -> None:
    """The outbound rule's shape part for a redirect target (``ValueError`` to refuse it);
    the loopback part is checked on the socket by ``fetch``."""
    try:
        check_url_shape(url, "url")
    except BadRequest as exc:
        raise ValueError(exc.message) from exc


async def ingest_upload(
    state: TwinState, origin: str, request: UploadRequest, src: Path
) -> dict[str, Any]:
    """Turn the file ``src`` into the media ``request`` asks for; its object.

    A subtitle file (by ``media_type`` or by content) is the transcript of the video with
    its name; ``audio``/``image`` are checked and kept as they are; anything else is a video,
    cut into HLS segments.

    :param state: the server state.
    :param origin: the origin absolute URLs are written with.
    :param request: the checked upload (with a name).
    :param src: the file (the caller's: it is copied, never moved).
    """
    assert request.name is not None
    loop = asyncio.get_running_loop()
    if request.media_type in (None, "subtitle"):
        cues = await loop.run_in_executor(None, ingest.read_subtitle, src)
        if cues is not None or request.media_type == "subtitle":
            return _register_subtitle(state, request.cid, request.name, cues)
    payload = _known_media(state, origin, request)
    if payload is not None:
        return payload
    if request.media_type in ("audio", "image"):
        return await _ingest_asset(state, origin, request, src)
    return await _ingest_video(state, origin, request, src)


async def _ingest_video(
    state: TwinState, origin: str, request: UploadRequest, src: Path
) -> dict[str, Any]:
    assert request.name is not None
    loop = asyncio.get_running_loop()
    cid, name, source = request.cid, request.name, request.url
    vid = new_id("m")
    media_dir = state.data_dir / "media" / vid
    try:
        result = await loop.run_in_executor(None, ingest.ingest_video, src, media_dir)
    except (hls.MediaError, ValueError) as exc:
        await loop.run_in_executor(None, shutil.rmtree, media_dir, True)
        raise InvalidMedia(f"url: could not process the media file: {exc}") from exc
    try:
        state.store.add_video(
            vid=vid,
            collection_id=cid,
            name=name,
            description=request.description,
            length=result.length,
            media_dir=str(media_dir),
            source=source,
        )
    except sqlite3.IntegrityError:  # the same registration, sent twice at once, won the race
        await loop.run_in_executor(None, shutil.rmtree, media_dir, True)
        winner = state.store.find_video_by_source(cid, source, name)
        if winner is None:
            raise
        return video_payload(state, origin, winner)
    cues = result.cues or state.store.take_pending_subtitle(cid, name, vid)
    if cues:
        state.set_transcript(vid, cues, result.cue_source or "sidecar")
    return video_payload(state, origin, get_video_or_404(state, vid))


def asset_dir(state: TwinState, asset_id: str) -> Path:
    """The folder an audio file or image (``asset_id``) is kept in, inside the data dir."""
    return state.data_dir / "assets" / asset_id


async def _ingest_asset(
    state: TwinState, origin: str, request: UploadRequest, src: Path
) -> dict[str, Any]:
    """An audio file (``a-…``, its length probed) or an image (``img-…``), checked to be that
    kind of media (400 ``invalid_media`` naming ``media_type`` otherwise) and copied into the
    data dir."""
    assert request.name is not None
    kind = str(request.media_type)
    check = assets.check_audio if kind == "audio" else assets.check_image
    loop = asyncio.get_running_loop()
    try:
        checked = await loop.run_in_executor(None, check, src)
    except hls.MediaError as exc:
        message = f"url: the file is not a valid {kind} (media_type {kind!r}): {exc}"
        raise InvalidMedia(message) from exc
    aid = new_id("a" if kind == "audio" else "img")
    folder = asset_dir(state, aid)
    dest = folder / f"{kind}{checked.suffix}"
    await loop.run_in_executor(None, _copy_into, src, dest)
    try:
        state.store.add_asset(
            aid=aid,
            kind=kind,
            collection_id=request.cid,
            name=request.name,
            description=request.description,
            path=str(dest),
            length=checked.length,
            source=request.url,
        )
    except sqlite3.IntegrityError:  # the same registration won a race
        await loop.run_in_executor(None, shutil.rmtree, folder, True)
        payload = _known_media(state, origin, request)
        if payload is None:
            raise
        return payload
    row = state.store.get_asset(aid)
    assert row is not None
    return asset_payload(origin, row)


def _copy_into(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
