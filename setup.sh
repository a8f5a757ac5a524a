#!/usr/bin/env bash
# From a fresh clone to a working semsearch in one command:
# a venv in .venv, the CPU build of torch, semsearch with its test, integration and scale-out extras, the default model.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check)

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    # Only ever the CPU build: a plain `pip install torch` would pull several GB of CUDA wheels.
    # First a local CPU wheel that pip's configured find-links may hold; else an index the user names.
    if "${PIP[@]}" install --quiet --no-deps --no-index torch==2.13.0 2>/dev/null; then
        "${PIP[@]}" install --quiet torch==2.13.0  # torch is in place: this adds its small pure-Python dependencies
    else
        if [ -z "${TORCH_INDEX_URL:-}" ]; then
            echo "setup: no local CPU build of torch 2.13.0; set TORCH_INDEX_URL to PyTorch's CPU wheel index and rerun" >&2
            exit 1
        fi
        "${PIP[@]}" install torch --index-url "$TORCH_INDEX_URL"
    fi
fi

"${PIP[@]}" install --quiet -e ".[test,mcp,langchain,llamaindex,scale]"
.venv/bin/python -c "import torch, sys; sys.exit('setup: a CUDA build of torch is installed' if torch.version.cuda else 0)"
.venv/bin/semsearch model install
echo "setup: done. Try: .venv/bin/ask \"如何建设委员工作站?\""
