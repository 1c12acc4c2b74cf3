"""Run the local server: open the store, ingest demo media, listen, stop cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from .backend import DEFAULT_MAX_UPLOAD, TwinConfig, TwinState
from .media.hls import sweep_stale_work
from .store import Store, new_id
from .webapp import build_app

log = logging.getLogger(__name__)
DEMO_MARKER = "demo-ingested"


@dataclass
class ServerOptions:
    data_dir: Path
    keys: dict[str, str]
    host: str = "127.0.0.1"
    port: int = 0
    demo: bool = False
    port_file: Path | None = None
    config: TwinConfig = field(default_factory=TwinConfig)
    faults: list[dict[str, Any]] = field(default_factory=list)
    seed: int | None = None
    backlog: int = 8192
    #: Required on every ``/_twin/...`` call (``x-twin-admin-token``).
    admin_token: str = ""
    allow_remote_urls: bool = False
    media_root: Path | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    #: Seconds a connection may stay idle (also: open without a request) before it is closed.
    idle_timeout: float = 30.0
    #: Print the admin token at start (off when it came from the environment).
    admin_token_printed: bool = True


def raise_fd_limit() -> None:
    """Many concurrent clients need many sockets: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def ingest_demo(state: TwinState) -> None:
    """Create the demo videos once per data dir (blocking; runs before listening)."""
    from .media import demo, ingest

    marker = state.data_dir / DEMO_MARKER
    if marker.exists():
        return
    for item in demo.generate_demo(state.data_dir / "demo"):
        # Crash-safe: a demo video already stored (same source and name) is skipped, its
        # media folder is fixed so an interrupted cut is resumed, and the video row (with its
        # source key) is written last, in one transaction.
        source = f"demo:{Path(item.path).name}"
        if state.store.find_video_by_source("default", source, item.name) is not None:
            continue
        vid = new_id("m")
        media_dir = state.data_dir / "media" / f"demo-{Path(item.path).stem}"
        result = ingest.ingest_video(item.path, media_dir)
        cues = result.cues
        if item.transcript_path is not None:
            cues = ingest.read_subtitle(item.transcript_path) or cues
        if cues:
            state.store.set_transcript(vid, cues, result.cue_source or "sidecar")
        state.store.add_video(
            vid=vid,
            collection_id="default",
            name=item.name,
            description=item.description,
            length=result.length,
            media_dir=str(media_dir),
            source=source,
        )
        log.info("demo video %s (%s, %.1fs) ready", vid, item.name, result.length)
    marker.write_text("1\n")


def build_state(options: ServerOptions) -> TwinState:
    options.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(options.data_dir / "videodb.sqlite3")
    state = TwinState(
        data_dir=options.data_dir,
        keys=options.keys,
        store=store,
        config=options.config,
        admin_token=options.admin_token,
        allow_remote_urls=options.allow_remote_urls,
        media_root=options.media_root,
        max_upload_bytes=options.max_upload_bytes,
    )
    state.faults.replace(options.faults, seed=options.seed)
    sweep_stale_work(options.data_dir / "media")
    if options.demo:
        ingest_demo(state)
    return state


async def serve(options: ServerOptions) -> None:
    state = build_state(options)
    app = build_app(state)
    gc.freeze()  # startup objects (jobs, imports) need not be traversed by every collection
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, keepalive_timeout=options.idle_timeout
    )
    await runner.setup()
    handler_factory = runner.server
    assert handler_factory is not None

    state.connections.track(handler_factory.connections)

    def counting_factory() -> Any:
        state.connections.accepted()
        return handler_factory()

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        counting_factory, options.host, options.port, backlog=options.backlog, reuse_address=True
    )
    port = server.sockets[0].getsockname()[1]
    if options.port_file is not None:
        tmp = options.port_file.with_name(options.port_file.name + ".tmp")
        tmp.write_text(f"{port}\n")
        tmp.replace(options.port_file)
    print(f"VideoDB local server listening on http://{options.host}:{port}", flush=True)
    if options.admin_token_printed:
        print(f"Admin token (header x-twin-admin-token): {options.admin_token}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        server.close()
        await runner.cleanup()
        state.store.close()
