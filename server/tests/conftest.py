"""The server suite's fixtures: one real local server process for the session.

The same shape as the provider's ``tests/conftest.py`` (which starts the server for the
provider's tests), but nothing here imports the provider or Airflow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from server_support import (
    BROKE_API_KEY,
    DEFAULT_CONFIG,
    FREE_API_KEY,
    JOB_SECONDS,
    TEST_API_KEY,
    demo_video,
)

from videodb_local_server.control import LocalVideoDBServer


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
def api(server: LocalVideoDBServer) -> Iterator[requests.Session]:
    """A plain ``requests`` session carrying the test key (tests prefix ``server.base_url``)."""
    with requests.Session() as session:
        session.headers["x-access-token"] = server.api_key
        yield session


@pytest.fixture
def news(server: LocalVideoDBServer, api: requests.Session) -> dict:
    """The demo's "Evening News Roundup" video."""
    return demo_video(server.base_url, api)
