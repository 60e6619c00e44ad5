#!/usr/bin/env bash
# Moves the locks: the one deliberate way to change the versions that development and CI
# (requirements/dev.lock) and the Docker image (requirements/runtime.lock) install. It
# resolves pyproject.toml's ranges (with the dev extra) and requirements/build.in to
# today's newest versions, with hashes, for Python 3.11+ on any platform; the image's lock
# is the same resolution without the dev extra (constrained by dev.lock, so both name the
# same versions). Then it reinstalls .venv from the new lock and runs the whole test suite
# (scripts/test.sh). Commit the locks only when that passes.
#
#   bash scripts/lock.sh                      # everything to its newest allowed version
#   bash scripts/lock.sh --upgrade-package redis   # one package; the rest stay as locked
#   LLM_ROUTER_LOCK_ONLY=1 bash scripts/lock.sh    # write the lock, run nothing
#
# uv resolves the lock (installed into .venv-lock at the version below); pip installs it.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
PY=${PYTHON:-python3}
if [ ! -x .venv-lock/bin/uv ] || [ "$(.venv-lock/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    "$PY" -m venv .venv-lock
    .venv-lock/bin/python -m pip install -q "uv==$UV_VERSION"
fi

args=("$@")
if [ ${#args[@]} -eq 0 ]; then args=(--upgrade); fi
.venv-lock/bin/uv pip compile pyproject.toml requirements/build.in \
    --extra dev --universal --python-version 3.11 --generate-hashes \
    --no-header --quiet -o requirements/dev.lock "${args[@]}"
.venv-lock/bin/uv pip compile pyproject.toml requirements/build.in -c requirements/dev.lock \
    --universal --python-version 3.11 --generate-hashes \
    --no-header --quiet -o requirements/runtime.lock
git --no-pager diff --stat -- requirements/ || true
if [ -n "${LLM_ROUTER_LOCK_ONLY:-}" ]; then exit 0; fi
exec bash scripts/test.sh
