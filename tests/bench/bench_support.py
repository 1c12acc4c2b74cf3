"""What the benchmark smoke tests share."""

from __future__ import annotations

from pathlib import Path


def ours_alive(pid: int) -> bool:
    """Process ``pid`` still runs Airflow or the local server (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"airflow" in cmdline or b"videodb_local_server" in cmdline
