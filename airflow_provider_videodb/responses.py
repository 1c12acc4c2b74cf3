"""THE one place that decides what a VideoDB response means.

Both the sync hook (requests) and the async client (aiohttp) hand their raw answer — status,
headers, body bytes — or their transport failure to this module, and get back either the
parsed payload or a typed :class:`~airflow_provider_videodb.exceptions.VideoDBAPIError`
whose ``retryable``/``retry_after`` drive the retry policy (:func:`may_retry`).
"""

from __future__ import annotations

import email.utils
import fnmatch
import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import urlsplit

from airflow_provider_videodb.exceptions import (
    VideoDBAPIError,
    VideoDBAuthenticationError,
    VideoDBBadRequestError,
    VideoDBConfigError,
    VideoDBError,
    VideoDBInsufficientCreditsError,
    VideoDBNotFoundError,
    VideoDBPermissionError,
    VideoDBRateLimitError,
    VideoDBResponseError,
    VideoDBServerError,
    VideoDBTransportError,
    VideoDBUnknownJobStatusError,
)
from airflow_provider_videodb.validation import is_media_id, is_safe_id, is_video_id

#: Statuses that are transient by nature and retried (budget permitting).
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
#: Statuses at which a non-idempotent request (POST /clip) was surely not taken.
NOT_TAKEN_STATUSES = frozenset({429, 503})
#: POST paths that only return a URL or read the index, with no side effect: repeating
#: them is safe (stream, compile, and the legacy and V2 searches of a video or a
#: collection). Register-upload, index, scene-index and transcription POSTs start jobs on
#: the service (billable, like ``/clip``): they are NOT here, so they are only retried
#: where the service cannot have taken them (:func:`may_retry`).
IDEMPOTENT_POST_PATTERNS = (
    "/video/*/stream",
    "/compile",
    "/video/*/search",
    "/video/*/search/v2",
    "/collection/*/search",
    "/collection/*/search/v2",
)
#: Job statuses that mean "still running": keep polling.
NON_TERMINAL_STATUSES = frozenset({"processing", "in progress", "pending", "queued"})
#: Job statuses that end the wait as a success (when the payload also says so, see
#: :func:`parse_job_status`) or as a failure. Any other status is not understood.
SUCCESS_STATUSES = frozenset({"done", "complete", "completed"})
FAILURE_STATUSES = frozenset({"failed", "error"})
#: Longest URL from the service that is kept (a player or stream URL).
MAX_SERVICE_URL_CHARS = 8192
#: How much of an unusable value an error message quotes.
_PREVIEW_CHARS = 60
_MESSAGE_LIMIT = 300
#: Longest answer body read from the service (decoded bytes); a longer one is refused
#: while it is read (Content-Length up front, then counted), never held whole.
MAX_ANSWER_BYTES = 32 * 1024 * 1024

_STATUS_CLASSES: dict[int, type[VideoDBAPIError]] = {
    400: VideoDBBadRequestError,
    401: VideoDBAuthenticationError,
    402: VideoDBInsufficientCreditsError,
    403: VideoDBPermissionError,
    404: VideoDBNotFoundError,
    429: VideoDBRateLimitError,
}


@dataclass(frozen=True)
class RequestInfo:
    """What was asked, for error messages and the retry decision.

    ``job_poll`` marks a read of an async-response URL, whose terminal payload may carry
    ``success: false`` on HTTP 200 to say the *job* failed (not the request).
    """

    method: str
    path: str
    video_id: str | None = None
    job_poll: bool = False

    @property
    def idempotent(self) -> bool:
        if self.method.upper() != "POST":
            return True
        path = self.path.rstrip("/")
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in IDEMPOTENT_POST_PATTERNS)


def poll_request_info(output_url: str) -> RequestInfo:
    """RequestInfo for polling an async-response URL (path only: never host or query)."""
    return RequestInfo("GET", urlsplit(output_url).path or "/", job_poll=True)


# -- errors ---------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; requests/aiohttp mappings are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def parse_retry_after(value: str | None, *, cap: float, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds (delta or HTTP date), clamped to ``[0, cap]``."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), cap)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "(empty body)"


