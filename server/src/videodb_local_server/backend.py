"""The local server's backend: state and rules, no HTTP in it.

``TwinState`` holds what the server knows (keys and plans, the store of collections, videos,
uploads, streams and transcripts, the jobs, the hot playlist and clip caches with their bounds,
faults, journal, counters) and the rules that read and change it; the HTTP handlers (``api``,
``player``, ``admin``) turn a request into a call here and the result into the API's envelope.
Below the state, one function per API call holds that call's rules (uploads, streams,
compile, clip and index jobs, polls): plain values in, plain values out. Errors are raised as
the types of ``errors``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sized
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import SplitResult, quote, unquote, urlsplit

from .errors import (
    BadRequest,
    InsufficientCredits,
    InvalidFault,
    NotFound,
    PlanUpgradeRequired,
)
from .faults import FaultRuleError, FaultSet
from .fetch import is_loopback
from .jobs import PROGRESS_STYLES, TERMINAL_SHAPES, Job, status_body
from .journal import Journal
from .media import ingest, ranking, thumbnails
from .media.transcript import Cue
from .store import Store

#: Plans a key can have (``--api-key KEY:plan``): ``pro`` can do everything, ``free`` gets 403
#: for plan-gated options, ``broke`` gets 402 on billable calls.
PLANS = ("pro", "free", "broke")
MAX_CACHED_PLAYLISTS = 10_000
#: Default largest upload (``--max-upload-bytes``).
DEFAULT_MAX_UPLOAD = 2 * 1024**3
#: Clip answers kept by (video id, prompt) before the cache starts again.
CLIP_CACHE_SIZE = 4096
MAX_TIMELINE_SEGMENTS = 1000
#: Timeline ends may overshoot the length by float noise (``length`` is rounded to 1 µs).
LENGTH_TOLERANCE = 0.05
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
#: Longest media or collection name accepted.
MAX_NAME_CHARS = 256
MAX_DESCRIPTION_CHARS = 4096


@dataclass
class TwinConfig:
    """Run-time settings, changeable through ``POST /_twin/config``."""

    job_seconds: float = 3.0
    terminal_shape: str = "flat"
    progress_style: str = "mixed"
    length_style: str = "string"
    journal_size: int = 10_000
    #: Origin written into absolute URLs (output_url, stream URLs) instead of the one the
    #: client addressed; lets tests play a service that points clients elsewhere.
    public_origin: str = ""

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` all or nothing: a copy is validated whole, then swapped in.

        :param changes: setting name -> new value; unknown names, wrong types and non-finite
            or negative numbers are refused (400 naming the field and the value).
        """
        if not isinstance(changes, dict):
            raise BadRequest(f"config must be an object, got {type(changes).__name__}")
        candidate = replace(self)
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise BadRequest(f"unknown setting {name!r}")
            setattr(candidate, name, _config_value(name, value, type(getattr(self, name))))
        if candidate.terminal_shape not in TERMINAL_SHAPES:
            raise BadRequest(f"terminal_shape must be one of {TERMINAL_SHAPES}")
        if candidate.progress_style not in PROGRESS_STYLES:
            raise BadRequest(f"progress_style must be one of {PROGRESS_STYLES}")
        if candidate.length_style not in ("string", "number"):
            raise BadRequest("length_style must be 'string' or 'number'")
        for name, value in asdict(candidate).items():
            setattr(self, name, value)


