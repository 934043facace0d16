#!/usr/bin/env python
"""Out-of-core prediction to OME-Zarr: peak memory and throughput on a volume far larger than memory.

    python benchmarks/large_data.py                 # 256×4096×4096 float32 (16 GiB output): 1 process, 2 dask workers
    python benchmarks/large_data.py --quick         # 8×4096×4096 (512 MiB): the same two runs, a few minutes
    python benchmarks/large_data.py --depth 64      # any number of 4096² slices

The input is generated lazily: a dask array whose 1024² blocks are computed on demand from
their position (a smooth pattern plus Gaussian noise), so it costs no disk and no memory; it
is denoised by :func:`napari_n2n.ondisk.output.predict_to_zarr` into an OME-Zarr store on disk (chunks
1×1024×1024, units of work 1×2048×2048, halo 48, tiles 1104 so a unit is 2×2 tiles) with a
tiny 2D U-Net (depth 1, 4 channels: speed depends on the network, memory does not), once in
one process and once on a local dask cluster of 2 worker processes of one thread each.

Each run is a subprocess that samples, every 0.5 s, the resident memory (RSS) of itself and of
all its child processes (the cluster's nanny and worker processes): the peak of the sum is
the memory the run needs. Throughput is output voxels per second of the denoising stage; the
pyramid (levels halved in Y and X) is timed on its own. Two slices of the result are compared
with an in-memory ``Denoiser.predict`` of the same slices. The output is deleted after each
run. Writes the ``large-data`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _common as C

GiB, MiB = 1024**3, 1024**2
SIDE, CHUNK, UNIT, TILE = 4096, 1024, 2048, 1104


def noisy_block(block_info=None):
    """One block of the generated input: a smooth pattern plus noise, the same for the same position."""
    import numpy as np

    loc = block_info[None]["array-location"]
    (z0, z1), (y0, y1), (x0, x1) = loc
    yy, xx = np.meshgrid(
        np.arange(y0, y1, dtype=np.float32), np.arange(x0, x1, dtype=np.float32), indexing="ij"
    )
    rng = np.random.default_rng([z0, y0, x0])
    out = np.empty((z1 - z0, y1 - y0, x1 - x0), np.float32)
    for k in range(z1 - z0):
        out[k] = 100 + 60 * np.sin(yy / 37.0 + (z0 + k) / 9.0) * np.cos(xx / 23.0)
        out[k] += rng.normal(0, 20, size=yy.shape).astype(np.float32)
    return out


def generated_input(depth: int):
    import dask.array as da
    import numpy as np

    chunks = ((1,) * depth, (CHUNK,) * (SIDE // CHUNK), (CHUNK,) * (SIDE // CHUNK))
    return da.map_blocks(
        noisy_block, chunks=chunks, dtype=np.float32, meta=np.empty((0, 0, 0), np.float32)
    )


def _tree_rss(proc) -> tuple[int, dict]:
    import psutil

    total, each = 0, {}
    for p in [proc, *proc.children(recursive=True)]:
        try:
            rss = p.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        each[p.pid] = rss
    return total, each


def child(spec: dict) -> dict:
    """One run (in the subprocess): denoise the generated input to a store, sampling memory."""
    import numpy as np
    import psutil

    from napari_n2n.core.events import ChunkProgress
    from napari_n2n.core.inference.denoiser import Denoiser
    from napari_n2n.io import ImageData
    from napari_n2n.ondisk.output import predict_to_zarr_iter

    me = psutil.Process()
    data = generated_input(spec["depth"])
    image = ImageData(data, axes="ZYX", pixel_size={"Z": 1.0, "Y": 0.5, "X": 0.5}, unit="µm")
    peak = {"total": 0, "each": {}}
    base = _tree_rss(me)[0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            total, each = _tree_rss(me)
            peak["total"] = max(peak["total"], total)
            for pid, rss in each.items():
                peak["each"][pid] = max(peak["each"].get(pid, 0), rss)
            stop.wait(0.5)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    client = cluster = None
    if spec["workers"]:
        import logging

        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=spec["workers"],
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    stages = {"denoise": [None, None], "pyramid": [None, None]}
    t0 = time.perf_counter()
    last_print = 0.0
    gen = predict_to_zarr_iter(
        spec["model"],
        image,
        spec["output"],
        chunks=(1, CHUNK, CHUNK),
        unit_voxels=UNIT * UNIT,
        tile=TILE,
        device=spec["device"],
        client=client,
        threads=spec["threads"],
    )
    while True:
        try:
            ev = next(gen)
        except StopIteration as end:
            path = end.value
            break
        if isinstance(ev, ChunkProgress):
            now = time.perf_counter()
            stages[ev.stage][0] = stages[ev.stage][0] or now
            stages[ev.stage][1] = now
            if now - last_print > 60:
                last_print = now
                print(
                    f"  {ev.stage} {ev.done}/{ev.total} ({ev.fraction:.1%}) after {now - t0:.0f} s, "
                    f"{ev.voxels_per_s / 1e6:.2f} Mvox/s, RSS peak {peak['total'] / MiB:.0f} MiB",
                    file=sys.stderr,
                    flush=True,
                )
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    if client is not None:
        client.close()
        cluster.close()
    disk = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    # two slices against one in-memory prediction each
    import zarr

    out = zarr.open_array(str(Path(path) / "0"), mode="r")
    den = Denoiser.load(spec["model"])
    worst = 0.0
    for z in (0, spec["depth"] // 2):
        ref = den.predict(np.asarray(data[z]), axes="YX", tile=TILE, device=spec["device"])
        worst = max(worst, float(np.abs(np.asarray(out[z]) - ref).max() / (ref.max() - ref.min())))
    voxels = spec["depth"] * SIDE * SIDE
    denoise_s = stages["denoise"][1] - t0
    return dict(
        wall_s=wall,
        denoise_s=denoise_s,
        pyramid_s=wall - denoise_s,
        voxels=voxels,
        mvox_per_s=voxels / denoise_s / 1e6,
        peak_rss=peak["total"],
        base_rss=base,
        peak_each=sorted(peak["each"].values(), reverse=True),
        disk_bytes=disk,
        max_diff_of_range=worst,
        path=str(path),
    )


def make_model(path: Path) -> str:
    """The tiny network, trained briefly on two noisy copies of the generated pattern (so it denoises)."""
    import numpy as np

    from napari_n2n import TrainConfig, train

    yy, xx = np.meshgrid(
        np.arange(512, dtype=np.float32), np.arange(512, dtype=np.float32), indexing="ij"
    )
    clean = 100 + 60 * np.sin(yy / 37.0) * np.cos(xx / 23.0)
    rng = np.random.default_rng(1)
    a, b = (clean + rng.normal(0, 20, clean.shape).astype(np.float32) for _ in range(2))
    den = train(
        a,
        b,
        config=TrainConfig(
            steps=300,
            patch_size=64,
            batch_size=4,
            depth=1,
            base_channels=4,
            learning_rate=3e-3,
            val_fraction=0.0,
            device="cpu",
            threads=1,
            seed=0,
        ),
    )
    den.save(path)
    return f"2D U-Net depth 1, 4 base channels ({den.n_parameters:,} parameters, 300 steps on the generated pattern)"


def run(tmp: Path, model: Path, depth: int, workers: int, device: str, threads: int) -> dict:
    out = tmp / f"out_{workers}.ome.zarr"
    spec = dict(
        model=str(model),
        output=str(out),
        depth=depth,
        workers=workers,
        device=device,
        threads=threads,
    )
    env = dict(
        os.environ,
        **{v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    )
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the run with {workers} workers failed (exit {proc.returncode})")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    shutil.rmtree(out, ignore_errors=True)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description="Out-of-core prediction to OME-Zarr: peak memory and throughput."
    )
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--quick", action="store_true", help="8 slices (512 MiB of output) instead of 256 (16 GiB)"
    )
    p.add_argument(
        "--depth",
        type=int,
        default=None,
        help="number of 4096×4096 slices (default 256; --quick: 8)",
    )
    p.add_argument(
        "--workers", default="0,2", help="runs: 0 is one process, N a local cluster of N workers"
    )
    p.add_argument(
        "--tmp", default=None, help="folder for the output stores (default: system temp)"
    )
    p.add_argument(
        "--device", default="cpu", help="cpu, or cuda for a GPU (the workers of a cluster share it)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads of each cluster worker")
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    C.pin_threads(1)
    depth = args.depth or (8 if args.quick else 256)
    size = depth * SIDE * SIDE * 4
    free = shutil.disk_usage(args.tmp or tempfile.gettempdir()).free
    if free < 1.5 * size:
        print(
            f"not enough disk: {free / GiB:.1f} GiB free, the output needs up to {1.5 * size / GiB:.1f}",
            file=sys.stderr,
        )
        return 2
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="n2n_large_", dir=args.tmp) as tmpname:
        tmp = Path(tmpname)
        model = tmp / "tiny.n2n"
        described = make_model(model)
        for workers in (int(w) for w in args.workers.split(",")):
            print(
                f"{depth}×{SIDE}×{SIDE} with {workers or 'no'} workers ...",
                file=sys.stderr,
                flush=True,
            )
            r = run(tmp, model, depth, workers, args.device, args.threads)
            r.update(workers=workers, device=args.device)
            results.append(r)
            if args.json:  # after every run, so a run stopped later keeps the ones before
                Path(args.json).write_text(json.dumps(results, indent=1))
            rows.append(
                [
                    "1 process"
                    if not workers
                    else f"{workers} dask workers ({args.threads} thread each)",
                    f"{r['voxels'] * 4 / GiB:,.1f}",
                    f"{r['disk_bytes'] / GiB:,.1f}",
                    f"{r['peak_rss'] / MiB:,.0f}",
                    ", ".join(f"{b / MiB:,.0f}" for b in r["peak_each"][:4]),
                    f"{r['denoise_s'] / 60:,.1f}",
                    f"{r['mvox_per_s']:.2f}",
                    f"{r['pyramid_s'] / 60:,.1f}",
                    f"{r['max_diff_of_range']:.1e}",
                ]
            )
            print(C.md_table(HEADERS, rows[-1:]), flush=True)
    table = C.md_table(HEADERS, rows)
    print(table)
    if args.out:
        text = (
            C.header(
                f"Out-of-core prediction to OME-Zarr on {args.device} (benchmarks/large_data.py)",
                threads=1,
                device=args.device,
                extra=[
                    f"Model: {described}; input generated on demand (dask), {depth}×{SIDE}×{SIDE} float32, "
                    f"chunks 1×{CHUNK}×{CHUNK}, units 1×{UNIT}×{UNIT} + halo 48, tiles {TILE}",
                    "Peak RSS: the run's process plus its cluster processes, sampled every 0.5 s; "
                    "'largest processes' lists the peaks of the biggest ones",
                ],
            )
            + "\n"
            + table
        )
        C.write_section(f"large-data-{args.device}", text, args.out)
    return 0


HEADERS = [
    "run",
    "output GiB (float32)",
    "on disk GiB",
    "peak RSS MiB (all processes)",
    "largest processes MiB",
    "denoise min",
    "Mvox/s",
    "pyramid min",
    "max |chunked − in-memory| / range",
]

if __name__ == "__main__":
    sys.exit(main())
