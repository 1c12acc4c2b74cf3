"""Helpers shared by the hook tests (plain functions; fixtures live in the test modules)."""

from __future__ import annotations

import fnmatch
import json
import time
from typing import Any

import pytest

from airflow_provider_videodb.hooks.videodb import VideoDBHook
from videodb_local_server.control import LocalVideoDBServer

#: Short timeouts and a small retry budget keep fault tests quick.
FAST_EXTRA: dict[str, Any] = {
    "max_retries": 3,
    "retry_max_wait": 2.0,
    "timeout": 2.0,
    "connect_timeout": 1.0,
}


def set_conn(
    monkeypatch: pytest.MonkeyPatch,
    conn_id: str,
    *,
    host: str,
    password: str,
    **extra: Any,
) -> None:
    """Define an Airflow connection through the environment (JSON form)."""
    conn = {"conn_type": "videodb", "host": host, "password": password, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def fast_hook(
    monkeypatch: pytest.MonkeyPatch,
    server: LocalVideoDBServer,
    conn_id: str = "videodb_fast",
    **extra: Any,
) -> VideoDBHook:
    set_conn(
        monkeypatch,
        conn_id,
        host=server.base_url,
        password=server.api_key,
        **{**FAST_EXTRA, **extra},
    )
    hook = VideoDBHook(conn_id)
    hook.retry_backoff_base = 0.05
    return hook


def requests_to(server: LocalVideoDBServer, method: str, pattern: str) -> list[dict[str, Any]]:
    """Journal entries for ``method`` on paths matching the fnmatch ``pattern``."""
    return [
        entry
        for entry in server.journal()
        if entry["method"] == method and fnmatch.fnmatchcase(entry["path"].rstrip("/"), pattern)
    ]


def hook_logs(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    """Everything logged so far: Airflow's structlog output (stdout/stderr) and stdlib records.

    Airflow 3 hooks log through structlog, which prints rather than feeding ``caplog``; a
    test that checks logs must look at both.
    """
    captured = capsys.readouterr()
    records = "\n".join(record.getMessage() for record in caplog.records)
    return "\n".join((captured.out, captured.err, records))


def settled_requests(
    server: LocalVideoDBServer, method: str, pattern: str, at_least: int, limit: float = 15.0
) -> list[dict[str, Any]]:
    """Like :func:`requests_to`, after waiting for ``at_least`` entries.

    The server journals a request when it has answered it, so a delayed request whose client
    already gave up shows up late.
    """
    deadline = time.monotonic() + limit
    entries = requests_to(server, method, pattern)
    while len(entries) < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
        entries = requests_to(server, method, pattern)
    return entries