def _config_value(name: str, value: Any, kind: type) -> Any:
    """``value`` checked against the type of setting ``name``: no coercion of strings into
    numbers, numbers finite and >= 0."""
    if kind is str:
        if not isinstance(value, str):
            raise BadRequest(f"{name} must be a string, got {value!r}")
        return value
    numeric = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, numeric):
        raise BadRequest(f"{name} must be a {kind.__name__}, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise BadRequest(f"{name} must be a finite number >= 0, got {value!r}")
    return kind(value)


class Connections:
    """The client connections of the listening server, as the admin stats report them.

    One object with one job, instead of a callable field the server process overwrote: the
    process counts each accepted connection here and, once listening, points it at its
    listener's list of open connections (until then: none open).
    """

    def __init__(self) -> None:
        #: Connections accepted since start.
        self.opened = 0
        self._live: Sized = ()

    def accepted(self) -> None:
        self.opened += 1

    def track(self, live: Sized) -> None:
        """Report ``len(live)`` as the open connections from now on."""
        self._live = live

    def open_now(self) -> int:
        return len(self._live)


@dataclass
class TwinState:
    data_dir: Path
    keys: dict[str, str]
    store: Store
    config: TwinConfig = field(default_factory=TwinConfig)
    faults: FaultSet = field(default_factory=FaultSet)
    journal: Journal = field(default_factory=Journal)
    jobs: dict[str, Job] = field(default_factory=dict)
    playlists: dict[str, str] = field(default_factory=dict)
    #: Clip answers by (video id, prompt): ranking is the costly part of starting a clip.
    clip_cache: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    stats: dict[str, int] = field(
        default_factory=lambda: {
            "requests": 0,
            "polls": 0,
            "faults_applied": 0,
            "jobs_created": 0,
        }
    )
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    #: The listener's open client connections (filled in by the server process).
    connections: Connections = field(default_factory=Connections)
    #: Token every ``/_twin/...`` call must carry in ``x-twin-admin-token`` (empty: none works).
    admin_token: str = ""
    #: ``--allow-remote-urls``: callbacks may go to hosts other than loopback.
    allow_remote_urls: bool = False
    #: ``--media-root``: the only folder ``file://`` upload URLs may name (None: no file URLs).
    media_root: Path | None = None
    #: ``--max-upload-bytes``: largest file accepted on ``/upload/{token}`` or fetched from
    #: an upload URL.
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    #: URL uploads being fetched: (collection, url, name) -> job id (a second POST joins it).
    uploads_in_flight: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.journal.resize(self.config.journal_size)
        for job in self.store.load_jobs():
            if job.pending:  # its work died with the process that ran it
                job.lost_in_restart()
                self.store.save_job(job)
            self.jobs[job.id] = job

    def add_job(self, job: Job) -> None:
        self.jobs[job.id] = job
        self.store.save_job(job)
        self.stats["jobs_created"] += 1

    def set_transcript(self, vid: str, cues: list[dict[str, Any]], source: str) -> None:
        self.store.set_transcript(vid, cues, source)
        self.clip_cache.clear()

    def remember_playlist(self, sid: str, playlist: str) -> None:
        """Hot playlists stay in memory (bounded); the store keeps them all."""
        if len(self.playlists) >= MAX_CACHED_PLAYLISTS:
            self.playlists.clear()
        self.playlists[sid] = playlist

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def public_config(self) -> dict[str, Any]:
        return {**asdict(self.config), "faults": self.faults.describe()}


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def stream_url_of(origin: str, stream_id: str) -> str:
    return f"{origin}/hls/{stream_id}.m3u8"


def stream_urls(origin: str, stream_id: str) -> dict[str, str]:
    """A stream's URLs; ``player_url`` has the service's shape ``/watch?v=<stream id>`` (the
    SDK's ``get_embed_code()`` swaps in ``/embed?``; both serve the player page)."""
    return {
        "stream_url": stream_url_of(origin, stream_id),
        "player_url": f"{origin}/watch?v={quote(stream_id)}",
    }


def media_file_url(origin: str, media_id: str, name: str) -> str:
    """Where the server serves a file of media ``media_id`` (an image, an audio file, a
    video's default thumbnail): ``/media/{id}/{name}``, no API key needed (like ``/hls``)."""
    return f"{origin}/media/{quote(media_id)}/{quote(name)}"


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
        "thumbnail_url": media_file_url(origin, row["id"], thumbnails.DEFAULT_NAME),
        "length": f"{length:.6f}" if state.config.length_style == "string" else length,
        "created_at": iso(row["created_at"]),
    }


def get_collection_or_404(state: TwinState, cid: str) -> dict[str, Any]:
    row = state.store.get_collection(cid)
    if row is None:
        raise NotFound(f"Collection not found: {cid}")
    return row


