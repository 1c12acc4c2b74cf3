#!/usr/bin/env bash
# README command 1: the main job. Sets up the environment (uv + .venv), starts the local
# VideoDB server with demo media, runs the nightly highlights DAG in a real Airflow, prints the
# streams and clips it produced, checks they play, and stops the server (--keep leaves it
# running and says how to watch the streams and stop it). Non-zero on failure. --help first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

started=$SECONDS
PY="$(find_python 3.11)" || die "need Python >= 3.11 (set PYTHON=/path/to/python3.11)"
# --help needs nothing installed: the demo's options are parsed with the standard library.
for arg in "$@"; do
    case "$arg" in
        -h | --help) exec "$PY" "$ROOT/scripts/run_nightly_demo.py" --help ;;
    esac
done
ensure_uv
VENV="${VIDEODB_VENV:-$ROOT/.venv}"
ensure_venv "$VENV" "$PY"
say "environment ready in $((SECONDS - started))s"

cd "$ROOT"
"$VENV/bin/python" scripts/run_nightly_demo.py "$@"
say "demo finished in $((SECONDS - started))s"
