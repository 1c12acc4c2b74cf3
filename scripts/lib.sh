# Shared shell helpers for demo.sh and test.sh (sourced, not run).
# Needs only a Python >= 3.11 and git on the machine; everything else is installed here.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BOOTSTRAP_DIR="${VIDEODB_BOOTSTRAP_DIR:-$ROOT/.run/bootstrap}"
# uv must never try to download a Python build (no internet beyond PyPI in CI).
export UV_PYTHON_DOWNLOADS=never
export UV_LINK_MODE="${UV_LINK_MODE:-copy}"

# Bold only on a terminal (and not with NO_COLOR set): logs and CI output get plain text.
say() {
    if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then
        printf '\033[1m==> %s\033[0m\n' "$*" >&2
    else
        printf '==> %s\n' "$*" >&2
    fi
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# marked_pids NAME=VALUE: the pids of the processes (but this shell) whose environment holds
# NAME=VALUE, a marker every process a script starts inherits: found even when re-parented or
# in a session of their own. Pure bash: no helper process that would carry the marker itself.
marked_pids() {
    local marker="$1" environ pid entry
    for environ in /proc/[0-9]*/environ; do
        pid="${environ#/proc/}"
        pid="${pid%/environ}"
        [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] && continue
        while IFS= read -r -d '' entry; do
            if [ "$entry" = "$marker" ]; then
                echo "$pid"
                break
            fi
        done 2>/dev/null <"$environ" || true
    done
}

# stop_marked NAME=VALUE: SIGTERM every process carrying the marker, SIGKILL what is left 2 s on.
stop_marked() {
    local marker="$1" pids
    pids="$(marked_pids "$marker")"
    [ -n "$pids" ] || return 0
    say "stopping leftover processes: $(echo $pids)"
    kill -TERM $pids 2>/dev/null || true
    sleep 2
    pids="$(marked_pids "$marker")"
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
}

# python_ok PY MAJOR.MINOR [exact]: true if PY runs and is >= (or == with "exact") that version.
python_ok() {
    local py="$1" want="$2" mode="${3:-min}"
    [ -n "$py" ] || return 1
    "$py" - "$want" "$mode" >/dev/null 2>&1 <<'EOF'
import sys
want = tuple(int(p) for p in sys.argv[1].split("."))
have = sys.version_info[:2]
sys.exit(0 if (have == want if sys.argv[2] == "exact" else have >= want) else 1)
EOF
}

# find_python MAJOR.MINOR [exact]: print the path of a working interpreter, or fail.
# Looks at $PYTHON, pythonX.Y / python3 on PATH, pyenv versions and uv's own discovery.
# (pyenv shims exist for versions that are not active and then fail; python_ok weeds them out.)
find_python() {
    local want="$1" mode="${2:-min}" cand
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
    for cand in \
        "${PYTHON:-}" \
        "$(command -v "python$want" 2>/dev/null)" \
        "$pyenv_root"/versions/"$want"*/bin/python"$want" \
        "/usr/bin/python$want" "/usr/local/bin/python$want" \
        "$(command -v python3 2>/dev/null)" \
        "$( [ -n "${UV:-}" ] && "$UV" python find --no-project "$want" 2>/dev/null)"; do
        [ -n "$cand" ] && [ -x "$cand" ] || continue
        if python_ok "$cand" "$want" "$mode"; then
            "$cand" -c 'import sys; print(sys.executable)'
            return 0
        fi
    done
    return 1
}

# ensure_uv: set $UV to a working uv, installing it with pip into $BOOTSTRAP_DIR if needed.
ensure_uv() {
    if [ -n "${UV:-}" ] && "$UV" --version >/dev/null 2>&1; then return 0; fi
    local cand
    for cand in "$(command -v uv 2>/dev/null)" "$BOOTSTRAP_DIR/bin/uv"; do
        if [ -n "$cand" ] && "$cand" --version >/dev/null 2>&1; then UV="$cand"; export UV; return 0; fi
    done
    local py
    py="$(find_python 3.11)" || die "need Python >= 3.11 to bootstrap uv (set PYTHON=/path/to/python3)"
    say "installing uv into $BOOTSTRAP_DIR (no root needed)"
    mkdir -p "$BOOTSTRAP_DIR"
    # --target keeps it out of the system site-packages; an externally-managed Python (PEP 668)
    # needs --break-system-packages even then. Without pip at all, go through a venv.
    if ! "$py" -m pip install --quiet --disable-pip-version-check --target "$BOOTSTRAP_DIR" uv \
        2>/dev/null \
        && ! "$py" -m pip install --quiet --disable-pip-version-check --break-system-packages \
            --target "$BOOTSTRAP_DIR" uv; then
        say "pip --target failed; trying a bootstrap venv"
        "$py" -m venv "$BOOTSTRAP_DIR/venv" || die "cannot create a venv with $py (python3-venv?)"
        "$BOOTSTRAP_DIR/venv/bin/python" -m pip install --quiet uv || die "cannot install uv"
        mkdir -p "$BOOTSTRAP_DIR/bin"
        ln -sf "$BOOTSTRAP_DIR/venv/bin/uv" "$BOOTSTRAP_DIR/bin/uv"
    fi
    UV="$BOOTSTRAP_DIR/bin/uv"
    "$UV" --version >/dev/null || die "uv was installed but does not run: $UV"
    export UV
}

# ensure_venv DIR PYTHON [extra requirement...]: create DIR (once) and install both
# distributions of this repository into it, editable: the local server (server/) and the
# provider with its dev extras. The provider's `dev` extra asks for `videodb-local-server`;
# the editable ./server in the same command is what satisfies it (nothing from the index).
# Re-runs are quick: uv only checks what is already there.
ensure_venv() {
    local dir="$1" py="$2"
    shift 2
    local want
    want="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if [ -x "$dir/bin/python" ] && python_ok "$dir/bin/python" "$want" exact; then
        :
    else
        say "creating $dir with Python $want"
        rm -rf "$dir"
        "$UV" venv --quiet --python "$py" "$dir"
    fi
    say "installing the local server and the provider (+dev extras) into $dir"
    "$UV" pip install --quiet --python "$dir/bin/python" --compile-bytecode \
        -e "$ROOT/server" -e "$ROOT[dev]" "$@"
}
