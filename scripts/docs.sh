#!/usr/bin/env bash
# Build the documentation (docs/) with Sphinx: warnings are errors, nitpicky references.
#
#   bash scripts/docs.sh [VENV]     VENV defaults to $ROOT/.venv (sphinx is in the dev extra)
#
# Output: .run/docs/html/index.html. Autodoc imports the provider, so Airflow gets a
# throw-away AIRFLOW_HOME (it writes its config there) that is removed afterwards.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

VENV="${1:-$ROOT/.venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || die "no Python in $VENV (run bash scripts/demo.sh or bash scripts/test.sh first)"
"$PY" -c 'import sphinx' 2>/dev/null || die "sphinx is not installed in $VENV (dev extra)"

OUT="$ROOT/.run/docs"
AIRFLOW_HOME="$(mktemp -d "${TMPDIR:-/tmp}/videodb-docs-airflow.XXXXXX")"
export AIRFLOW_HOME
trap 'rm -rf "$AIRFLOW_HOME"' EXIT
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# Autodoc imports the provider and the example DAGs: no __pycache__ left in the tree.
export PYTHONDONTWRITEBYTECODE=1

rm -rf "$OUT/html" "$OUT/doctrees"
mkdir -p "$OUT"
say "building the docs into $OUT/html (warnings are errors)"
"$PY" -m sphinx -W --keep-going -n -q -b html -d "$OUT/doctrees" "$ROOT/docs" "$OUT/html" \
    || die "the docs build failed or warned (see above)"
say "docs: $OUT/html/index.html"
