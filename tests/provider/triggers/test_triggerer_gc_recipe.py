"""The README's triggerer tip works: a gc.freeze() in airflow_local_settings.py runs when an
Airflow process starts (``import airflow``), so the import-time heap is out of every later
full garbage collection (see bench/README.md, "The worst stall is the garbage collector")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Kept in step with the README section "Thousands of clip jobs on one triggerer".
RECIPE = """\
import gc

__all__: list[str] = []  # nothing here overrides airflow.settings
gc.freeze()
"""


def frozen_after_import_airflow(airflow_home: Path) -> int:
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home)}
    code = "import gc, airflow; print(gc.get_freeze_count())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_readme_recipe_freezes_the_import_time_heap(tmp_path):
    plain, tuned = tmp_path / "plain", tmp_path / "tuned"
    (tuned / "config").mkdir(parents=True)
    plain.mkdir()
    (tuned / "config" / "airflow_local_settings.py").write_text(RECIPE)
    # Some Airflow versions freeze a few hundred objects of their own while importing.
    assert frozen_after_import_airflow(tuned) - frozen_after_import_airflow(plain) > 50_000


def test_readme_shows_the_same_recipe():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert RECIPE in readme
