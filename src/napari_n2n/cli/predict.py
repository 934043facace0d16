"""``napari-n2n predict``: denoise image files with a trained model, one or a batch, in memory or
chunk by chunk into OME-Zarr, in this process or on a dask cluster."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time

from ..core.errors import InputError, N2NError, OutputError, OutputStateError
from ._common import (
    add_command,
    add_overwrite,
    destination,
    image_axes,
    positive_int,
    read_image,
    require_distinct_outputs,
)
from ._defects import known_defects_filled

#: what --output-format accepts (the input's own format by default)
FORMATS = ("tif", "ome.zarr", "nii.gz", "nii", "npy")
#: what to do when denoising runs out of memory (it has no --batch or --patch)
MEMORY_ADVICE = "Use a smaller --tile, or --device cpu, or a machine with more memory."
#: what to do about an output that exists: replace it, or leave it and denoise the others
REPLACE_HINT = "add --overwrite; to leave it as it is, add --skip-existing"
#: how this command starts over and finishes an OME-Zarr output (see OutputStateError.worded)
CLI_WORDING = {"overwrite": "add --overwrite", "resume": "run it again with --resume"}


def _chunks(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of sizes such as 1,1024,1024"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: every chunk size must be a whole number from 1"
        )
    return values


def register(sub) -> None:
    r = add_command(
        sub,
        "predict",
        "denoise images with a trained model",
        "Denoise one image (--input, --output) or many (--input with several files, folders or quoted "
        "patterns, and --output-dir). An output ending in .ome.zarr is written chunk by chunk (any size, "
        "resumable with --resume, on a dask cluster with --workers or --scheduler).",
    )
    r.add_argument(
        "--model",
        required=True,
        help="a .n2n model, or a BioImage Model Zoo package (.bioimageio.zip)",
    )
    r.add_argument(
        "--allow-code",
        action="store_true",
        help="let a Zoo package run Python code it ships (PyTorch state dict with an architecture file); "
        "only for packages from a source you trust",
    )
    r.add_argument(
        "--input",
        nargs="+",
        default=[],
        metavar="PATH",
        help="noisy image(s): files (TIFF, OME-Zarr, NIfTI, .npy), folders of them, or quoted patterns "
        "such as 'raw/*.tif'",
    )
    r.add_argument(
        "--defects",
        default="auto",
        metavar="auto|none|PATH",
        help="defect pixels (hot, dead) filled from their neighbours before denoising: auto fills "
        "those the model was trained without (train's --defects), when the frames have the "
        "size it was trained on; PATH is a defect map of one frame's size; none keeps every "
        "pixel (default: auto). Not applied to an OME-Zarr input read chunk by chunk",
    )
    r.add_argument(
        "--input-list", metavar="FILE", help="a text file with one input path (or pattern) a line"
    )
    r.add_argument(
        "--output",
        help="where to write the result of one input (.tif, .ome.zarr, .nii.gz or .npy); "
        "checked before denoising starts",
    )
    r.add_argument(
        "--output-dir",
        metavar="DIR",
        help="folder for the results of several inputs, named after them (see --suffix, --output-format)",
    )
    r.add_argument(
        "--suffix", default="", help="added to each input's name in --output-dir, e.g. _n2n"
    )
    r.add_argument(
        "--output-format",
        choices=FORMATS,
        default=None,
        help="format of the results in --output-dir (default: each input's own)",
    )
    r.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave inputs whose result exists (a finished OME-Zarr; a rerun of a batch or an array job)",
    )
    r.add_argument(
        "--resume",
        action="store_true",
        help="OME-Zarr output: finish an interrupted run with the same model and settings, denoising "
        "only the chunks it did not write",
    )
    r.add_argument(
        "--chunks",
        type=_chunks,
        default=None,
        help="OME-Zarr output: chunk sizes, one per output axis in OME order (T, C, Z, Y, X), e.g. "
        "1,1024,1024 (default: 1×1024×1024 per frame for a 2D model, 64×256×256 for a 3D one)",
    )
    r.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="OME-Zarr output: denoise on a dask cluster of this many worker processes on this machine",
    )
    r.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="OME-Zarr output: denoise on a running dask cluster, e.g. tcp://login1:8786 (the workers must "
        "see the model, input and output paths)",
    )
    r.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch threads per cluster worker (default: its cores shared among its tasks)",
    )
    r.add_argument(
        "--pair-with",
        help="second noisy copy: write the average of both predictions (one input only)",
    )
    r.add_argument(
        "--neighbour-average",
        metavar="AXIS",
        choices=["T", "Z", "S"],
        default=None,
        help="a time-lapse: average each denoised frame with its neighbours along AXIS, registered "
        "onto it (shift or flow, chosen from their motion; pixels the warp cannot fill are left "
        "out), as --pair-with does for a second copy",
    )
    r.add_argument(
        "--tta",
        type=int,
        default=1,
        choices=[1, 2, 4, 8],
        help="test-time augmentation: average over this many flips/rotations (1: none)",
    )
    r.add_argument(
        "--disagreement",
        default=None,
        help="with --pair-with: write where the predictions of A and B differ (an error bar) here "
        "(one input; default: not written)",
    )
    r.add_argument(
        "--residual",
        default=None,
        help="write what was removed (input - output) here (one input; default: not written)",
    )
    r.add_argument(
        "--tile",
        type=positive_int,
        default=None,
        help="tile side in pixels; smaller tiles use less memory (default: 512 in 2D, 48×96×96 in 3D "
        "on the CPU)",
    )
    r.add_argument(
        "--axes",
        default=None,
        help="axes of the input, e.g. YX, ZYX, TYX, YXC (default: from the file, else the model's "
        "training axes when they fit; 2D files are YX)",
    )
    r.add_argument(
        "--device",
        default=None,
        help="auto, cpu, cuda, cuda:N or mps (default: the model's training choice)",
    )
    r.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "input"],
        help="float32, or the input's type (rounded and clipped, e.g. uint16)",
    )
    r.add_argument("--quiet", action="store_true", help="print no progress")
    add_overwrite(r, "an output that exists (and an unfinished OME-Zarr result: start over)")
    r.set_defaults(func=run, memory_advice=MEMORY_ADVICE)


def _is_zarr(path) -> bool:
    return str(path).lower().rstrip("/").endswith((".zarr", ".ome.zarr"))


def _jobs(args):
    from pathlib import Path

    from ._batch import expand_inputs, output_for, require_distinct_names

    if args.output and args.output_dir:
        raise InputError(
            "Give --output (one input) or --output-dir (one result per input), not both."
        )
    inputs = expand_inputs(args.input, args.input_list)
    if args.output:
        if len(inputs) > 1:
            raise InputError(
                f"--output names one result but {len(inputs)} inputs are given. Use --output-dir DIR "
                "for one result per input."
            )
        return [(inputs[0], Path(args.output))]
    if not args.output_dir:
        raise InputError("Say where to write: --output FILE for one input, or --output-dir DIR.")
    out_dir = Path(args.output_dir).expanduser()
    if not out_dir.is_dir():
        _make_output_dir(out_dir)
    jobs = [(p, output_for(p, out_dir, suffix=args.suffix, ext=args.output_format)) for p in inputs]
    require_distinct_names(jobs)
    return jobs


def _make_output_dir(out_dir) -> None:
    """Create ``--output-dir`` (not its parents: a mistyped path is refused, not made)."""
    if out_dir.exists():
        raise InputError(f"--output-dir {out_dir} is a file, not a folder. Give a folder.")
    if not out_dir.parent.is_dir():
        raise InputError(
            f"--output-dir {out_dir}: its parent folder {out_dir.parent} does not exist. Check the "
            "path, or create the folders first."
        )
    try:
        out_dir.mkdir()
    except OSError as exc:
        raise OutputError(
            f"Cannot create --output-dir {out_dir} ({exc.strerror or exc}). Check its parent folder "
            "is writable, or choose another."
        ) from exc


def _not_done(args, source, output) -> str | None:
    """Why the existing ``output`` is not a finished result of ``source``; ``None`` when it is.

    A finished result is readable to its last pixel and has the input's size (an OME-Zarr is
    named only when it is finished; its pixels are not read).
    """
    import numpy as np

    try:
        result = read_image(output, "output")
        if not _is_zarr(output):
            np.asarray(result.data)  # to its last pixel: a cut file fails here
    except (N2NError, OSError, ValueError, RuntimeError):
        return "it is not a readable, complete image"
    try:
        image = read_image(source, "input")
    except N2NError:
        return None  # the input's own error comes when it is denoised (not here: it is skipped)
    sizes = [sorted(s for s in shape if s > 1) for shape in (result.shape, image.shape)]
    if sizes[0] != sizes[1]:
        return f"it has shape {tuple(result.shape)}, not the input's {tuple(image.shape)}"
    return None


def _skipped(args, source, output) -> bool:
    """Whether ``--skip-existing`` leaves ``output``: it exists and is a finished result.

    An existing output that is not one is denoised again with ``--overwrite``, else refused.
    """
    if not (args.skip_existing and output.exists()):
        return False
    why = _not_done(args, source, output)
    if why is None:
        return True
    if args.overwrite:
        print(f"napari-n2n: {output} is not a finished result ({why}): denoising it again")
        return False
    raise OutputError(
        f"{output} exists but is not a finished result of {source}: {why}. Add --overwrite to "
        "denoise it again (replacing it), or move it away."
    )


def run(args) -> int:
    jobs = _jobs(args)
    _refuse_conflicts(args, jobs)
    if len(jobs) == 1:
        return _run_one(args, *jobs[0])
    return _run_batch(args, jobs)


def _refuse_conflicts(args, jobs) -> None:
    """Refuse options that do not go together, before any model is loaded."""
    if args.pair_with and len(jobs) > 1:
        raise InputError("--pair-with pairs one input with its second copy; give a single --input.")
    if (args.residual or args.disagreement) and len(jobs) > 1:
        raise InputError("--residual and --disagreement name one file each; give a single --input.")
    if args.disagreement and not args.pair_with:
        raise InputError(
            "--disagreement needs --pair-with (the second noisy copy): it compares the two predictions."
        )
    cluster = args.workers or args.scheduler
    if (args.resume or args.chunks or cluster) and not all(_is_zarr(out) for _, out in jobs):
        raise InputError(
            "--resume, --chunks, --workers and --scheduler write OME-Zarr chunk by chunk: give an output "
            "ending in .ome.zarr (or --output-format ome.zarr)."
        )
    in_memory = (
        args.pair_with or args.tta > 1 or args.residual or args.disagreement
    ) or args.neighbour_average
    if in_memory and any(_is_zarr(o) for _, o in jobs):
        raise InputError(
            "--pair-with, --tta, --residual, --disagreement and --neighbour-average work in memory; "
            "give a .tif, .nii.gz or .npy output."
        )


def _run_one(args, source, output) -> int:
    """One file: its output is checked before the model is even loaded; every error ends the run."""
    from ..console import ProgressBar
    from ..ondisk.cluster import cluster_client

    if _skipped(args, source, output):
        print(f"{output} exists: skipped (--skip-existing)")
        return 0
    shown = _Shown(None if args.quiet else ProgressBar("predict"))
    with cluster_client(workers=args.workers, scheduler=args.scheduler) as cluster:
        try:
            _predict_one(args, source, output, cluster, shown)
        finally:
            shown.close()
    return 0


def _run_batch(args, jobs) -> int:
    """Several files: one model; a file that fails is reported and the others go on."""
    from ..console import ProgressBar
    from ..loading import load_model
    from ..ondisk.cluster import cluster_client
    from ._batch import Report

    den = load_model(args.model, allow_code=args.allow_code, device=args.device)
    report = Report(len(jobs))
    todo = []
    for source, out in jobs:
        try:
            skipped = _skipped(args, source, out)
        except OutputError as exc:  # reported; the other files go on
            report.fail(source, exc)
            continue
        if skipped:
            report.skipped.append(source)
        else:
            todo.append((source, out))
    bar = None if args.quiet else ProgressBar(f"predict {len(todo)} files")
    try:
        with cluster_client(workers=args.workers, scheduler=args.scheduler) as cluster:
            for i, (source, out) in enumerate(todo):
                shown = _Shown(bar, i, len(todo))
                try:
                    _predict_one(args, source, out, cluster, shown, den=den)
                    report.written.append(source)
                except (N2NError, OSError) as exc:  # reported; the other files go on
                    report.fail(source, exc)
                except MemoryError:
                    report.fail(source, InputError(f"out of memory. {MEMORY_ADVICE}"))
    finally:
        if bar:
            bar.close()
    print(report.summary())
    return 2 if report.failed else 0


@dataclasses.dataclass
class _Shown:
    """Where one file's progress goes: file ``index`` of ``count`` on ``bar`` (``None``: quiet)."""

    bar: object | None
    index: int = 0
    count: int = 1

    @property
    def label(self) -> str:
        """``"file 2/5 · "`` in a batch, nothing for a single file."""
        return f"file {self.index + 1}/{self.count} · " if self.count > 1 else ""

    def drain(self, gen, describe):
        """Run a prediction generator to its end, showing ``describe(event)``; return its result."""
        from ..core.events import ChunkProgress
        from ..core.progress import drain

        def show(ev):
            # chunked output reports its own overall fraction (denoise, then the pyramid)
            part = ev.overall if isinstance(ev, ChunkProgress) else ev.done / ev.total
            self.bar.update((self.index + part) / self.count, describe(ev))

        return drain(gen, show if self.bar else None)

    def close(self) -> None:
        if self.bar:
            self.bar.close()


