"""What the operator tests share: a small stand-in for the task context, and a trigger runner.

The task context is a stand-in (XCom pushes recorded, ``task_state_store`` a dict): what the
server does is real, what Airflow's task runner provides is not needed for these tests.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from airflow.triggers.base import BaseTrigger


class RecordingTI:
    """Records XCom pushes in order (the operators push before they wait)."""

    def __init__(self) -> None:
        self.pushed: list[tuple[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-serialisable
        self.pushed.append((key, value))

    @property
    def xcoms(self) -> dict[str, Any]:
        return dict(self.pushed)


class MemoryStateStore:
    """The ``task_state_store`` accessor's get/set contract, kept in memory."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.data[key]) if key in self.data else default

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.data[key] = json.dumps(value)


def make_context(store: MemoryStateStore | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"ti": RecordingTI()}
    if store is not None:
        context["task_state_store"] = store
    return context


def requests_of(server, method: str | None = None, path_part: str = "") -> list[dict]:
    return [
        e
        for e in server.journal()
        if (method is None or e["method"] == method) and path_part in e["path"]
    ]


def clip_posts(server) -> list[dict]:
    return requests_of(server, "POST", "/clip")


def run_trigger(trigger: BaseTrigger) -> dict:
    async def collect() -> list[dict]:
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(collect())
    assert len(events) == 1
    return events[0]
