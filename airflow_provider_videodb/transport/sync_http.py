"""The sync transport: one attempt of one request over ``requests``, with a total deadline.

The hook (:class:`~airflow_provider_videodb.hooks.videodb.VideoDBHook`) keeps the retries
(tenacity) and the API calls; here is what one attempt does on the wire:

* :func:`new_session` mounts an adapter whose urllib3 connections hand their socket to the
  sending request's :class:`_Deadline`, so a request ends by its TOTAL time (connect,
  headers, body), which requests' per-read timeout cannot promise;
* :func:`send_once` sends, reads the answer in steps against
  :data:`~airflow_provider_videodb.responses.MAX_ANSWER_BYTES`, tells a failure before
  sending from one after (whether the service may have acted), and hands the answer to
  :mod:`airflow_provider_videodb.responses`, which alone decides what it means. No library
  text (which may quote a header, i.e. the key) travels in the raised errors.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions
import urllib3.poolmanager

from airflow_provider_videodb.exceptions import VideoDBError
from airflow_provider_videodb.polling import request_budget
from airflow_provider_videodb.responses import (
    MAX_ANSWER_BYTES,
    RequestInfo,
    answer_too_large_error,
    deadline_error,
    interpret_response,
    request_encoding_error,
    transport_error,
)
from airflow_provider_videodb.settings import VideoDBSettings


def _root_cause(exc: requests.RequestException) -> BaseException:
    """The urllib3 reason inside requests' wrapper (its "Max retries exceeded" misleads)."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return reason if isinstance(reason, BaseException) else exc


def _certificate_refused(exc: requests.RequestException) -> bool:
    """TLS verification failed: in the handshake, so nothing was sent, and a retry would fail
    the same way. (Other TLS errors, e.g. an EOF in the middle of an answer, are transient.)"""
    if not isinstance(exc, requests.exceptions.SSLError):
        return False
    error: object = _root_cause(exc)
    for _ in range(3):  # requests' SSLError > urllib3's SSLError > ssl's verification error
        if isinstance(error, ssl.SSLCertVerificationError):
            return True
        if not isinstance(error, BaseException) or not error.args:
            return False
        error = error.args[0]
    return False


def _was_sent(exc: requests.RequestException) -> bool:
    """False only when requests failed before any byte of the request left.

    ``ConnectTimeout`` and ``NewConnectionError`` (refused, unreachable, DNS) happen before
    sending; a ``ReadTimeout``, a dropped connection (``RemoteDisconnected``) or a broken
    chunked body happen after, when the service may have acted on the request.
    """
    if isinstance(exc, requests.ConnectTimeout) or _certificate_refused(exc):
        return False
    if isinstance(exc, requests.ConnectionError):
        # NewConnectionError (refused, unreachable, DNS) subclasses ConnectTimeoutError.
        return not isinstance(_root_cause(exc), urllib3.exceptions.ConnectTimeoutError)
    return True


#: Bytes read per step of an answer body (it is streamed and counted, never read whole).
_READ_CHUNK = 64 * 1024
_ACTIVE = threading.local()  # the _Deadline of the request this thread is sending