def _predict_one(args, source, output, cluster, shown: _Shown, den=None) -> None:
    """Denoise one file into ``output``, showing its progress on ``shown``.

    ``cluster`` is ``(client, threads)`` from :func:`~napari_n2n.ondisk.cluster.cluster_client`;
    ``den`` the model when a batch has loaded it already.
    """
    import numpy as np

    from ..core.files import write_with_fallback
    from ..core.inference.denoiser import Denoiser
    from ..core.inference.ood import check_image
    from ..core.inference.predict import PredictOptions
    from ..io import write_image
    from ..loading import load_model

    t0 = time.perf_counter()
    client, threads = cluster
    zarr_out = _is_zarr(output)
    inputs = [str(source), args.pair_with, args.model]
    out = None if zarr_out else destination(str(output), args, inputs=inputs, hint=REPLACE_HINT)
    maps = {
        k: destination(path, args, inputs=inputs, what=f"{k} map (--{k})")
        for k, path in (("disagreement", args.disagreement), ("residual", args.residual))
        if path
    }
    require_distinct_outputs(*([out] if out else []), *maps.values())
    den = den or load_model(args.model, allow_code=args.allow_code, device=args.device)
    image = read_image(source, "input")
    other = read_image(args.pair_with, "second image of the pair") if args.pair_with else None
    axes = image_axes(image, args.axes, others=(other,), model_axes=den.axes)
    predict_options = PredictOptions(tile=args.tile, device=args.device)
    warning = check_image(den, image.data, axes=axes)  # far from the training data? (core/ood.py)
    if warning:
        print(
            f"warning: {source}: {warning}" if shown.count > 1 else f"warning: {warning}",
            file=sys.stderr,
        )
    if zarr_out:
        from ..ondisk.output import Chunking, predict_to_zarr_iter

        if not isinstance(den, Denoiser):
            raise InputError(
                "An OME-Zarr output is written chunk by chunk by a napari-n2n model (.n2n); a Zoo package "
                "predicts in memory: give a .tif, .nii.gz or .npy output."
            )
        from ..ondisk.output import partial_path

        gen = predict_to_zarr_iter(
            den,
            image,
            output,
            axes=axes,
            options=predict_options,
            chunking=Chunking(chunks=args.chunks),
            dtype=args.dtype,
            resume=args.resume,
            overwrite=args.overwrite,
            client=client,
            threads=args.threads or threads,
        )
        try:
            with _worded_for_the_command_line():
                result = shown.drain(
                    gen,
                    lambda ev: (
                        f"{shown.label}{ev.stage} {ev.done}/{ev.total}"
                        + (f" ({ev.skipped} done before)" if ev.skipped else "")
                    ),
                )
        except KeyboardInterrupt:
            if partial_path(output).exists():
                print(
                    f"\nnapari-n2n: the chunks written so far are kept in {partial_path(output)}; run the same "
                    "command with --resume to finish",
                    file=sys.stderr,
                )
            raise
        print(f"wrote {result} ({tuple(image.shape)}) in {time.perf_counter() - t0:.1f} s")
        return
    itemsize = np.dtype(image.data.dtype).itemsize if args.dtype == "input" else 4
    out.require_space(int(np.prod(image.shape)) * itemsize)
    for dest in maps.values():
        dest.require_space(int(np.prod(image.shape)) * 4)

    def drain(gen):
        return shown.drain(gen, lambda ev: f"{shown.label}tile {ev.done}/{ev.total}")

    pixels, other_pixels = known_defects_filled(
        den, args.defects, axes, image.data, None if other is None else other.data
    )
    result, arrays = _predict(den, pixels, other_pixels, args, axes, predict_options, drain)
    written, whys = [], []
    for name, dest, array in (
        ("result", out, result),
        *((f"{k} map", maps[k], arrays[k]) for k in maps),
    ):
        saved, why = write_with_fallback(
            dest, lambda d, a=array: write_image(d, a, axes=axes, **image.metadata())
        )
        written.append(str(saved))
        whys += [f"{why} The {name} was written to {saved} instead."] if why else []
    print(
        f"wrote {', '.join(written)} ({result.shape}, {result.dtype}) in {time.perf_counter() - t0:.1f} s"
    )
    if whys:
        raise OutputError(" ".join(whys))


