"""The aiohttp application of the local server: the one middleware and every route.

Its own module so that the handler modules (``api``, ``player``, ``admin``) can import what they
share from ``app`` without ``app`` importing them back (that cycle was hidden by an import
inside the function).
"""

from __future__ import annotations

from aiohttp import web

from . import admin, api, player, search_api
from .app import MAX_JSON_BODY, STATE, twin_middleware
from .backend import TwinState


def build_app(state: TwinState) -> web.Application:
    app = web.Application(middlewares=[twin_middleware], client_max_size=MAX_JSON_BODY)
    app[STATE] = state
    api.setup_routes(app, state)
    player.setup_routes(app, state)
    admin.setup_routes(app, state)
    search_api.setup_routes(app, state)

    async def on_shutdown(_: web.Application) -> None:
        for task in list(state.background):
            task.cancel()

    app.on_shutdown.append(on_shutdown)
    return app
