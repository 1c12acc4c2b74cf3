#!/usr/bin/env bash
# Build, check and try out the packages of both distributions of this repository, as a user
# who installs them from PyPI would get them:
#
#   1. wheel and sdist of the provider (.) and of the local server (server/) into .run/dist
#      (emptied first); each wheel is built from the source tree, and once more from its sdist:
#      the two must hold the same files, byte for byte (so the sdist is complete)
#   2. `twine check --strict` on all four files
#   3. their contents: a wheel holds its package (py.typed included) and its .dist-info only;
#      no tests, no bytecode, no caches; an sdist holds the package, pyproject.toml, README.md,
#      LICENSE, CHANGELOG.md and PKG-INFO; every version in the file names and metadata is the
#      package's __version__
#   4. a fresh venv (.run/package-venv, Python 3.11) with the two wheels installed from their
#      files (not editable; `airflow-provider-videodb[local]`, the server's wheel by path, so
#      nothing named videodb-local-server comes from the index) and Airflow 3.3.x from PyPI
#   5. in that venv: the provider and the server import from its site-packages (not from this
#      checkout), `airflow providers list` shows airflow-provider-videodb at its __version__,
#      `videodb-local-server --help` runs, and the nightly demo (scripts/run_nightly_demo.py)
#      runs the example DAG end to end and exits 0
#
#   bash scripts/package.sh [DEV_VENV]    DEV_VENV: the venv (or its bin/) holding twine;
#                                         default .venv (scripts/test.sh passes its env A)
#
# Exits non-zero on any failure; stops every process it started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

started=$SECONDS
DIST="$ROOT/.run/dist"
PKG_VENV="$ROOT/.run/package-venv"
AIRFLOW_SPEC="apache-airflow>=3.3,<3.4"

dev="${1:-$ROOT/.venv}"
if [ -x "$dev/bin/python" ]; then DEV_BIN="$dev/bin"; else DEV_BIN="$dev"; fi
[ -x "$DEV_BIN/twine" ] || die "no twine in $DEV_BIN (the dev venv: bash scripts/test.sh makes it)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/videodb-package.XXXXXX")"
# Every process started from here carries this marker; cleanup finds them by it (the local
# server runs in a session of its own) and stops them by pid.
VIDEODB_PACKAGE_RUN="$$-$RANDOM$RANDOM"
export VIDEODB_PACKAGE_RUN
demo_pid=""

cleanup() {
    local code=$? i
    trap - EXIT INT TERM
    if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
        # SIGINT: the demo's `finally` stops its server.
        kill -INT "$demo_pid" 2>/dev/null || true
        for i in $(seq 1 30); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 1; done
    fi
    stop_marked "VIDEODB_PACKAGE_RUN=$VIDEODB_PACKAGE_RUN"
    rm -rf "$WORK"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_uv
PY="$(find_python 3.11 exact)" || die "need Python 3.11 (set PYTHON=/path/to/python3.11)"

# version_of FILE: the __version__ assigned in FILE (read, not imported; what hatchling reads).
version_of() {
    "$PY" - "$1" <<'EOF'
import ast
import sys

tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())
found = [
    node.value.value
    for node in tree.body
    if isinstance(node, ast.Assign)
    and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
    and isinstance(node.value, ast.Constant)
]
if len(found) != 1:
    sys.exit(f"{sys.argv[1]}: expected one __version__ = '...', found {len(found)}")
print(found[0])
EOF
}

PROVIDER_VERSION="$(version_of "$ROOT/airflow_provider_videodb/__init__.py")"
SERVER_VERSION="$(version_of "$ROOT/server/src/videodb_local_server/__init__.py")"
P_WHEEL="$DIST/airflow_provider_videodb-$PROVIDER_VERSION-py3-none-any.whl"
P_SDIST="$DIST/airflow_provider_videodb-$PROVIDER_VERSION.tar.gz"
S_WHEEL="$DIST/videodb_local_server-$SERVER_VERSION-py3-none-any.whl"
S_SDIST="$DIST/videodb_local_server-$SERVER_VERSION.tar.gz"

