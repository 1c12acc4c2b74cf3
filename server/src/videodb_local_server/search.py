"""Transcripts, search and scene indexes: the rules behind the calls of ``search_api``.

Plain values in, plain values out, errors as the types of ``errors`` (no HTTP here); one
function per API call, on top of ``backend`` (the state, videos, jobs, plans, callback URLs).

* Transcripts are the cues of a video's subtitle (``store.get_transcript``). Word timestamps
  come from splitting each cue into its words, spread over the cue's span by length; the
  ``sentence`` segmenter gives the cues, ``time`` windows of ``length`` seconds. A video
  without a transcript answers 400 ``no_transcript`` (the twin cannot run speech
  recognition; upload a WebVTT/SRT file with the video's name).
* Legacy search (``POST .../search``) ranks the cues of spoken-word-indexed videos, or the
  scene descriptions of scene indexes, with ``media.ranking`` (BM25); ``keyword`` search
  keeps the cues holding every query word exactly. No match: 400 ``no_results``, "No results
  found" (what the service answers and the SDK raises as ``InvalidRequestError``).
* Search V2 (``POST .../search/v2``) ranks every index a video has and answers
  ``response_type: "shots"``; no match is an empty result, with a warning when nothing is
  indexed.
* Scene indexes: scenes from FFmpeg shot detection, fixed time windows, the transcript, or the
  caller's own ``scenes``; each described from its frames' colours (``media.scenes``) unless
  the caller described it. The media work is done when the job starts, then the job ends on
  the clock like every other.
"""

from __future__ import annotations

import math
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import backend
from .backend import (
    MAX_ID_CHARS,
    TwinState,
    _check_choice,
    check_flag,
    check_language_code,
    get_collection_or_404,
    new_job,
    require_plan,
    spoken_index_job,
)
from .errors import BadRequest, NotFound
from .jobs import Job
from .media import hls, ranking, scenes, segments
from .media.transcript import Cue

SEGMENTERS = ("word", "sentence", "time")
SEARCH_TYPES = ("semantic", "keyword", "scene")
INDEX_TYPES = ("spoken_word", "scene")
SORT_DOCS_ON = ("score", "start")
#: ``SceneExtractionType`` of the SDK.
EXTRACTION_TYPES = ("shot", "time", "transcript")
#: The SDK's ``SemanticSearchDefaultValues``.
DEFAULT_SCORE_THRESHOLD = 0.2
DEFAULT_RESULT_THRESHOLD = 5
DEFAULT_TOP_K = 10
#: The lowest score that is a match (a score of 0 shares no word with the query).
MIN_MATCH = 1e-6
MAX_RESULTS = 1000
MAX_QUERY_CHARS = 2000
MAX_TEXT_CHARS = 10_000
MAX_NAME_CHARS = 200
MAX_SCENES = 10_000
MAX_FRAME_COUNT = 10
#: Defaults the SDK documents for scene extraction: shot ``threshold`` 20, ``time`` 10 s.
DEFAULT_SHOT_THRESHOLD = 20.0
DEFAULT_SCENE_SECONDS = 10.0
#: ``index_audio``'s default batch: 10 words per scene.
DEFAULT_TRANSCRIPT_BATCH = 10
_SAFE_ID_RE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_ID_CHARS - 1}}}")


class NoTranscript(BadRequest):
    error_code = "no_transcript"


class NotIndexed(BadRequest):
    error_code = "not_indexed"


class NoResults(BadRequest):
    error_code = "no_results"


class SceneIndexExists(BadRequest):
    error_code = "scene_index_exists"


# --------------------------------------------------------------------------- checked values


