# Sourced by scripts/test.sh and scripts/demo.sh: create .venv (with $PYTHON, default
# python3) if missing and install into it the locked versions (requirements/dev.lock, with
# hashes: the same on every machine and every day), then the project itself (editable, no
# dependency resolved). "$1" names the extras (default ".[dev]"); the lock holds them all.
#
# It installs only when needed: on the first run, when pyproject.toml or the lock changed
# since the last install, when more extras are asked for than were installed, or when the
# project no longer imports from .venv. The stamp file records the hash of both files and
# the extras of the last successful install.
PY=${PYTHON:-python3}
VENV=.venv
STAMP="$VENV/.llm-router-installed"
WANT="${1:-.[dev]}"

# Exits 0 if $VENV finds this checkout's packages and the main dependencies (-I: not from
# the current directory). It looks them up without importing them: importing the task
# modules takes seconds.
_LLMR_INSTALLED='
import importlib.util, os, sys
here = os.path.realpath(os.getcwd())
for name in ("cli", "routing", "tasks", "workers", "celery", "pydantic", "typer"):
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        sys.exit(1)
    if name in ("cli", "routing", "tasks", "workers"):
        if os.path.dirname(os.path.dirname(os.path.realpath(spec.origin))) != here:
            sys.exit(1)
'

_llmr_hash() {
    "$PY" -c 'import hashlib, sys; print(hashlib.sha256(b"".join(open(f, "rb").read() for f in sys.argv[1:])).hexdigest())' \
        pyproject.toml requirements/dev.lock
}

_llmr_reason() {
    # Why an install is needed (empty: it is not).
    if [ ! -x "$VENV/bin/python" ]; then
        echo "setting up $VENV (first run, ~1 min)..."
        return
    fi
    if [ ! -f "$STAMP" ]; then
        echo "installing the project into $VENV (~1 min)..."
        return
    fi
    local hash extras
    read -r hash extras < "$STAMP" || true
    if [ "$hash" != "$(_llmr_hash)" ]; then
        echo "pyproject.toml or requirements/dev.lock changed: reinstalling into $VENV..."
    elif [ "$extras" != "$WANT" ] && [ "$WANT" != "." ]; then
        echo "installing $WANT into $VENV..."
    elif ! "$VENV/bin/python" -I -c "$_LLMR_INSTALLED" >/dev/null 2>&1; then
        echo "the project is not installed in $VENV from here: reinstalling..."
    fi
}

_llmr_why=$(_llmr_reason)
if [ -n "$_llmr_why" ]; then
    echo "$_llmr_why" >&2
    if [ ! -x "$VENV/bin/python" ]; then
        "$PY" -m venv "$VENV"
    fi
    rm -f "$STAMP"
    # The locked pip, setuptools and wheel first (the venv's own may be too old to read
    # the rest), then every locked dependency, then the project without resolving anything.
    "$VENV/bin/python" -m pip install -q --require-hashes --no-deps -r requirements/dev.lock
    "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$WANT"
    echo "$(_llmr_hash) $WANT" > "$STAMP"
fi
unset _llmr_why _LLMR_INSTALLED
