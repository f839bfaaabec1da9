#!/usr/bin/env bash
# Set up ./.venv with xstilts and its test tools. Safe to run again: it only installs what is missing.
#
# torch comes first. By default it is pinned to 2.13.0: on this project's CPU machines a CPU build of that release
# lies on disk and pip takes it from there; an unpinned torch would pull a multi-GB CUDA build.
#
# On a GPU machine (see README, "Installing on a CUDA machine"), choose the build with:
#   XSTILTS_TORCH="torch==2.6.0" XSTILTS_TORCH_INDEX=https://download.pytorch.org/whl/cu126 bash scripts/setup.sh
#       the pip spec and the PyTorch wheel index of your CUDA version (cu118, cu121, cu124, cu126, cu128, ...);
#   XSTILTS_REUSE_TORCH=1 bash scripts/setup.sh
#       make .venv see the torch already installed for the interpreter (a cluster's module or conda torch), via
#       --system-site-packages, and install nothing for torch.
# It ends by printing the torch build and the device it sees (`setup: torch ... device ...`).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  if [ "${XSTILTS_REUSE_TORCH:-0}" = "1" ]; then
    "$PYTHON" -c "import torch" 2>/dev/null || { echo "setup: XSTILTS_REUSE_TORCH=1 but $PYTHON cannot import torch" >&2; exit 2; }
    "$PYTHON" -m venv --system-site-packages .venv
  else
    "$PYTHON" -m venv .venv
  fi
fi
. .venv/bin/activate
if ! python -c "import torch" 2>/dev/null; then
  spec=${XSTILTS_TORCH:-torch==2.13.0}
  echo "setup: installing $spec${XSTILTS_TORCH_INDEX:+ from $XSTILTS_TORCH_INDEX}"
  if [ -n "${XSTILTS_TORCH_INDEX:-}" ]; then
    python -m pip install -q "$spec" --index-url "$XSTILTS_TORCH_INDEX" --extra-index-url https://pypi.org/simple
  else
    python -m pip install -q "$spec"
  fi
fi
if ! python -c "import xstilts, pytest, hypothesis, pysword" 2>/dev/null || [ pyproject.toml -nt .venv/.xstilts-installed ]; then
  echo "setup: installing xstilts and its dependencies"
  python -m pip install -q -e ".[test,provision]"
  touch .venv/.xstilts-installed
fi
python - <<'EOF'
import torch

if torch.cuda.is_available():
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    device = f"cuda ({torch.cuda.device_count()} GPU: {names}; CUDA {torch.version.cuda})"
elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
    device = "mps (Apple GPU)"
else:
    device = "cpu" + (" (this torch has CUDA " + torch.version.cuda + " but sees no GPU)" if torch.version.cuda else
                      " (a CPU build of torch)")
print(f"setup: torch {torch.__version__}, device: {device}")
EOF
