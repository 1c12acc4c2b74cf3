"""``videodb-local-server`` / ``python -m videodb_local_server``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from .app import ADMIN_TOKEN_ENV, ADMIN_TOKEN_HEADER
from .backend import DEFAULT_MAX_UPLOAD, PLANS, TwinConfig
from .errors import ApiError
from .faults import FaultRuleError, load_rules
from .jobs import PROGRESS_STYLES, TERMINAL_SHAPES
from .server import ServerOptions, raise_fd_limit, serve

DEFAULT_KEY = "sk-local-dev"


def parse_keys(values: Sequence[str]) -> dict[str, str]:
    """``KEY`` or ``KEY:plan`` (plan: pro, free = 403 on gated options, broke = 402)."""
    keys: dict[str, str] = {}
    for value in values:
        key, _, plan = value.partition(":")
        plan = plan or "pro"
        if plan not in PLANS:
            raise argparse.ArgumentTypeError(f"unknown plan {plan!r} in --api-key (one of {PLANS})")
        keys[key] = plan
    return keys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="videodb-local-server",
        description=(
            "A local VideoDB server (offline twin) for development, tests and demos. "
            f"The admin API (/_twin/...) needs the admin token in the {ADMIN_TOKEN_HEADER} "
            "header. Callbacks go to loopback only and file:// upload URLs are off unless "
            "the flags below say otherwise."
        ),
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--data-dir", type=Path, default=Path("videodb-local-data"))
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        help=f"accepted key, repeatable; KEY or KEY:plan {PLANS} (default {DEFAULT_KEY})",
    )
    p.add_argument("--demo", action="store_true", help="create demo media on first start")
    p.add_argument("--job-seconds", type=float, default=3.0, help="duration of async jobs")
    p.add_argument("--terminal-shape", choices=TERMINAL_SHAPES, default="flat")
    p.add_argument("--progress-style", choices=PROGRESS_STYLES, default="mixed")
    p.add_argument("--length-style", choices=("string", "number"), default="string")
    p.add_argument("--journal-size", type=int, default=10_000, help="0 disables the journal")
    p.add_argument("--port-file", type=Path, help="write the bound port here when ready")
    p.add_argument("--faults", help="fault rules: JSON list, @file or a path to a JSON file")
    p.add_argument("--seed", type=int, help="seed for fault rates")
    p.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop; auto uses uvloop when it is installed (faster polls)",
    )
    p.add_argument("--log-level", default=os.environ.get("VIDEODB_LOCAL_LOG", "INFO"))
    p.add_argument(
        "--admin-token",
        help=f"token for the /_twin/... admin API (header {ADMIN_TOKEN_HEADER}); default: "
        f"${ADMIN_TOKEN_ENV}, else a random one per start, printed at start",
    )
    p.add_argument(
        "--allow-remote-urls",
        action="store_true",
        help="let callback_url point at hosts other than this machine (default: loopback only)",
    )
    p.add_argument(
        "--media-root",
        type=Path,
        help="allow file:// upload URLs, but only for files inside this folder (default: off)",
    )
    p.add_argument(
        "--max-upload-bytes",
        type=int,
        default=DEFAULT_MAX_UPLOAD,
        help=f"largest file accepted by an upload URL, 413 beyond (default {DEFAULT_MAX_UPLOAD})",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=30.0,
        help="seconds before an idle connection, or one that sends no request, is closed",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        keys = parse_keys(args.api_key or [DEFAULT_KEY])
        faults = load_rules(args.faults) if args.faults else []
        config = TwinConfig()
        config.update(
            {
                "job_seconds": args.job_seconds,
                "terminal_shape": args.terminal_shape,
                "progress_style": args.progress_style,
                "length_style": args.length_style,
                "journal_size": args.journal_size,
            }
        )
    except (argparse.ArgumentTypeError, ApiError, FaultRuleError, OSError, ValueError) as exc:
        parser.error(str(exc))
    if args.max_upload_bytes <= 0 or not args.idle_timeout > 0:
        parser.error("--max-upload-bytes and --idle-timeout must be > 0")
    media_root = None
    if args.media_root is not None:
        media_root = Path(os.path.realpath(args.media_root))
        if not media_root.is_dir():
            parser.error(f"--media-root {args.media_root} is not a folder")
    env_token = os.environ.get(ADMIN_TOKEN_ENV, "")
    admin_token = args.admin_token or env_token or secrets.token_urlsafe(24)
    if (
        not (admin_token.isascii() and admin_token.isprintable())
        or admin_token.strip() != admin_token
    ):
        parser.error("--admin-token must be printable ASCII without surrounding spaces")
    options = ServerOptions(
        data_dir=args.data_dir.resolve(),
        keys=keys,
        host=args.host,
        port=args.port,
        demo=args.demo,
        port_file=args.port_file,
        config=config,
        faults=faults,
        seed=args.seed,
        admin_token=admin_token,
        admin_token_printed=not (env_token and not args.admin_token),
        allow_remote_urls=args.allow_remote_urls,
        media_root=media_root,
        max_upload_bytes=args.max_upload_bytes,
        idle_timeout=args.idle_timeout,
    )
    raise_fd_limit()
    run(serve(options), args.loop)
    return 0


def run(main_coro: Coroutine[Any, Any, None], loop: str) -> None:
    if loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if loop == "uvloop":
                raise
        else:
            uvloop.run(main_coro)
            return
    asyncio.run(main_coro)


if __name__ == "__main__":
    sys.exit(main())
