#!/usr/bin/env python
"""How long Stop takes on the CPU, checked between steps only (before) and inside steps (now); what it costs.

    python benchmarks/stop_latency.py             # about 10 minutes on 2 threads
    python benchmarks/stop_latency.py --threads 1 --out ''
    python benchmarks/stop_latency.py --volume --out ''   # 3D, before and at the first steps (a minute)

The standard 2D network trains on a 512×512 noisy pair with 128² patches in batches of 16 (a
step takes seconds on a CPU). A stop is requested at several moments into the run, from
another thread, as the widgets' Stop button does; the latency is the time until the run has
ended and its model is kept. "Between steps" emulates the training loop before this change
(:func:`napari_n2n.core.training.interrupt.stop_inside_steps` disabled). Throughput compares the two on a
few configurations.
Prints a table and writes the ``stop-latency`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import _common as C


def pair():
    from napari_n2n import Gaussian, synthesize_pair
    from napari_n2n.core.data.samples import pair_2d

    clean = pair_2d(sigma=25.0, seed=0).clean
    return synthesize_pair(clean, Gaussian(sigma=25.0), seed=0)


def latency(a, b, config, delay: float, axes: str = "YX") -> tuple[float, int]:
    """Seconds from ``request_stop`` to the end of the run, ``delay`` seconds after it started; steps done."""
    from napari_n2n.core.training.train import Trainer

    trainer = Trainer(a, b, axes=axes, config=config)
    started = threading.Event()
    done = {}

    def work():
        for _event in trainer.run():
            if not started.is_set():
                started.set()
        done["t"] = time.perf_counter()

    thread = threading.Thread(target=work)
    thread.start()
    started.wait()
    time.sleep(delay)
    t0 = time.perf_counter()
    trainer.request_stop()
    thread.join()
    if trainer.has_model:  # a stop before the model was built keeps none
        trainer.denoiser()  # the kept model is there
    return done["t"] - t0, trainer.history["steps_done"]


def throughput(a, b, config, steps: int) -> float:
    """Patches per second over ``steps`` steps after one warm-up step."""
    from napari_n2n.core.training.train import Trainer

    trainer = Trainer(a, b, axes="YX", config=config.replace(steps=steps + 1, val_fraction=0.0))
    t0 = None
    for event in trainer.run():
        if getattr(event, "step", None) == 1:
            t0 = time.perf_counter()
    return steps * config.batch_size / (time.perf_counter() - t0)


def run(
    delays: list[float], steps: int, threads: int, repeats: int
) -> tuple[list[list], list[list]]:
    import contextlib

    from napari_n2n import TrainConfig
    from napari_n2n.core.training import train as train_module

    a, b = pair()
    inside = train_module.stop_inside_steps
    between = lambda *args, **kwargs: contextlib.nullcontext()  # noqa: E731 - the loop before this change
    variants = (("between steps (before)", between), ("inside steps (now)", inside))
    big = TrainConfig(
        patch_size=128,
        batch_size=16,
        steps=10_000,
        device="cpu",
        seed=0,
        threads=threads,
        preset="standard",
    )
    lat_rows, speed_rows = [], []
    try:
        for label, fn in variants:
            train_module.stop_inside_steps = fn
            for delay in delays:
                seconds, done = latency(a, b, big, delay)
                lat_rows.append([label, f"{delay:.1f}", f"{seconds:.2f}", str(done)])
                print(" | ".join(lat_rows[-1]), flush=True)
        # throughput: the two variants alternate, so a change in the machine's load hits both; best of the repeats
        for patch, batch, extra in (
            (128, 16, {}),
            (64, 16, {}),
            (48, 8, {"depth": 3, "base_channels": 16}),
        ):
            config = TrainConfig(
                patch_size=patch,
                batch_size=batch,
                device="cpu",
                seed=0,
                threads=threads,
                preset="standard",
                **extra,
            )
            best = {label: 0.0 for label, _ in variants}
            for _ in range(repeats):
                for label, fn in variants:
                    train_module.stop_inside_steps = fn
                    best[label] = max(best[label], throughput(a, b, config, steps))
            name = f"{patch}² × {batch}, {extra.get('depth', 4)} levels × {extra.get('base_channels', 32)}"
            speed_rows.append(
                [
                    name,
                    *(f"{best[label]:.2f}" for label, _ in variants),
                    f"{best[variants[1][0]] / best[variants[0][0]]:.2f}",
                ]
            )
            print(" | ".join(speed_rows[-1]), flush=True)
    finally:
        train_module.stop_inside_steps = inside
    return lat_rows, speed_rows


def run_volume(delays: list[float], threads: int) -> list[list]:
    """Stop latency of 3D training (the nuclei sample, 32×128×128) from the first moments on.

    The first run of the process pays torch's import of ``torch._dynamo`` (seconds on a loaded
    CPU, when the first optimiser is built), as the first run in a new napari or CLI session does.
    """
    from napari_n2n import TrainConfig
    from napari_n2n.core.data.samples import volume_3d

    sample = volume_3d()
    rows = []
    for preset in ("standard", "cpu-quick"):
        config = TrainConfig(
            steps=None, time_budget_s=300, device="cpu", seed=0, threads=threads, preset=preset
        )
        for delay in delays:
            seconds, done = latency(sample.a, sample.b, config, delay, axes="ZYX")
            rows.append([f"3D {preset}", f"{delay:.1f}", f"{seconds:.2f}", str(done)])
            print(" | ".join(rows[-1]), flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--delays",
        type=float,
        nargs="+",
        default=None,
        help="seconds into the run to stop at (default: 1 to 5; with --volume 0.2, 1, 3, 8)",
    )
    p.add_argument(
        "--repeats", type=int, default=2, help="throughput runs per variant (the best is kept)"
    )
    p.add_argument("--steps", type=int, default=4, help="steps timed per throughput figure")
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    p.add_argument(
        "--volume",
        action="store_true",
        help="measure 3D training (stops from 0.2 s on: before and at the first steps) instead",
    )
    args = p.parse_args(argv)
    C.pin_threads(args.threads)
    t = time.perf_counter()
    if args.volume:
        rows = run_volume(args.delays or [0.2, 1.0, 3.0, 8.0], args.threads)
        print(
            C.md_table(["run", "stop after (s)", "latency (s)", "steps done"], rows, align="lrrr")
        )
        return 0
    lat_rows, speed_rows = run(
        args.delays or [1.0, 2.0, 3.0, 4.0, 5.0], args.steps, args.threads, args.repeats
    )
    text = C.header(
        "Stop latency on the CPU",
        threads=args.threads,
        extra=[
            "standard 2D network (4 levels × 32), camera 512×512 pair; latency = time from "
            "Trainer.request_stop() (another thread) to the end of the run, requested the given "
            "seconds after the run started. 'between steps' emulates the loop before this change."
        ],
    )
    text += "\n" + C.md_table(
        ["stop checked", "stop after (s)", "latency (s)", "steps done"], lat_rows, align="lrrr"
    )
    text += (
        f"\nThroughput (patches/s over {args.steps} steps after a warm-up step, best of {args.repeats} runs "
        "taken in turn), stop checked between or inside steps:\n\n"
    )
    text += C.md_table(
        ["configuration", "between steps (before)", "inside steps (now)", "now / before"],
        speed_rows,
        align="lrrr",
    )
    text += f"\nWall time: {(time.perf_counter() - t) / 60:.1f} min\n"
    print(text)
    if args.out:
        C.write_section("stop-latency", text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
