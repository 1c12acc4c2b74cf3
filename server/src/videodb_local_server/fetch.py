"""Fetching a media file from an http(s) URL (uploads by URL): blocking, run in a thread.

Standard library only (no aiohttp: this sits below the handlers, beside the backend). The
rules are the callbacks' rules: the URL's shape is checked by the caller before anything is
sent (``backend.check_outbound_url``) and again, by the ``check`` it passes, for every
redirect target; the address actually connected to must be loopback unless remote hosts are
allowed (checked on the socket, so a name that changes its answer gains nothing). The body is
bounded by ``max_bytes`` and the whole fetch by a wall-clock deadline.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

#: Redirects followed (each target checked) before the fetch gives up.
MAX_REDIRECTS = 5
#: Seconds the whole fetch may take by default (connect, redirects, the body).
FETCH_SECONDS = 300.0
CHUNK = 1 << 20
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class FetchError(Exception):
    """The file could not be fetched; the message says why (for the job's failure)."""


def is_loopback(address: str) -> bool:
    """Whether ``address`` (an IP, maybe with a zone, maybe v4-mapped) is loopback."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def fetch_to_file(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    allow_remote: bool,
    check: Callable[[str], None],
    seconds: float = FETCH_SECONDS,
) -> int:
    """Download ``url`` into ``dest`` (removed again on any failure); the bytes written.

    :param url: an http(s) URL already checked by the caller.
    :param dest: the file to write (its folder is created).
    :param max_bytes: the largest body accepted.
    :param allow_remote: connect to hosts other than loopback.
    :param check: raises ``ValueError`` for a redirect target the server may not call.
    :param seconds: wall-clock budget of the whole fetch.
    :raises FetchError: with a message naming the URL and what went wrong.
    """
    deadline = time.time() + seconds
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        for _ in range(MAX_REDIRECTS + 1):
            location = _get_once(url, dest, max_bytes, allow_remote, deadline)
            if location is None:
                return dest.stat().st_size
            target = urljoin(url, location)
            try:
                check(target)
            except ValueError as exc:
                raise FetchError(f"url {url!r} redirects to a refused URL: {exc}") from exc
            url = target
        raise FetchError(f"url redirects more than {MAX_REDIRECTS} times")
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def _get_once(
    url: str, dest: Path, max_bytes: int, allow_remote: bool, deadline: float
) -> str | None:
    """One GET: the body written to ``dest`` (None), or a redirect's ``Location``."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(host, port, timeout=_left(deadline, url))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        if not allow_remote:
            _check_resolves_to_loopback(host, port or (443 if parts.scheme == "https" else 80))
        conn.connect()
        _check_peer(conn.sock, host, allow_remote)
        conn.request("GET", path, headers={"User-Agent": "videodb-local-server"})
        resp = conn.getresponse()
        if resp.status in REDIRECT_STATUSES:
            location = resp.getheader("Location")
            if not location:
                raise FetchError(f"url {url!r} answered {resp.status} without a Location")
            return location
        if resp.status != 200:
            raise FetchError(f"url {url!r} answered HTTP {resp.status} {resp.reason}")
        declared = resp.getheader("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"url {url!r} is larger than {max_bytes} bytes")
        _copy_body(resp, conn, dest, max_bytes, deadline, url)
        return None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"could not fetch url {url!r}: {exc}") from exc
    finally:
        conn.close()


def _copy_body(
    resp: http.client.HTTPResponse,
    conn: http.client.HTTPConnection,
    dest: Path,
    max_bytes: int,
    deadline: float,
    url: str,
) -> None:
    written = 0
    with dest.open("wb") as out:
        while True:
            if conn.sock is not None:
                conn.sock.settimeout(_left(deadline, url))
            chunk = resp.read(CHUNK)
            if not chunk:
                break
            written += len(chunk)
            if written > max_bytes:
                raise FetchError(f"url {url!r} is larger than {max_bytes} bytes")
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


def _check_resolves_to_loopback(host: str, port: int) -> None:
    """Refuse a host with any non-loopback address before connecting (no connection attempt
    to a refused host, so a redirect elsewhere fails at once, not after a connect timeout)."""
    addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, port)}
    if not addresses or not all(is_loopback(a) for a in addresses):
        raise FetchError(_NOT_LOOPBACK.format(host=host))


_NOT_LOOPBACK = (
    "url host {host!r} is not this machine (loopback); start the server with "
    "--allow-remote-urls to fetch from other hosts"
)


def _check_peer(sock: socket.socket | None, host: str, allow_remote: bool) -> None:
    if allow_remote or sock is None:
        return
    peer = sock.getpeername()[0]
    if not is_loopback(str(peer)):
        raise FetchError(_NOT_LOOPBACK.format(host=host))


def _left(deadline: float, url: str) -> float:
    left = deadline - time.time()
    if left <= 0:
        raise FetchError(f"fetching url {url!r} took longer than the deadline")
    return left