def _error_class(status: int) -> type[VideoDBAPIError]:
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return VideoDBServerError
    return VideoDBAPIError


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _http_error(
    info: RequestInfo,
    status: int,
    headers: Mapping[str, str],
    payload: Any,
    body: bytes,
    retry_max_wait: float,
) -> VideoDBAPIError:
    if isinstance(payload, dict):
        message = _str_or_none(payload.get("message")) or _str_or_none(payload.get("error"))
        error_code = _str_or_none(payload.get("error_code"))
    else:
        message, error_code = None, None
    if not message:
        message = body.decode("utf-8", "replace").strip() or _reason_phrase(status)
    retry_after = None
    if status in RETRYABLE_STATUSES:
        retry_after = parse_retry_after(_header(headers, "Retry-After"), cap=retry_max_wait)
    return _error_class(status)(
        info.method,
        info.path,
        status,
        _short(message),
        error_code,
        info.video_id,
        status in RETRYABLE_STATUSES,
        retry_after,
    )


def response_error(
    info: RequestInfo | None,
    message: str,
    *,
    status: int | None = 200,
    error_code: str | None = None,
    kind: type[VideoDBResponseError] = VideoDBResponseError,
) -> VideoDBResponseError:
    """An answer we cannot use. Retryable: a well-behaved service answers properly next time."""
    info = info or RequestInfo("", "")
    return kind(
        info.method, info.path, status, _short(message), error_code, info.video_id, True, None
    )


def interpret_response(
    info: RequestInfo,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    retry_max_wait: float,
) -> dict[str, Any]:
    """Return the parsed JSON object of a successful answer, or raise the typed error.

    ``body`` is at most :data:`MAX_ANSWER_BYTES` long (the transports refuse longer answers
    while reading, with :func:`answer_too_large_error`).
    """
    if len(body) > MAX_ANSWER_BYTES:
        raise answer_too_large_error(info, len(body), status=status)
    try:
        payload: Any = json.loads(body) if body else None
    except RecursionError:  # JSON nested deeper than the interpreter's stack
        payload = None
        if 200 <= status < 300:
            raise response_error(
                info, "malformed JSON in the answer: nested too deeply", status=status
            ) from None
    except (ValueError, UnicodeDecodeError):
        payload = None
        if 200 <= status < 300:
            raise response_error(
                info, f"malformed JSON in the answer: {body[:80]!r}", status=status
            ) from None
    if not 200 <= status < 300:
        raise _http_error(info, status, headers, payload, body, retry_max_wait)
    if not isinstance(payload, dict):
        raise response_error(
            info, f"expected a JSON object, got {type(payload).__name__}", status=status
        )
    if payload.get("success") is False and not (info.job_poll and "status" in payload):
        raise response_error(
            info,
            _str_or_none(payload.get("message")) or "the service answered success: false",
            status=status,
            error_code=_str_or_none(payload.get("error_code")),
        )
    return payload


def transport_error(
    info: RequestInfo,
    exc: BaseException,
    *,
    sent: bool,
    retryable: bool = True,
    hide: str = "",
) -> VideoDBTransportError:
    """No HTTP answer. ``sent=False`` only when the request surely never left.

    ``retryable=False`` for failures that repeat identically (e.g. a TLS certificate error).
    ``hide``: a secret the library's text may quote (a presigned URL's query), removed.
    """
    text = str(exc).replace(hide, "<hidden>") if hide else str(exc)
    detail = _short(text)
    return _no_answer(info, type(exc).__name__, detail, sent=sent, retryable=retryable)


def _no_answer(
    info: RequestInfo, what: str, detail: str, *, sent: bool, retryable: bool
) -> VideoDBTransportError:
    where = "before the request was sent" if not sent else "after the request was sent"
    return VideoDBTransportError(
        info.method,
        info.path,
        f"({what} {where}{': ' + detail if detail else ''})",
        sent=sent,
        video_id=info.video_id,
        retryable=retryable,
    )


