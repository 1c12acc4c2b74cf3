"""The library rules: collections (create, change, delete), audio files and images, video
deletion, thumbnails, and the files ``/media/{id}/{name}`` serves. No HTTP in it.

Plain values in, plain values out, errors as the types of ``errors`` (like ``backend``, whose
state and payloads these rules use).
"""

from __future__ import annotations

import asyncio
import math
import shutil
from pathlib import Path
from typing import Any

from .backend import (
    MAX_NAME_CHARS,
    TwinState,
    asset_payload,
    check_description,
    check_text,
    get_collection_or_404,
    get_video_or_404,
    require_object,
    video_payload,
)
from .errors import BadRequest, InvalidMedia, NotFound
from .media import hls, thumbnails
from .store import new_id

#: Thumbnails one video may have (``POST /video/{id}/thumbnail`` with new times).
MAX_THUMBNAILS_PER_VIDEO = 1000
#: Collections one server may hold.
MAX_COLLECTIONS = 10_000
#: The asset kinds and their id prefixes.
ASSET_PREFIXES = {"audio": "a-", "image": "img-"}


# --------------------------------------------------------------------------- collections


def _is_public(body: dict[str, Any]) -> bool | None:
    value = body.get("is_public")
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"is_public must be true or false, got {value!r:.80}")
    return value


def create_collection(state: TwinState, body: Any) -> dict[str, Any]:
    """``POST /collection`` ``{name, description, is_public}``: the new collection (``c-…``).

    :param state: the server state.
    :param body: the request body (``name`` required: 1 to 256 characters).
    """
    body = require_object(body)
    name = check_text(body, "name", MAX_NAME_CHARS, required=True)
    description, is_public = check_description(body), _is_public(body)
    if len(state.store.list_collections()) >= MAX_COLLECTIONS:
        raise BadRequest(f"This server holds at most {MAX_COLLECTIONS} collections")
    cid = new_id("c")
    state.store.add_collection(cid, name, description or "", bool(is_public))
    return get_collection_or_404(state, cid)


def update_collection(state: TwinState, cid: str, body: Any) -> dict[str, Any]:
    """``PATCH /collection/{cid}`` ``{name, description}`` (and ``is_public``): the fields
    given (not null) change; the collection as it is now.

    :param state: the server state.
    :param cid: the collection.
    :param body: the request body.
    """
    get_collection_or_404(state, cid)
    body = require_object(body)
    changes: dict[str, Any] = {}
    if body.get("name") is not None:
        changes["name"] = check_text(body, "name", MAX_NAME_CHARS, required=True)
    if body.get("description") is not None:
        changes["description"] = check_description(body)
    is_public = _is_public(body)
    if is_public is not None:
        changes["is_public"] = int(is_public)
    if changes:
        state.store.update_collection(cid, changes)
    return get_collection_or_404(state, cid)


async def delete_collection(state: TwinState, cid: str) -> dict[str, Any]:
    """``DELETE /collection/{cid}``: the collection and every video, audio file and image in
    it. The default collection is never deleted (400).

    :param state: the server state.
    :param cid: the collection.
    """
    if cid == "default":
        raise BadRequest("The default collection cannot be deleted (collection 'default')")
    get_collection_or_404(state, cid)
    for video in state.store.list_videos(cid):
        await delete_video(state, video["id"], cid)
    for kind in ASSET_PREFIXES:
        for row in state.store.list_assets(cid, kind):
            await delete_asset(state, kind, row["id"], cid)
    state.store.delete_collection(cid)
    return {"id": cid}


# --------------------------------------------------------------------------- audio and images


def get_asset_or_404(state: TwinState, kind: str, aid: str, cid: str | None) -> dict[str, Any]:
    """The audio file or image ``aid`` (404 when it is another kind, or in another collection).

    :param kind: ``audio`` or ``image``.
    :param cid: the collection it must be in (None: any).
    """
    row = state.store.get_asset(aid)
    if row is None or row["kind"] != kind or (cid and row["collection_id"] != cid):
        raise NotFound(f"{kind.capitalize()} not found: {aid}")
    return row


def get_asset(
    state: TwinState, origin: str, kind: str, aid: str, cid: str | None
) -> dict[str, Any]:
    """``GET /audio/{id}`` or ``GET /image/{id}``: the audio or image object."""
    return asset_payload(origin, get_asset_or_404(state, kind, aid, cid))


def list_assets(state: TwinState, origin: str, kind: str, cid: str) -> list[dict[str, Any]]:
    """``GET /audio?collection_id`` or ``GET /image?collection_id``: the collection's audio
    files or images (an image list leaves thumbnails out: they belong to their video)."""
    get_collection_or_404(state, cid)
    return [asset_payload(origin, row) for row in state.store.list_assets(cid, kind)]


def asset_url(state: TwinState, origin: str, kind: str, aid: str, cid: str | None) -> str:
    """``POST /audio|image/{id}/generate_url``: the URL the file is served at."""
    return str(asset_payload(origin, get_asset_or_404(state, kind, aid, cid))["url"])


async def delete_asset(state: TwinState, kind: str, aid: str, cid: str | None) -> dict[str, Any]:
    """``DELETE /audio/{id}`` or ``/image/{id}``: the row and its file (404 when unknown, so
    a second delete is a 404)."""
    row = get_asset_or_404(state, kind, aid, cid)
    state.store.delete_asset(aid)
    await _remove_inside(state, Path(row["path"]).parent)
    return {"id": aid}


