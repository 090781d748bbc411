#!/usr/bin/env bash
# Wheels for the GPU machine (Python 3.12, x86-64, no internet), for the packages arvid imports that
# its image lacks: vector-quantize-pytorch (the tokenizer's quantizers) and what it needs. Run here,
# where pip reaches the registry; they land in .whl/ (ignored by git), which the device tool carries
# when its call names `.whl` in carry, and which benchmarks/gpu_check.sh unpacks there.
# The versions are the ones installed here, so both machines run the same code.
#
#   bash benchmarks/gpu_wheels.sh [PYTHON_VERSION (default 3.12)]
set -eu
cd "$(dirname "$0")/.."
python_version=${1:-3.12}
packages="vector-quantize-pytorch einx loguru torch-einops-utils frozendict"
mkdir -p .whl
for package in $packages; do
    version=$(python3 -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$package")
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$python_version" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform any -d .whl "$package==$version"
done
ls -la .whl