def deadline_error(info: RequestInfo, seconds: float, *, sent: bool) -> VideoDBTransportError:
    """The request's deadline passed before its whole answer arrived (a timeout).

    ``sent`` as in :func:`transport_error`: a deadline hit while reading is after sending,
    so a non-idempotent POST is not blindly repeated (:func:`may_retry`).
    """
    detail = f"no complete answer within the deadline of {seconds:.3g} s"
    return _no_answer(info, "timeout", detail, sent=sent, retryable=True)


def answer_too_large_error(
    info: RequestInfo, size: int | None, *, status: int | None = 200
) -> VideoDBResponseError:
    """An answer longer than :data:`MAX_ANSWER_BYTES` (``size`` if known), refused unread.

    Retryable like any other unusable answer (for the requests :func:`may_retry` allows).
    """
    told = f" ({size} bytes)" if size is not None else ""
    return response_error(
        info,
        f"the answer{told} is larger than the {MAX_ANSWER_BYTES} bytes "
        f"({MAX_ANSWER_BYTES // (1024 * 1024)} MiB) accepted",
        status=status,
    )


def request_encoding_error(info: RequestInfo) -> VideoDBConfigError:
    """The HTTP stack refused to build the request (a header or the URL).

    The only value that varies in a request's headers is the API key, so the library's own
    text (which quotes the header) is never kept: callers raise this ``from None``. Not
    retried: it would fail the same way every time.
    """
    return VideoDBConfigError(
        f"VideoDB {info.method} {info.path}: the request headers or URL could not be "
        "encoded (check the connection's password and host); nothing was sent"
    )


def may_retry(info: RequestInfo, error: VideoDBError) -> bool:
    """May this failed request be sent again?

    Transient failures are retried; 400/401/402/403/404 never. A non-idempotent POST
    (``/clip`` starts a billable job) only where the service cannot have taken it:
    429, 503, or a transport error before the request was sent.
    """
    if not isinstance(error, VideoDBAPIError) or not error.retryable:
        return False
    if info.idempotent:
        return True
    if isinstance(error, VideoDBTransportError):
        return not error.sent
    return error.status in NOT_TAKEN_STATUSES


# -- payload shapes -------------------------------------------------------------------------


def _preview(value: Any) -> str:
    """A short quote of an unusable value for an error message (never a whole long value)."""
    text = repr(value)
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 3] + "..."


def _data(payload: Mapping[str, Any], info: RequestInfo | None) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise response_error(info, f"expected a JSON object, got {type(payload).__name__}")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise response_error(info, f"expected a 'data' object, got {type(data).__name__}")
    return data


def _float(value: Any, what: str, info: RequestInfo | None) -> float:
    """Numbers may arrive as numeric strings ("191.146667")."""
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise response_error(info, f"{what} is not a number: {_preview(value)}") from None
    if not math.isfinite(number):
        raise response_error(info, f"{what} is not finite: {_preview(value)}")
    return number


def _required_str(data: Mapping[str, Any], key: str, info: RequestInfo | None) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise response_error(info, f"the answer has no {key!r}")
    return value


def service_url(value: Any, field: str, info: RequestInfo | None = None) -> str:
    """A URL the service sent (a player or stream URL), checked before anyone may click it.

    Kept only when it is an absolute ``http``/``https`` URL with a host, at most
    :data:`MAX_SERVICE_URL_CHARS` long, free of whitespace, control characters and
    backslashes. Anything else (``javascript:``, ``data:``, ``file:``, a relative path, ...)
    is a :class:`VideoDBResponseError` naming ``field`` and quoting only the start of the
    value.
    """
    if not isinstance(value, str) or not value:
        raise response_error(info, f"{field} is not a URL: {_preview(value)}")
    problem = None
    if len(value) > MAX_SERVICE_URL_CHARS:
        problem = f"is {len(value)} characters long (at most {MAX_SERVICE_URL_CHARS})"
    elif any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in value):
        problem = "contains whitespace, control characters or backslashes"
    else:
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:
            parts, host = None, None
        if parts is None:
            problem = "is not a valid URL"
        elif parts.scheme.lower() not in ("http", "https"):
            problem = "is not an http(s) URL"
        elif not host:
            problem = "has no host"
    if problem:
        raise response_error(info, f"{field} from the service {problem}: {_preview(value)}")
    return value


