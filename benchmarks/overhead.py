#!/usr/bin/env python
"""What resumable, multi-process-ready training costs a single-process CPU run: before and after.

    python benchmarks/overhead.py --before 04930f0      # ~5 min on 2 cores

1. Patch sampling: batches per second of ``PatchSampler.sample_batch`` drawing from the
   sampler's one generator (as before) and from a generator made for every step from
   ``(seed, rank, step)`` (what a resumable run does, :class:`~napari_n2n.core.training.batches.StepRandomness`).
2. ``napari-n2n train`` on the same pair with the code of ``--before`` (a git revision, extracted
   to a temporary folder) and with this checkout, alternately, ``--repeats`` times each: steps per
   second of training (the time the command reports) and CPU seconds per step (the whole
   command's CPU time, start-up included, divided by the steps), best of the repeats. The CPU
   time is the steadier figure on a machine shared with other work. This checkout also runs
   with ``--checkpoint-every 100``.

Prints a table and writes the ``overhead`` section of ``docs/benchmarks.md`` (``--out ''`` to only print).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

TRAIN = [
    "--steps",
    "300",
    "--patch",
    "48",
    "--batch",
    "8",
    "--depth",
    "3",
    "--base-channels",
    "16",
    "--device",
    "cpu",
    "--quiet",
]


def sampling(batches: int, repeats: int) -> tuple[float, float]:
    """Batches per second (best of ``repeats``): one generator, then one generator per step."""
    from napari_n2n.core.data.samples import pair_2d
    from napari_n2n.core.training.batches import StepRandomness
    from napari_n2n.core.training.sampling import PatchSampler

    s = pair_2d()
    sampler = PatchSampler.from_arrays(s.a, s.b, patch=48, augment=True, symmetric=True, seed=0)
    randomness = StepRandomness(0)
    best = [0.0, 0.0]
    for _ in range(repeats):
        for i, per_step in enumerate((False, True)):
            t = time.perf_counter()
            for step in range(1, batches + 1):
                sampler.sample_batch(8, rng=randomness.numpy(step) if per_step else None)
            best[i] = max(best[i], batches / (time.perf_counter() - t))
    return best[0], best[1]


def train_speed(src: Path, folder: Path, extra: list[str]) -> tuple[float, float]:
    """``(steps per second of training, CPU seconds per step of the whole command)``."""
    import resource

    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    for name in ("m.n2n", "m.ckpt"):
        (folder / name).unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_n2n.cli",
            "train",
            "--input",
            str(folder / "a.tif"),
            "--target",
            str(folder / "b.tif"),
            "--model",
            str(folder / "m.n2n"),
            *TRAIN,
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    steps, seconds = re.search(r"(\d+) steps, ([\d.]+) s\)", out).groups()
    return int(steps) / float(seconds), cpu / int(steps)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="git revision of the code to compare with")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batches", type=int, default=2000, help="batches per sampling measurement")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    args = p.parse_args(argv)
    C.pin_threads(args.threads)
    import tifffile

    from napari_n2n.core.data.samples import pair_2d

    t0 = time.perf_counter()
    one, per_step = sampling(args.batches, args.repeats)
    folder = Path(tempfile.mkdtemp())
    s = pair_2d()
    tifffile.imwrite(folder / "a.tif", s.a)
    tifffile.imwrite(folder / "b.tif", s.b)
    before = folder / "before"
    before.mkdir()
    revision = subprocess.run(
        ["git", "rev-parse", "--short", args.before],
        cwd=C.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", revision, "src"], cwd=C.ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
    runs = {
        "before": (before / "src", []),
        "after": (C.ROOT / "src", []),
        "after, checkpoint every 100 steps": (C.ROOT / "src", ["--checkpoint-every", "100"]),
    }
    speed = {k: 0.0 for k in runs}
    cpu = {k: float("inf") for k in runs}
    for _ in range(args.repeats):
        for name, (src, extra) in runs.items():
            s_per, c_per = train_speed(src, folder, extra)
            speed[name], cpu[name] = max(speed[name], s_per), min(cpu[name], c_per)
    rows = [
        ["patch sampling: one generator (before)", f"{one:.0f} batches/s", "1.00", "", ""],
        [
            "patch sampling: a generator per step (after)",
            f"{per_step:.0f} batches/s",
            f"{per_step / one:.2f}",
            "",
            "",
        ],
    ]
    rows += [
        [
            f"napari-n2n train, {k}",
            f"{speed[k]:.2f} steps/s",
            f"{speed[k] / speed['before']:.2f}",
            f"{cpu[k] * 1000:.0f} ms",
            f"{cpu['before'] / cpu[k]:.2f}",
        ]
        for k in runs
    ]
    text = C.header(
        "Cost of resumable training on one CPU process",
        threads=args.threads,
        extra=[
            f"Before: the code at {args.before} ({revision}); after: this checkout. Sampling: batches of 8 patches "
            f"of 48² from camera 512² (augmented, symmetric), {args.batches} per measurement. Training: "
            f"`napari-n2n train {' '.join(TRAIN)}` on camera 512² with Gaussian σ25; steps per second "
            f"of training time; best of {args.repeats}, before and after alternating.",
            f"Wall time: {(time.perf_counter() - t0) / 60:.1f} min.",
        ],
    )
    text += "\n" + C.md_table(
        ["what", "speed", "speed ratio", "CPU per step", "CPU ratio (before / after)"],
        rows,
        align="lrrrr",
    )
    print(text)
    if args.out:
        C.write_section("overhead", text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
