#!/usr/bin/env bash
# Everything napari-n2n checks on a GPU, in one command that fits one call of the device tool
# (about 8 minutes on an H100; give it timeout_s 590):
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine, from the repository root
#
# 1. the CUDA tests (tests/core/test_cuda.py: data on the GPU, syncs per step, mixed precision,
#    streaming from pinned host memory, prediction equal to the CPU's, the first-step memory fallback);
# 2. speed.py --device cuda --quick: training and inference throughput on the GPU and the
#    fraction of the GPU's peak FLOP/s (the CAREamics side-by-side is a CPU table);
# 3. time_to_quality.py --device cuda on the camera pair: PSNR against wall time for the gpu and
#    standard presets (BM3D's reference comes from the CPU run: the GPU machine has no bm3d).
# Results go to $OUT (the device tool's return folder) or /tmp/n2n_gpu: gpu.txt, tests.log,
# speed.log, speed_gpu.md/json, ttq.log, ttq_gpu.md/json.
# It uses the machine's python3 (torch, numpy, scikit-image, tifffile, safetensors) and the
# source tree (PYTHONPATH=src): nothing to install.
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
timeout 170 "$PY" -m pytest -q -p no:cacheprovider -o addopts="" tests/core/test_cuda.py 2>&1 | tee "$OUT/tests.log" || status=1
timeout 240 "$PY" benchmarks/speed.py --device cuda --quick --no-careamics --out "$OUT/speed_gpu.md" \
    --json "$OUT/speed_gpu.json" 2>&1 | tee "$OUT/speed.log" || status=1
timeout 150 "$PY" benchmarks/time_to_quality.py --device cuda --presets gpu standard --budgets 2 5 10 20 \
    --pairs "camera σ25" --no-bm3d --out "$OUT/ttq_gpu.md" --json "$OUT/ttq_gpu.json" 2>&1 | tee "$OUT/ttq.log" || status=1
exit $status
