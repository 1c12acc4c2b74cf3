"""A bounded, in-memory record of every API request the server saw (admin calls excluded)."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

REDACTED = "<redacted>"
_SECRET_HEADERS = frozenset(
    {
        "x-access-token",
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "cookie",
        "set-cookie",
        "x-twin-admin-token",
    }
)
#: Query parameters whose values are credentials (compared lower-case, ``-`` as ``_``).
_SECRET_PARAMS = frozenset(
    {"token", "key", "api_key", "apikey", "access_token", "signature", "sig", "password", "secret"}
)
MAX_BODY_CHARS = 4096
#: Raw bodies are kept up to this size (a longer JSON body is shown as truncated text).
MAX_STORED_BODY = 64 * 1024


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case header names; secrets replaced by ``<redacted>``."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        out[key] = REDACTED if key in _SECRET_HEADERS else value
    return out


def redact_query(query: str) -> str:
    """A query string with the values of credential-like parameters replaced.

    :param query: the raw query string (without ``?``).
    """
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(_is_secret_param(k) for k, _ in pairs):
        return query
    return urlencode([(k, REDACTED if _is_secret_param(k) else v) for k, v in pairs])


def _is_secret_param(name: str) -> bool:
    return name.lower().replace("-", "_") in _SECRET_PARAMS


def redact_url(value: str) -> str:
    """``value`` with userinfo and credential query parameters removed, if it is a URL.

    :param value: any string (non-URLs come back unchanged).
    """
    if "://" not in value:
        return value
    try:
        parts = urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return REDACTED if "@" in value else value
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{host or ''}" + (f":{port}" if port is not None else "")
    return parts._replace(netloc=netloc, query=redact_query(parts.query)).geturl()


def _redact_values(value: Any) -> Any:
    """Every string in a parsed JSON body run through :func:`redact_url`."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, list):
        return [_redact_values(v) for v in value]
    if isinstance(value, dict):
        return {k: _redact_values(v) for k, v in value.items()}
    return value


def body_for_journal(raw: bytes, content_type: str) -> Any:
    """JSON bodies are kept parsed; multipart and binary bodies only by size."""
    if not raw:
        return None
    if content_type.startswith("multipart/") or content_type.startswith("application/octet"):
        return {"bytes": len(raw)}
    text = raw[:MAX_BODY_CHARS].decode("utf-8", errors="replace")
    if content_type.startswith("application/json"):
        try:
            return _redact_values(json.loads(raw))
        except (ValueError, RecursionError):
            return redact_url(text)
    return redact_url(text)


#: Field order of a stored entry (tuples are cheap to build and easy on the GC).
FIELDS = ("seq", "time", "method", "path", "query", "status", "fault", "connection", "auth")


class Journal:
    """Ring buffer of request entries; ``size == 0`` disables recording entirely.

    Recording is on the hot path, so it only stores a flat tuple with the raw headers and
    body; redaction and body decoding happen when the journal is read.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=max(size, 1))
        self._seq = 0

    @property
    def enabled(self) -> bool:
        return self.size > 0

    def record(
        self,
        *,
        method: str,
        path: str,
        query: str,
        status: int | None,
        fault: str | None,
        connection: str | None,
        headers: Mapping[str, str],
        auth: str,
        body: bytes | int | None,
        content_type: str = "",
    ) -> None:
        """``body``: the raw bytes, or only the size (multipart uploads), or None."""
        if not self.enabled:
            return
        if isinstance(body, bytes) and len(body) > MAX_STORED_BODY:
            body = body[:MAX_STORED_BODY]
        self._seq += 1
        self._entries.append(
            (
                self._seq,
                time.time(),
                method,
                path,
                query,
                status,
                fault,
                connection,
                auth,
                tuple(headers.items()),
                body,
                content_type,
            )
        )

    def entries(self) -> list[dict[str, Any]]:
        return [_entry(stored) for stored in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def resize(self, size: int) -> None:
        self.size = size
        self._entries = deque(self._entries, maxlen=max(size, 1))
        if size == 0:
            self._entries.clear()


def _entry(stored: tuple[Any, ...]) -> dict[str, Any]:
    entry = dict(zip(FIELDS, stored[: len(FIELDS)], strict=True))
    entry["query"] = redact_query(entry["query"])
    headers, body, content_type = stored[len(FIELDS) :]
    entry["headers"] = redact_headers(dict(headers))
    if isinstance(body, int):
        entry["body"] = {"bytes": body}
    else:
        entry["body"] = body_for_journal(body or b"", content_type)
    return entry
