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


class Journal:
    """Ring buffer of request entries; ``size == 0`` disables recording entirely."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: deque[dict[str, Any]] = deque(maxlen=max(size, 1))
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
        body: Any,
    ) -> None:
        if not self.enabled:
            return
        self._seq += 1
        self._entries.append(
            {
                "seq": self._seq,
                "time": time.time(),
                "method": method,
                "path": path,
                "query": query,
                "status": status,
                "fault": fault,
                "connection": connection,
                "headers": redact_headers(headers),
                "auth": auth,
                "body": body,
            }
        )

    def entries(self) -> list[dict[str, Any]]:
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def resize(self, size: int) -> None:
        self.size = size
        self._entries = deque(self._entries, maxlen=max(size, 1))
        if size == 0:
            self._entries.clear()
