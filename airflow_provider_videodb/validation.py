"""Pure input validation, run before any request is sent.

Every refusal raises :class:`VideoDBValidationError` naming the field and the value.
Limits are module constants so operators, docs and tests share one definition:

* ``MAX_TIMELINE_SEGMENTS`` (1000): a stitched playlist of more segments than this is
  almost certainly a templating accident, and the request body would be unreasonably big.
* ``MAX_PROMPT_CHARS`` (2000): prompts are short natural-language queries; anything longer
  is refused rather than silently truncated.
* ``MAX_ID_CHARS`` (128): upper bound for video / collection / scene index ids.
* ``MAX_WAIT_SECONDS`` (30 days): upper bound for a number of seconds (timeouts, poll
  intervals, lengths); larger values are templating accidents and overflow ``timedelta``.

Ids are checked for safety (characters, length), not for a guessed format: the API
reference's own example scene index id is ``idx-12345`` while the SDKs show 16 hex
characters, and both are valid. The local server writes the same rule on its side (no code
is shared between the two packages; a test checks that they agree).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import posixpath
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow_provider_videodb.exceptions import VideoDBValidationError

MAX_TIMELINE_SEGMENTS = 1000
MAX_PROMPT_CHARS = 2000
MAX_ID_CHARS = 128
MAX_WAIT_SECONDS = 30 * 24 * 3600.0
#: Longest URL or storage path accepted from a DAG author (callback URL, upload source).
MAX_URL_CHARS = 4096
#: Longest display name (a video's, a scene index's).
MAX_NAME_CHARS = 256
CONTENT_TYPES = frozenset({"spoken", "visual", "multimodal"})
MODEL_NAMES = frozenset({"basic", "pro", "ultra"})
#: Tolerance when comparing a segment end with the video length (float rounding in lengths).
LENGTH_TOLERANCE = 1e-3

_ID_BODY = rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_ID_CHARS - 3}}}"
_VIDEO_ID_RE = re.compile(rf"m-{_ID_BODY}")
_COLLECTION_ID_RE = re.compile(rf"c-{_ID_BODY}")
#: A safe opaque id: ASCII letters and digits, then also ``-`` and ``_``; at most 128 chars.
#: No ``/``, ``.``, ``%``, whitespace or non-ASCII, so it cannot change a URL path or a log line.
_SAFE_ID_RE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_ID_CHARS - 1}}}")
#: Prompt characters that render as nothing: a prompt made of only these is empty.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp"})
_PROMPT_CONTROLS_ALLOWED = frozenset("\n\t")


class Timeline(list[tuple[float, float]]):
    """A checked timeline, ``[(start, end), ...]`` floats: what :func:`parse_timeline`
    returns. Given to it again it is kept as is, so a timeline is checked once on its way
    in, however many layers it then passes."""


def _require_str(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise VideoDBValidationError(field, value, f"must be a string, not {type(value).__name__}")
    return value


def validate_video_id(video_id: Any, field: str = "video_id") -> str:
    """A VideoDB video id: ``m-`` followed by letters, digits, ``-`` or ``_``."""
    value = _require_str(field, video_id)
    if not _VIDEO_ID_RE.fullmatch(value):
        raise VideoDBValidationError(field, video_id, "a video id looks like 'm-<letters/digits>'")
    return value


def validate_collection_id(collection_id: Any, field: str = "collection_id") -> str:
    """``default`` or ``c-…``."""
    value = _require_str(field, collection_id)
    if value != "default" and not _COLLECTION_ID_RE.fullmatch(value):
        raise VideoDBValidationError(
            field, collection_id, "a collection id is 'default' or looks like 'c-<letters/digits>'"
        )
    return value


def _finite_number(field: str, value: Any) -> float:
    # bool is an int subclass; True as a timestamp is a bug, not a second.
    if isinstance(value, bool) or not isinstance(value, Real):
        raise VideoDBValidationError(
            field, value, f"must be a number of seconds, not {type(value).__name__}"
        )
    number = float(value)
    if not math.isfinite(number):
        raise VideoDBValidationError(field, value, "must be a finite number")
    return number


def _segment(field: str, item: Any) -> tuple[float, float]:
    if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 2:
        raise VideoDBValidationError(field, item, "each segment must be a [start, end] pair")
    start = _finite_number(f"{field}.start", item[0])
    end = _finite_number(f"{field}.end", item[1])
    if start < 0:
        raise VideoDBValidationError(f"{field}.start", item[0], "must not be negative")
    if end <= start:
        raise VideoDBValidationError(field, item, "end must be greater than start")
    return (start, end)


def parse_timeline(value: Any, field: str = "timeline") -> Timeline | None:
    """Normalise a timeline to ``[(start, end), ...]`` floats, or ``None`` for the whole video.

    Accepts a list/tuple of pairs, or a JSON string of pairs (what Jinja templating yields).

    :param value: the timeline as given.
    :param field: the name to report in an error.
    """
    if value is None or isinstance(value, Timeline):
        return value
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            raise VideoDBValidationError(
                field, value, "a string timeline must be JSON, e.g. '[[0, 10], [20, 30]]'"
            ) from None
        if decoded is None or isinstance(decoded, str):
            raise VideoDBValidationError(field, value, "JSON must decode to a list of pairs")
        return parse_timeline(decoded, field)
    if not isinstance(value, (list, tuple)):
        raise VideoDBValidationError(
            field, value, f"must be a list of [start, end] pairs, not {type(value).__name__}"
        )
    if not value:
        raise VideoDBValidationError(
            field, value, "must not be empty (use None for the whole video)"
        )
    if len(value) > MAX_TIMELINE_SEGMENTS:
        raise VideoDBValidationError(
            field, value, f"has {len(value)} segments; at most {MAX_TIMELINE_SEGMENTS} allowed"
        )
    return Timeline(_segment(f"{field}[{i}]", item) for i, item in enumerate(value))


def check_timeline_within(timeline: Timeline | None, length: float | None) -> None:
    """Refuse segments that end beyond the video (tolerating tiny rounding differences)."""
    if timeline is None or length is None:
        return
    for index, (start, end) in enumerate(timeline):
        if end > length + LENGTH_TOLERANCE:
            raise VideoDBValidationError(
                f"timeline[{index}]",
                [start, end],
                f"ends at {end:g} s, beyond the video's length of {length:g} s",
            )


def validate_prompt(prompt: Any, field: str = "prompt") -> str:
    r"""A natural-language prompt: something visible, no control characters, bounded length.

    Empty means empty once whitespace and invisible format characters (zero-width space and
    joiners, word joiner, BOM: Unicode categories Cf/Zs/Zl/Zp) are removed. Control
    characters (category Cc) other than newline (``\n``, or ``\r\n`` as pasted from Windows)
    and tab are refused: they have no meaning in a query and corrupt logs and terminals (a
    lone ``\r`` rewrites the log line it is printed on).
    """
    return _check_text(field, prompt, MAX_PROMPT_CHARS, _PROMPT_CONTROLS_ALLOWED)


def validate_name(name: Any, field: str = "name") -> str:
    """A display name (a video's, a scene index's): visible, one line, at most
    :data:`MAX_NAME_CHARS` characters, no control characters at all.

    :param name: the name as given.
    :param field: the name to report in an error.
    """
    return _check_text(field, name, MAX_NAME_CHARS, frozenset())


def _check_text(field: str, original: Any, limit: int, controls_allowed: frozenset[str]) -> str:
    """The shared text rule of prompts and names: a string of at most ``limit`` characters,
    no NUL, no control character outside ``controls_allowed`` (``\r\n`` counts as ``\n``),
    and something visible."""
    value = _require_str(field, original)
    if len(value) > limit:
        raise VideoDBValidationError(
            field, original, f"is {len(value)} characters; at most {limit} allowed"
        )
    if "\x00" in value:
        raise VideoDBValidationError(field, original, "must not contain NUL characters")
    for ch in value.replace("\r\n", "\n") if "\n" in controls_allowed else value:
        if unicodedata.category(ch) == "Cc" and ch not in controls_allowed:
            allowed = "only newline and tab are allowed" if controls_allowed else "none allowed"
            raise VideoDBValidationError(
                field,
                original,
                f"must not contain control characters (found U+{ord(ch):04X}); {allowed}",
            )
    visible = [
        ch
        for ch in value
        if not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
    ]
    if not visible:
        raise VideoDBValidationError(field, original, "must not be empty")
    return value


def _one_of(field: str, value: Any, allowed: frozenset[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise VideoDBValidationError(field, value, f"must be one of {sorted(allowed)}")
    return value


def validate_content_type(content_type: Any) -> str:
    return _one_of("content_type", content_type, CONTENT_TYPES)


def validate_model_name(model_name: Any) -> str:
    return _one_of("model_name", model_name, MODEL_NAMES)


def validate_scene_index_id(scene_index_id: Any) -> str:
    """A scene index id: checked for safety, not for a format (``idx-12345`` and 16 hex
    characters are both valid)."""
    value = _require_str("scene_index_id", scene_index_id)
    if not _SAFE_ID_RE.fullmatch(value):
        raise VideoDBValidationError(
            "scene_index_id",
            scene_index_id,
            f"must be 1 to {MAX_ID_CHARS} ASCII letters, digits, '-' or '_', "
            "starting with a letter or digit",
        )
    return value


def validate_http_url(value: Any, field: str) -> str:
    """An absolute http(s) URL, at most :data:`MAX_URL_CHARS`, whose host is the host a
    reader sees.

    Refused: whitespace and control characters, backslashes (browsers and some HTTP stacks
    read ``\\`` as ``/``, so ``https://good.example\\@evil.example/`` has two readings) and
    userinfo (``https://good.example@evil.example/`` calls ``evil.example``).

    :param value: the URL as given.
    :param field: the name to report in an error.
    """
    text = _require_str(field, value)
    if len(text) > MAX_URL_CHARS:
        raise VideoDBValidationError(
            field, value, f"is {len(text)} characters; at most {MAX_URL_CHARS} allowed"
        )
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in text):
        raise VideoDBValidationError(
            field, value, "must not contain whitespace or control characters"
        )
    if "\\" in text:
        raise VideoDBValidationError(field, value, "must not contain '\\'")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise VideoDBValidationError(field, value, "is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise VideoDBValidationError(field, value, "must be an http(s) URL")
    if "@" in parts.netloc:
        # The user information may hold a password: the message shows the URL without it.
        host = parts.netloc.rsplit("@", 1)[1]
        shown = parts._replace(netloc=f"<user information>@{host}").geturl()
        raise VideoDBValidationError(
            field,
            shown,
            "must not carry user information ('user@'): the host called would not be the "
            "host a reader sees",
        )
    if not parts.hostname:
        raise VideoDBValidationError(field, value, "must name a host")
    return text


def validate_callback_url(callback_url: Any) -> str:
    """The URL the service POSTs a job's result to: see :func:`validate_http_url`."""
    return validate_http_url(callback_url, "callback_url")


def validate_bool(field: str, value: Any) -> bool:
    """A real bool: ``"false"`` is a true-ish string, so a string is refused, not read."""
    if not isinstance(value, bool):
        raise VideoDBValidationError(field, value, "must be True or False")
    return value


def validate_count(field: str, value: Any, maximum: int) -> int:
    """A real int (not a bool, not a float, not a string) within ``[0, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise VideoDBValidationError(field, value, f"must be an integer from 0 to {maximum}")
    return int(value)


def validate_timestamp(field: str, value: Any) -> float:
    """A wall-clock instant, epoch seconds (``time.time()``): a finite number > 0."""
    instant = _finite_number(field, value)
    if instant <= 0:
        raise VideoDBValidationError(field, value, "must be an epoch time in seconds (> 0)")
    return instant


def validate_positive_seconds(field: str, value: Any, maximum: float = MAX_WAIT_SECONDS) -> float:
    """A finite number of seconds in ``(0, maximum]`` (not a bool; default max 30 days)."""
    seconds = _finite_number(field, value)
    if seconds <= 0:
        raise VideoDBValidationError(field, value, "must be greater than zero")
    if seconds > maximum:
        raise VideoDBValidationError(field, value, f"must be at most {maximum:g} seconds")
    return seconds


def _store_checked(request: Any, checked: dict[str, Any]) -> None:
    """Set the checked (normalised) fields on a frozen request value, in ``__post_init__``.

    :param request: the request value.
    :param checked: field name -> checked value.
    """
    for name, value in checked.items():
        object.__setattr__(request, name, value)


@dataclass(frozen=True)
class ClipRequest:
    """A clip job to submit, every field checked once, on its way in (before any request).

    The operator builds it from its rendered fields; :meth:`VideoDBHook.start_clip` builds it
    from its arguments; :meth:`VideoDBHook.submit_clip` sends it as it is.

    :param video_id: the video, ``m-...``.
    :param prompt: what to find, in words.
    :param content_type: ``spoken``, ``visual`` or ``multimodal``.
    :param model_name: ``basic``, ``pro`` or ``ultra``.
    :param scene_index_id: a scene index for visual search.
    :param callback_url: an http(s) URL the service POSTs the result to.
    :param collection_id: the video's collection (``None``: the connection's).
    """

    video_id: str
    prompt: str
    content_type: str = "spoken"
    model_name: str = "basic"
    scene_index_id: str | None = None
    callback_url: str | None = None
    collection_id: str | None = None

    def __post_init__(self) -> None:
        checked = {
            "video_id": validate_video_id(self.video_id),
            "prompt": validate_prompt(self.prompt),
            "content_type": validate_content_type(self.content_type),
            "model_name": validate_model_name(self.model_name),
            "scene_index_id": None
            if self.scene_index_id is None
            else validate_scene_index_id(self.scene_index_id),
            "callback_url": None
            if self.callback_url is None
            else validate_callback_url(self.callback_url),
            "collection_id": None
            if self.collection_id is None
            else validate_collection_id(self.collection_id),
        }
        _store_checked(self, checked)

    def body(self) -> dict[str, Any]:
        """The JSON body of ``POST /video/{id}/clip``."""
        body: dict[str, Any] = {
            "prompt": self.prompt,
            "content_type": self.content_type,
            "model_name": self.model_name,
        }
        if self.scene_index_id is not None:
            body["scene_index_id"] = self.scene_index_id
        if self.callback_url is not None:
            body["callback_url"] = self.callback_url
        return body

    def identity(self) -> dict[str, Any]:
        """What identifies this request for the retry fingerprint (JSON primitives)."""
        return dataclasses.asdict(self)


# -- the rest of a pipeline: upload, index, search --------------------------------------------

#: What ``media_type`` an upload may declare (the SDK's ``MediaType``).
MEDIA_TYPES = frozenset({"video", "audio", "image"})
#: The SDK's ``SegmentationType`` values (spoken-word indexing).
SEGMENTATION_TYPES = frozenset({"sentence", "llm"})
#: The SDK's ``SceneExtractionType`` values, and the SDK's attribute names as aliases.
SCENE_EXTRACTION_TYPES = frozenset({"shot", "time", "transcript"})
_SCENE_EXTRACTION_ALIASES = {"shot_based": "shot", "time_based": "time"}
#: The SDK's ``Segmenter`` values (transcripts; transcript-based scene extraction).
SEGMENTERS = frozenset({"word", "sentence", "time"})
#: Legacy search: ``SearchType`` values (plus the SDK's internal ``scene``) and ``IndexType``.
SEARCH_TYPES = frozenset({"semantic", "keyword", "scene"})
INDEX_TYPES = frozenset({"spoken_word", "scene"})
#: What the SDK sends for a semantic search when no threshold is given.
DEFAULT_SEMANTIC_SCORE_THRESHOLD = 0.2
DEFAULT_SEMANTIC_RESULT_THRESHOLD = 5
#: Bounds of a search's thresholds: a score is a fraction or at most a percentage.
MAX_SCORE_THRESHOLD = 100.0
MAX_RESULT_THRESHOLD = 1000
#: Frames per scene a scene index may extract.
MAX_FRAME_COUNT = 100
_FRAME_POSITIONS = frozenset({"first", "middle", "last"})
#: ``en``, ``hi``, ``en_us``, ``en-GB``, ``zh-Hant``: letters, then an optional region.
_LANGUAGE_CODE_RE = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})?")
_MEDIA_ID_RE = re.compile(rf"(?:m|a|img)-{_ID_BODY}")
#: What extraction_config keys each extraction type takes (the SDK's ``index_scenes`` docs).
_EXTRACTION_CONFIG_KEYS: dict[str, frozenset[str]] = {
    "shot": frozenset({"threshold", "frame_count"}),
    "time": frozenset({"time", "frame_count", "select_frames"}),
    "transcript": frozenset({"segmenter", "segmentation_value"}),
}


def is_video_id(value: Any) -> bool:
    """Whether ``value`` follows the video id rule (for checking answers, not input)."""
    return isinstance(value, str) and _VIDEO_ID_RE.fullmatch(value) is not None


def is_media_id(value: Any) -> bool:
    """Whether ``value`` is a video, audio or image id (``m-``, ``a-``, ``img-``)."""
    return isinstance(value, str) and _MEDIA_ID_RE.fullmatch(value) is not None


def is_safe_id(value: Any) -> bool:
    """Whether ``value`` is a safe opaque id (scene index ids; see the module docstring)."""
    return isinstance(value, str) and _SAFE_ID_RE.fullmatch(value) is not None


def validate_non_negative_seconds(field: str, value: Any) -> float:
    """A finite number of seconds >= 0 and at most :data:`MAX_WAIT_SECONDS` (an instant in
    a video: a thumbnail's time, a transcript's start)."""
    seconds = _finite_number(field, value)
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise VideoDBValidationError(field, value, f"must be from 0 to {MAX_WAIT_SECONDS:g}")
    return seconds


def validate_segmenter(segmenter: Any, field: str = "segmenter") -> str:
    """``word``, ``sentence`` or ``time`` (the SDK's ``Segmenter``)."""
    return _one_of(field, segmenter, SEGMENTERS)


def _optional(value: Any, check: Any) -> Any:
    return None if value is None else check(value)


def _object_storage_like(value: Any) -> bool:
    """An ``airflow.sdk.ObjectStoragePath`` (or another universal path), told without
    importing it: it is not ``os.PathLike`` but has a ``protocol`` and ``open``."""
    return isinstance(getattr(value, "protocol", None), str) and callable(
        getattr(value, "open", None)
    )


def _storage_uri(value: Any) -> str:
    """A local path, a ``file://`` URL or another storage URI, checked as text."""
    text = _require_str("source", value)
    if not text.strip():
        raise VideoDBValidationError("source", value, "must not be empty")
    if len(text) > MAX_URL_CHARS:
        raise VideoDBValidationError(
            "source", value, f"is {len(text)} characters; at most {MAX_URL_CHARS} allowed"
        )
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise VideoDBValidationError("source", value, "must not contain control characters")
    return text


@dataclass(frozen=True)
class UploadRequest:
    """Media to upload (``POST /collection/{cid}/upload``), checked before any request.

    ``source`` is either an http(s) URL the service fetches itself, or a file the worker
    reads and sends: a local path (``str`` or ``os.PathLike``), a ``file://`` URL, or any
    Airflow object-storage path (an ``ObjectStoragePath``, or a string with its scheme such
    as ``s3://bucket/key``), opened through ``airflow.sdk.ObjectStoragePath``.

    :param source: the URL or the file.
    :param name: the media's name (default: the file's stem; for a URL the service names it).
    :param description: a description.
    :param media_type: ``video``, ``audio`` or ``image``.
    :param callback_url: an http(s) URL the service POSTs the result to.
    :param collection_id: the collection to upload to (``None``: the connection's).
    """

    source: Any
    name: str | None = None
    description: str | None = None
    media_type: str = "video"
    callback_url: str | None = None
    collection_id: str | None = None

    def __post_init__(self) -> None:
        source = self.source
        if _object_storage_like(source):  # before PathLike: on Airflow 3.1 it is one
            _storage_uri(str(source))
        elif isinstance(source, os.PathLike):
            source = _storage_uri(os.fspath(source))
        elif isinstance(source, str):
            scheme = source.split("://", 1)[0].lower() if "://" in source else ""
            if scheme in ("http", "https"):
                source = validate_http_url(source, "source")
            else:
                source = _storage_uri(source)
        else:
            raise VideoDBValidationError(
                "source",
                source,
                "must be an http(s) URL, a path, a file:// URL or an ObjectStoragePath, "
                f"not {type(source).__name__}",
            )
        checked = {
            "source": source,
            "name": _optional(self.name, validate_name),
            "description": _optional(self.description, lambda v: validate_prompt(v, "description")),
            "media_type": _one_of("media_type", self.media_type, MEDIA_TYPES),
            "callback_url": _optional(self.callback_url, validate_callback_url),
            "collection_id": _optional(self.collection_id, validate_collection_id),
        }
        _store_checked(self, checked)

    @property
    def is_url(self) -> bool:
        """Whether the service fetches ``source`` itself (an http(s) URL)."""
        return isinstance(self.source, str) and self.source.split("://", 1)[0].lower() in (
            "http",
            "https",
        )

    @property
    def uri(self) -> str:
        """``source`` as a string: the URL, the path, or the storage path's URI."""
        return self.source if isinstance(self.source, str) else str(self.source)

    @property
    def display_name(self) -> str:
        """The name, else the file's stem (or the URL's last path segment)."""
        if self.name is not None:
            return self.name
        if not isinstance(self.source, str):
            return str(self.source.stem) or "upload"
        path = urlsplit(self.source).path if "://" in self.source else self.source
        base = posixpath.basename(path.replace("\\", "/").rstrip("/"))
        stem = posixpath.splitext(base)[0] if not self.is_url else base
        return stem or "upload"

    def storage_path(self) -> Any:
        """The file as an ``airflow.sdk.ObjectStoragePath`` (imported here, at run time:
        this module is imported when a DAG is parsed). Not for URL sources."""
        if self.is_url:
            raise VideoDBValidationError("source", self.source, "is a URL, not a file")
        if not isinstance(self.source, str):
            return self.source
        from airflow.sdk import ObjectStoragePath

        if self.source[:7].lower() == "file://":  # a URL: its path is percent-encoded
            return ObjectStoragePath(unquote(urlsplit(self.source).path))
        return ObjectStoragePath(self.source)

    def body(self, url: str) -> dict[str, Any]:
        """The register body: all five keys, null when unset. A file's name defaults to its
        stem (as the SDK does); a URL's is left to the service.

        :param url: what the service fetches: the source URL, or the upload URL the file
            was sent to.
        """
        return {
            "url": url,
            "name": self.name if self.is_url else self.display_name,
            "description": self.description,
            "callback_url": self.callback_url,
            "media_type": self.media_type,
        }

    def identity(self) -> dict[str, Any]:
        """What identifies this request for the retry fingerprint (JSON primitives)."""
        return {
            "source": self.uri,
            "name": self.name,
            "description": self.description,
            "media_type": self.media_type,
            "callback_url": self.callback_url,
            "collection_id": self.collection_id,
        }


def _language_code(value: Any) -> str:
    text = _require_str("language_code", value)
    if not _LANGUAGE_CODE_RE.fullmatch(text):
        raise VideoDBValidationError(
            "language_code", value, "looks like 'en', 'hi' or 'en_us' (letters, optional region)"
        )
    return text


@dataclass(frozen=True)
class SpokenIndexRequest:
    """A spoken-word index job (``POST /video/{id}/index``), every field checked.

    :param video_id: the video, ``m-...``.
    :param language_code: the spoken language, ``en``, ``en_us``...; ``None``: the
        service's default.
    :param segmentation_type: ``sentence`` or ``llm``.
    :param force: index again even when an index exists.
    :param callback_url: an http(s) URL the service POSTs the result to.
    :param collection_id: the video's collection (``None``: the connection's).
    """

    video_id: str
    language_code: str | None = None
    segmentation_type: str = "sentence"
    force: bool = False
    callback_url: str | None = None
    collection_id: str | None = None

    def __post_init__(self) -> None:
        checked = {
            "video_id": validate_video_id(self.video_id),
            "language_code": _optional(self.language_code, _language_code),
            "segmentation_type": _one_of(
                "segmentation_type", self.segmentation_type, SEGMENTATION_TYPES
            ),
            "force": validate_bool("force", self.force),
            "callback_url": _optional(self.callback_url, validate_callback_url),
            "collection_id": _optional(self.collection_id, validate_collection_id),
        }
        _store_checked(self, checked)

    def body(self) -> dict[str, Any]:
        """What the SDK's ``index_spoken_words`` sends."""
        return {
            "index_type": "spoken_word",
            "language_code": self.language_code,
            "segmentation_type": self.segmentation_type,
            "force": self.force,
            "callback_url": self.callback_url,
        }

    def identity(self) -> dict[str, Any]:
        """What identifies this request for the retry fingerprint (JSON primitives)."""
        return dataclasses.asdict(self)


def _config_number(
    field: str, value: Any, *, integer: bool = False, minimum: float = 0.0, strict: bool = True
) -> float | int:
    if integer:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise VideoDBValidationError(field, value, f"must be an integer >= {minimum:g}")
        if value > MAX_FRAME_COUNT:
            raise VideoDBValidationError(field, value, f"must be at most {MAX_FRAME_COUNT}")
        return int(value)
    number = _finite_number(field, value)
    if number < minimum or (strict and number == minimum):
        raise VideoDBValidationError(
            field, value, f"must be {'greater than' if strict else 'at least'} {minimum:g}"
        )
    return value if isinstance(value, int) else number


def parse_extraction_config(value: Any, extraction_type: str) -> dict[str, Any]:
    """A scene index's ``extraction_config``: only the keys its extraction type documents.

    * ``time``: ``time`` seconds > 0, ``frame_count`` >= 1, ``select_frames`` a non-empty
      list of ``first``/``middle``/``last``;
    * ``shot``: ``threshold`` a number >= 0, ``frame_count`` >= 1;
    * ``transcript``: ``segmenter`` (``word``/``sentence``/``time``), ``segmentation_value``
      a number > 0.

    A JSON string is accepted (what templating yields); ``None`` is ``{}`` (the SDK's default).

    :param value: the config as given.
    :param extraction_type: the checked extraction type.
    """
    field = "extraction_config"
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise VideoDBValidationError(
                field, value, "a string config must be a JSON object, e.g. '{\"time\": 10}'"
            ) from None
    if not isinstance(value, dict):
        raise VideoDBValidationError(
            field, value, f"must be a dict (or its JSON), not {type(value).__name__}"
        )
    allowed = _EXTRACTION_CONFIG_KEYS[extraction_type]
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise VideoDBValidationError(
            field,
            value,
            f"unknown keys {unknown} for extraction_type {extraction_type!r}; "
            f"allowed: {sorted(allowed)}",
        )
    config: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{field}.{key}"
        if key == "frame_count":
            config[key] = _config_number(name, item, integer=True, minimum=1)
        elif key in ("time", "segmentation_value"):
            config[key] = _config_number(name, item)
        elif key == "threshold":
            config[key] = _config_number(name, item, strict=False)
        elif key == "segmenter":
            config[key] = validate_segmenter(item, name)
        else:  # select_frames
            if (
                not isinstance(item, list)
                or not item
                or any(not isinstance(f, str) or f not in _FRAME_POSITIONS for f in item)
            ):
                raise VideoDBValidationError(
                    name, item, f"must be a non-empty list of {sorted(_FRAME_POSITIONS)}"
                )
            config[key] = list(item)
    return config


@dataclass(frozen=True)
class SceneIndexRequest:
    """A scene index job (``POST /video/{id}/index/scene``), every field checked.

    :param video_id: the video, ``m-...``.
    :param extraction_type: ``shot``, ``time`` or ``transcript`` (``shot_based`` and
        ``time_based``, the SDK's names, are accepted too).
    :param extraction_config: the extraction's settings (see
        :func:`parse_extraction_config`), a dict or its JSON.
    :param prompt: what to describe in each scene.
    :param model_name: ``basic``, ``pro`` or ``ultra``; ``None``: the service's default.
    :param name: the index's name.
    :param callback_url: an http(s) URL the service POSTs the result to.
    :param collection_id: the video's collection (``None``: the connection's).
    """

    video_id: str
    extraction_type: str = "shot"
    extraction_config: Any = None
    prompt: str | None = None
    model_name: str | None = None
    name: str | None = None
    callback_url: str | None = None
    collection_id: str | None = None

    def __post_init__(self) -> None:
        kind = self.extraction_type
        kind = _SCENE_EXTRACTION_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
        kind = _one_of("extraction_type", kind, SCENE_EXTRACTION_TYPES)
        checked = {
            "video_id": validate_video_id(self.video_id),
            "extraction_type": kind,
            "extraction_config": parse_extraction_config(self.extraction_config, kind),
            "prompt": _optional(self.prompt, validate_prompt),
            "model_name": _optional(self.model_name, validate_model_name),
            "name": _optional(self.name, validate_name),
            "callback_url": _optional(self.callback_url, validate_callback_url),
            "collection_id": _optional(self.collection_id, validate_collection_id),
        }
        _store_checked(self, checked)

    def body(self) -> dict[str, Any]:
        """What the SDK's ``index_scenes`` sends (no pre-made scenes, no sandbox)."""
        return {
            "extraction_type": self.extraction_type,
            "extraction_config": dict(self.extraction_config),
            "prompt": self.prompt,
            "metadata": {},
            "model_name": self.model_name,
            "model_config": None,
            "name": self.name,
            "scenes": None,
            "callback_url": self.callback_url,
        }

    def identity(self) -> dict[str, Any]:
        """What identifies this request for the retry fingerprint (JSON primitives)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SearchRequest:
    """A legacy search (``POST /video/{id}/search`` or ``/collection/{cid}/search``).

    :param query: what to find, in words.
    :param video_id: the video to search; ``None``: the whole collection.
    :param collection_id: the collection (``None``: the hook's or the connection's).
    :param search_type: ``semantic``, ``keyword`` or ``scene`` (the last two: one video only,
        as in the SDK).
    :param index_type: ``spoken_word`` or ``scene``.
    :param scene_index_id: the scene index to search (required for scene search).
    :param score_threshold: the lowest score kept, 0 to 100 (semantic default: 0.2).
    :param result_threshold: how many results at most, 1 to 1000 (semantic default: 5).
    """

    query: str
    video_id: str | None = None
    collection_id: str | None = None
    search_type: str = "semantic"
    index_type: str = "spoken_word"
    scene_index_id: str | None = None
    score_threshold: float | None = None
    result_threshold: int | None = None

    def __post_init__(self) -> None:
        checked = {
            "query": validate_prompt(self.query, "query"),
            "video_id": _optional(self.video_id, validate_video_id),
            "collection_id": _optional(self.collection_id, validate_collection_id),
            "search_type": _one_of("search_type", self.search_type, SEARCH_TYPES),
            "index_type": _one_of("index_type", self.index_type, INDEX_TYPES),
            "scene_index_id": _optional(self.scene_index_id, validate_scene_index_id),
            "score_threshold": _optional(self.score_threshold, _score_threshold),
            "result_threshold": _optional(self.result_threshold, _result_threshold),
        }
        _store_checked(self, checked)
        if self.search_type == "scene" and self.index_type != "scene":
            raise VideoDBValidationError(
                "index_type", self.index_type, "scene search needs index_type 'scene'"
            )
        if self.index_type == "scene" and self.scene_index_id is None:
            raise VideoDBValidationError(
                "scene_index_id", None, "a scene search needs the scene index to search"
            )
        if self.index_type != "scene" and self.scene_index_id is not None:
            raise VideoDBValidationError(
                "scene_index_id",
                self.scene_index_id,
                "only a scene search (index_type 'scene') uses a scene index",
            )
        if self.video_id is None and self.search_type != "semantic":
            raise VideoDBValidationError(
                "search_type",
                self.search_type,
                "a collection is searched semantically only (give a video_id)",
            )

    def path_for(self, collection: str) -> str:
        """The API path: the video's search, or the collection's.

        :param collection: the collection to search when no ``video_id`` is set (the
            request's ``collection_id`` wins over it).
        """
        if self.video_id is not None:
            return f"/video/{self.video_id}/search"
        return f"/collection/{self.collection_id or validate_collection_id(collection)}/search"

    @property
    def path(self) -> str:
        """:meth:`path_for` the request's own collection; a collection search with no
        ``collection_id`` needs the caller's (:meth:`path_for`)."""
        if self.video_id is None and self.collection_id is None:
            raise VideoDBValidationError(
                "collection_id", None, "a collection search needs a collection (path_for)"
            )
        return self.path_for(self.collection_id or "default")

    def body(self) -> dict[str, Any]:
        """The legacy search body, with the SDK's semantic defaults."""
        score, results = self.score_threshold, self.result_threshold
        if self.search_type == "semantic":
            score = DEFAULT_SEMANTIC_SCORE_THRESHOLD if score is None else score
            results = DEFAULT_SEMANTIC_RESULT_THRESHOLD if results is None else results
        body: dict[str, Any] = {
            "search_type": self.search_type,
            "index_type": self.index_type,
            "query": self.query,
            "score_threshold": score,
            "result_threshold": results,
            "dynamic_score_percentage": None,
            "filter": [],
        }
        if self.scene_index_id is not None:
            body["scene_index_id"] = self.scene_index_id
        return body

    def identity(self) -> dict[str, Any]:
        """What identifies this request for the retry fingerprint (JSON primitives)."""
        return dataclasses.asdict(self)


def _score_threshold(value: Any) -> float:
    score = _finite_number("score_threshold", value)
    if not 0 <= score <= MAX_SCORE_THRESHOLD:
        raise VideoDBValidationError(
            "score_threshold", value, f"must be from 0 to {MAX_SCORE_THRESHOLD:g}"
        )
    return score


def _result_threshold(value: Any) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= MAX_RESULT_THRESHOLD
    ):
        raise VideoDBValidationError(
            "result_threshold", value, f"must be an integer from 1 to {MAX_RESULT_THRESHOLD}"
        )
    return value
