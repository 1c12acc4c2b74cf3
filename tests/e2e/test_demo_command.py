"""The README's first command as a user meets it: ``bash scripts/demo.sh`` with its options.

``--help`` answers before anything is installed; the output carries no terminal colour codes
when it is not a terminal; ``--keep`` leaves a server that plays what the demo printed, and
says how to stop it; paths are printed only when they still exist.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scripts" / "demo.sh"
ANSI = re.compile(r"\x1b\[")


def _demo(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(DEMO), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_help_installs_nothing_and_names_the_demo(tmp_path: Path) -> None:
    bootstrap = tmp_path / "bootstrap"
    env = {
        "PATH": "/usr/bin:/bin",  # no uv on PATH: an install would have to bootstrap one
        "HOME": str(tmp_path),
        "PYTHON": sys.executable,
        "VIDEODB_BOOTSTRAP_DIR": str(bootstrap),
        "VIDEODB_VENV": str(tmp_path / "venv"),
    }
    done = _demo("--help", env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: scripts/demo.sh"), done.stdout
    assert "--keep" in done.stdout
    assert not bootstrap.exists() and not (tmp_path / "venv").exists()


@pytest.mark.e2e
@pytest.mark.slow
def test_keep_leaves_a_server_that_plays_the_printed_streams(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "VIDEODB_VENV": str(Path(sys.prefix))}
    env.pop("NO_COLOR", None)
    done = _demo("--keep", env=env, timeout=900)
    output = done.stdout + done.stderr
    pid_match = re.search(r"Stop the server with: kill (\d+)", done.stdout)
    try:
        assert done.returncode == 0, output[-3000:]
        assert not ANSI.search(output), "colour codes in output that is not a terminal"
        assert pid_match, done.stdout
        kept = re.search(r"kept: (\S+)", done.stdout)
        assert kept and Path(kept.group(1), "manifest.json").is_file(), done.stdout
        links = re.findall(r"(http://127\.0\.0\.1:\d+/player\?url=\S+)", done.stdout)
        assert len(links) >= 3, done.stdout
        for link in links:
            with urlopen(link, timeout=30) as page:
                html = page.read().decode()
            assert "<video" in html
            assert not re.search(r"""(src|href)=["']https?://(?!127\.0\.0\.1)""", html), html
    finally:
        if pid_match:
            pid = int(pid_match.group(1))
            os.kill(pid, signal.SIGTERM)
            deadline = time.time() + 30
            while time.time() < deadline and os.path.exists(f"/proc/{pid}"):
                time.sleep(0.2)
        kept_dir = re.search(r"kept: (\S+)", done.stdout)
        if kept_dir:
            subprocess.run(["rm", "-rf", kept_dir.group(1)], check=False)