def _neighbour_average(result, axis: str, axes: str, dtype, args):
    """``result`` with each frame along ``axis`` averaged with its registered neighbours."""
    from ..core.data.registration import neighbour_average
    from ..core.inference.denoiser import cast_like

    if axis not in axes:
        raise InputError(
            f"--neighbour-average {axis}: the input's axes ({axes}) have no {axis}; give --axes "
            f"with it (e.g. --axes {axis}YX)."
        )
    averaged = neighbour_average(result, axis=axes.index(axis), axes=axes, method="auto")
    return cast_like(averaged, dtype) if args.dtype == "input" else averaged


@contextlib.contextmanager
def _worded_for_the_command_line():
    """Chunked output's errors with this command's flags as their advice.

    The core words what to do for a Python caller (``pass overwrite=True``); this command's
    user does the same with ``--overwrite`` and ``--resume``.
    """
    try:
        yield
    except OutputStateError as exc:
        # a finished result: left as it is by --skip-existing
        overwrite = REPLACE_HINT if exc.kind == "exists" else CLI_WORDING["overwrite"]
        raise exc.worded(**{**CLI_WORDING, "overwrite": overwrite}) from exc


def _predict(den, image, other, args, axes: str, options, drain):
    """The result, and the uncertainty maps asked for (with test-time augmentation when asked);
    ``options`` are the tiling and device, ``drain(generator)`` runs a prediction generator with
    the run's progress. With ``--neighbour-average``, each frame averaged with its neighbours."""
    result, arrays = _predict_frames(den, image, other, args, axes, options, drain)
    if args.neighbour_average:
        result = _neighbour_average(result, args.neighbour_average, axes, image.dtype, args)
    return result, arrays


def _predict_frames(den, image, other, args, axes: str, options, drain):
    """:func:`_predict` before the neighbour average."""
    if other is None and args.tta == 1 and not args.residual:
        return drain(den.predict_iter(image, axes=axes, options=options, dtype=args.dtype)), {}
    if other is not None and args.tta == 1 and not (args.residual or args.disagreement):
        pair = den.predict_pair_iter(image, other, axes=axes, options=options, dtype=args.dtype)
        return drain(pair), {}
    from ..core.inference.denoiser import cast_like
    from ..core.inference.tta import denoise_pair_iter, predict_tta_iter, residual

    if other is not None:
        pair = drain(denoise_pair_iter(den, image, other, axes=axes, tta=args.tta, options=options))
        result = pair.mean
        arrays = {"disagreement": pair.disagreement, "residual": pair.residual}
    else:
        result = drain(
            predict_tta_iter(den, image, axes=axes, transforms=args.tta, options=options)
        )
        arrays = {"residual": residual(image, result)}
    return (cast_like(result, image.dtype) if args.dtype == "input" else result), arrays