def is_service_url(value: Any) -> bool:
    """Whether :func:`service_url` would keep ``value``."""
    try:
        service_url(value, "url")
    except VideoDBResponseError:
        return False
    return True


def _optional_service_url(data: Mapping[str, Any], key: str, info: RequestInfo | None) -> Any:
    """``data[key]`` checked with :func:`service_url`; None when absent, null or empty."""
    value = data.get(key)
    if value is None or value == "":
        return None
    return service_url(value, key, info)


@dataclass(frozen=True)
class AsyncJob:
    job_id: str
    output_url: str


def parse_async_start(payload: Mapping[str, Any], info: RequestInfo | None = None) -> AsyncJob:
    data = _data(payload, info)
    return AsyncJob(_required_str(data, "id", info), _required_str(data, "output_url", info))


@dataclass(frozen=True)
class JobStatus:
    """What one poll said. ``done`` always carries a ``data`` object (possibly empty)."""

    state: Literal["processing", "done", "failed"]
    percentage: float | None = None
    data: dict[str, Any] | None = None
    message: str | None = None
    error_code: str | None = None


def parse_job_status(payload: Mapping[str, Any], info: RequestInfo | None = None) -> JobStatus:
    """What one poll of an async-response URL says. Only a known success is a success.

    * Running: a status in :data:`NON_TERMINAL_STATUSES` (``data.percentage`` is read for
      progress only; a bad one is ignored).
    * Terminal, in both shapes the service and the local server use: flat
      ``{"success": ..., "status": "done", "data": {...}}`` and wrapped
      ``{"status": "done", "response": {"success": ..., "data": {...}}}`` (the wrapped
      ``success`` decides; the outer one stands in when the inner one is absent).
    * Success: a status in :data:`SUCCESS_STATUSES` with ``success: true`` and a ``data``
      object, or with no ``success`` flag at all but a ``data`` object.
    * Failure: a status in :data:`FAILURE_STATUSES` (whatever ``success`` says), or a success
      status with ``success: false``, or with neither a ``success`` flag nor ``data``.
    * Anything else is not understood and raises :class:`VideoDBResponseError` naming what
      arrived: an unknown status (the SDKs would take it as done with an empty result), no
      status, a ``success`` that is not a boolean, a ``response`` or ``data`` that is not an
      object. Never an empty success.
    """
    if not isinstance(payload, Mapping):
        raise response_error(info, f"expected a job status object, got {type(payload).__name__}")
    raw_status = payload.get("status")
    if not isinstance(raw_status, str) or not raw_status.strip():
        raise response_error(info, f"the job answer has no status (got {_preview(raw_status)})")
    status = " ".join(raw_status.split()).lower()
    if status in NON_TERMINAL_STATUSES:
        data = payload.get("data")
        percentage = None
        if isinstance(data, dict) and data.get("percentage") is not None:
            try:
                percentage = min(max(_float(data["percentage"], "percentage", info), 0.0), 100.0)
            except VideoDBResponseError:
                percentage = None  # progress is informative only
        return JobStatus("processing", percentage)
    if status not in SUCCESS_STATUSES and status not in FAILURE_STATUSES:
        raise response_error(
            info,
            f"unknown job status {_preview(raw_status)}: not one that means running "
            f"({', '.join(sorted(NON_TERMINAL_STATUSES))}), done "
            f"({', '.join(sorted(SUCCESS_STATUSES))}) or failed "
            f"({', '.join(sorted(FAILURE_STATUSES))})",
            kind=VideoDBUnknownJobStatusError,  # ends a wait at once
        )
    inner = payload.get("response")
    if inner is not None and not isinstance(inner, dict):
        raise response_error(info, f"job answer 'response' is not an object: {_preview(inner)}")
    body: Mapping[str, Any] = inner if inner is not None else payload
    success = body.get("success")
    if success is None:
        success = payload.get("success")
    if success is not None and not isinstance(success, bool):
        raise response_error(info, f"job answer 'success' is not a boolean: {_preview(success)}")
    message = _str_or_none(body.get("message") or payload.get("message"))
    error_code = _str_or_none(body.get("error_code") or payload.get("error_code"))
    data = body.get("data")
    if status in FAILURE_STATUSES or success is False or (success is None and data is None):
        if status in FAILURE_STATUSES or success is False:
            reason = f"job ended with status {status!r}"
        else:
            reason = f"job ended with status {status!r} but neither success nor data"
        return JobStatus("failed", None, None, message or reason, error_code)
    if not isinstance(data, dict):
        raise response_error(
            info, f"job ended {status!r} but its 'data' is not an object: {_preview(data)}"
        )
    return JobStatus("done", 100.0, data, message)


