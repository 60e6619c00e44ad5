# Sourced by scripts/test.sh and scripts/demo.sh: create .venv (with $PYTHON, default
# python3) if missing and install the project into it; "$1" names the extras, e.g. ".[dev]".
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e "$1"
