"""The ``/_twin/...`` admin API: not part of VideoDB, never journaled, never faulted.

Every call needs the admin token in ``x-twin-admin-token`` (checked by the middleware).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .app import error_answer, read_capped
from .backend import TwinState
from .errors import ApiError, BadRequest, InvalidFault
from .faults import FaultRuleError


async def _body(request: web.Request) -> Any:
    raw = await read_capped(request)
    try:
        return json.loads(raw) if raw else {}
    except (ValueError, RecursionError) as exc:
        raise BadRequest("admin body must be JSON (not nested too deeply)") from exc


def _answer(data: Any) -> web.Response:
    return web.json_response({"success": True, "data": data})


def stats_of(state: TwinState) -> dict[str, Any]:
    return {
        "connections_opened": state.connections.opened,
        **state.stats,
        "connections_open": state.connections.open_now(),
        "jobs": len(state.jobs),
        "journal_entries": len(state.journal),
    }


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
        state = self.state
        body = await _body(request)
        if isinstance(body, list):
            rules, seed = body, None
        elif isinstance(body, dict):
            rules, seed = body.get("rules", []), body.get("seed")
        else:
            message = f"faults body must be a list or an object, got {body!r}"
            raise InvalidFault(message)
        try:
            state.faults.replace(rules if rules is not None else [], seed=seed)
        except FaultRuleError as exc:
            raise InvalidFault(str(exc)) from exc
        return _answer(state.faults.describe())

    async def get_faults(self, request: web.Request) -> web.Response:
        return _answer(self.state.faults.describe())

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.state.faults.clear()
        return _answer({"rules": []})

    async def get_journal(self, request: web.Request) -> web.Response:
        """``?since=<seq>`` returns only newer entries."""
        entries = self.state.journal.entries()
        since = request.query.get("since")
        if since is not None:
            if not since.isascii() or not since.isdigit():
                raise BadRequest(f"since must be a whole number >= 0, got {since[:40]!r}")
            entries = [e for e in entries if e["seq"] > int(since)]
        return _answer({"entries": entries})

    async def clear_journal(self, request: web.Request) -> web.Response:
        self.state.journal.clear()
        return _answer({"entries": []})

    async def get_stats(self, request: web.Request) -> web.Response:
        return _answer(stats_of(self.state))

    async def get_config(self, request: web.Request) -> web.Response:
        return _answer(self.state.public_config())

    async def set_config(self, request: web.Request) -> web.Response:
        state = self.state
        body = await _body(request)
        if not isinstance(body, dict):
            raise BadRequest("config body must be an object")
        state.config.update(body)
        state.journal.resize(state.config.journal_size)
        return _answer(state.public_config())


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