# 1. Build ----------------------------------------------------------------------------------
say "building airflow-provider-videodb $PROVIDER_VERSION and videodb-local-server $SERVER_VERSION into ${DIST#"$ROOT"/}"
rm -rf "$DIST"
mkdir -p "$DIST" "$WORK/from-sdist"
t=$SECONDS
for src in "$ROOT" "$ROOT/server"; do
    "$UV" build --quiet --python "$PY" --sdist --wheel --out-dir "$DIST" "$src"
done
for f in "$P_SDIST" "$S_SDIST"; do
    "$UV" build --quiet --python "$PY" --wheel --out-dir "$WORK/from-sdist" "$f"
done
built="$(cd "$DIST" && ls -1 -- *.whl *.tar.gz | sort | tr '\n' ' ')"
want="$(for f in "$P_SDIST" "$P_WHEEL" "$S_SDIST" "$S_WHEEL"; do basename "$f"; done | sort | tr '\n' ' ')"
[ "$built" = "$want" ] || die "built [$built], expected [$want] (is a version out of step?)"
echo "    built in $((SECONDS - t))s"

# 2. twine check ----------------------------------------------------------------------------
say "twine check --strict"
"$DEV_BIN/twine" --no-color check --strict "$P_WHEEL" "$P_SDIST" "$S_WHEEL" "$S_SDIST"

# 3. Contents -------------------------------------------------------------------------------
say "checking what each wheel and sdist holds"
"$PY" - "$WORK/from-sdist" \
    airflow-provider-videodb "$PROVIDER_VERSION" airflow_provider_videodb "$P_WHEEL" "$P_SDIST" \
    airflow_provider_videodb "$ROOT/airflow_provider_videodb" \
    videodb-local-server "$SERVER_VERSION" videodb_local_server "$S_WHEEL" "$S_SDIST" \
    src/videodb_local_server "$ROOT/server/src/videodb_local_server" \
    <<'EOF'
import email.parser
import hashlib
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from_sdist = Path(sys.argv[1])
args = sys.argv[2:]
BANNED_PARTS = {"tests", "test", "__pycache__", ".run", ".venv", ".git", ".mypy_cache",
                ".ruff_cache", ".pytest_cache", ".import_linter_cache", "build", "dist"}
problems: list[str] = []


def bad_member(name: str) -> str | None:
    parts = PurePosixPath(name).parts
    if BANNED_PARTS.intersection(parts):
        return "a test, cache or build folder"
    if name.endswith((".pyc", ".pyo", ".so")) or ".egg-info" in name:
        return "bytecode or build leftovers"
    return None