@dataclass(frozen=True)
class Shot:
    """One shot of a clip or search result: ``[start, end)`` seconds of ``video_id``
    (``None`` when the result did not say; a collection search spans several videos)."""

    start: float
    end: float
    text: str = ""
    score: float | None = None
    video_id: str | None = None

    def to_dict(self, *, with_video: bool = False) -> dict[str, Any]:
        """``{"start", "end", "text", "score"}`` (a clip task's XCom shape), and
        ``"video_id"`` too when ``with_video`` and it is known.

        :param with_video: add the shot's video (results that span several videos).
        """
        shot = {"start": self.start, "end": self.end, "text": self.text, "score": self.score}
        if with_video and self.video_id is not None:
            shot["video_id"] = self.video_id
        return shot


def _iter_docs(
    data: Mapping[str, Any], info: RequestInfo | None
) -> Iterable[tuple[str | None, Mapping[str, Any]]]:
    """``(video_id, doc)`` of a clip or search result; any other shape is a
    :class:`VideoDBResponseError`.

    ``results`` must be a list (a result with no ``results`` at all is not an empty one),
    each result an object whose ``docs`` (absent or null: none) is a list of objects, and
    whose ``video_id`` (absent or null: unknown) follows the video id rule.
    """
    if not isinstance(data, Mapping):
        raise response_error(info, f"clip result is not an object: {_preview(data)}")
    results = data.get("results")
    if not isinstance(results, list):
        raise response_error(info, f"clip result 'results' is not a list: {_preview(results)}")
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            raise response_error(info, f"clip result results[{index}] is not an object")
        video_id = result.get("video_id")
        if video_id is not None and not is_video_id(video_id):
            raise response_error(
                info,
                f"clip result results[{index}].video_id is not a video id: {_preview(video_id)}",
            )
        docs = result.get("docs")
        if docs is None:
            continue
        if not isinstance(docs, list):
            raise response_error(
                info, f"clip result results[{index}].docs is not a list: {_preview(docs)}"
            )
        for number, doc in enumerate(docs):
            if not isinstance(doc, dict):
                raise response_error(
                    info,
                    f"clip result results[{index}].docs[{number}] is not an object: "
                    f"{_preview(doc)}",
                )
            yield video_id, doc


def parse_clip_shots(data: Mapping[str, Any], info: RequestInfo | None = None) -> list[Shot]:
    """Shots of a clip or search result (``data.results[].docs[]``), in the order given,
    each with its result's ``video_id`` (when the result names one).

    This checks the service's answer (never with the user-input validators): start and end
    finite numbers (numeric strings accepted), start not negative, a score (if any) a
    finite number, a video id that follows the id rule; anything else raises
    :class:`VideoDBResponseError`. Degenerate shots (end <= start) are dropped: they cannot
    be streamed.
    """
    shots = []
    for video_id, doc in _iter_docs(data, info):
        start = _float(doc.get("start"), "shot start", info)
        end = _float(doc.get("end"), "shot end", info)
        if start < 0:
            raise response_error(info, f"shot start from the service is negative: {start:g}")
        score = doc.get("score")
        text = doc.get("text")
        if end > start:
            shots.append(
                Shot(
                    start,
                    end,
                    text if isinstance(text, str) else "" if text is None else str(text),
                    None if score is None else _float(score, "shot score", info),
                    video_id,
                )
            )
    return shots


def parse_video(video: Mapping[str, Any], info: RequestInfo | None = None) -> dict[str, Any]:
    """A video object: ``length`` a float (it may be a numeric string) >= 0 or absent, and
    ``stream_url``/``player_url`` checked with :func:`service_url` (None when absent)."""
    return _media_object(video, info, "video", ("stream_url", "player_url"))


