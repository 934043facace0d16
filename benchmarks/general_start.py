#!/usr/bin/env python
"""The bundled general 2D denoiser on its own: PSNR before any training, on the benchmarks' images.

    python benchmarks/general_start.py
    python benchmarks/general_start.py --models src/napari_n2n/models/general-2d.n2n /tmp/new.n2n

The general model is where a CPU run starts (``init="auto"``). Applied as it is (no step on the
user's data), it shows what the run starts from, and, since no time is measured, the figures do
not depend on the machine's load. Every image here is one the benchmarks score
(``time_to_quality.py``, ``quality.py``, ``trust.py``, ``finetune.py``); the model's training
script (``scripts/train_general_model.py``) leaves all of them out. With ``--models`` several
model files are compared on the same pairs (e.g. before and after retraining).

Pairs: 256×256 centre crops (``_cases.py``), Gaussian σ25 and Poisson–Gaussian (gain 4, read
σ10), seed 0. Columns: the noisy input, the model's output for A, and the average of its
outputs for A and B. Writes the ``general-start`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

CASES = [
    ("camera", "g25"),
    ("cell", "pg"),
    ("moon", "g25"),
    ("coins", "g25"),
    ("astronaut", "g25"),
    ("phantom", "g25"),
]


def scores(model_path: Path, case) -> tuple[float, float, float]:
    """PSNR of (noisy A, the model's A, the average of its A and B) against the clean image."""
    import numpy as np
    from skimage.metrics import peak_signal_noise_ratio as psnr

    from napari_n2n.core.inference.denoiser import Denoiser

    den = Denoiser.load(model_path)
    out_a = den.predict(case.a, axes="YX")
    out_b = den.predict(case.b, axes="YX")

    def score(x) -> float:
        return psnr(case.clean, np.clip(x, 0, 255), data_range=255)

    return score(case.a), score(out_a), score((out_a + out_b) / 2)


def main(argv=None) -> int:
    from _cases import make_case
    from napari_n2n.core.training.start import general_model_path

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", type=Path, default=[general_model_path()])
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    args = p.parse_args(argv)
    C.pin_threads(1)
    headers = ["image", "noise", "noisy"]
    for path in args.models:
        headers += [f"{path.name}: A", f"{path.name}: avg(A, B)"]
    rows = []
    for image, noise in CASES:
        case = make_case(image, noise)
        row = [image, noise]
        for k, path in enumerate(args.models):
            noisy, single, average = scores(path, case)
            row += ([noisy] if k == 0 else []) + [single, average]
        rows.append(row)
        print(" | ".join(C.fmt(c) for c in row), flush=True)
    table = C.md_table(headers, rows)
    print(table)
    if args.out:
        text = C.header(
            "The general 2D start on its own (no training on the data)",
            threads=1,
            extra=[
                "PSNR in dB against the clean image; no image here is in the model's training set"
            ],
        )
        C.write_section("general-start", text + "\n" + table, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
