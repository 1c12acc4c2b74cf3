"""Start, drive and stop a local VideoDB server in a subprocess (tests, demo, benchmarks)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .app import ADMIN_TOKEN_ENV, ADMIN_TOKEN_HEADER

READY_TIMEOUT = 180.0  # first start with --demo generates and cuts media
STOP_TIMEOUT = 10.0


class LocalServerError(RuntimeError):
    """The server process did not come up (message carries the end of its log)."""


class LocalVideoDBServer:
    """A handle on one ``python -m videodb_local_server`` process."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int,
        api_keys: Sequence[str],
        demo: bool,
        job_seconds: float,
        extra_args: Sequence[str],
        python: str,
        admin_token: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.api_keys = tuple(api_keys)
        self.api_key = self.api_keys[0].partition(":")[0]
        self._demo = demo
        self._job_seconds = job_seconds
        self._extra_args = tuple(extra_args)
        self._python = python
        self._proc: subprocess.Popen[bytes] | None = None
        #: Sent on every admin call; handed to the process by environment (not on its
        #: command line, which other local users can read).
        self.admin_token = admin_token or secrets.token_urlsafe(24)

    @property
    def admin_headers(self) -> dict[str, str]:
        """Headers that authorise a ``/_twin/...`` call on this server."""
        return {ADMIN_TOKEN_HEADER: self.admin_token}

    @classmethod
    def start(
        cls,
        data_dir: Path,
        *,
        port: int = 0,
        api_keys: Sequence[str] = ("sk-local-dev",),
        demo: bool = True,
        job_seconds: float = 2.0,
        extra_args: Sequence[str] = (),
        python: str = sys.executable,
    ) -> LocalVideoDBServer:
        server = cls(
            data_dir,
            port=port,
            api_keys=api_keys,
            demo=demo,
            job_seconds=job_seconds,
            extra_args=extra_args,
            python=python,
        )
        server._launch()
        return server

    # ------------------------------------------------------------------ process

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise LocalServerError("server is not running")
        return self._proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def _command(self, port_file: Path) -> list[str]:
        cmd = [self._python, "-m", "videodb_local_server"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        for key in self.api_keys:
            cmd += ["--api-key", key]
        cmd += ["--job-seconds", str(self._job_seconds), "--port-file", str(port_file)]
        if self._demo:
            cmd.append("--demo")
        return cmd + list(self._extra_args)

    def _launch(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port_file = self.data_dir / "server.port"
        port_file.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._command(port_file),
                env={**os.environ, ADMIN_TOKEN_ENV: self.admin_token},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.time() + READY_TIMEOUT
        while time.time() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                raise LocalServerError(f"server exited with {code}: {self._tail()}")
            if port_file.exists() and port_file.read_text().strip():
                self.port = int(port_file.read_text())
                try:
                    self.stats()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise LocalServerError(f"server not ready after {READY_TIMEOUT}s: {self._tail()}")

    def _tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM by pid, wait, SIGKILL if it does not go."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT)

    def restart(self) -> None:
        """Stop and start again on the same port and data dir."""
        self.stop()
        self._launch()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> LocalVideoDBServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ admin API

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **self.admin_headers},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["data"]

    def set_faults(self, rules: list[dict[str, Any]], *, seed: int | None = None) -> None:
        self._admin("POST", "/_twin/faults", {"rules": rules, "seed": seed})

    def clear_faults(self) -> None:
        self._admin("DELETE", "/_twin/faults")

    def journal(self) -> list[dict[str, Any]]:
        return list(self._admin("GET", "/_twin/journal")["entries"])

    def clear_journal(self) -> None:
        self._admin("DELETE", "/_twin/journal")

    def stats(self) -> dict[str, Any]:
        return dict(self._admin("GET", "/_twin/stats"))

    def configure(self, **settings: Any) -> None:
        """Change run-time settings: job_seconds, terminal_shape, progress_style, ..."""
        self._admin("POST", "/_twin/config", settings)

    def config(self) -> dict[str, Any]:
        return dict(self._admin("GET", "/_twin/config"))

    def video_ids(self, collection_id: str = "default") -> list[str]:
        request = urllib.request.Request(
            f"{self.base_url}/video?collection_id={collection_id}",
            headers={"x-access-token": self.api_key},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            videos = json.loads(response.read())["data"]["videos"]
        return [v["id"] for v in videos]
