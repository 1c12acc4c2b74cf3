"""What the library tests share: a tiny loopback file server (the source of URL uploads),
real audio and image files made with FFmpeg, and a job poll."""

from __future__ import annotations

import json
import queue
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from videodb_local_server.control import LocalVideoDBServer
from videodb_local_server.media import hls


class FileServer:
    """Serves the files in ``files`` (name -> path) at ``/<name>``; ``/slow/<name>`` waits
    ``delay`` seconds first; ``/redirect?to=<url>`` answers 302 to it; anything else is 404.
    Counts the GETs it answered (``hits``)."""

    def __init__(self, files: dict[str, Path], delay: float = 0.0) -> None:
        self.files = files
        self.delay = delay
        self.hits: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits.append(self.path)
                parts = urlsplit(self.path)
                if parts.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", parse_qs(parts.query)["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                name = parts.path.lstrip("/")
                if name.startswith("slow/"):
                    time.sleep(owner.delay)
                    name = name[len("slow/") :]
                path = owner.files.get(name)
                if path is None:
                    self.send_error(404)
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"


@contextmanager
def file_server(files: dict[str, Path], delay: float = 0.0) -> Iterator[FileServer]:
    """A :class:`FileServer` running in a thread for the ``with`` block."""
    server = FileServer(files, delay)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


class CallbackReceiver:
    """A loopback endpoint that records the JSON bodies POSTed to it (job callbacks)."""

    def __init__(self) -> None:
        self.bodies: queue.Queue[dict[str, Any]] = queue.Queue()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                owner.bodies.put(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def wait(self, timeout: float = 60.0) -> dict[str, Any]:
        """The next body delivered (fails the test after ``timeout`` seconds)."""
        return self.bodies.get(timeout=timeout)


@contextmanager
def callback_receiver() -> Iterator[CallbackReceiver]:
    """A :class:`CallbackReceiver` running in a thread for the ``with`` block."""
    receiver = CallbackReceiver()
    thread = threading.Thread(target=receiver.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.httpd.shutdown()
        receiver.httpd.server_close()


def demo_copy(server: LocalVideoDBServer, dest: Path, pattern: str = "science*.mp4") -> Path:
    """A copy of one demo video (a real 60 s MP4 with sound) at ``dest``."""
    shutil.copy(next((server.data_dir / "demo").glob(pattern)), dest)
    return dest


def make_audio(dest: Path, seconds: float = 3.0) -> Path:
    """A real MP3 of a ``seconds``-long tone."""
    tone = f"sine=frequency=440:duration={seconds}"
    hls.run_ffmpeg(["-y", "-v", "error", "-f", "lavfi", "-i", tone, str(dest)])
    return dest


def make_image(dest: Path, size: str = "96x64") -> Path:
    """A real still image (PNG or JPEG by the suffix of ``dest``)."""
    hls.run_ffmpeg(["-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size}",
                    "-frames:v", "1", str(dest)])  # fmt: skip
    return dest


def poll_until_terminal(
    api: requests.Session, output_url: str, timeout: float = 60.0
) -> dict[str, Any]:
    """The first poll answer of a job that is neither ``processing`` nor ``in progress``."""
    deadline = time.time() + timeout
    while True:
        body: dict[str, Any] = api.get(output_url, timeout=30).json()
        if body.get("status") not in ("processing", "in progress"):
            return body
        assert time.time() < deadline, f"job still running after {timeout}s: {body}"
        time.sleep(0.1)