async def _remove_inside(state: TwinState, folder: Path) -> None:
    """Delete ``folder`` if it is inside the data dir (never anything else)."""
    root = state.data_dir.resolve()
    real = folder.resolve()
    if real != root and real.is_relative_to(root):
        await asyncio.get_running_loop().run_in_executor(None, shutil.rmtree, real, True)


# --------------------------------------------------------------------------- deleting videos


async def delete_video(state: TwinState, vid: str, cid: str | None) -> dict[str, Any]:
    """``DELETE /video/{id}``: the video, its media files, its streams (their playlists and
    segments answer 404 from now on, the hot playlist cache included), its transcript and
    thumbnails. An unknown (or already deleted) video is a 404.

    :param state: the server state.
    :param vid: the video.
    :param cid: the collection it must be in (None: any).
    """
    video = get_video_or_404(state, vid, cid)
    for sid in state.store.delete_video(vid):
        state.playlists.pop(sid, None)
    state.clip_cache.clear()
    await _remove_inside(state, Path(video["media_dir"]))
    return {"id": vid}


# --------------------------------------------------------------------------- thumbnails


def _thumbs_dir(video: dict[str, Any]) -> Path:
    return Path(video["media_dir"]) / "thumbs"


async def default_thumbnail(state: TwinState, video: dict[str, Any]) -> Path:
    """The JPEG of a video's default thumbnail, cut the first time it is asked for."""
    path = Path(video["media_dir"]) / thumbnails.DEFAULT_NAME
    if not path.is_file():
        second = thumbnails.default_time(float(video["length"]))
        await _cut(video, second, path)
    return path


async def _cut(video: dict[str, Any], second: float, dest: Path) -> None:
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, thumbnails.cut_thumbnail, video["media_dir"], second, dest)
    except (hls.MediaError, ValueError) as exc:
        raise InvalidMedia(f"time: no thumbnail at {second:g}s of {video['id']}: {exc}") from exc


async def thumbnail_url(state: TwinState, origin: str, vid: str) -> dict[str, Any]:
    """``GET /video/{id}/thumbnail``: ``{"thumbnail_url"}``, the default thumbnail (a JPEG
    this server serves; cut now if it was not yet)."""
    video = get_video_or_404(state, vid)
    await default_thumbnail(state, video)
    return {"thumbnail_url": video_payload(state, origin, video)["thumbnail_url"]}


def _thumbnail_time(body: dict[str, Any], length: float) -> float:
    value = body.get("time")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"time must be a number of seconds, got {value!r:.80}")
    if not 0 <= value < length:
        raise BadRequest(f"time must be within the video (0 <= time < {length:g}), got {value!r}")
    return round(float(value), 3)


async def create_thumbnail(state: TwinState, origin: str, vid: str, body: Any) -> dict[str, Any]:
    """``POST /video/{id}/thumbnail`` ``{time}``: an image object (``img-…``) of the frame at
    that second, cut with FFmpeg; the same time again gives the same image.

    :param state: the server state.
    :param origin: the origin absolute URLs are written with.
    :param vid: the video.
    :param body: ``{"time": seconds}`` (0 <= time < length; 400 naming ``time`` otherwise).
    """
    video = get_video_or_404(state, vid)
    second = _thumbnail_time(require_object(body), float(video["length"]))
    known = state.store.find_thumbnail(vid, second)
    if known is not None:
        return asset_payload(origin, known)
    if len(state.store.list_thumbnails(vid)) >= MAX_THUMBNAILS_PER_VIDEO:
        raise BadRequest(f"Video {vid} has {MAX_THUMBNAILS_PER_VIDEO} thumbnails already")
    iid = new_id("img")
    dest = _thumbs_dir(video) / f"{iid}.jpg"
    await _cut(video, second, dest)
    state.store.add_asset(
        aid=iid,
        kind="image",
        collection_id=video["collection_id"],
        name=f"{video['name']} at {second:g}s",
        description=None,
        path=str(dest),
        video_id=vid,
        time_s=second,
    )
    row = state.store.get_asset(iid)
    assert row is not None
    return asset_payload(origin, row)


def list_thumbnails(state: TwinState, origin: str, vid: str) -> list[dict[str, Any]]:
    """``GET /video/{id}/thumbnails``: the image objects cut with ``POST .../thumbnail``,
    oldest first."""
    get_video_or_404(state, vid)
    return [asset_payload(origin, row) for row in state.store.list_thumbnails(vid)]


# --------------------------------------------------------------------------- served files


async def media_file(state: TwinState, media_id: str, name: str) -> Path:
    """The file ``GET /media/{id}/{name}`` serves: an audio file, an image (a thumbnail
    included), or a video's default thumbnail (cut on first use); 404 for anything else."""
    video = state.store.get_video(media_id)
    if video is not None and name == thumbnails.DEFAULT_NAME:
        return await default_thumbnail(state, video)
    row = state.store.get_asset(media_id)
    if row is not None and Path(row["path"]).name == name:
        path = Path(row["path"])
        if path.is_file():
            return path
    raise NotFound("File not found")