class _Watchdog:
    """One daemon thread per process that ends the requests whose deadline has passed.

    A thread per request (``threading.Timer``) would cost more than the request itself on a
    fast service; here arming a deadline is a heap push under a lock. Finished requests
    stay in the heap until their time comes and are skipped then. Re-created after a fork
    (a forked task runner has the heap but not the thread).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._order = itertools.count()
        self._pid = -1

    def arm(self, deadline: _Deadline) -> None:
        with self._cond:
            if self._pid != os.getpid():
                self._heap.clear()
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="videodb-deadlines", daemon=True).start()
            entry = (deadline.at, next(self._order), deadline)
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:  # a new earliest deadline: wake the thread for it
                self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].closed:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                due = self._heap[0][0] - time.monotonic()
                if due > 0:
                    self._cond.wait(due)
                    continue
                heapq.heappop(self._heap)[2].fire()


_WATCHDOG = _Watchdog()


class _Deadline:
    """The total deadline of one request: when it passes, its sockets are shut down.

    requests' read timeout is per socket read, so a server that drips a byte at a time
    (headers or body) could hold a request forever. The process's watchdog thread shuts
    the request's socket down (the raw file descriptor, not the TLS layer) at the deadline;
    the blocked read then fails and :func:`send_once` reports a timeout. Once the request
    is over (``closed``), nothing is shut: its connection may already serve another one.
    """

    __slots__ = ("_lock", "_socks", "at", "closed", "fired")

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.at = time.monotonic() + seconds
        self.closed = False
        self.fired = False

    def __enter__(self) -> _Deadline:
        _ACTIVE.deadline = self
        _WATCHDOG.arm(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self.closed = True
            self._socks.clear()
        _ACTIVE.deadline = None

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if not self.fired:
                self._socks.append(sock)
                return
        _shut_down(sock)

    def fire(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.fired = True
            socks, self._socks = self._socks, []
        for sock in socks:
            _shut_down(sock)


def _shut_down(sock: socket.socket) -> None:
    # socket.socket's own method: an SSLSocket's would unwrap TLS under a reader.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watch_socket(sock: socket.socket | None) -> None:
    deadline = getattr(_ACTIVE, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _DeadlineMixin:
    """urllib3 connections that hand their socket to the sending request's deadline."""

    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch_socket(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_socket(self.sock)  # a reused keep-alive connection (None: connects first)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_DeadlineMixin, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineMixin, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter over the deadline-aware connection pools (direct and proxied)."""

    _POOLS = {"http": _HTTPPool, "https": _HTTPSPool}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.poolmanager.ProxyManager:  # not SOCKS: its own pools
            manager.pool_classes_by_scheme = dict(self._POOLS)
        return manager


def _read_capped(response: requests.Response, info: RequestInfo) -> bytes:
    """The (decoded) body, refused with :func:`answer_too_large_error` as soon as it is known
    to exceed :data:`MAX_ANSWER_BYTES`: by its Content-Length, else while counting."""
    try:
        told: int | None = int(response.headers.get("Content-Length", ""))
    except ValueError:
        told = None
    if told is not None and told > MAX_ANSWER_BYTES:
        raise answer_too_large_error(info, told, status=response.status_code)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_READ_CHUNK):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise answer_too_large_error(info, None, status=response.status_code)
        chunks.append(chunk)
    return b"".join(chunks)


def new_session(settings: VideoDBSettings) -> requests.Session:
    """A session whose every request ends by its total deadline, with the auth headers."""
    session = requests.Session()
    adapter = _DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(settings.headers())
    session.verify = settings.verify
    return session


def send_once(
    session: requests.Session,
    settings: VideoDBSettings,
    info: RequestInfo,
    url: str,
    *,
    body: Any = None,
    params: Mapping[str, str] | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """One attempt, ended by ``settings.timeout`` in total (connect, headers, body) and
    by ``deadline`` (see :func:`~airflow_provider_videodb.polling.request_budget`)."""
    if not settings.headers_sendable:  # refused alike on the async path
        raise request_encoding_error(info)
    budget = request_budget(settings.timeout, deadline, time.time())
    failure: VideoDBError | None = None
    guard = _Deadline(budget)
    try:
        # Never follow redirects: the key header would travel with them.
        with (
            guard,
            session.request(
                info.method,
                url,
                json=body,
                params=params,
                timeout=(min(settings.connect_timeout, budget), budget),
                # Per call: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a
                # session-level ``verify`` (a CA path or False from the connection).
                verify=settings.verify,
                allow_redirects=False,
                stream=True,  # read in steps: counted against the cap
            ) as response,
        ):
            content = _read_capped(response, info)
        if guard.fired:  # a socket shut down mid-headers reads as their end: not trusted
            failure = deadline_error(info, budget, sent=True)
    except VideoDBError:
        raise
    except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL):
        failure = request_encoding_error(info)  # their text quotes the header / URL
    except requests.RequestException as exc:
        if guard.fired and not isinstance(exc, requests.ConnectTimeout):
            failure = deadline_error(info, budget, sent=True)
        else:
            failure = transport_error(
                info,
                _root_cause(exc),
                sent=_was_sent(exc),
                retryable=not _certificate_refused(exc),
            )
    except (ValueError, OSError) as exc:  # outside requests' own wrapping
        if guard.fired:
            failure = deadline_error(info, budget, sent=True)
        elif isinstance(exc, ValueError):  # e.g. UnicodeEncodeError of a header
            failure = request_encoding_error(info)
        else:
            failure = transport_error(info, exc, sent=True)
    if failure is not None:
        # Raised here, outside the handler: no __context__ holds the library's
        # exception, whose text may quote a header (the key).
        raise failure
    return interpret_response(
        info,
        response.status_code,
        response.headers,
        content,
        retry_max_wait=settings.retry_max_wait,
    )
