"""The docs' triggerer tip works: the ``gc.freeze()`` in docs/snippets/airflow_local_settings.py
runs when an Airflow process starts (``import airflow``), so the import-time heap is out of
every later full garbage collection (see bench/README.md, "The worst stall is the garbage
collector"); docs/deferral-and-scale.rst shows that very file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
#: The file the deployment guide tells users to put in ``$AIRFLOW_HOME/config``.
RECIPE_FILE = ROOT / "docs" / "snippets" / "airflow_local_settings.py"
RECIPE = RECIPE_FILE.read_text()


def frozen_after_import_airflow(airflow_home: Path) -> int:
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home)}
    code = "import gc, airflow; print(gc.get_freeze_count())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_the_recipe_freezes_the_import_time_heap(tmp_path):
    plain, tuned = tmp_path / "plain", tmp_path / "tuned"
    (tuned / "config").mkdir(parents=True)
    plain.mkdir()
    (tuned / "config" / "airflow_local_settings.py").write_text(RECIPE)
    # Some Airflow versions freeze a few hundred objects of their own while importing.
    assert frozen_after_import_airflow(tuned) - frozen_after_import_airflow(plain) > 50_000


def test_the_deployment_guide_shows_the_tested_file():
    guide = (ROOT / "docs" / "deferral-and-scale.rst").read_text()
    assert ".. literalinclude:: snippets/airflow_local_settings.py" in guide
    assert "gc.freeze()" in RECIPE