def get_video_or_404(state: TwinState, vid: str, cid: str | None = None) -> dict[str, Any]:
    row = state.store.get_video(vid)
    if row is None or (cid and row["collection_id"] != cid):
        raise NotFound(f"Video not found: {vid}")
    return row


def asset_payload(origin: str, row: dict[str, Any]) -> dict[str, Any]:
    """An audio object (``id a-…, collection_id, name, length, url``) or an image object
    (``id img-…, collection_id, name, url``; a thumbnail also has ``video_id`` and ``time``),
    as the SDK's ``Audio``/``Image`` read them."""
    data: dict[str, Any] = {
        "id": row["id"],
        "collection_id": row["collection_id"],
        "name": row["name"],
        "description": row["description"],
        "url": media_file_url(origin, row["id"], Path(row["path"]).name),
        "created_at": iso(row["created_at"]),
    }
    if row["kind"] == "audio":
        data["length"] = float(row["length"] or 0.0)
    if row["video_id"] is not None:
        data.update(video_id=row["video_id"], time=row["time"])
    return data


def media_payload(state: TwinState, origin: str, media_id: str) -> dict[str, Any] | None:
    """The video, audio or image object of ``media_id``, or None when it is gone."""
    video = state.store.get_video(media_id)
    if video is not None:
        return video_payload(state, origin, video)
    asset = state.store.get_asset(media_id)
    return None if asset is None else asset_payload(origin, asset)


def parse_timeline(raw: Any, length: float, field: str = "timeline") -> list[tuple[float, float]]:
    """Pairs of finite numbers with 0 <= start < end <= length; 400 otherwise."""
    if not isinstance(raw, list) or not raw:
        raise BadRequest(f"{field} must be a non-empty list of [start, end]")
    if len(raw) > MAX_TIMELINE_SEGMENTS:
        raise BadRequest(f"{field} has more than {MAX_TIMELINE_SEGMENTS} pieces")
    pairs = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2 and all(_is_num(x) for x in item)):
            raise BadRequest(f"Invalid {field} entry {item!r}")
        start, end = float(item[0]), float(item[1])
        if not 0 <= start < end:
            raise BadRequest(f"Invalid {field} range {item!r}")
        if end > length + LENGTH_TOLERANCE:
            raise BadRequest(f"{field} range {item!r} is beyond the video length")
        pairs.append((start, min(end, length)))
    return pairs


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def save_stream(state: TwinState, sid: str, vid: str | None, spec: Any, playlist: str) -> None:
    state.store.add_stream(sid, vid, spec, playlist)
    state.remember_playlist(sid, playlist)


def stream_digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value).encode()).hexdigest()[:16]


def clip_result(state: TwinState, video: dict[str, Any], prompt: str) -> dict[str, Any]:
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


# --------------------------------------------------------------------------- request rules
#
# One function per API call: plain values in (the parsed body, the caller's key, the origin
# absolute URLs are written with), plain values out or a typed error from ``errors``.

T = TypeVar("T")


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


def require_plan(state: TwinState, key: str, *, billable: bool, gated: bool = False) -> None:
    """402 for a ``broke`` key on a billable call, 403 for a ``free`` key on a gated option."""
    plan = state.keys.get(key, "pro")
    if billable and plan == "broke":
        raise InsufficientCredits("Insufficient credits for this request")
    if gated and plan == "free":
        raise PlanUpgradeRequired("This feature is not available on your plan")


def check_text(body: dict[str, Any], name: str, limit: int, *, required: bool = False) -> Any:
    """Body field ``name``: None (unless ``required``) or a string of 1 to ``limit``
    characters (stripped); 400 naming the field and the value otherwise.

    :param body: the request body.
    :param name: the field.
    :param limit: the longest accepted value.
    :param required: None is refused too.
    """
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise BadRequest(f"{name} must be a non-empty string of at most {limit} characters, "
                         f"got {value!r:.80}")  # fmt: skip
    return value.strip()


def check_description(body: dict[str, Any]) -> str | None:
    """Body field ``description``: None or a string of at most 4096 characters (may be empty).

    :param body: the request body.
    """
    value = body.get("description")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_DESCRIPTION_CHARS):
        raise BadRequest(f"description must be a string of at most {MAX_DESCRIPTION_CHARS} "
                         f"characters, got {value!r:.80}")  # fmt: skip
    return value


