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
    VideoDBError,
    VideoDBInsufficientCreditsError,
    VideoDBNotFoundError,
    VideoDBPermissionError,
    VideoDBRateLimitError,
    VideoDBResponseError,
    VideoDBServerError,
    VideoDBTransportError,
)

#: Statuses that are transient by nature and retried (budget permitting).
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
#: Statuses at which a non-idempotent request (POST /clip) was surely not taken.
NOT_TAKEN_STATUSES = frozenset({429, 503})
#: POST paths that only return a URL and have no side effect: repeating them is safe.
IDEMPOTENT_POST_PATTERNS = ("/video/*/stream", "/compile")
NON_TERMINAL_STATUSES = frozenset({"processing", "in progress"})
_MESSAGE_LIMIT = 300

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
) -> VideoDBResponseError:
    """An answer we cannot use. Retryable: a well-behaved service answers properly next time."""
    info = info or RequestInfo("", "")
    return VideoDBResponseError(
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
    """Return the parsed JSON object of a successful answer, or raise the typed error."""
    try:
        payload: Any = json.loads(body) if body else None
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
    info: RequestInfo, exc: BaseException, *, sent: bool, retryable: bool = True
) -> VideoDBTransportError:
    """No HTTP answer. ``sent=False`` only when the request surely never left.

    ``retryable=False`` for failures that repeat identically (e.g. a TLS certificate error).
    """
    where = "before the request was sent" if not sent else "after the request was sent"
    detail = _short(str(exc))
    return VideoDBTransportError(
        info.method,
        info.path,
        f"({type(exc).__name__} {where}{': ' + detail if detail else ''})",
        sent=sent,
        video_id=info.video_id,
        retryable=retryable,
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


def _data(payload: Mapping[str, Any], info: RequestInfo | None) -> dict[str, Any]:
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
    except (TypeError, ValueError):
        raise response_error(info, f"{what} is not a number: {value!r}") from None
    if not math.isfinite(number):
        raise response_error(info, f"{what} is not finite: {value!r}")
    return number


def _required_str(data: Mapping[str, Any], key: str, info: RequestInfo | None) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise response_error(info, f"the answer has no {key!r}")
    return value


@dataclass(frozen=True)
class AsyncJob:
    job_id: str
    output_url: str


def parse_async_start(payload: Mapping[str, Any], info: RequestInfo | None = None) -> AsyncJob:
    data = _data(payload, info)
    return AsyncJob(_required_str(data, "id", info), _required_str(data, "output_url", info))


@dataclass(frozen=True)
class JobStatus:
    state: Literal["processing", "done", "failed"]
    percentage: float | None = None
    data: dict[str, Any] | None = None
    message: str | None = None
    error_code: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state != "processing"


def parse_job_status(payload: Mapping[str, Any], info: RequestInfo | None = None) -> JobStatus:
    """Both terminal shapes (flat and ``response``-wrapped), both non-terminal statuses."""
    status = str(payload.get("status") or "").strip().lower()
    if status in NON_TERMINAL_STATUSES:
        data = payload.get("data")
        percentage = None
        if isinstance(data, dict) and data.get("percentage") is not None:
            try:
                percentage = min(max(_float(data["percentage"], "percentage", info), 0.0), 100.0)
            except VideoDBResponseError:
                percentage = None  # progress is informative only
        return JobStatus("processing", percentage)
    inner = payload.get("response")
    body: Mapping[str, Any] = inner if isinstance(inner, dict) else payload
    message = _str_or_none(body.get("message") or payload.get("message"))
    error_code = _str_or_none(body.get("error_code") or payload.get("error_code"))
    if body.get("success") is True:
        data = body.get("data")
        return JobStatus("done", 100.0, data if isinstance(data, dict) else {}, message)
    return JobStatus(
        "failed",
        None,
        None,
        message or f"job ended with status {status or 'unknown'!r}",
        error_code,
    )


@dataclass(frozen=True)
class Shot:
    start: float
    end: float
    text: str = ""
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text, "score": self.score}


def _iter_docs(data: Mapping[str, Any], info: RequestInfo | None) -> Iterable[Mapping[str, Any]]:
    results = data.get("results") or []
    if not isinstance(results, list):
        raise response_error(info, "clip result 'results' is not a list")
    for result in results:
        docs = result.get("docs") if isinstance(result, dict) else None
        for doc in docs or []:
            if not isinstance(doc, dict):
                raise response_error(info, f"clip result doc is not an object: {doc!r}")
            yield doc


def parse_clip_shots(data: Mapping[str, Any], info: RequestInfo | None = None) -> list[Shot]:
    """Shots of a clip result (``data.results[].docs[]``), in the order given.

    Degenerate shots (end <= start) are dropped: they cannot be streamed.
    """
    shots = []
    for doc in _iter_docs(data, info):
        start = _float(doc.get("start"), "shot start", info)
        end = _float(doc.get("end"), "shot end", info)
        score = doc.get("score")
        if end > start:
            shots.append(
                Shot(
                    start,
                    end,
                    str(doc.get("text") or ""),
                    None if score is None else _float(score, "shot score", info),
                )
            )
    return shots


def parse_video(video: Mapping[str, Any], info: RequestInfo | None = None) -> dict[str, Any]:
    """A video object with ``length`` normalised to float (it may be a numeric string)."""
    if not isinstance(video, Mapping):
        raise response_error(info, f"expected a video object, got {type(video).__name__}")
    result = dict(video)
    if result.get("length") is not None:
        result["length"] = _float(result["length"], "video length", info)
    return result


def parse_stream(payload: Mapping[str, Any], info: RequestInfo | None = None) -> dict[str, Any]:
    """``{"stream_url", "player_url"}`` of a stream/compile answer."""
    data = _data(payload, info)
    player_url = data.get("player_url")
    return {
        "stream_url": _required_str(data, "stream_url", info),
        "player_url": player_url if isinstance(player_url, str) and player_url else None,
    }


def data_of(payload: Mapping[str, Any], info: RequestInfo | None = None) -> dict[str, Any]:
    """The ``data`` object of a success envelope."""
    return _data(payload, info)
