"""The ``/_twin/...`` admin API: not part of VideoDB, never journaled, never faulted.

Every call needs the admin token in ``x-twin-admin-token`` (checked by the middleware).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from . import backend
from .app import error_answer, read_capped
from .backend import TwinState
from .errors import ApiError, BadRequest


async def _body(request: web.Request) -> Any:
    raw = await read_capped(request)
    try:
        return json.loads(raw) if raw else {}
    except (ValueError, RecursionError) as exc:
        raise BadRequest("admin body must be JSON (not nested too deeply)") from exc


def _answer(data: Any) -> web.Response:
    return web.json_response({"success": True, "data": data})


async def _admin_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_answer(exc)


def _wrap(handler: Any) -> Any:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        return await _admin_errors(request, handler)

    return wrapped


class AdminHandlers:
    """The ``/_twin/...`` handlers of one state."""

    def __init__(self, state: TwinState) -> None:
        self.state = state

    async def set_faults(self, request: web.Request) -> web.Response:
        """Body: a list of rules, or ``{"rules": [...], "seed": 42}``. Replaces the active rules."""
        return _answer(backend.set_faults(self.state, await _body(request)))

    async def get_faults(self, request: web.Request) -> web.Response:
        return _answer(self.state.faults.describe())

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.state.faults.clear()
        return _answer({"rules": []})

    async def get_journal(self, request: web.Request) -> web.Response:
        """``?since=<seq>`` returns only newer entries."""
        entries = backend.journal_entries(self.state, request.query.get("since"))
        return _answer({"entries": entries})

    async def clear_journal(self, request: web.Request) -> web.Response:
        self.state.journal.clear()
        return _answer({"entries": []})

    async def get_stats(self, request: web.Request) -> web.Response:
        return _answer(backend.stats_of(self.state))

    async def get_config(self, request: web.Request) -> web.Response:
        return _answer(self.state.public_config())

    async def set_config(self, request: web.Request) -> web.Response:
        return _answer(backend.set_config(self.state, await _body(request)))


def setup_routes(app: web.Application, state: TwinState) -> None:
    handlers = AdminHandlers(state)
    routes = [
        ("POST", "/_twin/faults", handlers.set_faults),
        ("GET", "/_twin/faults", handlers.get_faults),
        ("DELETE", "/_twin/faults", handlers.clear_faults),
        ("GET", "/_twin/journal", handlers.get_journal),
        ("DELETE", "/_twin/journal", handlers.clear_journal),
        ("GET", "/_twin/stats", handlers.get_stats),
        ("GET", "/_twin/config", handlers.get_config),
        ("POST", "/_twin/config", handlers.set_config),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _wrap(handler))
