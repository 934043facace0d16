#!/usr/bin/env bash
# Everything napari-n2n checks on a GPU, in one command that fits one call of the device tool
# (about 6 minutes on an H100; give it timeout_s 560):
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine, from the repository root
#
# 1. the CUDA tests (tests/core/test_cuda.py: data on the GPU, no host sync per step, mixed
#    precision, streaming from pinned host memory, prediction equal to the CPU's);
# 2. speed.py --device cuda --quick: training and inference throughput on the GPU and the
#    fraction of the GPU's peak FLOP/s (the CAREamics side-by-side is a CPU table).
# Results go to $OUT (the device tool's return folder) or /tmp/n2n_gpu: gpu.txt, tests.log,
# speed.log, speed_gpu.md (the section for docs/benchmarks.md) and speed_gpu.json.
# It uses the machine's python3 (with torch) and the source tree (PYTHONPATH=src): nothing to install.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/n2n_gpu}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
} 2>&1 | tee "$OUT/gpu.txt"
status=0
timeout 200 "$PY" -m pytest -q -p no:cacheprovider tests/core/test_cuda.py 2>&1 | tee "$OUT/tests.log" || status=1
timeout 330 "$PY" benchmarks/speed.py --device cuda --quick --no-careamics --out "$OUT/speed_gpu.md" \
    --json "$OUT/speed_gpu.json" 2>&1 | tee "$OUT/speed.log" || status=1
exit $status
