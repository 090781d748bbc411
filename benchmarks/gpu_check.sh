#!/usr/bin/env bash
# The GPU check, see benchmarks/gpu_check.py: kernel tests without the interpreter, the attention,
# decode and stream benchmarks and a few training steps of the base preset, as one table.
#
#   bash benchmarks/gpu_check.sh                  # on a CUDA machine (under 8 minutes on an H200)
#   bash benchmarks/gpu_check.sh --cpu-dry-run    # the same steps on tiny shapes, here
#
# Uses the machine's own python3 (PYTHON=... picks another) and installs nothing from a registry.
# Wheels in .whl/ (made here by benchmarks/gpu_wheels.sh, for packages the GPU machine lacks) are
# unpacked into a temporary folder put on PYTHONPATH first, except in a dry run.
set -u
cd "$(dirname "$0")/.." || exit 2
PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "gpu_check: no '$PYTHON' on PATH; set PYTHON to the interpreter that holds the machine's CUDA PyTorch"
    exit 2
fi
dry_run=0
for argument in "$@"; do
    if [ "$argument" = "--cpu-dry-run" ]; then dry_run=1; fi
done
if [ "$dry_run" = 0 ] && compgen -G ".whl/*.whl" >/dev/null; then
    site=$(mktemp -d "${TMPDIR:-/tmp}/arvid-gpu-site.XXXXXX")
    if "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl; then
        export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
        echo "gpu_check: wheels from .whl/ unpacked into $site"
    else
        echo "gpu_check: could not unpack the wheels in .whl/; going on without them"
    fi
fi
export PYTHONUNBUFFERED=1
exec "$PYTHON" benchmarks/gpu_check.py "$@"
