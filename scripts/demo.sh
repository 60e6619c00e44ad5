#!/usr/bin/env bash
# The one command that sets up and runs the offline demo (README: `bash scripts/demo.sh`).
# Needs only Python 3.11+: no Redis, no API keys. Extra arguments go to `llm-router demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh "."
exec .venv/bin/llm-router demo "$@"
