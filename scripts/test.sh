#!/usr/bin/env bash
# README command 2 (and what .ci/run calls): lint, type-check and test both distributions of
# this repository (the provider, and the local server in server/) in two environments.
#
#   env A  .venv        Python 3.11 + the newest Airflow 3.3.x: ruff, mypy, lint-imports (import
#                       contracts), the docs (Sphinx, warnings are errors), the provider's whole
#                       suite (unit, reliability, end-to-end incl. slow, cluster and browser
#                       tests), the server's suite
#   env B  .venv-floor  Python 3.12 (or 3.13) + the lowest Airflow we claim (3.1.x): the
#                       provider's unit suite and the server's suite
#
# The server's suite is its own pytest run with server/ as its rootdir (server/pyproject.toml);
# its module basenames would collide with the provider's in one run.
#
#   packages            wheel + sdist of both distributions, twine check, installed from the
#                       built files into a fresh venv where the demo runs (scripts/package.sh)
#
# Installs what it needs (uv, both venvs, Debian's chromium for the browser tests when run as
# root), kills every process it started, exits non-zero on any failure. Extra arguments go to
# env A's pytest (e.g. `scripts/test.sh -k e2e`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

started=$SECONDS
LOG_DIR="$ROOT/.run/test-logs"
mkdir -p "$LOG_DIR"
# Every process started from here inherits this marker; cleanup finds them by it (even ones
# that were re-parented or started a session of their own) and kills them by pid.
VIDEODB_TEST_RUN="$$-$RANDOM$RANDOM"
export VIDEODB_TEST_RUN

cleanup() {
    local code=$?
    trap - EXIT INT TERM
    stop_marked "VIDEODB_TEST_RUN=$VIDEODB_TEST_RUN"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ensure_chromium: Debian's Chromium for the browser tests (Playwright drives it; its own
# browser downloads cannot work offline). Installed with apt when missing and we are root; in
# CI a missing browser is an error, elsewhere the browser tests skip (they say why).
ensure_chromium() {
    if command -v chromium >/dev/null 2>&1; then return 0; fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian's chromium for the browser tests (apt-get)"
        if (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq \
            && apt-get install -y -qq chromium) \
            >"$LOG_DIR/apt-chromium.log" 2>&1; then
            return 0
        fi
        tail -n 20 "$LOG_DIR/apt-chromium.log" >&2
    fi
    if [ -n "${CI:-}" ]; then die "no chromium for the browser tests (apt-get install chromium)"; fi
    say "WARNING: no chromium on PATH: the browser tests will skip"
}

# pytest that fails loudly when nothing was collected (exit 5) or anything else went wrong.
run_pytest() {
    local label="$1" py="$2"
    shift 2
    local code=0
    "$py" -m pytest -p no:cacheprovider -ra "$@" || code=$?
    if [ "$code" -eq 5 ]; then die "$label: pytest collected no tests"; fi
    if [ "$code" -ne 0 ]; then die "$label: pytest failed (exit $code)"; fi
}

# run_server_pytest LABEL PYTHON: the local server's own suite (server/tests, rootdir server/).
run_server_pytest() {
    run_pytest "$1" "$2" -c "$ROOT/server/pyproject.toml" --rootdir "$ROOT/server" "$ROOT/server/tests"
}

ensure_uv
ensure_chromium

PY_A="$(find_python 3.11 exact)" || die "env A needs Python 3.11 (set PYTHON=/path/to/python3.11)"
FLOOR_PY=""
for v in 3.12 3.13; do
    if FLOOR_PY="$(PYTHON='' find_python "$v" exact)"; then break; fi
    FLOOR_PY=""
done
if [ -z "$FLOOR_PY" ]; then
    FLOOR_PY="$PY_A"
    say "WARNING: no Python 3.12/3.13 found (uv cannot download one here); env B runs the" \
        "Airflow 3.1 floor on Python 3.11 instead"
fi

# env B's install is network-bound: build it in the background while env A runs.
FLOOR_CONSTRAINTS="$ROOT/.run/floor-constraints.txt"
printf 'apache-airflow==3.1.*\n' >"$FLOOR_CONSTRAINTS"
say "env B: preparing .venv-floor (Airflow 3.1.x, $("$FLOOR_PY" -V)) in the background"
(ensure_venv "$ROOT/.venv-floor" "$FLOOR_PY" --constraint "$FLOOR_CONSTRAINTS") \
    >"$LOG_DIR/floor-install.log" 2>&1 &
floor_install=$!

say "env A: .venv ($("$PY_A" -V), newest Airflow 3.3.x)"
ensure_venv "$ROOT/.venv" "$PY_A" "apache-airflow>=3.3,<3.4"
A="$ROOT/.venv/bin"
"$A/python" -c 'import airflow; print("    airflow", airflow.__version__)'

say "env A: ruff check"
"$A/ruff" check .
say "env A: ruff format --check"
"$A/ruff" format --check .
say "env A: mypy"
"$A/mypy"
say "env A: import contracts (lint-imports)"
"$A/lint-imports" --no-cache
say "env A: docs (scripts/docs.sh)"
bash "$ROOT/scripts/docs.sh" "$ROOT/.venv"
say "env A: pytest, provider (whole suite, including e2e and slow tests)"
run_pytest "env A provider" "$A/python" tests "$@"
say "env A: pytest, local server (server/tests)"
run_server_pytest "env A server" "$A/python"

say "env B: waiting for .venv-floor"
if ! wait "$floor_install"; then
    cat "$LOG_DIR/floor-install.log" >&2
    die "env B: installing the floor environment failed"
fi
B="$ROOT/.venv-floor/bin"
floor_version="$("$B/python" -c 'import airflow; print(airflow.__version__)')"
case "$floor_version" in
    3.1.*) say "env B: Airflow $floor_version on $("$B/python" -V)" ;;
    *) die "env B: expected Airflow 3.1.x, got $floor_version" ;;
esac
say "env B: pytest, provider (unit suite: tests/provider)"
run_pytest "env B provider" "$B/python" tests/provider
say "env B: pytest, local server (server/tests)"
run_server_pytest "env B server" "$B/python"

say "packages: build, check, install from the files, run the demo (scripts/package.sh)"
bash "$ROOT/scripts/package.sh" "$ROOT/.venv"

say "all green in $((SECONDS - started))s"
