"""Shared helpers for the reliability tests (issue 5).

The local VideoDB server fixtures (``videodb_server``, ``server``, ``videodb_conn``) come
from ``tests/conftest.py``. Here: connection factories with chosen extras, a second server
on another origin, a fake task context for driving operators without a scheduler, and
journal queries.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

DEFAULT_CONN_ID = "videodb_default"
#: Fast retry settings: small waits so fault tests finish quickly, a real budget.
FAST_EXTRAS: dict[str, Any] = {"max_retries": 4, "retry_max_wait": 2.0, "timeout": 5.0}

#: The soak's fault rates (``test_soak.py``; also the cluster's triggerer-crash test under
#: faults): 2% dropped connections, 5% 429 with Retry-After, 10% 5xx. Never an ambiguous
#: fault on ``POST /clip`` (a dropped answer after the job was made, a 502/504): no client can
#: tell whether the service took it, and that window is documented and tested on its own.
SOAK_FAULTS: list[dict[str, Any]] = [
    # 2% dropped connections
    {"method": "POST", "path": "/video/*/clip", "kind": "drop_before", "rate": 0.02},
    {"method": "GET", "path": "*", "kind": "drop_before", "rate": 0.01},
    {"method": "GET", "path": "*", "kind": "drop_after", "rate": 0.01},
    {"method": "POST", "path": "/compile", "kind": "drop_after", "rate": 0.02},
    # 5% 429 with Retry-After
    {"method": "*", "path": "*", "kind": "status", "status": 429, "retry_after": 0.2, "rate": 0.05},
    # 10% 5xx: on POST /clip only 503 (the service did not take it); a 502/504 there is
    # ambiguous, never retried by the hook, and belongs to the documented window.
    {"method": "POST", "path": "/video/*/clip", "kind": "status", "status": 503, "rate": 0.10},
    *(
        {"method": method, "path": path, "kind": "status", "status": status, "rate": rate}
        for method, path in (("GET", "*"), ("POST", "/compile"))
        for status, rate in ((502, 0.034), (503, 0.034), (504, 0.034))
    ),
]


def api_calls(
    entries: list[dict[str, Any]], method: str | None = None, path: str | None = None
) -> list[dict[str, Any]]:
    """Journal entries matching ``method`` and an fnmatch ``path`` pattern."""
    return [
        e
        for e in entries
        if (method is None or e["method"] == method)
        and (path is None or fnmatch.fnmatchcase(e["path"].rstrip("/"), path))
    ]


def clip_posts(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return api_calls(entries, "POST", "/video/*/clip")


def accepted(entry: dict[str, Any]) -> bool:
    """The server processed this request (created what it creates), answered or not.

    ``drop_after`` processes then drops the answer; ``status``/``success_false``/
    ``drop_before`` faults never reach the handler.
    """
    if entry["fault"] in ("status", "success_false", "drop_before"):
        return False
    return entry["status"] is not None and 200 <= int(entry["status"]) < 300


class ConnFactory:
    """Defines Airflow connections as ``AIRFLOW_CONN_*`` JSON env vars for one test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, base_url: str, api_key: str) -> None:
        self.monkeypatch = monkeypatch
        self.base_url = base_url
        self.api_key = api_key

    def __call__(
        self,
        conn_id: str = DEFAULT_CONN_ID,
        *,
        host: str | None = None,
        password: str | None = None,
        extra: dict[str, Any] | None = None,
        **fields: Any,
    ) -> str:
        conn = {
            "conn_type": "videodb",
            "host": self.base_url if host is None else host,
            "password": self.api_key if password is None else password,
            "extra": {**FAST_EXTRAS, **(extra or {})},
            **fields,
        }
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    def remove(self, conn_id: str) -> None:
        self.monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)


@pytest.fixture
def make_conn(server: Any, monkeypatch: pytest.MonkeyPatch) -> ConnFactory:
    """Connection factory bound to the local server; ``make_conn()`` defines the default."""
    return ConnFactory(monkeypatch, server.base_url, server.api_key)


@pytest.fixture
def fast_conn(make_conn: ConnFactory) -> str:
    """The default connection with a small retry budget and short waits."""
    return make_conn()


@pytest.fixture
def api_key(server: Any) -> str:
    return str(server.api_key)


@pytest.fixture
def video(server: Any) -> dict[str, Any]:
    """The first demo video (``id``, ``length`` float) without journaling the lookup."""
    from airflow_provider_videodb.hooks.videodb import VideoDBHook
    from airflow_provider_videodb.settings import VideoDBSettings

    settings = VideoDBSettings(base_url=server.base_url, api_key=server.api_key)
    with VideoDBHook.from_settings(settings) as hook:
        videos = hook.list_videos()
    server.clear_journal()
    assert videos, "the demo server has no videos"
    first = videos[0]
    return {"id": first["id"], "length": float(first["length"])}


@pytest.fixture(scope="session")
def other_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A second local server: another origin, which must never receive a request."""
    from videodb_local_server.control import LocalVideoDBServer

    data_dir: Path = tmp_path_factory.mktemp("other-origin")
    handle = LocalVideoDBServer.start(data_dir, api_keys=("sk-other-origin-0000",), demo=False)
    try:
        yield handle
    finally:
        handle.stop()


class FakeTaskInstance:
    """Just what the operators use of ``ti``: XCom pushes, recorded."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcom[key] = value


class FakeStateStore:
    """In-memory stand-in for Airflow 3.3's ``task_state_store`` (survives 'retries')."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))  # the real store keeps JSON

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def make_context(store: FakeStateStore | None = None) -> dict[str, Any]:
    return {"ti": FakeTaskInstance(), "task_state_store": store}


@pytest.fixture
def context_factory() -> Callable[..., dict[str, Any]]:
    return make_context


class LogCapture:
    """Everything logged during a test: stdlib records (caplog) and the structlog lines
    Airflow's task SDK writes to the process's stdout/stderr (capfd)."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]):
        self.caplog = caplog
        self.capfd = capfd
        self._streams = ""

    def text(self) -> str:
        out, err = self.capfd.readouterr()
        self._streams += out + err
        return self.caplog.text + "\n" + self._streams


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> LogCapture:
    import logging

    caplog.set_level(logging.DEBUG)
    return LogCapture(caplog, capfd)
