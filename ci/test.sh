#!/usr/bin/env bash
# The whole CI job, as a new user would run it: a fresh virtual environment, the README's install
# command, the README's main job, the device CLI, then the README's test command.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$(mktemp -d)/venv
python3 -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
cd "$root"

echo "== install (README step 1)"
python -m pip install ".[pocl,cuda,test,examples,bench,distributed]"

# PyTorch is the reference for tests/test_torch_parity.py; take it only where a local CPU wheel
# exists (never a multi-GB download). Without it those tests skip.
if ls /opt/wheels/torch-2.13.0* >/dev/null 2>&1; then
    python -m pip install -q "torch==2.13.0" || echo "PyTorch reference not installed"
fi

# Oclgrind for the kernel bounds tests (README, Test); without root or apt they skip.
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] && ! command -v oclgrind >/dev/null; then
    echo "== apt install oclgrind (README, Test)"
    apt-get install -y -q oclgrind >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q oclgrind >/dev/null; } ||
        echo "oclgrind not installed: tests/test_kernel_bounds.py will skip"
fi

echo "== main job (README step 2)"
python examples/train_digits.py --checkpoint "$(mktemp -d)/digits.pt"
python examples/quickstart.py

echo "== device CLI"
cltorch devices
cltorch doctor

echo "== tests (README test command)"
export CLTORCH_CACHE_DIR
CLTORCH_CACHE_DIR=$(mktemp -d)
pytest -n auto --dist loadfile tests
