"""VideoDBHook: connection, auth, HTTP with retries, and typed errors.

The sync path uses one ``requests.Session`` per hook (its attempts are sent by
:mod:`airflow_provider_videodb.transport.sync_http`) and tenacity for retries; the async
path (for the trigger) lives in :mod:`airflow_provider_videodb.transport`. Both
hand every answer to :mod:`airflow_provider_videodb.responses`, which alone decides what it
means and whether it may be retried.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import requests
import tenacity
from airflow.sdk import BaseHook

from airflow_provider_videodb.compat import (
    AirflowNotFoundException,
    aget_connection,
    amask_secret,
    mask_secret,
)
from airflow_provider_videodb.exceptions import (
    VideoDBAPIError,
    VideoDBConfigError,
    VideoDBError,
    VideoDBJobFailedError,
    VideoDBJobTimeoutError,
    VideoDBNotFoundError,
    VideoDBUnsafeURLError,
    VideoDBValidationError,
)
from airflow_provider_videodb.polling import current_wait_deadline
from airflow_provider_videodb.responses import (
    AsyncJob,
    JobStatus,
    RequestInfo,
    Shot,
    Started,
    data_of,
    is_already_indexed,
    is_no_results,
    may_retry,
    parse_async_start,
    parse_clip_shots,
    parse_job_status,
    parse_scene_index_records,
    parse_scene_indexes,
    parse_started,
    parse_stream,
    parse_thumbnail_url,
    parse_transcript,
    parse_upload_url,
    parse_video,
    parse_video_list,
    poll_request_info,
    response_error,
    upload_request_info,
    url_for_log,
)
from airflow_provider_videodb.settings import CONN_TYPE, VideoDBSettings
from airflow_provider_videodb.transport.loop import LoopTransport
from airflow_provider_videodb.transport.sync_http import new_session, send_once
from airflow_provider_videodb.transport.upload import post_file
from airflow_provider_videodb.validation import (
    MAX_TIMELINE_SEGMENTS,
    ClipRequest,
    SceneIndexRequest,
    SearchRequest,
    SpokenIndexRequest,
    UploadRequest,
    check_timeline_within,
    parse_timeline,
    validate_collection_id,
    validate_non_negative_seconds,
    validate_positive_seconds,
    validate_scene_index_id,
    validate_segmenter,
    validate_video_id,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

_T = TypeVar("_T")


def _reason(error: BaseException) -> str:
    """What a failed request says in Test's message: a provider error's own text, or only the
    class of anything else (whose text might carry what it was given)."""
    return str(error) if isinstance(error, VideoDBError) else type(error).__name__


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
        """A hook for already-resolved settings (benchmarks, tests, the async side).

        :param settings: the resolved connection settings; the key is masked in logs.
        """
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

        Cached per event loop for ``transport.loop.SETTINGS_TTL_SECONDS``, with one shared
        lookup for concurrent callers (see :class:`~..transport.loop.LoopTransport`):
        thousands of triggers of one connection then cost one lookup, not one each.

        :param conn_id: the Airflow connection id.
        """
        return await LoopTransport.current().settings(conn_id, cls._aresolve_settings)

    @classmethod
    async def _aresolve_settings(cls, conn_id: str) -> VideoDBSettings:
        try:
            conn = await aget_connection(conn_id)
        except AirflowNotFoundException:
            raise VideoDBConfigError(f"VideoDB connection {conn_id!r} is not defined") from None
        aextra = getattr(conn, "aextra_dejson", None)
        extra = await aextra() if aextra else await asyncio.to_thread(lambda: conn.extra_dejson)
        # Off the loop: reading the settings checks a CA bundle path on disk.
        settings = await asyncio.to_thread(VideoDBSettings.from_connection, conn, extra=extra)
        await amask_secret(settings.api_key)
        return settings

    def get_conn(self) -> requests.Session:
        """The hook's HTTP session (created on first use, with the auth headers)."""
        if self._session is None:  # every request ends by its total deadline
            self._session = new_session(self.settings)
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
        """One attempt (see :func:`~airflow_provider_videodb.transport.sync_http.send_once`)."""
        session, settings = self.get_conn(), self.settings
        return send_once(session, settings, info, url, body=body, params=params, deadline=deadline)

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

    def _with_retries(
        self,
        info: RequestInfo,
        deadline: float | None,
        retry_if: Callable[[BaseException], bool],
        attempt: Callable[[], _T],
    ) -> _T:
        """``attempt()`` under the retry policy: the connection's budget, backoff with
        jitter (at least a capped ``Retry-After``), every retry logged; no attempt or wait
        after ``deadline`` (epoch seconds). ``retry_if(exc)`` says which failures are
        retried; the error finally raised says how many attempts were made."""
        stop: Any = tenacity.stop_after_attempt(self.settings.max_retries + 1)
        wait: Any = self._wait
        if deadline is not None:
            end = deadline
            stop = stop | (lambda state: time.time() >= end)
            wait = lambda state: max(0.0, min(self._wait(state), end - time.time()))  # noqa: E731
        retrying = tenacity.Retrying(
            stop=stop,
            retry=tenacity.retry_if_exception(retry_if),
            wait=wait,
            before_sleep=lambda state: self._log_retry(info, state),
            reraise=True,
        )
        attempts = 0

        def counted() -> _T:
            nonlocal attempts
            attempts += 1
            return attempt()

        try:
            return retrying(counted)
        except VideoDBAPIError as error:
            error.attempts = attempts
            raise

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

        :param method: the HTTP method.
        :param path: an API path, or an absolute URL on the configured origin.
        :param body: the JSON body, if any.
        :param params: query parameters.
        :param video_id: the video the call is about, for messages.
        :param info: what the call is, for messages and the retry rules (built from
            ``method`` and ``path`` when not given).
        :param deadline: epoch seconds by which the call, retries included, ends.
        """
        settings = self.settings
        url = settings.check_same_origin(path) if "://" in path else settings.url(path)
        info = info or RequestInfo(method.upper(), urlsplit(url).path, video_id)
        ambient = current_wait_deadline()
        if deadline is None or (ambient is not None and ambient < deadline):
            deadline = ambient
        return self._with_retries(
            info,
            deadline,
            lambda exc: isinstance(exc, VideoDBError) and may_retry(info, exc),
            lambda: self._send_once(info, url, body, params, deadline),
        )

    # -- API calls ---------------------------------------------------------------------------

    def _collection(self, collection_id: str | None) -> str:
        if collection_id is None:
            return self.settings.collection_id
        return validate_collection_id(collection_id)

    def get_user(self) -> dict[str, Any]:
        """The account the key belongs to (``GET /user``)."""
        return data_of(self.request("GET", "/user"))

    def get_video(self, video_id: str, *, collection_id: str | None = None) -> dict[str, Any]:
        """The video object, ``length`` as float.

        :param video_id: the video, ``m-...``.
        :param collection_id: its collection; default: the hook's or the connection's.
        """
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
        """The videos of a collection, each with ``length`` as float.

        :param collection_id: the collection; default: the hook's or the connection's.
        """
        info = RequestInfo("GET", "/video")
        payload = self.request(
            "GET", "/video", params={"collection_id": self._collection(collection_id)}, info=info
        )
        return parse_video_list(payload, info)

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

        :param video_id: the video, ``m-...``.
        :param timeline: ``[[start, end], ...]`` seconds (or its JSON string), or ``None``
            for the whole video.
        :param length: the video's length from the service, or ``None``.
        :param collection_id: the video's collection (validated only).
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
        """Start a clip job. Retried only where the service cannot have taken it.

        :param video_id: the video, ``m-...``.
        :param prompt: what to find, in words.
        :param content_type: ``spoken``, ``visual`` or ``multimodal``.
        :param model_name: ``basic``, ``pro`` or ``ultra``.
        :param scene_index_id: a scene index for visual search.
        :param callback_url: an http(s) URL the service POSTs the result to.
        """
        request = ClipRequest(
            video_id,
            prompt,
            content_type=content_type,
            model_name=model_name,
            scene_index_id=scene_index_id,
            callback_url=callback_url,
        )
        return self.submit_clip(request)

    def submit_clip(self, request: ClipRequest) -> AsyncJob:
        """Start the clip job of an already checked request (see :meth:`start_clip`).

        :param request: the clip job to submit.
        """
        info = RequestInfo("POST", f"/video/{request.video_id}/clip", request.video_id)
        body = request.body()
        job = parse_async_start(self.request("POST", info.path, body=body, info=info), info)
        self.settings.check_same_origin(job.output_url)
        return job

    def get_job_status(self, output_url: str, *, deadline: float | None = None) -> JobStatus:
        """One read of an async-response URL (with the retry policy). Same-origin only.

        :param output_url: the job's async-response URL (on the configured origin).
        :param deadline: epoch seconds (a wait's ``end_time``): see :meth:`request`.
        """
        url = self.settings.check_same_origin(output_url)
        info = poll_request_info(url)
        return parse_job_status(self.request("GET", url, info=info, deadline=deadline), info)

    def compile_shots(
        self,
        video_id: str | None,
        shots: Sequence[Shot | Mapping[str, Any] | Sequence[float]],
        *,
        collection_id: str | None = None,
    ) -> dict[str, Any]:
        """One stream of the shots, in order (``POST /compile``), of one video or several.

        Two kinds of shots, two checks, kept apart:

        * a list of :class:`Shot` only is a clip or search result the service sent, already
          checked as the service's answer by
          :func:`~airflow_provider_videodb.responses.parse_clip_shots` (finite, 0 <= start
          < end); the user-input limit on timeline pieces does not apply to it, only
          :data:`MAX_COMPILE_SHOTS` (a :class:`VideoDBResponseError` when exceeded);
        * pairs or ``{"start", "end"}`` mappings (optionally with a ``"video_id"``) are the
          caller's input, validated as such (:class:`VideoDBValidationError` naming
          ``shots[i]``).

        Each shot is cut from its own video (``Shot.video_id`` or a mapping's
        ``"video_id"``), else from ``video_id``. The shots go out as one entry per run of
        consecutive shots of the same video, at most :data:`MAX_COMPILE_ENTRY_SHOTS` each
        (the API's per-entry limit), in one request: the service stitches the entries in
        order into one stream.

        :param video_id: the video the shots are cut from when they do not say (``None``:
            every shot says).
        :param shots: the shots, in stream order.
        :param collection_id: the videos' collection; default: the hook's or the connection's.
        """
        if video_id is not None:
            validate_video_id(video_id)
        shots = list(shots)
        if not shots:
            raise VideoDBValidationError("shots", shots, "there is nothing to compile")
        info = RequestInfo("POST", "/compile", video_id)
        service_shots = [shot for shot in shots if isinstance(shot, Shot)]
        if len(service_shots) == len(shots):
            if len(shots) > MAX_COMPILE_SHOTS:
                raise response_error(
                    info,
                    f"the result has {len(shots)} shots; at most {MAX_COMPILE_SHOTS} "
                    "can be compiled into one stream",
                )
            segments: list[tuple[float, float]] = [(s.start, s.end) for s in service_shots]
        else:
            segments = parse_timeline([_shot_pair(shot) for shot in shots], "shots") or []
        videos = [_shot_video(shot, index, video_id) for index, shot in enumerate(shots)]
        collection = self._collection(collection_id)
        body = [
            {"video_id": vid, "collection_id": collection, "shots": [list(p) for p in run]}
            for vid, run in _entries(videos, segments)
        ]
        return parse_stream(self.request("POST", "/compile", body=body, info=info), info)

    # -- the rest of a pipeline: upload, index, search, transcripts --------------------------

    def _started(self, payload: Mapping[str, Any], info: RequestInfo) -> Started:
        """:func:`~airflow_provider_videodb.responses.parse_started`, and a job's
        ``output_url`` on the configured origin (else it is refused, never polled)."""
        started = parse_started(payload, info)
        if started.job is not None:
            self.settings.check_same_origin(started.job.output_url)
        return started

    def submit_upload(self, request: UploadRequest) -> Started:
        """Upload media: a URL is registered as is; a file is sent to an upload URL first.

        A file source: its size is read (a missing or unreadable file is refused before any
        request), ``GET /collection/{cid}/upload_url`` gives an upload URL, the file is
        POSTed there as the multipart field ``file`` (streamed, with no VideoDB header: the
        URL may be a storage host's; retried on transient failures, as it overwrites the
        same object), and ``POST /collection/{cid}/upload`` registers it. The upload URL's
        query string (presigned credentials) is never logged.

        :param request: the checked upload.
        """
        cid = self._collection(request.collection_id)
        if request.is_url:
            self.log.info(
                "VideoDB upload: registering %s in collection %s", url_for_log(request.uri), cid
            )
            return self._register_upload(cid, request, request.uri)
        path = request.storage_path()
        size = _source_size(request, path)
        info = RequestInfo("GET", f"/collection/{cid}/upload_url")
        name = request.display_name
        self.log.info("VideoDB upload: asking for an upload URL for %r (%d bytes)", name, size)
        payload = self.request("GET", info.path, params={"name": name}, info=info)
        upload_url = parse_upload_url(data_of(payload, info), info)
        self._send_file(upload_url, path, size, name)
        return self._register_upload(cid, request, upload_url)

    def _send_file(self, upload_url: str, path: Any, size: int, name: str) -> None:
        """Step 2 of an upload: the file to the upload URL, with retries."""
        settings = self.settings
        info = upload_request_info(upload_url)
        try:
            settings.check_same_origin(upload_url)
            verify: bool | str = settings.verify  # the API's own host: its TLS settings
        except VideoDBUnsafeURLError:
            verify = True  # a storage host: the system's CAs, whatever the connection says
        where = url_for_log(upload_url)
        self.log.info("VideoDB upload: sending %d bytes to %s", size, where)

        def attempt() -> None:
            try:
                opened = path.open("rb")
            except (OSError, ValueError) as error:
                raise _unreadable(str(path), error) from None
            with opened as file:
                post_file(
                    info,
                    upload_url,
                    file,
                    size,
                    name,
                    timeout=settings.requests_timeout,
                    verify=verify,
                    retry_max_wait=settings.retry_max_wait,
                )

        # Retried however far it got: the POST overwrites the same object.
        self._with_retries(
            info, None, lambda exc: isinstance(exc, VideoDBAPIError) and exc.retryable, attempt
        )
        self.log.info("VideoDB upload: %s received the file", where)

    def _register_upload(self, cid: str, request: UploadRequest, url: str) -> Started:
        info = RequestInfo("POST", f"/collection/{cid}/upload")
        payload = self.request("POST", info.path, body=request.body(url), info=info)
        started = self._started(payload, info)
        if started.job is not None:
            self.log.info("VideoDB upload: registered; job %s", started.job.job_id)
        else:
            self.log.info("VideoDB upload: registered as %s", (started.data or {}).get("id"))
        return started

    def submit_spoken_index(self, request: SpokenIndexRequest) -> Started:
        """Index a video's spoken words (``POST /video/{id}/index``).

        A video that is indexed already (HTTP 400 saying so, see
        :func:`~airflow_provider_videodb.responses.is_already_indexed`) is not an error:
        ``Started(data={"video_id": id, "already_indexed": True})``. ``force=True`` asks
        for a new index instead.

        :param request: the checked index request.
        """
        video_id = request.video_id
        info = RequestInfo("POST", f"/video/{video_id}/index", video_id)
        try:
            payload = self.request("POST", info.path, body=request.body(), info=info)
        except VideoDBAPIError as error:
            if not is_already_indexed(error):
                raise
            self.log.info("VideoDB video %s is already indexed (spoken words): %s", video_id, error)
            return Started(data={"video_id": video_id, "already_indexed": True})
        return self._started(payload, info)

    def submit_scene_index(self, request: SceneIndexRequest) -> Started:
        """Index a video's scenes (``POST /video/{id}/index/scene``); the job, or the
        answer (with ``scene_index_id``) when the service answers at once.

        :param request: the checked scene index request.
        """
        video_id = request.video_id
        info = RequestInfo("POST", f"/video/{video_id}/index/scene", video_id)
        return self._started(self.request("POST", info.path, body=request.body(), info=info), info)

    def list_scene_indexes(
        self, video_id: str, *, collection_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The video's scene indexes, each with ``scene_index_id``, ``name``, ``status``.

        :param video_id: the video, ``m-...``.
        :param collection_id: its collection; default: the hook's or the connection's.
        """
        validate_video_id(video_id)
        info = RequestInfo("GET", f"/video/{video_id}/index/scene", video_id)
        params = {"collection_id": self._collection(collection_id)}
        payload = self.request("GET", info.path, params=params, info=info)
        return parse_scene_indexes(data_of(payload, info), info)

    def get_scene_index(
        self, video_id: str, scene_index_id: str, *, collection_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The records of a scene index (``start``, ``end``, ``description``, ...).

        :param video_id: the video, ``m-...``.
        :param scene_index_id: the scene index.
        :param collection_id: the video's collection; default: the hook's or the connection's.
        """
        validate_video_id(video_id)
        validate_scene_index_id(scene_index_id)
        info = RequestInfo("GET", f"/video/{video_id}/index/scene/{scene_index_id}", video_id)
        params = {"collection_id": self._collection(collection_id)}
        payload = self.request("GET", info.path, params=params, info=info)
        return parse_scene_index_records(data_of(payload, info), info)

    def delete_scene_index(self, video_id: str, scene_index_id: str) -> None:
        """Delete a scene index (see :meth:`_delete` for a repeated delete).

        :param video_id: the video, ``m-...``.
        :param scene_index_id: the scene index.
        """
        validate_video_id(video_id)
        validate_scene_index_id(scene_index_id)
        self._delete(
            RequestInfo("DELETE", f"/video/{video_id}/index/scene/{scene_index_id}", video_id)
        )

    def delete_video(self, video_id: str) -> None:
        """Delete a video (its streams stop working).

        :param video_id: the video, ``m-...``.
        """
        validate_video_id(video_id)
        self._delete(RequestInfo("DELETE", f"/video/{video_id}", video_id))

    def _delete(self, info: RequestInfo) -> None:
        """A DELETE. A 404 after a retry means an earlier attempt deleted it (its answer was
        lost): done. A 404 on the first attempt is an error (nothing was there)."""
        try:
            self.request(info.method, info.path, info=info)
        except VideoDBNotFoundError as error:
            if error.attempts <= 1:
                raise
            self.log.info(
                "VideoDB %s: gone after a retry; an earlier attempt deleted it", info.path
            )

    def search(self, request: SearchRequest) -> list[Shot]:
        """A legacy search of a video or a collection; the shots, each with its video.

        Nothing matched (the service's 400 "No results found",
        :func:`~airflow_provider_videodb.responses.is_no_results`) is an empty list.

        :param request: the checked search (no ``video_id``: the collection's, the hook's or
            the connection's).
        """
        path = request.path_for(self._collection(request.collection_id))
        info = RequestInfo("POST", path, request.video_id)
        try:
            payload = self.request("POST", path, body=request.body(), info=info)
        except VideoDBAPIError as error:
            if not is_no_results(error):
                raise
            self.log.info("VideoDB search %r matched nothing: %s", request.query, error)
            return []
        return parse_clip_shots(data_of(payload, info), info)

    def get_transcript(
        self,
        video_id: str,
        *,
        start: float | None = None,
        end: float | None = None,
        segmenter: str = "word",
        timeout: float = 600.0,
        poll_interval: float = 5.0,
    ) -> dict[str, Any]:
        """``{"text", "word_timestamps"}`` of a video (``GET /video/{id}/transcription``).

        When the service answers with a job (the transcript is being made), it is waited for
        here, on this thread, for at most ``timeout`` seconds.

        :param video_id: the video, ``m-...``.
        :param start: from this second on (``None``: the start).
        :param end: up to this second (``None``: the end).
        :param segmenter: ``word``, ``sentence`` or ``time``.
        :param timeout: seconds to wait for a transcript job.
        :param poll_interval: seconds between polls of a transcript job.
        """
        validate_video_id(video_id)
        params = {"segmenter": validate_segmenter(segmenter)}
        bounds = {}
        for field, value in (("start", start), ("end", end)):
            if value is not None:
                bounds[field] = validate_non_negative_seconds(field, value)
                params[field] = f"{bounds[field]:g}"
        if "start" in bounds and "end" in bounds and bounds["end"] < bounds["start"]:
            raise VideoDBValidationError("end", end, f"must not be before start ({start})")
        info = RequestInfo("GET", f"/video/{video_id}/transcription", video_id)
        started = self._started(self.request("GET", info.path, params=params, info=info), info)
        if started.job is not None:
            return parse_transcript(self._wait_here(started.job, timeout, poll_interval), info)
        return parse_transcript(started.data or {}, info)

    def _wait_here(self, job: AsyncJob, timeout: float, poll_interval: float) -> dict[str, Any]:
        """Wait on this thread for a job (the rules of every wait); its result ``data``."""
        from airflow_provider_videodb.polling import JobWait, PollTracker, WaitPolicy, wait_for_job

        seconds = validate_positive_seconds("timeout", timeout)
        wait = JobWait.start(job.job_id, job.output_url, seconds, WaitPolicy(poll_interval))
        seen: list[JobStatus] = []

        def fetch() -> JobStatus:
            seen.append(self.get_job_status(job.output_url))
            return seen[-1]

        event = wait_for_job(PollTracker(wait), fetch, self.log)
        if event["status"] == "timeout":
            raise VideoDBJobTimeoutError(job.job_id, seconds)
        if event["status"] != "success" or not seen or seen[-1].state != "done":
            raise VideoDBJobFailedError(job.job_id, str(event.get("message") or "job failed"))
        return seen[-1].data or {}

    def generate_thumbnail(self, video_id: str, *, time: float | None = None) -> str:
        """The URL of a thumbnail image: the video's (``time`` None) or the frame at
        ``time`` seconds (``POST /video/{id}/thumbnail``).

        :param video_id: the video, ``m-...``.
        :param time: the second to take the frame from.
        """
        validate_video_id(video_id)
        path = f"/video/{video_id}/thumbnail"
        if time is None:
            info = RequestInfo("GET", path, video_id)
            payload = self.request("GET", path, info=info)
        else:
            seconds = validate_non_negative_seconds("time", time)
            info = RequestInfo("POST", path, video_id)
            payload = self.request("POST", path, body={"time": seconds}, info=info)
        return parse_thumbnail_url(data_of(payload, info), info)

    def test_connection(self) -> tuple[bool, str]:
        """What Airflow's Test runs: the key (``GET /user``), then the connection's
        collection (``GET /collection/{id}``). The message says what was checked and, on
        failure, which field or which collection is wrong; never the key, in any form.

        Airflow tests a connection under a random connection id of its own, so messages
        about a field name the field ("the API key (field 'password')"), not the id.
        """
        try:
            settings = self.settings
        except VideoDBError as error:
            return False, f"VideoDB connection failed: {self._without_conn_id(error)}"
        ok, message = self._check_key_and_collection(settings)
        return ok, _redact(
            message if ok else f"VideoDB connection failed: {message}", settings.api_key
        )

    def _check_key_and_collection(self, settings: VideoDBSettings) -> tuple[bool, str]:
        """Test's two requests and what to say of them (not redacted yet)."""
        try:
            user = self.get_user()
        except Exception as error:
            return False, (
                f"the API key (field 'password') was checked with GET /user at "
                f"{settings.base_url}: {_reason(error)}"
            )
        who = user.get("user_name") or user.get("user_email") or user.get("user_id") or "?"
        cid = settings.collection_id
        try:
            collection = data_of(self.request("GET", f"/collection/{cid}"))
        except VideoDBNotFoundError:
            return False, (
                f"collection {cid!r} does not exist for {who} at {settings.base_url} "
                "(field 'Collection', extra collection_id)"
            )
        except Exception as error:
            return False, (
                f"the key of {who} works, but collection {cid!r} could not be read: "
                f"{_reason(error)}"
            )
        name = collection.get("name") if isinstance(collection, Mapping) else None
        label = f"{cid!r} ({name})" if name and name != cid else repr(cid)
        return (
            True,
            f"Connected to VideoDB at {settings.base_url} as {who}; collection {label} found",
        )

    def _without_conn_id(self, error: BaseException) -> str:
        """``error``'s message without the ``VideoDB connection '<id>'`` it starts with."""
        text = str(error)
        for prefix in (f"VideoDB connection {self.videodb_conn_id!r}: ", "VideoDB "):
            if text.startswith(prefix):
                return text[len(prefix) :]
        return text

    # -- connection form (Airflow < 3.2 reads these; newer ones read the provider info) ------

    @classmethod
    def _connection_type_info(cls) -> dict[str, Any]:
        from airflow_provider_videodb import get_provider_info

        types = get_provider_info().get("connection-types", [])
        return next((t for t in types if t.get("connection-type") == cls.conn_type), {})

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The standard fields' labels, placeholders and which are hidden (provider info)."""
        behaviour = cls._connection_type_info().get("ui-field-behaviour", {})
        return {
            "hidden_fields": list(behaviour.get("hidden-fields", [])),
            "relabeling": dict(behaviour.get("relabeling", {})),
            "placeholders": dict(behaviour.get("placeholders", {})),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extra fields as WTForms fields, built from the provider info's conn-fields.

        Only the field classes Airflow 3.1's API server can stand in for without FAB
        (string, integer, boolean): a switch for booleans, a number input for numbers
        (decimals are accepted by the UI's number input), a text box for the rest.
        """
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
            description = spec.get("description")
            if kinds == {"boolean"}:
                widgets[name] = BooleanField(label, default=default, description=description)
            elif kinds and kinds <= {"integer", "number"}:
                widgets[name] = IntegerField(
                    label, widget=BS3TextFieldWidget(), default=default, description=description
                )
            else:
                widgets[name] = StringField(
                    label,
                    widget=BS3TextFieldWidget(),
                    default=None if default is None else str(default),
                    description=description,
                )
        return widgets


#: Shots per ``/compile`` entry: the API's limit on the segments of one entry (as for a
#: timeline); longer shot lists are sent as several consecutive entries of the same video.
MAX_COMPILE_ENTRY_SHOTS = MAX_TIMELINE_SEGMENTS
#: Most shots of a clip result compiled into one stream (a request of ~2 MB).
MAX_COMPILE_SHOTS = 50_000


def _shot_pair(shot: Shot | Mapping[str, Any] | Sequence[float]) -> Any:
    if isinstance(shot, Shot):
        return [shot.start, shot.end]
    if isinstance(shot, Mapping):
        return [shot.get("start"), shot.get("end")]
    return shot


def _shot_video(
    shot: Shot | Mapping[str, Any] | Sequence[float], index: int, default: str | None
) -> str:
    """The video a shot is cut from: its own, else ``default``."""
    if isinstance(shot, Shot):
        own = shot.video_id
    elif isinstance(shot, Mapping) and shot.get("video_id") is not None:
        own = validate_video_id(shot["video_id"], f"shots[{index}].video_id")
    else:
        own = None
    video = own or default
    if video is None:
        raise VideoDBValidationError(
            "video_id", None, f"shots[{index}] does not say which video it is cut from"
        )
    return video


def _entries(
    videos: Sequence[str], segments: Sequence[tuple[float, float]]
) -> Iterator[tuple[str, list[tuple[float, float]]]]:
    """``(video, segments)`` per run of consecutive shots of one video, in order, each at
    most :data:`MAX_COMPILE_ENTRY_SHOTS` long."""
    for video, run in itertools.groupby(zip(videos, segments, strict=True), key=lambda x: x[0]):
        pieces = [segment for _, segment in run]
        for first in range(0, len(pieces), MAX_COMPILE_ENTRY_SHOTS):
            yield video, pieces[first : first + MAX_COMPILE_ENTRY_SHOTS]


def _source_size(request: UploadRequest, path: Any) -> int:
    """The size of an upload's file, read before any request: a missing or unreadable file
    is a :class:`VideoDBValidationError` naming ``source``."""
    try:
        if not path.is_file():
            raise VideoDBValidationError("source", request.uri, "is not a file (or does not exist)")
        return int(path.stat().st_size)
    except VideoDBValidationError:
        raise
    except (OSError, ValueError, ImportError) as error:
        raise _unreadable(request.uri, error) from None


def _unreadable(uri: str, error: BaseException) -> VideoDBValidationError:
    return VideoDBValidationError(
        "source", uri, f"cannot be read ({type(error).__name__}: {error})"
    )
