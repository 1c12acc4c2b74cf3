"""VideoDBHook: connection, auth, HTTP with retries, and typed errors.

The sync path uses one ``requests.Session`` per hook and tenacity for retries; the async
path (for the trigger) lives in :mod:`airflow_provider_videodb.hooks.async_client`. Both
hand every answer to :mod:`airflow_provider_videodb.responses`, which alone decides what it
means and whether it may be retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import random
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import tenacity
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions
import urllib3.poolmanager
from airflow.sdk import BaseHook

from airflow_provider_videodb.exceptions import (
    VideoDBAPIError,
    VideoDBConfigError,
    VideoDBError,
    VideoDBValidationError,
)
from airflow_provider_videodb.hooks.settings_cache import cached_settings
from airflow_provider_videodb.polling import current_wait_deadline, request_budget
from airflow_provider_videodb.responses import (
    MAX_ANSWER_BYTES,
    AsyncJob,
    JobStatus,
    RequestInfo,
    Shot,
    answer_too_large_error,
    data_of,
    deadline_error,
    interpret_response,
    may_retry,
    parse_async_start,
    parse_job_status,
    parse_stream,
    parse_video,
    poll_request_info,
    request_encoding_error,
    response_error,
    transport_error,
    unsendable_header,
)
from airflow_provider_videodb.settings import CONN_TYPE, VideoDBSettings
from airflow_provider_videodb.validation import (
    MAX_TIMELINE_SEGMENTS,
    check_timeline_within,
    parse_timeline,
    validate_callback_url,
    validate_collection_id,
    validate_content_type,
    validate_model_name,
    validate_prompt,
    validate_scene_index_id,
    validate_video_id,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

try:
    from airflow.sdk.exceptions import AirflowNotFoundException
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        AirflowNotFoundException,
    )

try:
    from airflow.sdk.log import mask_secret
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.sdk.execution_time.secrets_masker import (  # type: ignore[no-redef,unused-ignore]
        mask_secret,
    )

try:
    from airflow.sdk.log import amask_secret
except ImportError:  # pragma: no cover - Airflow 3.1: no async variant

    async def amask_secret(secret: Any, name: str | None = None) -> None:  # type: ignore[misc,unused-ignore]
        mask_secret(secret, name)


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


class _Deadline:
    """The total deadline of one request: when it passes, its sockets are shut down.

    requests' read timeout is per socket read, so a server that drips a byte at a time
    (headers or body) could hold a request forever. A timer thread shuts the request's
    socket down (the raw file descriptor, not the TLS layer) at the deadline; the blocked
    read then fails and :meth:`VideoDBHook._send_once` reports a timeout.
    """

    __slots__ = ("_lock", "_socks", "_timer", "fired")

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        _ACTIVE.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        _ACTIVE.deadline = None

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if not self.fired:
                self._socks.append(sock)
                return
        _shut_down(sock)

    def _fire(self) -> None:
        with self._lock:
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


def _redact(text: str, secret: str) -> str:
    """``text`` without ``secret`` (as is, or as its repr escapes it)."""
    if not secret:
        return text
    for form in {secret, repr(secret)[1:-1]}:
        text = text.replace(form, "***")
    return text


class VideoDBHook(BaseHook):
    """Talk to the VideoDB API through an Airflow connection of type ``videodb``.

    :param videodb_conn_id: the connection id (API key in password, base URL in host).
    :param collection_id: overrides the connection's default collection.

    No I/O happens in ``__init__``: the connection is resolved on first use.
    """

    conn_name_attr = "videodb_conn_id"
    default_conn_name = "videodb_default"
    conn_type = CONN_TYPE
    hook_name = "VideoDB"

    #: First backoff step in seconds (doubling per attempt, with jitter, capped by
    #: ``retry_max_wait``).
    retry_backoff_base: float = 0.5

    def __init__(
        self,
        videodb_conn_id: str = default_conn_name,
        *,
        collection_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.videodb_conn_id = videodb_conn_id
        self.collection_id = (
            None if collection_id is None else validate_collection_id(collection_id)
        )
        self._session: requests.Session | None = None

    @classmethod
    def from_settings(cls, settings: VideoDBSettings, **kwargs: Any) -> VideoDBHook:
        """A hook for already-resolved settings (benchmarks, tests, the async side)."""
        hook = cls(**kwargs)
        mask_secret(settings.api_key)
        hook.__dict__["settings"] = hook._with_collection(settings)  # fills the cached_property
        return hook

    # -- connection --------------------------------------------------------------------------

    @cached_property
    def settings(self) -> VideoDBSettings:
        settings = VideoDBSettings.from_connection(self._lookup_connection())
        mask_secret(settings.api_key)
        return self._with_collection(settings)

    def _with_collection(self, settings: VideoDBSettings) -> VideoDBSettings:
        if self.collection_id and self.collection_id != settings.collection_id:
            return dataclasses.replace(settings, collection_id=self.collection_id)
        return settings

    def _lookup_connection(self) -> Connection:
        try:
            return self.get_connection(self.videodb_conn_id)
        except AirflowNotFoundException:
            raise VideoDBConfigError(
                f"VideoDB connection {self.videodb_conn_id!r} is not defined"
            ) from None

    @classmethod
    async def aget_settings(cls, conn_id: str = default_conn_name) -> VideoDBSettings:
        """Resolve settings without blocking the event loop (for triggers).

        Cached per event loop for ``settings_cache.SETTINGS_TTL_SECONDS``, with one shared
        lookup for concurrent callers (see :mod:`.settings_cache`): thousands of triggers
        of one connection then cost one lookup, not one each.
        """
        return await cached_settings(conn_id, cls._aresolve_settings)

    @classmethod
    async def _aresolve_settings(cls, conn_id: str) -> VideoDBSettings:
        try:
            conn = await _aget_connection(conn_id)
        except AirflowNotFoundException:
            raise VideoDBConfigError(f"VideoDB connection {conn_id!r} is not defined") from None
        aextra = getattr(conn, "aextra_dejson", None)
        extra = await aextra() if aextra else await asyncio.to_thread(lambda: conn.extra_dejson)
        settings = VideoDBSettings.from_connection(conn, extra=extra)
        await amask_secret(settings.api_key)
        return settings

    def get_conn(self) -> requests.Session:
        """The hook's HTTP session (created on first use, with the auth headers)."""
        if self._session is None:
            session = requests.Session()
            adapter = _DeadlineAdapter()  # every request ends by its total deadline
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(self.settings.headers())
            session.verify = self.settings.verify
            self._session = session
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> VideoDBHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- HTTP --------------------------------------------------------------------------------

    def _send_once(
        self,
        info: RequestInfo,
        url: str,
        body: Any,
        params: Mapping[str, str] | None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """One attempt, ended by ``settings.timeout`` in total (connect, headers, body) and
        by ``deadline`` (see :func:`~airflow_provider_videodb.polling.request_budget`)."""
        settings = self.settings
        if unsendable_header(settings.shared_headers):  # refused alike on the async path
            raise request_encoding_error(info)
        budget = request_budget(settings.timeout, deadline, time.time())
        failure: VideoDBError | None = None
        guard = _Deadline(budget)
        try:
            # Never follow redirects: the key header would travel with them.
            with (
                guard,
                self.get_conn().request(
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

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Exponential backoff with equal jitter, at least the (capped) Retry-After."""
        cap = self.settings.retry_max_wait
        step = min(cap, self.retry_backoff_base * 2 ** (state.attempt_number - 1))
        backoff = step / 2 + random.uniform(0, step / 2)
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None) or 0.0
        return min(cap, max(backoff, retry_after))

    def _log_retry(self, info: RequestInfo, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        # Only our own messages (built from attributes), never a library's text, and even
        # those without the key in any form.
        reason = str(error) if isinstance(error, VideoDBError) else type(error).__name__
        self.log.warning(
            "VideoDB %s %s: attempt %d of %d failed (%s); retrying in %.2f s",
            info.method,
            info.path,
            state.attempt_number,
            self.settings.max_retries + 1,
            _redact(reason, self.settings.api_key),
            wait,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        video_id: str | None = None,
        info: RequestInfo | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Send one API call with the retry policy; return the parsed success payload.

        ``path`` is an API path (``/user``) or an absolute URL on the configured origin.
        Each attempt ends by the connection's ``timeout`` in total. ``deadline`` (epoch
        seconds; by default that of the enclosing
        :func:`~airflow_provider_videodb.polling.wait_deadline`, if any) also ends the
        attempts and the waits between them: no retry starts after it.
        """
        settings = self.settings
        url = settings.check_same_origin(path) if "://" in path else settings.url(path)
        info = info or RequestInfo(method.upper(), urlsplit(url).path, video_id)
        ambient = current_wait_deadline()
        if deadline is None or (ambient is not None and ambient < deadline):
            deadline = ambient
        stop: Any = tenacity.stop_after_attempt(settings.max_retries + 1)
        wait: Any = self._wait
        if deadline is not None:
            end = deadline
            stop = stop | (lambda state: time.time() >= end)
            wait = lambda state: max(0.0, min(self._wait(state), end - time.time()))  # noqa: E731
        retrying = tenacity.Retrying(
            stop=stop,
            retry=tenacity.retry_if_exception(
                lambda exc: isinstance(exc, VideoDBError) and may_retry(info, exc)
            ),
            wait=wait,
            before_sleep=lambda state: self._log_retry(info, state),
            reraise=True,
        )
        attempts = 0

        def attempt() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            return self._send_once(info, url, body, params, deadline)

        try:
            return retrying(attempt)
        except VideoDBAPIError as error:
            error.attempts = attempts
            raise

    # -- API calls ---------------------------------------------------------------------------

    def _collection(self, collection_id: str | None) -> str:
        if collection_id is None:
            return self.settings.collection_id
        return validate_collection_id(collection_id)

    def get_user(self) -> dict[str, Any]:
        return data_of(self.request("GET", "/user"))

    def get_video(self, video_id: str, *, collection_id: str | None = None) -> dict[str, Any]:
        """The video object, ``length`` as float."""
        validate_video_id(video_id)
        info = RequestInfo("GET", f"/video/{video_id}", video_id)
        payload = self.request(
            "GET",
            info.path,
            params={"collection_id": self._collection(collection_id)},
            info=info,
        )
        return parse_video(data_of(payload, info), info)

    def list_videos(self, *, collection_id: str | None = None) -> list[dict[str, Any]]:
        info = RequestInfo("GET", "/video")
        payload = self.request(
            "GET", "/video", params={"collection_id": self._collection(collection_id)}, info=info
        )
        videos = data_of(payload, info).get("videos")
        if not isinstance(videos, list):
            raise response_error(info, f"'videos' is not a list: {type(videos).__name__}")
        return [parse_video(video, info) for video in videos]

    def generate_stream(
        self,
        video_id: str,
        timeline: Sequence[Sequence[float]] | str | None,
        *,
        length: float | None,
        collection_id: str | None = None,
    ) -> dict[str, Any]:
        """``{"stream_url", "player_url"}`` for a timeline, or the whole video (``None``).

        ``length`` is the video's length as the service gave it (``get_video``), or None
        when the service gave none: it is then sent as null, as the official SDK does, and
        the timeline is not checked against it here (the service checks it). It is not
        user input, so it is not held to the user-input rules (e.g. a positive number of
        seconds); only a value that cannot be a length (not a finite number >= 0) is refused.
        The stream call is keyed by the video id alone; ``collection_id`` is only validated.
        """
        validate_video_id(video_id)
        if collection_id is not None:
            validate_collection_id(collection_id)
        segments = parse_timeline(timeline)
        if length is not None:
            if (
                isinstance(length, bool)
                or not isinstance(length, int | float)
                or not math.isfinite(length)
                or length < 0
            ):
                raise VideoDBValidationError(
                    "length", length, "must be the video's length: a finite number >= 0, or None"
                )
            length = float(length)
        check_timeline_within(segments, length)
        info = RequestInfo("POST", f"/video/{video_id}/stream", video_id)
        body = {
            "timeline": None if segments is None else [list(pair) for pair in segments],
            "length": length,
        }
        return parse_stream(self.request("POST", info.path, body=body, info=info), info)

    def start_clip(
        self,
        video_id: str,
        prompt: str,
        *,
        content_type: str = "spoken",
        model_name: str = "basic",
        scene_index_id: str | None = None,
        callback_url: str | None = None,
    ) -> AsyncJob:
        """Start a clip job. Retried only where the service cannot have taken it."""
        body: dict[str, Any] = {
            "prompt": validate_prompt(prompt),
            "content_type": validate_content_type(content_type),
            "model_name": validate_model_name(model_name),
        }
        validate_video_id(video_id)
        if scene_index_id is not None:
            body["scene_index_id"] = validate_scene_index_id(scene_index_id)
        if callback_url is not None:
            body["callback_url"] = validate_callback_url(callback_url)
        info = RequestInfo("POST", f"/video/{video_id}/clip", video_id)
        job = parse_async_start(self.request("POST", info.path, body=body, info=info), info)
        self.settings.check_same_origin(job.output_url)
        return job

    def get_job_status(self, output_url: str, *, deadline: float | None = None) -> JobStatus:
        """One read of an async-response URL (with the retry policy). Same-origin only.

        ``deadline`` (epoch seconds, a wait's ``end_time``): see :meth:`request`.
        """
        url = self.settings.check_same_origin(output_url)
        info = poll_request_info(url)
        return parse_job_status(self.request("GET", url, info=info, deadline=deadline), info)

    async def aget_job_status(self, output_url: str, *, deadline: float | None = None) -> JobStatus:
        """One attempt through the shared aiohttp session; resolves settings asynchronously.

        ``deadline`` (epoch seconds, a wait's ``end_time``) cuts the request's timeout.
        """
        from airflow_provider_videodb.hooks.async_client import fetch_job_status

        if "settings" not in self.__dict__:
            settings = await self.aget_settings(self.videodb_conn_id)
            self.__dict__["settings"] = self._with_collection(settings)
        return await fetch_job_status(self.settings, output_url, deadline=deadline)

    def compile_shots(
        self,
        video_id: str,
        shots: Sequence[Shot | Mapping[str, Any] | Sequence[float]],
        *,
        collection_id: str | None = None,
    ) -> dict[str, Any]:
        """One stream of the shots, in order (``POST /compile``).

        Two kinds of shots, two checks, kept apart:

        * a list of :class:`Shot` only is a clip result the service sent (from
          :func:`~airflow_provider_videodb.responses.parse_clip_shots`): it is checked as
          the service's answer (finite numbers, 0 <= start < end, at most
          :data:`MAX_COMPILE_SHOTS`), and a failure is a :class:`VideoDBResponseError`;
          the user-input limit on timeline pieces does not apply to it;
        * pairs or ``{"start", "end"}`` mappings are the caller's input, validated as such
          (:class:`VideoDBValidationError` naming ``shots[i]``).

        The shots go out as consecutive entries of the same video, at most
        :data:`MAX_COMPILE_ENTRY_SHOTS` each (the API's per-entry limit), in one request:
        the service stitches the entries in order into one stream.
        """
        validate_video_id(video_id)
        shots = list(shots)
        if not shots:
            raise VideoDBValidationError("shots", shots, "there is nothing to compile")
        info = RequestInfo("POST", "/compile", video_id)
        service_shots = [shot for shot in shots if isinstance(shot, Shot)]
        if len(service_shots) == len(shots):
            segments = [_service_shot(s, index, info) for index, s in enumerate(service_shots)]
            if len(segments) > MAX_COMPILE_SHOTS:
                raise response_error(
                    info,
                    f"the clip result has {len(segments)} shots; at most {MAX_COMPILE_SHOTS} "
                    "can be compiled into one stream",
                )
        else:
            segments = parse_timeline([_shot_pair(shot) for shot in shots], "shots") or []
        collection = self._collection(collection_id)
        body = [
            {
                "video_id": video_id,
                "collection_id": collection,
                "shots": [list(pair) for pair in segments[first : first + MAX_COMPILE_ENTRY_SHOTS]],
            }
            for first in range(0, len(segments), MAX_COMPILE_ENTRY_SHOTS)
        ]
        return parse_stream(self.request("POST", "/compile", body=body, info=info), info)

    def test_connection(self) -> tuple[bool, str]:
        """``GET /user``: names the user on success, the error on failure, never the key."""
        try:
            user = self.get_user()
        except Exception as error:
            return False, f"VideoDB connection failed: {error}"
        who = user.get("user_name") or user.get("user_email") or user.get("user_id") or "?"
        return True, f"Connected to VideoDB at {self.settings.base_url} as {who}"

    # -- connection form (Airflow < 3.2 reads these; newer ones read the provider info) ------

    @classmethod
    def _connection_type_info(cls) -> dict[str, Any]:
        from airflow_provider_videodb import get_provider_info

        types = get_provider_info().get("connection-types", [])
        return next((t for t in types if t.get("connection-type") == cls.conn_type), {})

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        behaviour = cls._connection_type_info().get("ui-field-behaviour", {})
        return {
            "hidden_fields": list(behaviour.get("hidden-fields", [])),
            "relabeling": dict(behaviour.get("relabeling", {})),
            "placeholders": dict(behaviour.get("placeholders", {})),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import BooleanField, IntegerField, StringField

        widgets: dict[str, Any] = {}
        fields = cls._connection_type_info().get("conn-fields", {})
        for name, spec in fields.items():
            schema = spec.get("schema", {})
            kinds = set(schema.get("type", [])) - {"null"}
            label = lazy_gettext(spec.get("label", name))
            default = schema.get("default")
            if kinds == {"boolean"}:
                widgets[name] = BooleanField(label, default=default)
            elif kinds == {"integer"}:
                widgets[name] = IntegerField(label, widget=BS3TextFieldWidget(), default=default)
            else:  # numbers and "true/false/CA path" are typed as text
                widgets[name] = StringField(
                    label,
                    widget=BS3TextFieldWidget(),
                    default=None if default is None else str(default),
                    description=spec.get("description"),
                )
        return widgets


#: Shots per ``/compile`` entry: the API's limit on the segments of one entry (as for a
#: timeline); longer shot lists are sent as several consecutive entries of the same video.
MAX_COMPILE_ENTRY_SHOTS = MAX_TIMELINE_SEGMENTS
#: Most shots of a clip result compiled into one stream (a request of ~2 MB).
MAX_COMPILE_SHOTS = 50_000


def _service_shot(shot: Shot, index: int, info: RequestInfo) -> tuple[float, float]:
    """A shot the service sent, checked as its answer (never with the user-input rules)."""
    start, end = shot.start, shot.end
    usable = all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
        for x in (start, end)
    )
    if not usable or not 0 <= start < end:
        raise response_error(
            info, f"shot {index} of the clip result is unusable: start={start!r}, end={end!r}"
        )
    return float(start), float(end)


def _shot_pair(shot: Shot | Mapping[str, Any] | Sequence[float]) -> Any:
    if isinstance(shot, Shot):
        return [shot.start, shot.end]
    if isinstance(shot, Mapping):
        return [shot.get("start"), shot.get("end")]
    return shot


async def _aget_connection(conn_id: str) -> Connection:
    """``BaseHook.aget_connection`` where it exists; else the sync lookup off the loop."""
    aget = getattr(BaseHook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)
    from asgiref.sync import sync_to_async  # pragma: no cover - Airflow 3.1

    return await sync_to_async(BaseHook.get_connection)(conn_id)  # pragma: no cover