def _check_choice(body: dict[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = body.get(name)
    if value is None:
        return default
    if value not in choices:
        raise BadRequest(f"Invalid {name} {value!r}; expected one of {choices}")
    return str(value)


async def _in_thread(func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` off the event loop; its ``ValueError`` is a 400."""
    try:
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc


def list_collections(state: TwinState) -> list[dict[str, Any]]:
    return state.store.list_collections()


def user_of(state: TwinState, key: str) -> dict[str, Any]:
    return {
        "user_id": "u-" + hashlib.sha256(key.encode()).hexdigest()[:12],
        "user_name": "Local User",
        "user_email": "local@videodb.invalid",
        "plan": state.keys.get(key, "pro"),
        "collections": [c["id"] for c in state.store.list_collections()],
        "default_collection": "default",
    }


def list_videos(
    state: TwinState, origin: str, cid: str, page_index: str | int, count: str | int
) -> list[dict[str, Any]]:
    """One page of the videos of collection ``cid`` (``count`` 0: all of them)."""
    get_collection_or_404(state, cid)
    rows = state.store.list_videos(cid)
    try:
        page = int(page_index)
        size = int(count) or len(rows) or 1
    except ValueError as exc:
        raise BadRequest("page_index and count must be integers") from exc
    if page < 0 or size < 0:
        raise BadRequest("page_index and count must be >= 0")
    return [video_payload(state, origin, r) for r in rows[page * size : (page + 1) * size]]


# --------------------------------------------------------------------------- outbound URLs


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


def check_url_shape(url: Any, field: str) -> SplitResult:
    """An http(s) URL with a host, no userinfo or backslashes, never the admin API; 400
    naming ``field`` otherwise (the part of the outbound rule that needs no DNS).

    :param url: the URL to check.
    :param field: the body field, named in the 400.
    """
    parts = split_url(url, field)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(f"{field} must be an http(s) URL, got {url!r}")
    if parts.username is not None or parts.password is not None or "\\" in str(url):
        raise BadRequest(f"{field} must not carry userinfo or backslashes")
    if is_admin_path(parts.path):
        raise BadRequest(f"{field} must not point at the server's admin API (/_twin/...)")
    return parts


async def check_outbound_url(state: TwinState, url: Any, field: str) -> str:
    """An http(s) URL the server may call: never its admin API, and loopback only unless the
    server was started with ``--allow-remote-urls`` (checked again at send time).

    :param state: the server state (its opt-in flag).
    :param url: the URL from the request body.
    :param field: the body field, named in the 400.
    """
    parts = check_url_shape(url, field)
    if not state.allow_remote_urls:
        host = str(parts.hostname).rstrip(".")
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 80)
        except (OSError, UnicodeError) as exc:
            raise BadRequest(f"{field} host {parts.hostname!r} does not resolve") from exc
        addresses = {str(info[4][0]) for info in infos}
        if not addresses or not all(is_loopback(a) for a in addresses):
            raise BadRequest(
                f"{field} must point at this machine (loopback); {parts.hostname!r} does not"
                " (start the server with --allow-remote-urls to allow other hosts)"
            )
    return str(url)


async def _callback_url(state: TwinState, body: dict[str, Any]) -> str | None:
    url = body.get("callback_url")
    if url is None:
        return None
    return await check_outbound_url(state, url, "callback_url")


# --------------------------------------------------------------------------- streams


def _stream_known(state: TwinState, sid: str) -> bool:
    return sid in state.playlists or state.store.get_stream(sid) is not None


async def video_stream(
    state: TwinState, origin: str, video: dict[str, Any], raw_timeline: Any
) -> dict[str, str]:
    """``POST /video/{vid}/stream``: the whole video (no timeline) or a cut of it; its URLs."""
    if raw_timeline is None:
        sid = video["stream_id"]
        if sid is None:
            sid = "s-" + video["id"][2:]
            playlist = await _in_thread(ingest.whole_playlist, video["id"], video["media_dir"])
            save_stream(state, sid, video["id"], None, playlist)
            state.store.set_whole_stream(video["id"], sid)
        return stream_urls(origin, sid)
    timeline = parse_timeline(raw_timeline, float(video["length"]))
    sid = "t-" + stream_digest([video["id"], timeline])
    if not _stream_known(state, sid):
        playlist = await _in_thread(
            ingest.timeline_playlist, video["id"], video["media_dir"], timeline
        )
        save_stream(state, sid, video["id"], timeline, playlist)
    return stream_urls(origin, sid)


#: The ids ``register_upload`` gives videos (``new_id("m")``): segment URLs name one.
_VIDEO_ID_RE = re.compile(r"^m-[0-9a-f]+$")


def stream_playlist(state: TwinState, sid: str) -> str:
    """The playlist of stream ``sid`` (hot ones from memory, the rest from the store)."""
    text = state.playlists.get(sid)
    if text is None:
        row = state.store.get_stream(sid)
        if row is None:
            raise NotFound(f"Stream not found: {sid}")
        text = str(row["playlist"])
        state.remember_playlist(sid, text)
    return text


def segment_path(state: TwinState, vid: str, name: str) -> Path:
    """The file of segment ``name`` of video ``vid`` (404 for anything else)."""
    video = state.store.get_video(vid) if _VIDEO_ID_RE.match(vid) else None
    path = None if video is None else ingest.segment_file(video["media_dir"], name)
    if path is None:
        raise NotFound("Segment not found")
    return path


async def compile_stream(state: TwinState, origin: str, body: Any) -> dict[str, str]:
    """``POST /compile``: shots of several videos as one stream; its URLs."""
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
    if not _stream_known(state, sid):
        playlist = await _in_thread(ingest.compiled_playlist, items)
        save_stream(state, sid, None, [[v, s] for v, _, s in items], playlist)
    return stream_urls(origin, sid)


# --------------------------------------------------------------------------- async jobs


def new_job(state: TwinState, kind: str, video_id: str | None, *, fail: bool = False) -> Job:
    """A job that ends ``job_seconds`` from now (failed at once with ``fail``: a fault rule)."""
    job = Job(
        id=secrets.token_hex(12),
        kind=kind,
        video_id=video_id,
        created_at=time.time(),
        duration=state.config.job_seconds,
    )
    if fail:
        job.fail("Injected job failure", "job_failed")
    return job


async def start_clip(
    state: TwinState, video: dict[str, Any], body: dict[str, Any], key: str, *, fail: bool
) -> tuple[Job, str | None]:
    """``POST /video/{vid}/clip``: the job (ranked now) and the checked callback URL."""
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
    require_plan(state, key, billable=True, gated=model in PLAN_GATED_MODELS)
    job = new_job(state, "clip", video["id"], fail=fail)
    job.result = clip_result(state, video, prompt)
    state.add_job(job)
    return job, callback_url


#: What ``segmentation_type`` may be: the SDK's ``SegmentationType`` (``sentence``, ``llm``)
#: and its segmenters (``word``, ``time``). The twin indexes the same cues whichever it is.
SEGMENTATION_TYPES = ("sentence", "llm", "word", "time")
#: ISO 639 codes, alone or with a region the way the SDK documents them (``en``, ``en_us``).
_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,4})?")


class AlreadyIndexed(BadRequest):
    error_code = "already_indexed"


def check_language_code(value: Any) -> str | None:
    """``language_code`` as the SDK sends it: None, or a short code such as ``en``/``en_us``."""
    if value is not None and not (isinstance(value, str) and _LANGUAGE_RE.fullmatch(value)):
        raise BadRequest(
            f"language_code must be a language code such as 'en' or 'en_us', got {value!r:.80}"
        )
    return value


def check_flag(body: dict[str, Any], name: str) -> bool:
    """A true/false body field (absent or null: false); 400 naming it for anything else."""
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, got {value!r:.80}")
    return value


def spoken_index_job(state: TwinState, vid: str) -> Job | None:
    """The job that made, or is making, the spoken-word index of video ``vid`` (None: the
    video has no index, or its last index job failed)."""
    row = state.store.get_spoken_index(vid)
    job = state.jobs.get(row["job_id"]) if row is not None else None
    return None if job is None or job.failed else job


async def start_index(
    state: TwinState, video: dict[str, Any], body: dict[str, Any], key: str, *, fail: bool
) -> tuple[Job, str | None]:
    """``POST /video/{vid}/index``: the job and the checked callback URL.

    The index is a state of the video: once its job is done the video is indexed; indexing
    again is refused (400 ``already_indexed``) unless ``force`` is true; while an index job of
    the video runs, that job is returned rather than a second one. No transcript: the job
    fails (``no_transcript``) and the video stays unindexed.
    """
    index_type = body.get("index_type", "spoken_word")
    if index_type != "spoken_word":
        raise BadRequest(f"Unsupported index_type {index_type!r}")
    segmentation = _check_choice(body, "segmentation_type", SEGMENTATION_TYPES, "sentence")
    language_code = check_language_code(body.get("language_code"))
    force = check_flag(body, "force")
    callback_url = await _callback_url(state, body)
    require_plan(state, key, billable=True)
    current = None if fail else spoken_index_job(state, video["id"])
    if current is not None and not current.is_done(time.time()):
        return current, callback_url
    if current is not None and not force:
        raise AlreadyIndexed(f"Spoken word index for video {video['id']} already exists")
    job = new_job(state, "index", video["id"], fail=fail)
    cues = state.store.get_transcript(video["id"])
    if not cues and not job.failed:
        job.fail("No spoken words found: the video has no transcript", "no_transcript")
    elif not job.failed:
        job.result = {
            "video_id": video["id"],
            "index_type": index_type,
            "segmentation_type": segmentation,
            "language_code": language_code,
            "cues": len(cues or []),
        }
    state.add_job(job)
    if not job.failed:
        state.store.set_spoken_index(video["id"], job.id, segmentation, language_code)
    return job, callback_url


def poll_job(state: TwinState, job_id: str, *, fail: bool = False) -> bytes:
    """The hot path: a dict lookup and a small (or cached) body."""
    state.stats["polls"] += 1
    job = state.jobs.get(job_id)
    if job is None:
        raise NotFound("Job not found")
    if fail and not job.failed:
        job.fail("Injected job failure", "job_failed")
        state.store.save_job(job)
    config = state.config
    return status_body(job, shape=config.terminal_shape, style=config.progress_style)


# --------------------------------------------------------------------------- the admin API


def stats_of(state: TwinState) -> dict[str, Any]:
    return {
        "connections_opened": state.connections.opened,
        **state.stats,
        "connections_open": state.connections.open_now(),
        "jobs": len(state.jobs),
        "journal_entries": len(state.journal),
    }


def set_faults(state: TwinState, body: Any) -> dict[str, Any]:
    """Body: a list of rules, or ``{"rules": [...], "seed": 42}``. Replaces the active rules."""
    if isinstance(body, list):
        rules, seed = body, None
    elif isinstance(body, dict):
        rules, seed = body.get("rules", []), body.get("seed")
    else:
        raise InvalidFault(f"faults body must be a list or an object, got {body!r}")
    try:
        state.faults.replace(rules if rules is not None else [], seed=seed)
    except FaultRuleError as exc:
        raise InvalidFault(str(exc)) from exc
    return state.faults.describe()


def journal_entries(state: TwinState, since: str | None) -> list[dict[str, Any]]:
    """The journal, or (``since``: a sequence number) only the entries after it."""
    entries = state.journal.entries()
    if since is not None:
        if not since.isascii() or not since.isdigit():
            raise BadRequest(f"since must be a whole number >= 0, got {since[:40]!r}")
        entries = [e for e in entries if e["seq"] > int(since)]
    return entries


def set_config(state: TwinState, body: Any) -> dict[str, Any]:
    """Change run-time settings all or nothing; the answer is the whole configuration."""
    if not isinstance(body, dict):
        raise BadRequest("config body must be an object")
    state.config.update(body)
    state.journal.resize(state.config.journal_size)
    return state.public_config()