def parse_video_list(payload: Any, info: RequestInfo) -> list[dict[str, Any]]:
    """The ``videos`` of a listing (``GET /video``), each read by :func:`parse_video`.

    :param payload: the decoded answer.
    :param info: the request, for messages.
    """
    videos = data_of(payload, info).get("videos")
    if not isinstance(videos, list):
        raise response_error(info, f"'videos' is not a list: {type(videos).__name__}")
    return [parse_video(video, info) for video in videos]


def _media_object(
    media: Any, info: RequestInfo | None, what: str, url_keys: Iterable[str]
) -> dict[str, Any]:
    """A copy of a media object with ``length`` a float >= 0 (when present) and each of
    ``url_keys`` that is present checked with :func:`service_url` (null or empty: None)."""
    if not isinstance(media, Mapping):
        raise response_error(info, f"expected a {what} object, got {type(media).__name__}")
    result = dict(media)
    if result.get("length") is not None:
        length = _float(result["length"], f"{what} length", info)
        if length < 0:
            raise response_error(info, f"{what} length from the service is negative: {length:g}")
        result["length"] = length
    for key in url_keys:
        if key in result:
            result[key] = _optional_service_url(result, key, info)
    return result


def parse_stream(payload: Mapping[str, Any], info: RequestInfo | None = None) -> dict[str, Any]:
    """``{"stream_url", "player_url"}`` of a stream/compile answer, both checked with
    :func:`service_url` (``player_url`` may be absent: None)."""
    data = _data(payload, info)
    return {
        "stream_url": service_url(_required_str(data, "stream_url", info), "stream_url", info),
        "player_url": _optional_service_url(data, "player_url", info),
    }


def data_of(payload: Mapping[str, Any], info: RequestInfo | None = None) -> dict[str, Any]:
    """The ``data`` object of a success envelope."""
    return _data(payload, info)


# -- the rest of a pipeline: submits, uploads, indexes, transcripts ------------------------


@dataclass(frozen=True)
class Started:
    """What a submit answered: a job to wait for, or the result at once (exactly one)."""

    job: AsyncJob | None = None
    data: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if (self.job is None) == (self.data is None):
            raise ValueError("Started holds exactly one of job and data")


def parse_started(payload: Mapping[str, Any], info: RequestInfo | None = None) -> Started:
    """A submit's answer: an async start (``status: processing``, or ``request_type:
    async``, with ``data.id`` and ``data.output_url``) is a job; any other success is the
    result (its ``data`` object). Used by every submit (upload, indexes, clip).
    """
    if not isinstance(payload, Mapping):
        raise response_error(info, f"expected a JSON object, got {type(payload).__name__}")
    status = payload.get("status")
    running = isinstance(status, str) and " ".join(status.split()).lower() == "processing"
    if running or payload.get("request_type") == "async":
        return Started(job=parse_async_start(payload, info))
    return Started(data=_data(payload, info))


#: How the service says a spoken-word index exists already (its message; no error code is
#: documented, so both are read).
_ALREADY_INDEXED_CODES = frozenset({"already_indexed", "index_exists", "already_exists"})
_ALREADY_INDEXED_WORDS = re.compile(r"\balready (?:been )?indexed\b|\bindex\b.*\balready exists\b")


def is_already_indexed(error: BaseException) -> bool:
    """Whether a failed index request means "this video is indexed already" (HTTP 400 with
    ``error_code`` ``already_indexed`` or a message that says so).

    :param error: what the index request raised.
    """
    if not isinstance(error, VideoDBBadRequestError):
        return False
    if (error.error_code or "").lower() in _ALREADY_INDEXED_CODES:
        return True
    return _ALREADY_INDEXED_WORDS.search((error.message or "").lower()) is not None


#: How the service says a search matched nothing: HTTP 400 "No results found" (the SDKs
#: raise it as an invalid request); for a pipeline it is an empty result, not an error.
_NO_RESULTS_CODES = frozenset({"no_results", "no_result"})
_NO_RESULTS_WORDS = re.compile(r"\bno results? found\b")


