"""End-to-end fixtures: a migrated Airflow metadata DB and the demo script's helpers.

The suite-wide conftest already points AIRFLOW_HOME at a fresh temporary folder (one per
session) before Airflow is imported; here we run ``airflow db migrate`` once, as a user would,
and point the dags folder at ``example_dags/`` for the tests that use it. The demo script's
helpers, the night's new media and fresh collections come from the suite-wide conftest.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import DAGS_FOLDER


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The session's AIRFLOW_HOME with its metadata DB migrated (``airflow db migrate``)."""
    airflow = Path(sys.executable).parent / "airflow"
    proc = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, env=dict(os.environ)
    )
    assert proc.returncode == 0, f"airflow db migrate failed:\n{proc.stdout}\n{proc.stderr}"
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture
def example_dags(airflow_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the dags folder (and so the default "dags-folder" bundle) at ``example_dags/``.

    ``dag.test()`` syncs the DAG from its bundle. The environment variable is read on every
    ``conf.get``, but ``airflow.settings.DAGS_FOLDER`` was computed when Airflow was imported
    (during collection, by other test modules), and the bundle reads that one.
    """
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_FOLDER))
    monkeypatch.setattr("airflow.settings.DAGS_FOLDER", str(DAGS_FOLDER))
    return DAGS_FOLDER
