#!/usr/bin/env bash
# Set up napari-n2n from scratch on a Debian/Ubuntu machine (CPU): system libraries for headless
# Qt/OpenGL, a virtual environment in .venv, PyTorch's CPU build, then the project with napari
# and the test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        xvfb xauth libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 \
        libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 \
        libxcb-xfixes0 libxcb-shape0 libdbus-1-3 libfontconfig1 >/dev/null
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# A current pip first: the pip bundled with Python 3.11 (23.2) backtracks through every napari and
# dask.distributed release and gives up with a misleading ResolutionImpossible on today's index.
.venv/bin/python -m pip install -q --upgrade pip
# The CPU build of PyTorch first, so that resolving the project does not pull a multi-GB CUDA
# build. On a GPU machine, install the CUDA build of your choice here instead.
.venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install -q -e ".[all,test]"
.venv/bin/python -c "import napari_n2n, torch, napari; print(f'napari-n2n {napari_n2n.__version__}, torch {torch.__version__}, napari {napari.__version__}')"
cat <<'NEXT'

Set up. Next:
  .venv/bin/napari-n2n demo          # trains Noise2Noise on a sample pair for a minute, prints PSNR
  .venv/bin/napari                   # then Plugins > napari-n2n: Noisy pairs, Train, Denoise
  .venv/bin/napari-n2n --help        # the command line: train, predict, check, ...
NEXT
