"""Async reads of job status for the trigger, over the loop's shared aiohttp session.

The session, its pool and the CA contexts belong to the loop's
:class:`~.loop.LoopTransport`: thousands of triggers of one loop share one bounded,
keep-alive connection pool instead of opening one each. Per call, nothing is built but the
request itself: headers, timeouts and TLS settings are built once per
:class:`VideoDBSettings`.

Each :func:`fetch_job_status` is ONE attempt; the trigger's poll state machine decides about
waiting and retrying from the typed error, interpreted by :mod:`..responses` exactly as on
the sync path. (aiohttp itself re-sends an idempotent GET once when a pooled keep-alive
connection turns out to be closed, per RFC 9112 section 9.3.1; that is kept on purpose: at
thousands of triggers, idle connections closed by the server must not count as failures.)

Each attempt is bounded: the connection's ``timeout`` is its TOTAL time (connect, headers,
body), cut to the wait's ``end_time`` when one is given; an answer longer than
:data:`~..responses.MAX_ANSWER_BYTES` is refused while it is read; a header aiohttp would
refuse (or that could not travel) is a :class:`VideoDBConfigError` that quotes nothing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import lru_cache

import aiohttp

from airflow_provider_videodb.polling import request_budget
from airflow_provider_videodb.responses import (
    MAX_ANSWER_BYTES,
    JobStatus,
    RequestInfo,
    answer_too_large_error,
    deadline_error,
    interpret_response,
    parse_job_status,
    poll_request_info,
    request_encoding_error,
    transport_error,
)
from airflow_provider_videodb.settings import VideoDBSettings
from airflow_provider_videodb.transport.loop import LoopTransport

# aiohttp >= 3.10 tells a connect timeout apart from a read timeout.
_CONNECT_TIMEOUT_ERRORS: tuple[type[BaseException], ...] = tuple(
    cls for cls in (getattr(aiohttp, "ConnectionTimeoutError", None),) if isinstance(cls, type)
)
_NOT_RETRYABLE_ERRORS = (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)


@lru_cache(maxsize=256)
def _client_timeout(connect: float, total: float) -> aiohttp.ClientTimeout:
    # ``total`` bounds the whole request (connect, headers, body: a server that drips one
    # byte at a time cannot hold it longer). It would also count a wait for a free pooled
    # connection, but the poller (:mod:`.poller`) has as many workers as pooled connections,
    # so its polls never queue for one.
    return aiohttp.ClientTimeout(total=total, sock_connect=min(connect, total))


def _transport(info: RequestInfo, exc: BaseException, *, sent: bool) -> Exception:
    return transport_error(
        info, exc, sent=sent, retryable=not isinstance(exc, _NOT_RETRYABLE_ERRORS)
    )


async def _read_capped(response: aiohttp.ClientResponse, info: RequestInfo) -> bytes:
    """The body, refused (:func:`answer_too_large_error`) as soon as it is known to be
    longer than :data:`MAX_ANSWER_BYTES`: by its Content-Length, else while counting."""
    length = response.content_length
    if length is not None and length > MAX_ANSWER_BYTES:
        response.close()  # the connection is not drained, it is dropped
        raise answer_too_large_error(info, length, status=response.status)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            response.close()
            raise answer_too_large_error(info, None, status=response.status)
        chunks.append(chunk)
    return b"".join(chunks)


async def _get(
    session: aiohttp.ClientSession,
    settings: VideoDBSettings,
    url: str,
    info: RequestInfo,
    *,
    deadline: float | None = None,
) -> dict:
    """One GET, ended by ``settings.timeout`` in total, and by ``deadline`` (a wait's
    ``end_time``, see :func:`~airflow_provider_videodb.polling.request_budget`)."""
    headers = settings.shared_headers
    if not settings.headers_sendable:  # refused alike on the sync path; never sent
        raise request_encoding_error(info)
    budget = request_budget(settings.timeout, deadline, time.time())
    verify = settings.verify
    failure: Exception | None = None
    try:
        async with session.get(
            url,
            headers=headers,
            timeout=_client_timeout(settings.connect_timeout, budget),
            # True: aiohttp's default verifying context; a str: a CA bundle path.
            ssl=(
                verify
                if isinstance(verify, bool)
                else await LoopTransport.current().ca_context(verify)
            ),
            allow_redirects=False,  # the key header must not follow a redirect elsewhere
        ) as response:
            body = await _read_capped(response, info)
            status, answer_headers = response.status, response.headers
    except aiohttp.ClientConnectorError as exc:  # refused / unreachable: never sent
        failure = _transport(info, exc, sent=False)
    except _CONNECT_TIMEOUT_ERRORS as exc:
        failure = _transport(info, exc, sent=False)
    except aiohttp.InvalidURL:  # its text is the URL; none of it is kept
        failure = request_encoding_error(info)
    except asyncio.TimeoutError:  # the request's total deadline (or its socket read)
        failure = deadline_error(info, budget, sent=True)
    except aiohttp.ClientError as exc:
        failure = _transport(info, exc, sent=True)
    except ValueError:  # aiohttp refusing a header (UnicodeEncodeError is one): its text
        failure = request_encoding_error(info)  # quotes the header, i.e. the key
    if failure is not None:
        # Raised here, outside the handler: no __context__ keeps the library's exception.
        raise failure
    return interpret_response(
        info, status, answer_headers, body, retry_max_wait=settings.retry_max_wait
    )


@dataclass(frozen=True)
class PollTarget:
    """An output URL checked against its settings' origin once, to be polled many times.

    Build it with :func:`poll_target` only: it carries the settings it was checked against,
    so the key it sends can only go to that origin.
    """

    settings: VideoDBSettings
    url: str
    info: RequestInfo


def poll_target(settings: VideoDBSettings, output_url: str) -> PollTarget:
    """Check ``output_url`` (:class:`VideoDBUnsafeURLError` if on another origin)."""
    url = settings.check_same_origin(output_url)
    return PollTarget(settings, url, poll_request_info(url))


async def fetch_job_status(
    settings: VideoDBSettings,
    output_url: str,
    *,
    session: aiohttp.ClientSession | None = None,
    deadline: float | None = None,
) -> JobStatus:
    """Read an async-response URL once. Raises the typed error (``retryable`` set).

    The URL must be on the configured origin (:class:`VideoDBUnsafeURLError` otherwise):
    the key is never sent anywhere else. Pollers of one URL use :func:`poll_target` once
    and :func:`poll_job_status` per poll.
    """
    return await poll_job_status(
        poll_target(settings, output_url), session=session, deadline=deadline
    )


async def poll_job_status(
    target: PollTarget,
    *,
    session: aiohttp.ClientSession | None = None,
    deadline: float | None = None,
) -> JobStatus:
    """:func:`fetch_job_status` for an already checked URL (the poller's hot path).

    ``deadline`` (epoch seconds, a wait's ``end_time``) cuts the request's own timeout.
    """
    settings, url, info = target.settings, target.url, target.info
    if session is not None:
        payload = await _get(session, settings, url, info, deadline=deadline)
    else:  # hold the loop's session for this one call
        transport = LoopTransport.current()
        held = transport.acquire()
        try:
            payload = await _get(held, settings, url, info, deadline=deadline)
        finally:
            await transport.release(held)
    return parse_job_status(payload, info)


async def list_videos(
    settings: VideoDBSettings,
    collection_id: str,
    *,
    session: aiohttp.ClientSession,
) -> list[dict]:
    """The videos of a collection (``GET /video?collection_id=``), in ONE attempt.

    Each video is read by :func:`~..responses.parse_video`, as on the sync path; a failure
    raises the typed error (``retryable`` set) for the caller's failure budget.

    :param settings: the connection's settings (origin, key, timeouts, TLS).
    :param collection_id: the collection (checked, never sent unchecked).
    :param session: the loop's shared session.
    """
    from urllib.parse import urlencode

    from airflow_provider_videodb.responses import parse_video_list
    from airflow_provider_videodb.validation import validate_collection_id

    query = urlencode({"collection_id": validate_collection_id(collection_id)})
    info = RequestInfo("GET", "/video")
    payload = await _get(session, settings, f"{settings.url('/video')}?{query}", info)
    return parse_video_list(payload, info)
