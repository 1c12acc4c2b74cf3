"""Constants shared by the end-to-end tests (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "example_dags"
NIGHTLY_DAG_ID = "videodb_nightly_pipeline"
#: Matches one transcript segment in each of the three demo videos (as in the demo script).
DEMO_PROMPT = "the part about water"
#: Matches a transcript segment in each demo video too, through search rather than a clip.
DEMO_QUERY = "water"
