#!/usr/bin/env bash
# Set up ./.venv with xstilts and its test tools. Safe to run again: it only installs what is missing.
#
# torch comes first, pinned to 2.13.0: on this project's CPU machines a CPU build of that release lies on disk and
# pip takes it from there; an unpinned torch would pull a multi-GB CUDA build. Set XSTILTS_TORCH to choose another
# spec (e.g. XSTILTS_TORCH="torch==2.13.0+cu126" on a GPU machine with the matching index configured for pip).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
if ! python -c "import torch" 2>/dev/null; then
  echo "setup: installing ${XSTILTS_TORCH:-torch==2.13.0}"
  python -m pip install -q "${XSTILTS_TORCH:-torch==2.13.0}"
fi
if ! python -c "import xstilts, pytest, hypothesis" 2>/dev/null || [ pyproject.toml -nt .venv/.xstilts-installed ]; then
  echo "setup: installing xstilts and its dependencies"
  python -m pip install -q -e ".[test]"
  touch .venv/.xstilts-installed
fi
