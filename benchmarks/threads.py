#!/usr/bin/env python
"""CPU threads under contention: training speed with 1, 2, ... threads while other programs run.

    python benchmarks/threads.py                  # ~4 min: threads × wait policy × competing load
    python benchmarks/threads.py --seconds 8 --loads 0 1

A napari session always has another busy thread (the viewer's own), and a laptop runs other
programs. torch runs its CPU kernels on an OpenMP team of threads (one per core by default);
every parallel region waits for its slowest thread, so one descheduled thread holds the whole
step. This script measures training throughput (patches/s of the ``cpu-quick`` preset on the
camera pair, σ 25) in a fresh process per configuration:

* threads: 1 .. the number of cores, and napari-n2n's automatic choice (cores − 1);
* OpenMP wait policy: the runtime's default, and ``OMP_WAIT_POLICY=PASSIVE``;
* competing load: 0, 1, ... processes each spinning on one core (as a busy viewer or another
  program would).

Each configuration runs the same number of seconds after a warm-up; the table gives patches/s
and the ratio to the best configuration without load. Writes the ``threads`` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import _common as C

CHILD = r"""
import json, sys, time
import torch
from napari_n2n.core.config import TrainConfig
from napari_n2n.core.events import Progress
from napari_n2n.core.data.samples import pair_2d
from napari_n2n.core.training.train import Trainer
threads, seconds, warmup = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
s = pair_2d()
cfg = TrainConfig(preset="cpu-quick", steps=1_000_000, time_budget_s=warmup + seconds, device="cpu", threads=threads,
                  val_fraction=0.0)
marks = []
trainer = Trainer(s.a, s.b, config=cfg)
for ev in trainer.run():
    if isinstance(ev, Progress):
        marks.append((time.perf_counter(), ev.step))
t0 = marks[0][0] + warmup
after = [(t, n) for t, n in marks if t >= t0]
(ta, na), (tb, nb) = after[0], after[-1]
print(json.dumps({"patches_per_s": (nb - na) * trainer.config.batch_size / max(tb - ta, 1e-9),
                  "torch_threads": torch.get_num_threads()}))
"""

SPIN = "import time\nend = time.time() + float(__import__('sys').argv[1])\nwhile time.time() < end: pass\n"


def measure(threads: int, policy: str, load: int, seconds: float, warmup: float) -> float:
    env = dict(os.environ)
    for var in C._THREAD_VARS:
        env.pop(var, None)
    env.pop("OMP_WAIT_POLICY", None)
    if policy == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    spinners = [
        subprocess.Popen([sys.executable, "-c", SPIN, str(seconds + warmup + 30)])
        for _ in range(load)
    ]
    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(threads), str(seconds), str(warmup)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        for p in spinners:
            p.kill()
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["patches_per_s"]


def main(argv=None) -> int:
    from napari_n2n.core.device import available_cores, cpu_threads

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per configuration")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument(
        "--loads", type=int, nargs="+", default=[0, 1], help="numbers of competing busy processes"
    )
    p.add_argument(
        "--policies", nargs="+", default=["default", "passive"], choices=["default", "passive"]
    )
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    args = p.parse_args(argv)
    cores = available_cores()
    thread_counts = sorted(set(range(1, cores + 1)) | {cpu_threads()})
    t = time.perf_counter()
    rows, results = [], {}
    for load in args.loads:
        for policy in args.policies:
            for n in thread_counts:
                rate = measure(n, policy, load, args.seconds, args.warmup)
                results[(load, policy, n)] = rate
                print(
                    f"load {load}, policy {policy}, {n} thread(s): {rate:.1f} patches/s", flush=True
                )
    best_idle = (
        max(v for (load, _, _), v in results.items() if load == 0) if 0 in args.loads else None
    )
    for (load, policy, n), rate in results.items():
        auto = " (automatic)" if n == cpu_threads() else ""
        ratio = f"{rate / best_idle:.2f}" if best_idle else "—"
        rows.append([load, policy, f"{n}{auto}", f"{rate:.1f}", ratio])
    text = C.header(
        "CPU threads under contention: training throughput",
        threads=None,
        extra=[
            f"Training the cpu-quick preset (patch 48, batch 8) on the camera pair, {cores} cores; "
            f"each row a fresh process, {args.seconds:g} s measured after {args.warmup:g} s of "
            "warm-up; 'load' processes each spin on one core meanwhile. Ratio: patches/s over the "
            "best configuration without load, same run."
        ],
    )
    text += "\n" + C.md_table(
        [
            "competing busy processes",
            "OpenMP wait policy",
            "torch threads",
            "patches/s",
            "ratio to best idle",
        ],
        rows,
        align="llrrr",
    )
    text += f"\nWall time: {(time.perf_counter() - t) / 60:.1f} min\n"
    print(text)
    if args.out:
        C.write_section("threads", text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
