"""End-to-end fixtures: a migrated Airflow metadata DB and the demo script's helpers.

The suite-wide conftest already points AIRFLOW_HOME at a fresh temporary folder (one per
session) before Airflow is imported; here we point the dags folder at ``example_dags/`` and run
``airflow db migrate`` once, as a user would.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from e2e_support import DAGS_FOLDER, ROOT


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
def airflow_db() -> Iterator[Path]:
    """The session's AIRFLOW_HOME with the dags folder set and the metadata DB migrated."""
    home = Path(os.environ["AIRFLOW_HOME"])
    previous = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
    # Read on every conf.get(), so setting it now reaches the already-imported Airflow too.
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
    airflow = Path(sys.executable).parent / "airflow"
    proc = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, env=dict(os.environ)
    )
    assert proc.returncode == 0, f"airflow db migrate failed:\n{proc.stdout}\n{proc.stderr}"
    try:
        yield home
    finally:
        if previous is None:
            os.environ.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
        else:
            os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = previous