def is_no_results(error: BaseException) -> bool:
    """Whether a failed search request means "nothing matched" (HTTP 400 with
    ``error_code`` ``no_results`` or a message that says so).

    :param error: what the search request raised.
    """
    if not isinstance(error, VideoDBBadRequestError):
        return False
    if (error.error_code or "").lower() in _NO_RESULTS_CODES:
        return True
    return _NO_RESULTS_WORDS.search((error.message or "").lower()) is not None


#: Which kind of media an id is, by its prefix.
_MEDIA_KINDS = (("img-", "image"), ("a-", "audio"), ("m-", "video"))


def parse_uploaded_media(
    data: Mapping[str, Any], info: RequestInfo | None = None
) -> dict[str, Any]:
    """An uploaded media object (the register answer's ``data``, or its job's result).

    ``id`` must be a video, audio or image id (``m-``/``a-``/``img-``); ``name`` a string
    (None when absent); ``length`` a float >= 0 for video and audio; the URLs
    (``stream_url``, ``player_url``, ``thumbnail_url``, ``url``) checked with
    :func:`service_url`. ``media_type`` is added from the id.
    """
    if not isinstance(data, Mapping):
        raise response_error(info, f"expected a media object, got {type(data).__name__}")
    media_id = data.get("id")
    if not is_media_id(media_id):
        raise response_error(
            info, f"the uploaded media's id is not an m-/a-/img- id: {_preview(media_id)}"
        )
    kind = next(kind for prefix, kind in _MEDIA_KINDS if str(media_id).startswith(prefix))
    result = _media_object(data, info, kind, ("stream_url", "player_url", "thumbnail_url", "url"))
    name = result.get("name")
    if name is not None and not isinstance(name, str):
        raise response_error(info, f"the uploaded {kind}'s name is not a string: {_preview(name)}")
    result["media_type"] = kind
    return result


def _scene_index_id(value: Any, what: str, info: RequestInfo | None) -> str:
    if not is_safe_id(value):
        raise response_error(info, f"{what} is not a safe scene index id: {_preview(value)}")
    return str(value)


def parse_scene_index_id(data: Mapping[str, Any], info: RequestInfo | None = None) -> str:
    """The ``scene_index_id`` of a scene index answer (or of its job's result)."""
    if not isinstance(data, Mapping):
        raise response_error(info, f"expected a scene index object, got {type(data).__name__}")
    return _scene_index_id(data.get("scene_index_id"), "scene_index_id", info)


def _list_of_objects(data: Mapping[str, Any], key: str, info: RequestInfo | None) -> list[dict]:
    if not isinstance(data, Mapping):
        raise response_error(info, f"expected an object with {key!r}, got {type(data).__name__}")
    items = data.get(key)
    if not isinstance(items, list):
        raise response_error(info, f"{key!r} is not a list: {_preview(items)}")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise response_error(info, f"{key}[{index}] is not an object: {_preview(item)}")
    return items


def _optional_text(item: Mapping[str, Any], key: str, what: str, info: RequestInfo | None) -> Any:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise response_error(info, f"{what} {key} is not a string: {_preview(value)}")
    return value


def parse_scene_indexes(data: Mapping[str, Any], info: RequestInfo | None = None) -> list[dict]:
    """The scene indexes of a video (``data.scene_indexes``): each with ``scene_index_id``
    (a safe id), ``name`` and ``status`` (strings, None when absent), other keys kept."""
    indexes = []
    for index, item in enumerate(_list_of_objects(data, "scene_indexes", info)):
        what = f"scene_indexes[{index}]"
        indexes.append(
            {
                **item,
                "scene_index_id": _scene_index_id(item.get("scene_index_id"), what, info),
                "name": _optional_text(item, "name", what, info),
                "status": _optional_text(item, "status", what, info),
            }
        )
    return indexes


def _timed(item: Mapping[str, Any], what: str, info: RequestInfo | None) -> dict[str, Any]:
    """A copy of ``item`` with ``start``/``end`` (when present) finite floats >= 0."""
    result = dict(item)
    for key in ("start", "end"):
        if result.get(key) is not None:
            value = _float(result[key], f"{what} {key}", info)
            if value < 0:
                raise response_error(info, f"{what} {key} from the service is negative: {value:g}")
            result[key] = value
    return result


