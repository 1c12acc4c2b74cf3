"""Run the nightly pipeline DAG for real against a local VideoDB server, then show and check it.

Used by ``scripts/demo.sh`` (the README's first command) and, for its helpers, by the
end-to-end tests. Steps: make the night's new media (the demo videos, their captions embedded,
in a folder); start an empty ``videodb-local-server`` in a temporary folder; make a fresh
``AIRFLOW_HOME`` (sqlite) and ``airflow db migrate``; ``airflow dags test`` the DAG from
``example_dags/`` with that folder as its ``source_folder`` (real Airflow; deferred upload,
index and clip jobs run their trigger inline); print a table of the uploads, streams and
clips from the manifest the DAG published; decode every stream with FFmpeg; stop the server
by its pid. Exits non-zero when any step fails.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DAGS_FOLDER = ROOT / "example_dags"
DAG_ID = "videodb_nightly_pipeline"
#: The manifest's stream URL keys of a video, and what each stream is.
STREAM_KINDS = {
    "stream_url": "full",
    "clip_stream_url": "clips",
    "search_stream_url": "search",
    "trailer_stream_url": "trailer",
}


def airflow_env(
    airflow_home: Path, *, base_url: str, api_key: str, dags_folder: Path = DAGS_FOLDER
) -> dict[str, str]:
    """Environment for an isolated Airflow (sqlite in ``airflow_home``) talking to the server."""
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW_CONN_VIDEODB_DEFAULT=json.dumps(
            {"conn_type": "videodb", "host": base_url, "password": api_key}
        ),
    )
    # The venv's bin first: Airflow starts its own subprocesses by name.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def prepare_new_media(folder: Path) -> list[Path]:
    """The night's new media in ``folder``: the demo videos, each with its captions embedded.

    The local server cannot recognise speech; it reads the captions a file carries as what
    was said (the real service transcribes the audio). Demo videos with a sidecar subtitle
    file get it muxed in as a ``mov_text`` track (stream copy, no re-encode).
    """
    from videodb_local_server.media.demo import generate_demo

    cache = ROOT / ".run" / "demo-set"  # made once, reused (generate_demo checks it)
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for video in generate_demo(cache):
        out = folder / video.path.name
        if video.transcript_path is None:
            shutil.copyfile(video.path, out)
        else:
            cmd = [
                ffmpeg_exe(), "-nostdin", "-y", "-v", "error",
                "-i", str(video.path), "-i", str(video.transcript_path),
                "-map", "0", "-map", "1", "-c", "copy", "-c:s", "mov_text",
                "-metadata:s:s:0", "language=eng", str(out),
            ]  # fmt: skip
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        made.append(out)
    return sorted(made)


def check_playable(url: str, *, ffmpeg: str | None = None, timeout: float = 120.0) -> str | None:
    """Decode an HLS stream to nowhere; return None when it plays cleanly, else what went wrong."""
    cmd = [ffmpeg or ffmpeg_exe(), "-nostdin", "-v", "error", "-i", url, "-f", "null", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"ffmpeg did not finish in {timeout:.0f}s"
    errors = proc.stderr.strip()
    if proc.returncode != 0 or errors:
        return f"ffmpeg exit {proc.returncode}: {errors[-500:] or '(no output)'}"
    return None


def manifest_streams(manifest: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
    """(video id, kind, url) for every stream URL in a manifest."""
    for video in manifest["videos"]:
        for key, kind in STREAM_KINDS.items():
            if video.get(key):
                yield video["video_id"], kind, video[key]


def render_table(manifest: Mapping[str, Any], played: Mapping[str, str | None]) -> str:
    """A plain-text table of the videos, their shots and streams (with playback results)."""
    rows = [("VIDEO", "NAME", "SHOTS", "TRAILER", "STREAM", "PLAYS", "URL")]
    for video in manifest["videos"]:
        timeline = video.get("trailer_timeline") or []
        seconds = sum(end - start for start, end in timeline)
        trailer = f"{len(timeline)} seg / {seconds:.1f}s" if timeline else "-"
        first = True
        for key, kind in STREAM_KINDS.items():
            url = video.get(key)
            status = "-" if not url else ("ok" if played.get(url) is None else "FAILED")
            rows.append(
                (
                    video["video_id"] if first else "",
                    str(video.get("name") or "-") if first else "",
                    str(video.get("shot_count", "-")) if first else "",
                    trailer if first else "",
                    kind,
                    status,
                    url or "(no shots matched: no stream)",
                )
            )
            first = False
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for i, row in enumerate(rows):
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)] + [row[-1]]
        lines.append("  ".join(cells))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 3)
    return "\n".join(lines)


def run(cmd: list[str], env: Mapping[str, str], log_path: Path, what: str) -> float:
    """Run a command, output appended to ``log_path``; raise with the log tail on failure."""
    started = time.time()
    with log_path.open("ab") as log:
        proc = subprocess.run(cmd, env=dict(env), stdout=log, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"{what} failed (exit {proc.returncode}); end of {log_path}:\n{tail}")
    return time.time() - started


def player_link(base_url: str, stream_url: str) -> str:
    """The local server's player page for ``stream_url`` (plays in any current browser)."""
    from urllib.parse import quote

    return f"{base_url}/player?url={quote(stream_url, safe=':/')}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The demo's options (stdlib only: ``--help`` works before anything is installed)."""
    parser = argparse.ArgumentParser(
        prog="scripts/demo.sh",
        description=(
            "Run the nightly pipeline DAG end to end in a real Airflow against a local "
            "VideoDB server, print the videos, clips and streams it made, and check they play."
        ),
        epilog=(
            "The first run installs everything into .venv with uv; later runs reuse it. "
            "Without --keep the working folder is removed and the server stopped at the end."
        ),
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the local server running and keep the working folder, to open the streams "
        "in the player afterwards (the demo prints how, and how to stop the server)",
    )
    parser.add_argument(
        "--workdir", type=Path, help="use (and keep) this folder instead of a temporary one"
    )
    # Without --prompt the DAG's own default ("key moments") runs: each demo video has one.
    parser.add_argument("--prompt", default="", help="override the DAG's prompt param")
    parser.add_argument(
        "--job-seconds", type=float, default=2.0, help="how long the local server's jobs take"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    from videodb_local_server.control import LocalVideoDBServer

    t0 = time.time()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="videodb-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "airflow.log"
    manifest_path = workdir / "manifest.json"
    api_key = "sk-demo-" + secrets.token_hex(8)
    bin_dir = Path(sys.executable).parent
    ok = False
    server = None
    manifest: dict[str, Any] | None = None
    try:
        media_dir = workdir / "new-media"
        print("==> the night's new media: demo videos with captions", flush=True)
        sources = prepare_new_media(media_dir)
        print(f"    {len(sources)} file(s): {', '.join(p.name for p in sources)}")
        print("==> starting an empty local VideoDB server", flush=True)
        server = LocalVideoDBServer.start(
            workdir / "videodb-data", api_keys=(api_key,), demo=False, job_seconds=args.job_seconds
        )
        print(f"    {server.base_url} (pid {server.pid})")
        env = airflow_env(workdir / "airflow-home", base_url=server.base_url, api_key=api_key)

        print("==> airflow db migrate (fresh AIRFLOW_HOME, sqlite)", flush=True)
        took = run([str(bin_dir / "airflow"), "db", "migrate"], env, log_path, "airflow db migrate")
        print(f"    done in {took:.1f}s")

        conf: dict[str, Any] = {
            "manifest_path": str(manifest_path),
            "source_folder": media_dir.as_uri(),
        }
        if args.prompt:
            conf["prompt"] = args.prompt
        print(f"==> airflow dags test {DAG_ID}", flush=True)
        cmd = [str(bin_dir / "airflow"), "dags", "test", DAG_ID, "-c", json.dumps(conf)]
        took = run(cmd, env, log_path, f"airflow dags test {DAG_ID}")
        print(f"    run succeeded in {took:.1f}s")

        manifest = json.loads(manifest_path.read_text())
        if not manifest["videos"]:
            raise SystemExit("the manifest lists no videos")
        print("==> checking that every stream plays (ffmpeg -f null)", flush=True)
        ffmpeg = ffmpeg_exe()
        played = {
            url: check_playable(url, ffmpeg=ffmpeg) for _, _, url in manifest_streams(manifest)
        }
        print()
        print(
            f"Nightly pipeline: {len(manifest['videos'])} video(s) uploaded and indexed, "
            f"prompt {manifest['prompt']!r}, search {manifest['search_query']!r}"
        )
        print(render_table(manifest, played))
        failures = {url: err for url, err in played.items() if err}
        for url, err in failures.items():
            print(f"NOT PLAYABLE {url}: {err}", file=sys.stderr)
        missing = [v["video_id"] for v in manifest["videos"] if not v.get("stream_url")]
        if len(manifest["videos"]) != len(sources):
            print(f"{len(sources)} sources but {len(manifest['videos'])} videos", file=sys.stderr)
            missing.append("(uploads)")
        if missing:
            print(f"no full stream for {missing}", file=sys.stderr)
        ok = not failures and not missing
        return 0 if ok else 1
    finally:
        keep_server = args.keep and ok and server is not None and server.running
        if server is not None and not keep_server:
            pid = server.pid if server.running else None
            server.stop()
            if pid is not None:
                print(f"==> stopped the local VideoDB server (pid {pid})")
        # The folder goes unless asked for (--keep / --workdir) or needed to see what failed.
        removed = ok and not args.keep and args.workdir is None
        if removed:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"==> {'OK' if ok else 'FAILED'} in {time.time() - t0:.1f}s")
        if not removed:
            print(f"    kept: {workdir} (manifest.json, airflow.log, airflow-home/, videodb-data/)")
        elif ok:
            print("    working folder removed (--keep or --workdir DIR keeps it)")
        if keep_server and server is not None and manifest is not None:
            print_kept_server(server.base_url, server.pid, manifest)


def print_kept_server(base_url: str, pid: int, manifest: Mapping[str, Any]) -> None:
    """How to watch the streams of a kept server, and how to stop it."""
    print(f"\nThe local VideoDB server keeps running at {base_url} (pid {pid}).")
    print("Open a stream in the player (any current browser, nothing fetched from elsewhere):")
    for video_id, kind, url in manifest_streams(manifest):
        print(f"    {video_id} {kind:<7} {player_link(base_url, url)}")
    print(f"Stop the server with: kill {pid}")


if __name__ == "__main__":
    sys.exit(main())
