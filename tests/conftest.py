"""Suite-wide fixtures: a real local VideoDB server process and an Airflow connection to it.

AIRFLOW_HOME points at a throw-away folder before anything imports Airflow.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import pytest
import requests

from videodb_local_server.control import LocalVideoDBServer

TEST_API_KEY = "sk-test-0123456789abcdef"
#: Extra keys the session server accepts: a free plan (403 on gated options), no credits (402).
FREE_API_KEY = "sk-test-free-0000000000"
BROKE_API_KEY = "sk-test-broke-000000000"
JOB_SECONDS = 2.0
DEFAULT_CONFIG = {
    "job_seconds": JOB_SECONDS,
    "terminal_shape": "flat",
    "progress_style": "mixed",
    "length_style": "string",
    "journal_size": 10_000,
}


@pytest.fixture(scope="session")
def videodb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalVideoDBServer]:
    """One local server for the whole session, with the demo media."""
    data_dir: Path = tmp_path_factory.mktemp("videodb-server")
    keys = (TEST_API_KEY, f"{FREE_API_KEY}:free", f"{BROKE_API_KEY}:broke")
    server = LocalVideoDBServer.start(data_dir, api_keys=keys, demo=True, job_seconds=JOB_SECONDS)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(videodb_server: LocalVideoDBServer) -> LocalVideoDBServer:
    """The session server with no faults, an empty journal and default settings."""
    if not videodb_server.running:
        videodb_server.restart()
    videodb_server.clear_faults()
    videodb_server.configure(**DEFAULT_CONFIG)
    videodb_server.clear_journal()
    return videodb_server


@pytest.fixture
def videodb_conn(server: LocalVideoDBServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """``videodb_default`` (env JSON form) pointing at the local server; returns the conn id."""
    conn = {"conn_type": "videodb", "host": server.base_url, "password": server.api_key}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEODB_DEFAULT", json.dumps(conn))
    return "videodb_default"


@pytest.fixture
def api(server: LocalVideoDBServer) -> Iterator[requests.Session]:
    """A plain ``requests`` session carrying the test key (tests prefix ``server.base_url``)."""
    with requests.Session() as session:
        session.headers["x-access-token"] = server.api_key
        yield session


ROOT = Path(__file__).resolve().parents[1]


def _load_demo_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "run_nightly_demo", ROOT / "scripts" / "run_nightly_demo.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def demo() -> ModuleType:
    """``scripts/run_nightly_demo.py`` as a module: ``check_playable``, ``airflow_env``, ..."""
    return _load_demo_module()


@pytest.fixture(scope="session")
def new_media(demo: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The night's new media: the demo videos with their captions embedded (3 files)."""
    return list(demo.prepare_new_media(tmp_path_factory.mktemp("new-media")))


@pytest.fixture(scope="session")
def media_site(new_media: list[Path]) -> Iterator[str]:
    """The new media served over HTTP on loopback (what a URL upload fetches); its base URL."""
    handler = functools.partial(_QuietFiles, directory=str(new_media[0].parent))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()
        thread.join(5)


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fresh_collection(server: Any, api: Any) -> str:
    """A new, empty collection on the session server (uploads of one test stay apart)."""
    answer = api.post(
        f"{server.base_url}/collection",
        json={"name": f"e2e-{secrets.token_hex(4)}", "description": "e2e", "is_public": False},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["data"]["id"])