def parse_scene_index_records(
    data: Mapping[str, Any], info: RequestInfo | None = None
) -> list[dict]:
    """The records of a scene index (``data.scene_index_records``): objects whose ``start``
    and ``end`` (when present) are floats >= 0 and ``description`` a string or None."""
    records = []
    for index, item in enumerate(_list_of_objects(data, "scene_index_records", info)):
        what = f"scene_index_records[{index}]"
        _optional_text(item, "description", what, info)
        records.append(_timed(item, what, info))
    return records


def parse_transcript(data: Mapping[str, Any], info: RequestInfo | None = None) -> dict[str, Any]:
    """A transcript: ``{"text": str, "word_timestamps": [{"start", "end", "text"}]}``.

    ``word_timestamps`` (absent: none) is a list of objects with float ``start``/``end``;
    ``text`` (absent: empty) a string; an answer with neither is not a transcript.
    """
    if not isinstance(data, Mapping):
        raise response_error(info, f"expected a transcript object, got {type(data).__name__}")
    if data.get("text") is None and data.get("word_timestamps") is None:
        raise response_error(info, "the answer has neither 'text' nor 'word_timestamps'")
    text = _optional_text(data, "text", "transcript", info) or ""
    words = []
    if data.get("word_timestamps") is not None:
        for index, item in enumerate(_list_of_objects(data, "word_timestamps", info)):
            what = f"word_timestamps[{index}]"
            word = _timed(item, what, info)
            word["text"] = _optional_text(item, "text", what, info) or ""
            words.append(word)
    return {"text": text, "word_timestamps": words}


def parse_thumbnail_url(data: Mapping[str, Any], info: RequestInfo | None = None) -> str:
    """A thumbnail's image URL: ``thumbnail_url`` (``GET .../thumbnail``) or the image
    object's ``url`` (``POST .../thumbnail``), checked with :func:`service_url`."""
    if not isinstance(data, Mapping):
        raise response_error(info, f"expected a thumbnail object, got {type(data).__name__}")
    for key in ("thumbnail_url", "url"):
        if data.get(key):
            return service_url(data[key], key, info)
    raise response_error(info, "the answer has no 'thumbnail_url' or 'url'")


# -- the upload host (a presigned URL: its query string is a credential) --------------------


def url_for_log(url: str) -> str:
    """``scheme://host/path`` of a URL, without its query or userinfo: a presigned upload
    URL carries its credentials in the query string, so only this form is ever logged or
    put in an error message.

    :param url: the URL.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    hidden = "?<hidden>" if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{hidden}"


def upload_request_info(upload_url: str) -> RequestInfo:
    """RequestInfo for the POST of a file to an upload URL (path only, no query)."""
    return RequestInfo("POST", urlsplit(upload_url).path or "/")


def parse_upload_url(data: Mapping[str, Any], info: RequestInfo | None = None) -> str:
    """The ``upload_url`` of ``GET /collection/{cid}/upload_url``: an http(s) URL, checked
    like :func:`service_url`, but an error never quotes it (it is a credential)."""
    if not isinstance(data, Mapping):
        raise response_error(info, f"expected an object, got {type(data).__name__}")
    value = data.get("upload_url")
    try:
        return service_url(value, "upload_url", info)
    except VideoDBResponseError:
        raise response_error(
            info,
            "upload_url from the service is not a usable http(s) URL (not quoted: "
            "it may carry credentials)",
        ) from None


def interpret_upload_answer(
    info: RequestInfo, status: int, headers: Mapping[str, str], *, retry_max_wait: float
) -> None:
    """The upload host's answer to the file POST: any 2xx is done; otherwise the typed error
    (429 and 502/503/504 retryable, honouring ``Retry-After``). Its body is never quoted: a
    storage host's error may echo the presigned URL's credentials."""
    if 200 <= status < 300:
        return
    raise _http_error(
        info,
        status,
        headers,
        None,
        f"the upload host answered {status} {_reason_phrase(status)}".encode(),
        retry_max_wait,
    )