def _number(value: Any, name: str, *, low: float, high: float = math.inf) -> float:
    """A finite number in ``low..high`` (bools refused); 400 naming ``name`` and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"{name} must be a number, got {value!r:.80}")
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low:g} and {high:g}, got {value!r}")
    return float(value)


def _integer(value: Any, name: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, got {value!r:.80}")
    return value


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        need = "a non-empty string" if required else "a string"
        raise BadRequest(f"{name} must be {need} of at most {limit} characters, got {value!r:.80}")
    return value


def _object(value: Any, name: str, kinds: tuple[type, ...] = (dict,)) -> Any:
    if value is not None and not isinstance(value, kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise BadRequest(f"{name} must be {expected} (or null), got {value!r:.80}")
    return value


def _safe_id(value: Any, name: str) -> str | None:
    if value is not None and not (isinstance(value, str) and _SAFE_ID_RE.fullmatch(value)):
        raise BadRequest(
            f"{name} must be 1 to {MAX_ID_CHARS} ASCII letters, digits, '-' or '_', "
            f"got {value!r:.80}"
        )
    return value


def _query_number(query: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {raw[:40]!r}") from None
    return _number(value, name, low=0)


# --------------------------------------------------------------------------- transcripts


def _cues_or_400(state: TwinState, video: dict[str, Any]) -> list[Cue]:
    cues = state.store.get_transcript(video["id"])
    if not cues:
        raise NoTranscript(
            f"Video {video['id']} has no transcript: the local server cannot run speech "
            "recognition; upload a WebVTT or SRT file with the video's name"
        )
    return [Cue(**c) for c in cues]


def transcript(state: TwinState, video: dict[str, Any], query: Mapping[str, str]) -> dict:
    """``GET /video/{vid}/transcription``: ``{word_timestamps, text}`` for the query's
    ``start``, ``end``, ``segmenter`` (word, sentence, time) and ``length`` (s, for time)."""
    length = float(video["length"])
    start = _query_number(query, "start", 0.0) or 0.0
    end = _query_number(query, "end", None)
    end = length if end is None or end == 0 else end
    if start > end:
        raise BadRequest(f"start ({start:g}) must be <= end ({end:g})")
    segmenter = _check_choice(dict(query), "segmenter", SEGMENTERS, "word")
    window = _query_number(query, "length", 1.0) or 0.0
    if window <= 0:
        raise BadRequest(f"length must be > 0 seconds, got {query.get('length')!r}")
    if query.get("force") not in (None, "true", "false"):
        raise BadRequest(f"force must be 'true' or 'false', got {query['force'][:20]!r}")
    cues = _cues_or_400(state, video)
    words = segments.overlapping(segments.words_of(cues), start, end)
    if segmenter == "sentence":
        pieces = segments.overlapping([c.to_dict() for c in cues], start, end)
    elif segmenter == "time":
        pieces = segments.time_windows(words, start, window)
    else:
        pieces = words
    return {"word_timestamps": pieces, "text": " ".join(w["text"] for w in words)}


async def start_transcription(
    state: TwinState, video: dict[str, Any], body: dict[str, Any], key: str, *, fail: bool
) -> tuple[Job, str | None]:
    """``POST /video/{vid}/transcription`` ``{force, language_code}``: a job whose result is
    the word-level transcript; without a transcript the job fails (``no_transcript``)."""
    check_flag(body, "force")
    check_language_code(body.get("language_code"))
    callback_url = await backend._callback_url(state, body)
    require_plan(state, key, billable=True)
    job = new_job(state, "transcription", video["id"], fail=fail)
    if not job.failed:
        try:
            job.result = transcript(state, video, {})
        except NoTranscript as exc:
            job.fail(exc.message, exc.error_code)
    state.add_job(job)
    return job, callback_url


# --------------------------------------------------------------------------- ranking


def result_entry(video: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, Any]:
    """One video's part of a search answer (the clip result shape)."""
    return {
        "video_id": video["id"],
        "collection_id": video["collection_id"],
        "length": float(video["length"]),
        "title": video["name"],
        "docs": docs,
    }


def ranked_docs(cues: Sequence[Cue], query: str, min_score: float) -> list[dict[str, Any]]:
    """BM25 shots of ``query`` over ``cues`` (transcript cues or scene descriptions); a cue
    sharing no word with the query is never a shot, whatever the threshold."""
    return ranking.TranscriptIndex(cues).search(query, min_score=max(min_score, MIN_MATCH))


