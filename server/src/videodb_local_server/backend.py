"""The local server's backend: state and rules, no HTTP in it.

``TwinState`` holds what the server knows (keys and plans, the store of collections, videos,
uploads, streams and transcripts, the jobs, the hot playlist and clip caches with their bounds,
faults, journal, counters) and the rules that read and change it; the HTTP handlers (``api``,
``hls``, ``admin``) turn a request into a call here and the result into the API's envelope.
Errors are raised as the types of ``errors``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import math
from collections.abc import Awaitable, Sized
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import BadRequest, NotFound
from .faults import FaultSet
from .jobs import PROGRESS_STYLES, TERMINAL_SHAPES, Job
from .journal import Journal
from .media import ranking
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
    #: ``--max-upload-bytes``: largest file accepted on ``/upload/{token}``.
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD

    def __post_init__(self) -> None:
        self.journal.resize(self.config.journal_size)
        for job in self.store.load_jobs():
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
        raise NotFound(f"Collection not found: {cid}")
    return row


def get_video_or_404(state: TwinState, vid: str, cid: str | None = None) -> dict[str, Any]:
    row = state.store.get_video(vid)
    if row is None or (cid and row["collection_id"] != cid):
        raise NotFound(f"Video not found: {vid}")
    return row


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
