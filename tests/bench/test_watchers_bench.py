"""``bench/watchers.py --quick`` still runs end to end: N asset watchers on one collection in a
real ``airflow triggerer`` (dag-processor + triggerer, sqlite), with and without the shared
stream. Proven here: every figure is there, every trigger fired exactly once for the one
upload, the shared variant polls the collection from ONE loop (fewer polls than one loop per
trigger) and nothing is left running or on disk. Never asserts on timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench_support import ours_alive

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "watchers.py"
FIGURE_KEYS = {
    "variant",
    "n",
    "poll_interval",
    "window_s",
    "polls",
    "polls_per_interval",
    "cpu_s",
    "cpu_s_per_interval",
    "rss_mb",
    "pss_mb",
    "upload_to_first_s",
    "upload_to_all_s",
    "poll_to_all_s",
    "upload_to_all_yielded_s",
    "events_yielded",
    "fanout_cpu_s",
    "events",
    "assets_fired",
    "extra_events",
    "startup_s",
    "others_cpu_s",
}


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_watchers_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "watchers.json"
    cmd = [sys.executable, str(SCRIPT), "--quick", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1400, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]

    payload = json.loads(out.read_text())
    rows = payload["rows"]
    assert sorted((r["variant"], r["n"]) for r in rows) == [
        ("shared", 1),
        ("shared", 20),
        ("unshared", 1),
        ("unshared", 20),
    ]
    for row in rows:
        assert row.keys() >= FIGURE_KEYS, row.keys()
        # One upload: an asset event for every watched asset, and one only (no duplicate
        # one poll interval later).
        assert (row["events"], row["assets_fired"], row["extra_events"]) == (row["n"], row["n"], 0)
        assert row["events_yielded"] == row["n"], row  # as many as the runner yielded
        assert row["polls"] > 0 and row["rss_mb"] > 0 and row["cpu_s"] >= 0, row
    by_case = {(r["variant"], r["n"]): r for r in rows}
    shared, unshared = by_case[("shared", 20)], by_case[("unshared", 20)]
    # One poll loop for the 20 shared triggers: it sleeps a whole interval between polls, so it
    # cannot poll more than once per interval (+1 for the window's edges), however slow.
    assert shared["polls"] <= shared["window_s"] / shared["poll_interval"] + 1, shared
    assert shared["polls_per_interval"] < unshared["polls_per_interval"], (shared, unshared)
    for label in ("polls/interval", "CPU s/interval", "upload→all s", "RSS MiB"):
        assert label in proc.stdout
    assert "machine: " in proc.stdout
    # Nothing left behind: the scratch directory is gone and every process it started stopped.
    assert not Path(payload["scratch"]).exists()
    for pid in (pid for row in rows for pid in row["pids"]):
        assert not ours_alive(pid), pid
