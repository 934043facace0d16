#!/usr/bin/env bash
# Create the isolated CAREamics virtual environment used by the napari-n2n
# benchmark (benchmarks/careamics_runner.py), and install CAREamics into it.
#
#   bash benchmarks/setup_careamics.sh            # create / reuse
#   FORCE=1 bash benchmarks/setup_careamics.sh    # delete and rebuild
#
# Environment variables:
#   CAREAMICS_VENV   venv location (default: benchmarks/.venv-careamics)
#   PYTHON           interpreter used to create it (default: python3, needs >= 3.11)
#   FORCE=1          rebuild even if the venv already imports careamics
#
# Idempotent: if the venv already imports careamics it does nothing.
#
# Why these pins: careamics 0.3.5 requires torch>=2.6,<2.14 and
# torchvision<=0.26.0, and torchvision 0.26.0 requires torch==2.11.0. PyPI has no
# CPU-only torch 2.11 wheel for Linux x86_64 (the +cpu builds live on PyTorch's
# own index, which is not reachable here), so this installs the regular PyPI
# build (torch 2.11.0+cu130 with the nvidia-* CUDA 13 runtime wheels). It runs on
# CPU without a GPU. Measured on the 2-core dev machine: ~2.5 min, ~5.3 GB venv
# (about 0.5 GB torch wheel + ~3 GB of nvidia-* wheels).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${CAREAMICS_VENV:-$HERE/.venv-careamics}"
PYTHON="${PYTHON:-python3}"

CAREAMICS_VERSION="0.3.5"
TORCH_VERSION="2.11.0"
TORCHVISION_VERSION="0.26.0"

if [[ "${FORCE:-0}" != "1" && -x "$VENV/bin/python" ]]; then
    if info="$("$VENV/bin/python" -c \
        'import careamics, torch; print("careamics", careamics.__version__, "torch", torch.__version__)' \
        2>/dev/null)"; then
        echo "CAREamics venv already set up at $VENV ($info)"
        exit 0
    fi
    echo "$VENV exists but does not import careamics: (re)installing into it"
fi

if [[ "${FORCE:-0}" == "1" && -d "$VENV" ]]; then
    rm -rf "$VENV"
fi

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "careamics 0.3.5 needs Python >= 3.11")'

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "Creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

# Full pin set of the transitive dependencies, as resolved on 2026-11 for
# careamics 0.3.5 (pip freeze of a working venv), so rebuilds are reproducible.
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
cat > "$CONSTRAINTS" <<'PINS'
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
annotated-types==0.8.0
anyio==4.16.0
attrs==26.1.0
bioimageio.core==0.11.0
bioimageio.spec==0.5.12.0
certifi==2026.10.19.post1
contourpy==1.3.3
cuda-bindings==13.5.0
cuda-pathfinder==1.9.1
cuda-toolkit==13.0.2
cycler==0.12.1
distro==1.9.0
dnspython==2.9.2
donfig==0.8.1.post1
email-validator==2.4.0
exceptiongroup==1.3.2
filelock==4.3.1
fonttools==4.68.0
frozenlist==1.8.0
fsspec==2026.9.0
genericache==0.5.2
google-crc32c==1.9.0
h11==0.16.0
httpcore==1.0.9
httpx==0.28.1
idna==3.20
imagecodecs==2026.3.6
ImageIO==2.38.1
Jinja2==3.1.6
kiwisolver==1.5.1
lazy-loader==0.6
lightning==2.6.6
lightning-utilities==0.15.3
loguru==0.7.3
Markdown==3.11.3
markdown-it-py==4.3.0
MarkupSafe==3.0.4
matplotlib==3.11.2
mdurl==0.1.2
microssim==0.0.5
mpmath==1.3.0
multidict==7.2.1
networkx==3.6.1
numcodecs==0.16.6
numpy==2.4.6
nvidia-cublas==13.1.0.3
nvidia-cuda-cupti==13.0.85
nvidia-cuda-nvrtc==13.0.88
nvidia-cuda-runtime==13.0.96
nvidia-cudnn-cu13==9.19.0.56
nvidia-cufft==12.0.0.61
nvidia-cufile==1.15.1.6
nvidia-curand==10.4.0.35
nvidia-cusolver==12.0.4.66
nvidia-cusparse==12.6.3.3
nvidia-cusparselt-cu13==0.8.0
nvidia-nccl-cu13==2.28.9
nvidia-nvjitlink==13.0.88
nvidia-nvshmem-cu13==3.4.5
nvidia-nvtx==13.0.85
packaging==26.4
pandas==3.1.1
pillow==13.0.0
platformdirs==4.14.8
propcache==0.5.4
psutil==7.2.2
pydantic==2.14.1
pydantic-settings==2.16.3
pydantic_core==2.50.1
Pygments==2.21.0
pyparsing==3.3.3
python-dateutil==4.0.0
python-dotenv==1.2.4
pytorch-lightning==2.6.6
PyYAML==6.0.3
rich==15.0.0
ruyaml==0.91.0
scikit-image==0.26.0
scipy==1.17.1
sympy==1.14.0
tifffile==2026.3.3
torchmetrics==1.8.2
tqdm==4.70.0
triton==3.6.0
typing-inspection==0.4.5
typing_extensions==4.16.0
tzdata==2026.6
xarray==2026.9.0
yarl==1.25.1
zarr==3.1.6
zipp==4.1.2
PINS

echo "Installing careamics==$CAREAMICS_VERSION torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION"
"$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
    -c "$CONSTRAINTS" \
    "careamics==$CAREAMICS_VERSION" \
    "torch==$TORCH_VERSION" \
    "torchvision==$TORCHVISION_VERSION"

"$VENV/bin/python" -c "import careamics, torch, torchvision; print('careamics', careamics.__version__, 'torch', torch.__version__, 'torchvision', torchvision.__version__)"
