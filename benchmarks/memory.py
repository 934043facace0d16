#!/usr/bin/env python
"""Peak memory of tiled prediction on large images and volumes.

    python benchmarks/memory.py                  # 4096² image and 256×1024×1024 volume (+ smaller sizes)
    python benchmarks/memory.py --quick          # smaller sizes only (scaling), a few minutes
    python benchmarks/memory.py --no-big-volume  # everything but the 1 GiB volume

Every prediction runs in its own subprocess that loads a saved model (``Denoiser.load``) and
calls ``Denoiser.predict`` on a ``.npy`` file opened as a read-only memory map, writing either
into an ordinary in-memory array or into a disk-backed ``out=`` memory map. The subprocess
reports

* its peak resident set size (``VmHWM`` of ``/proc/self/status``; the same figure as
  ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` in the parent), which also counts the
  pages of the memory-mapped input and output files that were touched (file-backed pages that
  the kernel can drop at any time);
* its peak *anonymous* resident memory (``RssAnon``, sampled every 20 ms by a thread): the
  memory the process itself allocated, which is what has to fit in RAM;
* the same two figures just before ``predict`` (imports + model), and the prediction time.

Bounded memory means: the anonymous peak minus the baseline stays flat as the image grows,
apart from the output itself when the output is an in-memory array.

Models: the 2D default U-Net (depth 4, 32 base channels) for images; a tiny 3D U-Net (depth 2,
8 base channels) for volumes, since CPU inference of a 1 GiB volume with the default 3D model
takes hours. Weights come from a few training steps: memory and speed do not depend on them.
Writes the ``memory`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _common as C

MiB = 1024**2


def _status() -> dict:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(val.split()[0]) * 1024
    return out


def child(spec: dict) -> dict:
    """Run one prediction (in the subprocess) and measure it."""
    import numpy as np

    from napari_n2n import Denoiser

    C.pin_threads(spec["threads"])
    den = Denoiser.load(spec["model"])
    image = np.load(spec["input"], mmap_mode="r")
    out = None
    if spec["out"] == "disk":
        out = np.lib.format.open_memmap(
            spec["output"], mode="w+", dtype=np.float32, shape=image.shape
        )
    base = _status()
    peak = {"RssAnon": base.get("RssAnon", 0), "VmRSS": base.get("VmRSS", 0)}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            s = _status()
            for k in peak:
                peak[k] = max(peak[k], s.get(k, 0))
            stop.wait(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t = time.perf_counter()
    res = den.predict(image, axes=spec["axes"], device="cpu", out=out)
    seconds = time.perf_counter() - t
    stop.set()
    th.join()
    end = _status()
    if out is not None:
        out.flush()
    checksum = float(np.asarray(res[tuple(slice(0, 8) for _ in res.shape)]).mean())
    return dict(
        seconds=seconds,
        base_anon=base.get("RssAnon"),
        base_rss=base.get("VmRSS"),
        peak_anon=peak["RssAnon"],
        peak_rss_sampled=peak["VmRSS"],
        vm_hwm=end["VmHWM"],
        checksum=checksum,
    )


def make_input(path: Path, shape: tuple[int, ...], seed: int = 0) -> None:
    """A noisy test pattern written slab by slab into a .npy file (never whole in memory)."""
    import numpy as np

    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    rng = np.random.default_rng(seed)
    step = max(1, (16 * MiB) // (4 * int(np.prod(shape[1:]))))
    yy, xx = np.meshgrid(np.arange(shape[-2]), np.arange(shape[-1]), indexing="ij")
    pattern = (100 + 60 * np.sin(yy / 37.0) * np.cos(xx / 23.0)).astype(np.float32)
    for i in range(0, shape[0], step):
        n = min(step, shape[0] - i)
        block = rng.normal(0, 25, size=(n,) + tuple(shape[1:])).astype(np.float32)
        block += pattern if len(shape) == 3 else pattern[i : i + n]
        arr[i : i + n] = block
    arr.flush()
    del arr


def make_model(path: Path, ndim: int, threads: int) -> dict:
    import numpy as np

    from napari_n2n import TrainConfig, train

    rng = np.random.default_rng(0)
    if ndim == 2:
        img = rng.normal(100, 25, (128, 128)).astype(np.float32)
        cfg = TrainConfig(steps=2, patch_size=64, batch_size=2, val_fraction=0.0, device="cpu")
    else:
        img = rng.normal(100, 25, (16, 64, 64)).astype(np.float32)
        cfg = TrainConfig(
            steps=2,
            patch_size=16,
            batch_size=2,
            depth=2,
            base_channels=8,
            val_fraction=0.0,
            device="cpu",
        )
    den = train(img, img + rng.normal(0, 1, img.shape).astype(np.float32), config=cfg)
    den.save(path)
    return dict(
        n_parameters=den.n_parameters,
        model=f"{ndim}D U-Net depth {den.unet.depth}, "
        f"{den.unet.base_channels} base channels ({den.n_parameters:,} parameters)",
    )


def run_case(tmp: Path, model: Path, shape, axes: str, out: str, threads: int) -> dict:
    import resource

    inp = tmp / ("in_" + "x".join(map(str, shape)) + ".npy")
    if not inp.exists():
        for old in tmp.glob("in_*.npy"):  # keep at most one input on disk
            old.unlink()
        make_input(inp, shape)
    spec = dict(
        model=str(model),
        input=str(inp),
        output=str(tmp / "out.npy"),
        out=out,
        axes=axes,
        threads=threads,
        result=str(tmp / "result.json"),
    )
    env = dict(
        os.environ,
        **{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    )
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed for {shape}:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    # max over children so far
    res["children_maxrss"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    (tmp / "out.npy").unlink(missing_ok=True)
    res.update(shape=list(shape), axes=axes, out=out)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Peak memory of tiled prediction.")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="smaller sizes only")
    p.add_argument("--no-big-volume", action="store_true", help="skip the 256×1024×1024 volume")
    p.add_argument(
        "--only-big-volume",
        action="store_true",
        help="only the 256×1024×1024 volume (its own section, so it can run separately)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--tmp",
        default=None,
        help="folder for the temporary input/output files (default: system temp)",
    )
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        res = json.dumps(child(spec))
        Path(spec["result"]).write_text(res)  # survives the parent, should it be stopped
        print(res)
        return 0
    C.pin_threads(args.threads)

    if args.quick:
        cases2d = [((1024, 1024), "ram"), ((2048, 2048), "ram"), ((2048, 2048), "disk")]
        cases3d = [((32, 256, 256), "ram"), ((64, 256, 256), "ram"), ((64, 256, 256), "disk")]
    else:
        cases2d = [((2048, 2048), "ram"), ((4096, 4096), "ram"), ((4096, 4096), "disk")]
        cases3d = [((64, 256, 256), "ram"), ((64, 512, 512), "ram"), ((64, 512, 512), "disk")]
        if not args.no_big_volume:
            cases3d += [((256, 1024, 1024), "disk")]
    if args.only_big_volume:
        cases2d, cases3d = [], [((256, 1024, 1024), "disk")]
    t0 = time.perf_counter()
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="n2n_mem_", dir=args.tmp) as tmpname:
        tmp = Path(tmpname)
        models = {2: tmp / "m2.n2n", 3: tmp / "m3.n2n"}
        info = {nd: make_model(path, nd, args.threads) for nd, path in models.items()}
        print(f"models ready: {info}", flush=True)
        for nd, cases in ((2, cases2d), (3, cases3d)):
            for shape, out in cases:
                print(f"{'x'.join(map(str, shape))} out={out} ...", flush=True)
                r = run_case(tmp, models[nd], shape, "YX" if nd == 2 else "ZYX", out, args.threads)
                results.append(r)
                size = 4 * float(__import__("math").prod(shape))
                rows.append(
                    [
                        info[nd]["model"].split(" (")[0],
                        "×".join(map(str, shape)),
                        f"{size / MiB:,.0f}",
                        "in RAM" if out == "ram" else "memmap on disk",
                        f"{r['vm_hwm'] / MiB:,.0f}",
                        f"{r['peak_anon'] / MiB:,.0f}",
                        f"{r['base_anon'] / MiB:,.0f}",
                        f"{(r['peak_anon'] - r['base_anon'] - (size if out == 'ram' else 0)) / MiB:,.0f}",
                        f"{r['seconds']:.1f}",
                        f"{float(__import__('math').prod(shape)) / r['seconds'] / 1e6:.2f}",
                    ]
                )
                print(f"  {rows[-1]}", flush=True)
    title = "Peak memory of tiled prediction (CPU)" + (
        ": the 1 GiB volume" if args.only_big_volume else ""
    )
    text = C.header(
        title,
        threads=args.threads,
        extra=[
            "Input: float32 .npy opened as a read-only memory map; output an in-memory numpy array "
            "or a disk-backed memory map (`out=`). Each prediction in a fresh subprocess; default "
            "tiling (2D: 512, overlap 48; 3D: 48×96×96, overlap 16).",
            "Peak RSS = VmHWM (counts touched pages of the memory-mapped files too, which the "
            "kernel can drop); peak anon = sampled peak of RssAnon (memory the process "
            "allocated); baseline = anon RSS after imports and model load; extra = peak anon − "
            "baseline − output (when the output is in RAM): the working memory of the tiling.",
            f"Models: {info[2]['model']}; {info[3]['model']} (untrained-quality weights; memory "
            "and speed do not depend on them).",
            f"Wall time of the whole run: {(time.perf_counter() - t0) / 60:.1f} min.",
        ],
    )
    text += "\n" + C.md_table(
        [
            "model",
            "input shape",
            "input/output MiB",
            "output",
            "peak RSS MiB",
            "peak anon MiB",
            "baseline anon MiB",
            "extra MiB",
            "predict s",
            "MP/s (MVox/s)",
        ],
        rows,
        align="llrlrrrrrr",
    )
    print(text)
    if args.out:
        C.write_section("memory-big-volume" if args.only_big_volume else "memory", text, args.out)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
