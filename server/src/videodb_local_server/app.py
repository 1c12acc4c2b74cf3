"""The HTTP side the handlers share: the one middleware, the envelope, auth, body caps.

State and rules are in ``backend`` (no HTTP there); ``webapp`` assembles the application.

The middleware does, in order: the admin token check (``/_twin/...`` is never journaled or
faulted), fault selection, auth (before any body is read), the body size cap, the handler,
post-processing faults, and the journal entry.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .backend import TwinState
from .errors import (
    ApiError,
    BadRequest,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from .faults import FaultRule

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Paths that need no API key: presigned uploads and what a video player fetches.
PUBLIC_PREFIXES = ("/upload/", "/hls/", "/player", "/watch", "/embed", "/media/")
#: Header that carries the admin token on every ``/_twin/...`` call.
ADMIN_TOKEN_HEADER = "x-twin-admin-token"
#: Environment variable the server reads the admin token from when no flag gives one.
ADMIN_TOKEN_ENV = "VIDEODB_LOCAL_ADMIN_TOKEN"
#: Largest body accepted on the JSON routes (and the admin API).
MAX_JSON_BODY = 4 * 1024 * 1024


def error_answer(exc: ApiError) -> web.Response:
    """The envelope of an error type: its status, message, ``error_code`` and headers."""
    return error_response(exc.status, exc.message, exc.error_code, exc.headers)


def error_response(
    status: int, message: str, error_code: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"success": False, "message": message, "error_code": error_code}
    return web.json_response(body, status=status, headers=headers)


def ok(data: Any, **extra: Any) -> web.Response:
    return web.json_response({"success": True, "data": data, **extra})


STATE: web.AppKey[TwinState] = web.AppKey("twin_state", TwinState)


def origin_of(state: TwinState, request: web.Request) -> str:
    """The server's own origin as the client addressed it (absolute URLs use it), unless
    ``public_origin`` is configured."""
    return state.config.public_origin or f"{request.scheme}://{request.host}"


def auth_state(request: web.Request, keys: dict[str, str]) -> str:
    token = request.headers.get("x-access-token")
    if token is None:
        return "missing"
    return "ok" if token in keys else "bad"


def admin_allowed(request: web.Request, admin_token: str) -> bool:
    """The admin token header matches (constant-time; an empty configured token never does)."""
    given = request.headers.get(ADMIN_TOKEN_HEADER, "")
    if not admin_token or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), admin_token.encode())


def refuse(response: web.Response) -> web.Response:
    """An early refusal: the unread body is not drained, the connection closes after it."""
    response.force_close()
    return response


async def read_capped(request: web.Request, limit: int = MAX_JSON_BODY) -> bytes:
    """The body, refused with 413 (before reading when Content-Length says so) past ``limit``.

    :param request: the request whose body to read.
    :param limit: largest accepted size in bytes.
    """
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge.over(limit)
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge.over(limit) from exc


def drop_connection(request: web.Request) -> None:
    """Close the TCP connection without an answer (the client sees a reset / EOF)."""
    transport = request.transport
    if transport is not None:
        transport.abort()


class DroppedError(Exception):
    """Raised after a dropped connection so aiohttp writes nothing."""


def _fault_response(rule: FaultRule) -> web.Response:
    message = rule.message or f"Injected fault: HTTP {rule.status}"
    if rule.kind == "success_false":
        return error_response(200, rule.message or "Injected failure", "injected_failure")
    headers = {}
    if rule.retry_after is not None or rule.status == 429:
        retry_after = rule.retry_after if rule.retry_after is not None else 1
        headers["Retry-After"] = f"{retry_after:g}"
    code = "rate_limited" if rule.status == 429 else "injected_fault"
    return error_response(rule.status, message, code, headers)


MALFORMED_BODY = b'{"success": true, "data": {"id": '


@web.middleware
async def twin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    state = request.app[STATE]
    if path.startswith("/_twin/"):
        if not admin_allowed(request, state.admin_token):
            message = f"Missing or invalid admin token ({ADMIN_TOKEN_HEADER})"
            return refuse(error_answer(Unauthorized(message)))
        return await _guarded(request, handler, path)
    state.stats["requests"] += 1
    rule = None
    if state.faults.rules:
        rule = state.faults.pick(request.method, path.rstrip("/") or "/")
    auth = auth_state(request, state.keys)
    status: int | None = None
    journal_body: bytes | int | None = None
    connection = _connection_name(request) if state.journal.enabled else None
    public = path.startswith(PUBLIC_PREFIXES)
    response: web.StreamResponse | None
    try:
        if auth != "ok" and not public:
            response = refuse(_unauthorized(auth))
        else:
            if request.body_exists and request.content_type.startswith("multipart/"):
                journal_body = request.content_length  # uploads: size only, read by the handler
            elif request.body_exists:
                try:
                    journal_body = await read_capped(request)
                except ApiError as exc:
                    response = refuse(error_answer(exc))
                    status = response.status
                    return response
            response = await _fault_before(state, rule, request)
            if response is None:
                response = await _guarded(request, handler, path)
        status = response.status
        return _fault_after(rule, request, response)
    except DroppedError:
        raise asyncio.CancelledError from None
    finally:
        if state.journal.enabled:
            state.journal.record(
                method=request.method,
                path=path,
                query=request.query_string,
                status=status,
                fault=rule.kind if rule is not None else None,
                connection=connection,
                headers=request.headers,
                auth=auth,
                body=journal_body,
                content_type=request.headers.get("Content-Type", ""),
            )


async def _fault_before(
    state: TwinState, rule: FaultRule | None, request: web.Request
) -> web.StreamResponse | None:
    """Faults that act before processing; an answer here means the handler never runs."""
    if rule is None:
        return None
    state.stats["faults_applied"] += 1
    if rule.kind in ("status", "success_false"):
        return _fault_response(rule)
    if rule.kind == "drop_before":
        drop_connection(request)
        raise DroppedError
    if rule.kind == "delay":
        await asyncio.sleep(rule.seconds)
    elif rule.kind == "fail_job":
        request["fail_job"] = True  # read by the handlers that create or poll jobs
    return None


def _fault_after(
    rule: FaultRule | None, request: web.Request, response: web.StreamResponse
) -> web.StreamResponse:
    """Faults that act on the answer of a request that was processed."""
    if rule is None:
        return response
    if rule.kind == "drop_after":
        drop_connection(request)
        raise DroppedError
    if rule.kind == "malformed_json":
        return web.Response(body=MALFORMED_BODY, content_type="application/json")
    return response


def _connection_name(request: web.Request) -> str | None:
    """The client's address:port, which names its TCP connection while it is open."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    return f"{peer[0]}:{peer[1]}" if peer else None


def _unauthorized(auth: str) -> web.Response:
    if auth == "missing":
        return error_answer(Unauthorized("Missing API key (x-access-token)"))
    return error_answer(Unauthorized("Invalid API key"))


async def _guarded(request: web.Request, handler: Handler, path: str) -> web.StreamResponse:
    """The handler; every failure becomes an envelope answer (never a plain 500)."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_answer(exc)
    except web.HTTPNotFound:
        return error_answer(NotFound(f"No such endpoint: {request.method} {path}"))
    except web.HTTPMethodNotAllowed:
        return error_answer(MethodNotAllowed(f"Method not allowed: {request.method}"))
    except web.HTTPRequestEntityTooLarge:
        return refuse(error_answer(PayloadTooLarge("Request body is too large")))
    except (json.JSONDecodeError, RecursionError):
        return error_answer(BadRequest("Request body is not valid JSON"))
    except (asyncio.CancelledError, DroppedError):
        raise
    except Exception:
        log.exception("unexpected error in %s %s", request.method, path)
        return error_answer(InternalError("Internal error in the local server"))


def add_route(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Register ``path`` with and without a trailing slash."""
    app.router.add_route(method, path, handler)
    app.router.add_route(method, path + "/", handler)