def wheel_files(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as zf:
        return {
            n: hashlib.sha256(zf.read(n)).hexdigest()
            for n in zf.namelist()
            if not n.endswith("/RECORD")
        }


# Per distribution: name, version, import package, wheel, sdist, the package's path in the
# sdist, the package's folder in the checkout.
for i in range(0, len(args), 7):
    dist, version, pkg, wheel, sdist, src_pkg, src_dir = args[i : i + 7]
    wheel_p, sdist_p = Path(wheel), Path(sdist)
    info = f"{pkg}-{version}.dist-info/"
    files = wheel_files(wheel_p)
    for name in files:
        if not (name.startswith(f"{pkg}/") or name.startswith(info)):
            problems.append(f"{wheel_p.name}: {name} is outside {pkg}/ and {info}")
        if why := bad_member(name):
            problems.append(f"{wheel_p.name}: {name} is {why}")
    for need in (f"{pkg}/__init__.py", f"{pkg}/py.typed", f"{info}METADATA",
                 f"{info}licenses/LICENSE"):
        if need not in files:
            problems.append(f"{wheel_p.name}: {need} is missing")
    # Every file of the package in the checkout (but bytecode) is in the wheel.
    for path in sorted(Path(src_dir).rglob("*")):
        rel = path.relative_to(src_dir)
        if path.is_file() and not bad_member(str(rel)) and f"{pkg}/{rel.as_posix()}" not in files:
            problems.append(f"{wheel_p.name}: {pkg}/{rel.as_posix()} (in the checkout) is missing")
    with zipfile.ZipFile(wheel_p) as zf:
        meta = email.parser.Parser().parsestr(zf.read(f"{info}METADATA").decode())
    if meta["Name"] != dist or meta["Version"] != version:
        problems.append(f"{wheel_p.name}: metadata says {meta['Name']} {meta['Version']}")
    if "License-Expression" not in meta or meta["License-File"] != "LICENSE":
        problems.append(f"{wheel_p.name}: no License-Expression / License-File in its metadata")
    # The wheel built from the sdist is the same wheel: the sdist is complete.
    again = from_sdist / wheel_p.name
    if not again.exists():
        problems.append(f"{sdist_p.name}: building a wheel from it gave no {wheel_p.name}")
    elif (other := wheel_files(again)) != files:
        diff = sorted(set(files.items()) ^ set(other.items()))
        problems.append(f"{sdist_p.name}: its wheel differs from the tree's: {diff[:5]}")
    top = f"{pkg}-{version}/"
    with tarfile.open(sdist_p) as tf:
        names = [m.name for m in tf.getmembers() if m.isfile()]
    for name in names:
        if not name.startswith(top):
            problems.append(f"{sdist_p.name}: {name} is outside {top}")
        elif why := bad_member(name.removeprefix(top)):
            problems.append(f"{sdist_p.name}: {name} is {why}")
    for need in ("PKG-INFO", "pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md",
                 f"{src_pkg}/py.typed", f"{src_pkg}/__init__.py"):
        if top + need not in names:
            problems.append(f"{sdist_p.name}: {need} is missing")
    print(f"    {wheel_p.name}: {len(files) + 1} files; {sdist_p.name}: {len(names)} files")

if problems:
    print("\n".join(f"error: {p}" for p in problems), file=sys.stderr)
    sys.exit(1)
EOF

# 4. A fresh venv from the built files ------------------------------------------------------
say "fresh venv ${PKG_VENV#"$ROOT"/} ($("$PY" -V)): the two wheels + $AIRFLOW_SPEC"
t=$SECONDS
rm -rf "$PKG_VENV"
"$UV" venv --quiet --python "$PY" "$PKG_VENV"
VPY="$PKG_VENV/bin/python"
file_url() { "$PY" -c 'import pathlib, sys; print(pathlib.Path(sys.argv[1]).resolve().as_uri())' "$1"; }
P_URL="$(file_url "$P_WHEEL")"
S_URL="$(file_url "$S_WHEEL")"
# The server's wheel by path: the [local] extra's videodb-local-server is this file, never the
# index's (the constraint makes any other candidate a resolution error).
printf 'videodb-local-server @ %s\nairflow-provider-videodb @ %s\n' "$S_URL" "$P_URL" \
    >"$WORK/constraints.txt"
"$UV" pip install --quiet --python "$VPY" --compile-bytecode --constraint "$WORK/constraints.txt" \
    "airflow-provider-videodb[local] @ $P_URL" "videodb-local-server @ $S_URL" "$AIRFLOW_SPEC"
install_seconds=$((SECONDS - t))
echo "    installed in ${install_seconds}s"

# Run the venv's programs away from this checkout: cwd a temp folder, no PYTHONPATH.
in_venv() { (cd "$WORK" && exec env -u PYTHONPATH AIRFLOW_HOME="$WORK/airflow-home" \
    AIRFLOW__CORE__LOAD_EXAMPLES=False PATH="$PKG_VENV/bin:$PATH" "$@"); }

# 5. What a user of the packages sees -------------------------------------------------------
say "the installed packages come from the built wheels, not from this checkout"
in_venv "$VPY" - "$PKG_VENV" "$PROVIDER_VERSION" "$P_URL" "$SERVER_VERSION" "$S_URL" <<'EOF'
import json
import sys
import sysconfig
from importlib.metadata import distribution
from pathlib import Path

venv, p_version, p_url, s_version, s_url = sys.argv[1:]
site = Path(sysconfig.get_paths()["purelib"]).resolve()
import airflow
import airflow_provider_videodb
import videodb_local_server

problems = []
for dist, module, version, url in (
    ("airflow-provider-videodb", airflow_provider_videodb, p_version, p_url),
    ("videodb-local-server", videodb_local_server, s_version, s_url),
):
    where = Path(module.__file__).resolve()
    if site not in where.parents:
        problems.append(f"{module.__name__} imports from {where}, not from {site}")
    if module.__version__ != version or distribution(dist).version != version:
        problems.append(f"{dist}: {distribution(dist).version} / {module.__version__} != {version}")
    direct = json.loads(distribution(dist).read_text("direct_url.json") or "{}")
    if direct.get("url") != url or direct.get("dir_info", {}).get("editable"):
        problems.append(f"{dist} was installed from {direct}, not from {url}")
    print(f"    {dist} {version}: {where.parent}")
if not Path(airflow.__file__).resolve().is_relative_to(site):
    problems.append(f"airflow imports from {airflow.__file__}")
print(f"    apache-airflow {airflow.__version__}")
if problems:
    sys.exit("\n".join(f"error: {p}" for p in problems))
EOF

say "airflow providers list"
in_venv airflow providers list -o json >"$WORK/providers.json" 2>"$WORK/providers.err" || {
    cat "$WORK/providers.err" >&2
    die "airflow providers list failed"
}
listed="$(in_venv "$VPY" -c '
import json, sys
rows = json.load(open(sys.argv[1]))
print(" ".join(r["version"] for r in rows if r["package_name"] == "airflow-provider-videodb"))
' "$WORK/providers.json")" || die "cannot read the output of airflow providers list: $(head -c 500 "$WORK/providers.json")"
[ "$listed" = "$PROVIDER_VERSION" ] \
    || die "airflow providers list shows airflow-provider-videodb at '${listed:-nothing}', expected $PROVIDER_VERSION"
echo "    airflow-provider-videodb $listed"

say "videodb-local-server --help"
in_venv videodb-local-server --help >"$WORK/server-help.txt" || die "videodb-local-server --help failed"
grep -q '^usage: videodb-local-server' "$WORK/server-help.txt" \
    || die "videodb-local-server --help printed no usage: $(head -c 300 "$WORK/server-help.txt")"
echo "    $(head -n 1 "$WORK/server-help.txt")"

say "the nightly demo from ${PKG_VENV#"$ROOT"/} (scripts/run_nightly_demo.py)"
t=$SECONDS
# In the background with its own pid (exec, no wrapper shell), so cleanup can SIGINT it.
(cd "$WORK" && exec env -u PYTHONPATH AIRFLOW_HOME="$WORK/airflow-home" \
    PATH="$PKG_VENV/bin:$PATH" "$VPY" "$ROOT/scripts/run_nightly_demo.py") &
demo_pid=$!
wait "$demo_pid" || die "the demo failed in the package venv (exit $?)"
demo_pid=""
demo_seconds=$((SECONDS - t))

# Summary -----------------------------------------------------------------------------------
say "packages ready in ${DIST#"$ROOT"/} (install ${install_seconds}s, demo ${demo_seconds}s, all $((SECONDS - started))s)"
for f in "$P_WHEEL" "$P_SDIST" "$S_WHEEL" "$S_SDIST"; do
    printf '    %-52s %8s bytes\n' "$(basename "$f")" "$(wc -c <"$f" | tr -d ' ')"
done
echo "    airflow-provider-videodb $PROVIDER_VERSION, videodb-local-server $SERVER_VERSION"
