"""``bench/triggerer.py`` still runs end to end at a small N: a real ``airflow triggerer``
loads the deferred task instances' triggers from the metadata DB (a sqlite file, or a real
Postgres with ``--db postgres``) and stores every event; ``--harness`` adds the same triggers
in ``trigger_scale.py``'s harness, side by side. Never asserts on timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "triggerer.py"
N = 30


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_triggerer_bench_smoke(tmp_path: Path, db: str) -> None:
    out = tmp_path / "figures.json"
    cmd = [sys.executable, str(SCRIPT), "--n", str(N), "--poll-interval", "1", "--db", db]
    cmd += ["--job-seconds", "15", "--timeout", "300", "--json", str(out)]
    if db == "postgres":
        cmd.append("--harness")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]

    rows = json.loads(out.read_text())["rows"]
    harness = [r for r in rows if r["variant"] == "harness"]
    rows = [r for r in rows if r["variant"] != "harness"]
    assert sorted((r["variant"], r["n"]) for r in rows) == [
        ("fresh", 1),
        ("fresh", N),
        ("provider", 1),
        ("provider", N),
    ]
    assert {r["db"] for r in rows} == {db}
    if db == "postgres":
        # the harness row: the same N triggers, every one of them ended with its event
        assert [(r["n"], r["scheduled"]) for r in harness] == [(N, N)], harness
        assert harness[0]["polls"] >= N and harness[0]["cpu_ms_per_poll"] > 0, harness
    for row in rows:
        # Every deferred task instance got its event from the triggerer, none is left.
        assert (row["scheduled"], row["still_deferred"]) == (row["n"], 0), row
        assert row["polls"] >= row["n"], row  # each job was polled by its trigger
        assert row["load_s"] > 0 and row["rss_peak_mb"] > 0, row
    big = [r for r in rows if r["n"] == N]
    assert all(r["rss_kb_per_trigger"] is not None for r in big)
    assert "done→scheduled" in proc.stdout
