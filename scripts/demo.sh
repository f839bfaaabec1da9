#!/usr/bin/env bash
# The main job on a fresh machine: set up, provision the real model and text offline, run the X-STILTs demo.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
. .venv/bin/activate
xstilts prepare
xstilts run configs/demo.yaml "$@"
echo "demo: setup + provisioning + both runs took $(( $(date +%s) - start )) s"
