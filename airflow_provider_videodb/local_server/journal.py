"""A bounded, in-memory record of every API request the server saw (admin calls excluded)."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
_SECRET_HEADERS = frozenset({"x-access-token", "authorization", "cookie"})
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


def body_for_journal(raw: bytes, content_type: str) -> Any:
    """JSON bodies are kept parsed; multipart and binary bodies only by size."""
    if not raw:
        return None
    if content_type.startswith("multipart/") or content_type.startswith("application/octet"):
        return {"bytes": len(raw)}
    text = raw[:MAX_BODY_CHARS].decode("utf-8", errors="replace")
    if content_type.startswith("application/json"):
        try:
            return json.loads(raw)
        except ValueError:
            return text
    return text


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
    headers, body, content_type = stored[len(FIELDS) :]
    entry["headers"] = redact_headers(dict(headers))
    if isinstance(body, int):
        entry["body"] = {"bytes": body}
    else:
        entry["body"] = body_for_journal(body or b"", content_type)
    return entry
