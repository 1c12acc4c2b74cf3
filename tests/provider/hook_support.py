"""Helpers shared by the hook tests (plain functions; fixtures live in the test modules)."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.local_server.control import LocalVideoDBServer

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