@dataclass(frozen=True)
class LegacyQuery:
    """A checked legacy search request."""

    query: str
    search_type: str
    index_type: str
    score_threshold: float
    result_threshold: int
    dynamic_score_percentage: float | None
    scene_index_id: str | None
    sort_docs_on: str

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> LegacyQuery:
        """Every field checked (400 naming it); ``search_type: scene`` means the scene index."""
        query = _text(body.get("query"), "query", MAX_QUERY_CHARS, required=True)
        search_type = _check_choice(body, "search_type", SEARCH_TYPES, "semantic")
        index_type = _check_choice(body, "index_type", INDEX_TYPES, "spoken_word")
        score = body.get("score_threshold")
        results = body.get("result_threshold")
        dynamic = body.get("dynamic_score_percentage")
        _object(body.get("filter"), "filter", (list, dict))
        return cls(
            query=str(query),
            search_type=search_type,
            index_type="scene" if search_type == "scene" else index_type,
            score_threshold=(
                (0.0 if search_type == "keyword" else DEFAULT_SCORE_THRESHOLD)
                if score is None
                else _number(score, "score_threshold", low=0, high=1)
            ),
            result_threshold=(
                DEFAULT_RESULT_THRESHOLD
                if results is None
                else _integer(results, "result_threshold", low=1, high=MAX_RESULTS)
            ),
            dynamic_score_percentage=(
                None
                if dynamic is None
                else _number(dynamic, "dynamic_score_percentage", low=0, high=100)
            ),
            scene_index_id=_safe_id(body.get("scene_index_id"), "scene_index_id"),
            sort_docs_on=_check_choice(body, "sort_docs_on", SORT_DOCS_ON, "score"),
        )

    def trim(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Best ``result_threshold`` docs above the thresholds, in ``sort_docs_on`` order.

        ``dynamic_score_percentage`` keeps only docs within that percentage of the best score.
        """
        docs = sorted(docs, key=lambda d: (-float(d["score"]), float(d["start"])))
        docs = [d for d in docs if float(d["score"]) >= self.score_threshold]
        if docs and self.dynamic_score_percentage is not None:
            floor = float(docs[0]["score"]) * (1 - self.dynamic_score_percentage / 100)
            docs = [d for d in docs if float(d["score"]) >= floor]
        docs = docs[: self.result_threshold]
        if self.sort_docs_on == "start":
            docs.sort(key=lambda d: float(d["start"]))
        return docs


def _spoken_docs(state: TwinState, video: dict[str, Any], q: LegacyQuery) -> list[dict]:
    cues = [Cue(**c) for c in state.store.get_transcript(video["id"]) or []]
    if q.search_type == "keyword":
        return segments.keyword_hits(cues, q.query)
    return ranked_docs(cues, q.query, q.score_threshold)


def _scene_docs(index: dict[str, Any], query: str, min_score: float) -> list[dict]:
    """Each matching scene of ``index`` as one doc (scenes are not merged like cues)."""
    cues = [Cue(s["start"], s["end"], s["description"]) for s in index["scenes"]]
    return [
        {
            "start": hit.cue.start,
            "end": hit.cue.end,
            "text": hit.cue.text,
            "score": round(hit.score, 4),
            "scene_index_id": index["id"],
            "scene_index_name": index["name"],
            "metadata": index["scenes"][hit.index].get("metadata") or {},
        }
        for hit in ranking.TranscriptIndex(cues).score_cues(query)
        if hit.score >= max(min_score, MIN_MATCH)
    ]


def is_spoken_indexed(state: TwinState, vid: str) -> bool:
    job = spoken_index_job(state, vid)
    return job is not None and job.is_done(time.time())


def ready_scene_indexes(
    state: TwinState, vid: str, only: str | None = None
) -> list[dict[str, Any]]:
    """The scene indexes of video ``vid`` whose job is done (only ``only``, when given)."""
    return [
        row
        for row in state.store.list_scene_indexes(vid)
        if (only is None or row["id"] == only) and scene_index_status(state, row) == "done"
    ]


def _legacy_docs(state: TwinState, video: dict[str, Any], q: LegacyQuery) -> list[dict] | None:
    """The docs of one video, or None when the video has no index of the kind asked."""
    if q.index_type == "spoken_word":
        if not is_spoken_indexed(state, video["id"]):
            return None
        return q.trim(_spoken_docs(state, video, q))
    indexes = ready_scene_indexes(state, video["id"], q.scene_index_id)
    if not indexes:
        return None
    return q.trim([d for i in indexes for d in _scene_docs(i, q.query, q.score_threshold)])


def search_video(state: TwinState, video: dict[str, Any], body: dict[str, Any]) -> dict:
    """``POST /video/{vid}/search``: ``{results: [the video's entry]}``.

    400 ``not_indexed`` when the video has no index of the kind asked; 400 ``no_results``
    ("No results found") when nothing matches.
    """
    q = LegacyQuery.from_body(body)
    if q.index_type == "scene" and q.scene_index_id is not None:
        _scene_index_of(state, video, q.scene_index_id)  # 404 for another video's index
    docs = _legacy_docs(state, video, q)
    if docs is None:
        raise NotIndexed(_not_indexed_message(video["id"], q))
    if not docs:
        raise NoResults("No results found")
    return {"results": [result_entry(video, docs)]}


def _not_indexed_message(vid: str, q: LegacyQuery) -> str:
    if q.index_type == "spoken_word":
        return f"Spoken word index for video {vid} not found: index its spoken words first"
    if q.scene_index_id is not None:
        return f"Scene index {q.scene_index_id} of video {vid} is not ready yet"
    return f"Video {vid} has no scene index: index its scenes first"


def search_collection(state: TwinState, cid: str, body: dict[str, Any]) -> dict:
    """``POST /collection/{cid}/search``: the indexed videos of the collection, best first."""
    get_collection_or_404(state, cid)
    q = LegacyQuery.from_body(body)
    entries, indexed = [], 0
    for video in state.store.list_videos(cid):
        docs = _legacy_docs(state, video, q)
        indexed += docs is not None
        if docs:
            entries.append(result_entry(video, docs))
    if not indexed:
        kind = "a spoken word" if q.index_type == "spoken_word" else "a scene"
        raise NotIndexed(f"No video of collection {cid} has {kind} index: index one first")
    if not entries:
        raise NoResults("No results found")
    entries.sort(key=lambda e: -max(float(d["score"]) for d in e["docs"]))
    return {"results": entries}


# --------------------------------------------------------------------------- Search V2


@dataclass(frozen=True)
class V2Query:
    """A checked Search V2 request (``video.search(query, top_k=..., ...)``)."""

    query: str
    top_k: int
    include_clip: bool
    session_id: str
    score_threshold: float

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> V2Query:
        query = _text(body.get("query"), "query", MAX_QUERY_CHARS, required=True)
        top_k = body.get("top_k")
        _text(body.get("mode"), "mode", 40)
        _object(body.get("return_fields"), "return_fields", (list, dict, str))
        config = _object(body.get("config"), "config") or {}
        score = config.get("score_threshold")
        return cls(
            query=str(query),
            top_k=DEFAULT_TOP_K
            if top_k is None
            else _integer(top_k, "top_k", low=1, high=MAX_RESULTS),
            include_clip=check_flag(body, "include_clip"),
            session_id=_safe_id(body.get("session_id"), "session_id")
            or f"ss-{secrets.token_hex(8)}",
            score_threshold=DEFAULT_SCORE_THRESHOLD
            if score is None
            else _number(score, "config.score_threshold", low=0, high=1),
        )


def _v2_docs(state: TwinState, video: dict[str, Any], q: V2Query) -> list[dict] | None:
    """Every index of the video ranked together (None: the video has no index at all)."""
    docs: list[dict[str, Any]] = []
    indexed = False
    if is_spoken_indexed(state, video["id"]):
        indexed = True
        cues = [Cue(**c) for c in state.store.get_transcript(video["id"]) or []]
        docs += ranked_docs(cues, q.query, q.score_threshold)
    for index in ready_scene_indexes(state, video["id"]):
        indexed = True
        docs += _scene_docs(index, q.query, q.score_threshold)
    if not indexed:
        return None
    docs.sort(key=lambda d: (-float(d["score"]), float(d["start"])))
    return docs[: q.top_k]


async def search_v2(
    state: TwinState, origin: str, videos: list[dict[str, Any]], body: dict[str, Any]
) -> dict:
    """``POST /video/{vid}/search/v2`` (one video) or ``/collection/{cid}/search/v2`` (its
    videos): ``{response_type: "shots", session_id, waiting_for, results, warnings}``.

    No match is an empty ``results``; nothing indexed adds a ``not_indexed`` warning.
    ``include_clip`` gives each shot its own ``stream_url``.
    """
    q = V2Query.from_body(body)
    entries, indexed = [], 0
    for video in videos:
        docs = _v2_docs(state, video, q)
        indexed += docs is not None
        if docs and q.include_clip:
            for doc in docs:
                shot = [[doc["start"], doc["end"]]]
                urls = await backend.video_stream(state, origin, video, shot)
                doc.update(stream_url=urls["stream_url"], player_url=urls["player_url"])
        if docs:
            entries.append(result_entry(video, docs))
    entries.sort(key=lambda e: -max(float(d["score"]) for d in e["docs"]))
    warnings = []
    if not indexed:
        warnings.append(
            {
                "code": "not_indexed",
                "message": "Nothing to search: index spoken words or scenes first",
            }
        )
    return {
        "response_type": "shots",
        "session_id": q.session_id,
        "waiting_for": "none",
        "query": q.query,
        "results": entries,
        "warnings": warnings,
    }


def collection_videos(state: TwinState, cid: str) -> list[dict[str, Any]]:
    get_collection_or_404(state, cid)
    return state.store.list_videos(cid)


# --------------------------------------------------------------------------- scene indexes


@dataclass(frozen=True)
class SceneRequest:
    """A checked ``POST /video/{vid}/index/scene`` body: how to find and describe scenes."""

    extraction_type: str
    config: dict[str, Any]
    name: str | None
    prompt: str | None
    model_name: str | None
    metadata: dict[str, Any]
    scenes: list[dict[str, Any]] | None

    @classmethod
    def from_body(cls, body: dict[str, Any], length: float) -> SceneRequest:
        # index_visuals() without a batch_config sends no type: its documented default is time
        extraction = _check_choice(body, "extraction_type", EXTRACTION_TYPES, "time")
        raw = _object(body.get("extraction_config"), "extraction_config") or {}
        _object(body.get("model_config"), "model_config")
        check_language_code(body.get("language_code"))
        given = _object(body.get("scenes"), "scenes", (list,))
        return cls(
            extraction_type=extraction,
            config=_extraction_config(extraction, raw),
            name=_text(body.get("name"), "name", MAX_NAME_CHARS),
            prompt=_text(body.get("prompt"), "prompt", MAX_TEXT_CHARS),
            model_name=_text(body.get("model_name"), "model_name", 40),
            metadata=_object(body.get("metadata"), "metadata") or {},
            scenes=None if not given else _given_scenes(given, length),
        )

    def settings(self) -> dict[str, Any]:
        """What identifies an unnamed index: two with the same settings are the same index."""
        return {
            "extraction_type": self.extraction_type,
            "extraction_config": self.config,
            "prompt": self.prompt,
            "model_name": self.model_name,
            "metadata": self.metadata,
            "scenes": self.scenes,
        }


def _extraction_config(extraction: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The extraction settings with their documented defaults, each checked."""
    frames = raw.get("frame_count")
    frame_count = (
        1 if frames is None else _integer(frames, "frame_count", low=1, high=MAX_FRAME_COUNT)
    )
    if extraction == "shot":
        threshold = raw.get("threshold")
        return {
            "threshold": DEFAULT_SHOT_THRESHOLD
            if threshold is None
            else _number(threshold, "threshold", low=0, high=100),
            "frame_count": frame_count,
        }
    if extraction == "time":
        seconds = raw.get("time")
        select = _object(raw.get("select_frames"), "select_frames", (list,))
        if select is not None and (
            not select or any(p not in scenes.FRAME_POSITIONS for p in select)
        ):
            raise BadRequest(
                f"select_frames must list some of {scenes.FRAME_POSITIONS}, got {select!r:.80}"
            )
        return {
            "time": DEFAULT_SCENE_SECONDS
            if seconds is None
            else _number(seconds, "time", low=0.5, high=24 * 3600),
            "frame_count": frame_count,
            "select_frames": select,
        }
    segmenter = _check_choice(raw, "segmenter", SEGMENTERS, "word")
    value = raw.get("segmentation_value")
    return {
        "segmenter": segmenter,
        "segmentation_value": DEFAULT_TRANSCRIPT_BATCH
        if value is None
        else _number(value, "segmentation_value", low=1, high=MAX_RESULTS),
    }


def _given_scenes(given: list[Any], length: float) -> list[dict[str, Any]]:
    """The caller's own scenes (``Scene.to_json()``): spans inside the video, described."""
    if len(given) > MAX_SCENES:
        raise BadRequest(f"scenes has more than {MAX_SCENES} entries")
    out = []
    for n, item in enumerate(given):
        if not isinstance(item, dict):
            raise BadRequest(f"scenes[{n}] must be an object, got {item!r:.80}")
        start = _number(item.get("start"), f"scenes[{n}].start", low=0, high=length)
        end = _number(
            item.get("end"), f"scenes[{n}].end", low=0, high=length + backend.LENGTH_TOLERANCE
        )
        if end <= start:
            raise BadRequest(f"scenes[{n}] must end after it starts, got {start:g}..{end:g}")
        description = _text(item.get("description"), f"scenes[{n}].description", MAX_TEXT_CHARS)
        metadata = _object(item.get("metadata"), f"scenes[{n}].metadata") or {}
        out.append(
            {
                "start": start,
                "end": min(end, length),
                "description": description or "",
                "metadata": metadata,
            }
        )
    return out


def _transcript_scenes(cues: Sequence[Cue], config: dict[str, Any]) -> list[dict[str, Any]]:
    """Scenes cut from the transcript: batches of words or cues, or windows of seconds."""
    value = config["segmentation_value"]
    if config["segmenter"] == "time":
        return segments.time_windows(segments.words_of(cues), 0.0, value)
    if config["segmenter"] == "word":
        return segments.batches(segments.words_of(cues), int(value))
    return segments.batches([c.to_dict() for c in cues], int(value))


def _found_scenes(source: Path, length: float, req: SceneRequest) -> list[dict[str, Any]]:
    """Blocking: the scenes FFmpeg finds in the video and what their frames look like."""
    config = req.config
    if req.extraction_type == "shot":
        cuts = scenes.shot_starts(source, config["threshold"] / 100)
        spans = scenes.spans_from_cuts(cuts, length)
        found = scenes.extract_scenes(source, length, spans, frame_count=config["frame_count"])
    else:
        spans = scenes.time_windows(length, config["time"])
        found = scenes.extract_scenes(
            source,
            length,
            spans,
            frame_count=config["frame_count"],
            select_frames=config["select_frames"],
        )
    return [{**s.to_dict(), "metadata": req.metadata} for s in found]


async def _scenes_for(
    state: TwinState, video: dict[str, Any], req: SceneRequest
) -> list[dict[str, Any]]:
    length = float(video["length"])
    if req.scenes is not None:
        return req.scenes
    if req.extraction_type == "transcript":
        found = _transcript_scenes(_cues_or_400(state, video), req.config)
        return [
            {
                "start": s["start"],
                "end": s["end"],
                "description": s["text"],
                "metadata": req.metadata,
            }
            for s in found
        ]
    source = Path(video["media_dir"]) / hls.INDEX_NAME
    return await backend._in_thread(_found_scenes, source, length, req)


def _existing_index(state: TwinState, vid: str, req: SceneRequest) -> dict[str, Any] | None:
    """A live index of the video with the same name (or, unnamed, the same settings)."""
    for row in state.store.list_scene_indexes(vid):
        if scene_index_status(state, row) == "failed":
            continue
        same = (
            row["name"] == req.name
            if req.name is not None
            else (row["name"] is None and row["settings"] == req.settings())
        )
        if same:
            return row
    return None


def _refuse_existing(state: TwinState, vid: str, req: SceneRequest) -> None:
    existing = _existing_index(state, vid, req)
    if existing is not None:
        raise SceneIndexExists(f"Scene index with id {existing['id']} already exists")


async def start_scene_index(
    state: TwinState, video: dict[str, Any], body: dict[str, Any], key: str, *, fail: bool
) -> tuple[Job, str | None]:
    """``POST /video/{vid}/index/scene``: a job whose terminal ``data`` holds the new
    ``scene_index_id``; the scenes are found now (in a worker thread).

    An index of the video with the same ``name`` (unnamed: the same settings) is refused:
    400 ``scene_index_exists``, "Scene index with id <id> already exists".
    """
    req = SceneRequest.from_body(body, float(video["length"]))
    callback_url = await backend._callback_url(state, body)
    require_plan(state, key, billable=True)
    _refuse_existing(state, video["id"], req)
    job = new_job(state, "scene_index", video["id"], fail=fail)
    sid = secrets.token_hex(8)
    found: list[dict[str, Any]] = []
    if not job.failed:
        try:
            found = await _scenes_for(state, video, req)
        except hls.MediaError as exc:
            job.fail(f"Could not read the video's frames: {exc}", "scene_extraction_failed")
        except NoTranscript as exc:
            job.fail(exc.message, exc.error_code)
    _refuse_existing(state, video["id"], req)  # the same request, sent twice at once, won
    if not job.failed:
        job.result = {
            "scene_index_id": sid,
            "video_id": video["id"],
            "name": req.name,
            "extraction_type": req.extraction_type,
            "scenes": len(found),
        }
    state.add_job(job)
    if not job.failed:
        state.store.add_scene_index(
            sid=sid, vid=video["id"], name=req.name, job_id=job.id,
            settings=req.settings(), scenes=found,
        )  # fmt: skip
    return job, callback_url


def scene_index_status(state: TwinState, row: dict[str, Any]) -> str:
    """``processing`` while the index's job runs, then ``done`` (or ``failed``)."""
    job = state.jobs.get(row["job_id"])
    if job is None or job.failed:
        return "failed"
    return "done" if job.is_done(time.time()) else "processing"


def list_scene_indexes(state: TwinState, video: dict[str, Any]) -> dict[str, Any]:
    """``GET /video/{vid}/index/scene``: ``{scene_indexes: [{scene_index_id, name, status}]}``."""
    return {
        "scene_indexes": [
            {
                "scene_index_id": row["id"],
                "name": row["name"],
                "status": scene_index_status(state, row),
            }
            for row in state.store.list_scene_indexes(video["id"])
        ]
    }


def _scene_index_of(state: TwinState, video: dict[str, Any], sid: str) -> dict[str, Any]:
    row = state.store.get_scene_index(sid) if _SAFE_ID_RE.fullmatch(sid) else None
    if row is None or row["video_id"] != video["id"]:
        raise NotFound(f"Scene index not found: {sid[:MAX_ID_CHARS]}")
    return row


def get_scene_index(state: TwinState, video: dict[str, Any], sid: str) -> dict[str, Any]:
    """``GET /video/{vid}/index/scene/{sid}``: its status and ``scene_index_records`` (the
    scenes, once the job is done)."""
    row = _scene_index_of(state, video, sid)
    status = scene_index_status(state, row)
    return {
        "scene_index_id": row["id"],
        "name": row["name"],
        "status": status,
        "scene_index_records": row["scenes"] if status == "done" else [],
    }


def delete_scene_index(state: TwinState, video: dict[str, Any], sid: str) -> dict[str, Any]:
    """``DELETE /video/{vid}/index/scene/{sid}`` (404 for an unknown one)."""
    row = _scene_index_of(state, video, sid)
    state.store.delete_scene_index(row["id"])
    return {"scene_index_id": row["id"], "deleted": True}
