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

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_videodb.exceptions import VideoDBValidationError

MAX_TIMELINE_SEGMENTS = 1000
MAX_PROMPT_CHARS = 2000
MAX_ID_CHARS = 128
MAX_WAIT_SECONDS = 30 * 24 * 3600.0
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
    """A natural-language prompt: something visible, no control characters, bounded length.

    Empty means empty once whitespace and invisible format characters (zero-width space and
    joiners, word joiner, BOM: Unicode categories Cf/Zs/Zl/Zp) are removed. Control
    characters (category Cc) other than newline (``\n``, or ``\r\n`` as pasted from Windows)
    and tab are refused: they have no meaning in a query and corrupt logs and terminals (a
    lone ``\r`` rewrites the log line it is printed on).
    """
    value = _require_str(field, prompt)
    if len(value) > MAX_PROMPT_CHARS:
        raise VideoDBValidationError(
            field, prompt, f"is {len(value)} characters; at most {MAX_PROMPT_CHARS} allowed"
        )
    if "\x00" in value:
        raise VideoDBValidationError(field, prompt, "must not contain NUL characters")
    for ch in value.replace("\r\n", "\n"):
        if unicodedata.category(ch) == "Cc" and ch not in _PROMPT_CONTROLS_ALLOWED:
            raise VideoDBValidationError(
                field,
                prompt,
                f"must not contain control characters (found U+{ord(ch):04X}); "
                "only newline and tab are allowed",
            )
    visible = [
        ch
        for ch in value
        if not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
    ]
    if not visible:
        raise VideoDBValidationError(field, prompt, "must not be empty")
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


def validate_callback_url(callback_url: Any) -> str:
    """An absolute http(s) URL whose host is the host a reader sees.

    Refused: whitespace and control characters, backslashes (browsers and some HTTP stacks
    read ``\\`` as ``/``, so ``https://good.example\\@evil.example/`` has two readings) and
    userinfo (``https://good.example@evil.example/`` calls ``evil.example``).
    """
    value = _require_str("callback_url", callback_url)
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value):
        raise VideoDBValidationError(
            "callback_url", callback_url, "must not contain whitespace or control characters"
        )
    if "\\" in value:
        raise VideoDBValidationError("callback_url", callback_url, "must not contain '\\'")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise VideoDBValidationError("callback_url", callback_url, "is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise VideoDBValidationError("callback_url", callback_url, "must be an http(s) URL")
    if "@" in parts.netloc:
        raise VideoDBValidationError(
            "callback_url",
            callback_url,
            "must not carry user information ('user@'): the host called would not be the "
            "host a reader sees",
        )
    if not parts.hostname:
        raise VideoDBValidationError("callback_url", callback_url, "must name a host")
    return value


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
        for name, value in checked.items():
            object.__setattr__(self, name, value)

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
