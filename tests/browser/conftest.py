"""Browser-test fixtures: one real Airflow deployment per module and Debian's Chromium.

The deployment is ``tests/e2e/real_airflow.py``'s (api-server, scheduler, dag-processor and
triggerer as separate processes, fresh AIRFLOW_HOME, sqlite, LocalExecutor), with only
``browser_clip_dag.py`` in its dags folder, Test enabled in the connection form and no login
(every visitor is an admin). ``videodb_default`` points at the session's local VideoDB server
(``videodb_server`` from ``tests/conftest.py``). The browser is Debian's Chromium, driven by
Playwright (Playwright's own browser downloads are not used).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e.real_airflow import Deployment, deployed, deployment_env, port_open, wait_for

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CLIP_DAG_FILE = HERE / "browser_clip_dag.py"
CLIP_DAG_ID = "videodb_browser_clip"
#: Where each step's screenshot goes (``.run/`` is the repository's scratch folder).
ARTIFACTS = ROOT / ".run" / "test-artifacts" / "browser"
#: Copies of some screenshots for README.md and docs/ (only with VIDEODB_UPDATE_DOC_IMAGES=1).
DOC_IMAGES = ROOT / "docs" / "images"
STARTUP_TIMEOUT = 180.0
VIEWPORT = {"width": 1280, "height": 800}


def chromium_path() -> str | None:
    """Debian's Chromium, or None when this machine has none."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium executable (the test is skipped when there is none)."""
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium: /usr/bin/chromium is missing and `chromium` is not on PATH")
    return path


@pytest.fixture(scope="module")
def airflow(
    chromium: str,
    videodb_server: Any,
    demo: ModuleType,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    """A real Airflow (all four components) whose UI and REST API are ready, the clip DAG
    parsed; every component's process group is stopped on the way out."""
    base = tmp_path_factory.mktemp("browser-airflow")
    dags = base / "dags"
    dags.mkdir()
    shutil.copy(CLIP_DAG_FILE, dags / CLIP_DAG_FILE.name)
    home = base / "airflow-home"
    home.mkdir()
    env = deployment_env(
        demo.airflow_env(
            home,
            base_url=videodb_server.base_url,
            api_key=videodb_server.api_key,
            dags_folder=dags,
        ),
        parallelism=2,
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
    )
    with deployed(home, env) as deployment:
        wait_for(
            "the api-server", lambda: port_open(deployment.api_port), deployment, STARTUP_TIMEOUT
        )
        wait_for(
            "the clip DAG to be parsed",
            lambda: deployment.query("select 1 from serialized_dag where dag_id = ?", CLIP_DAG_ID),
            deployment,
            STARTUP_TIMEOUT,
        )
        yield deployment


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """A headless Chromium (Playwright, sync API), closed after the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (own context: no cookies or storage from another test), 1280x800."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The folder of the screenshots (created)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
