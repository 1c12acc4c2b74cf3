"""Suite-wide fixtures: a real local VideoDB server process and an Airflow connection to it.

AIRFLOW_HOME points at a throw-away folder before anything imports Airflow.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
