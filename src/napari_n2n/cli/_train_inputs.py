"""The training data of ``napari-n2n train``: one image or several (files, folders, patterns), with
their targets, clean references and axes, and pairs made from neighbouring frames."""

from __future__ import annotations

import sys

import numpy as np

from ..core.errors import InputError
from ._batch import expand_inputs
from ._common import image_axes, read_image, require_distinct_inputs


def _files(items, flag: str):
    return expand_inputs(items, flag=flag) if items else []


def training_data(args, *, found: dict | None = None):
    """``(input, target, clean, axes, register)`` for the Trainer: arrays, or lists of arrays for
    several images, and how neighbour pairs were registered (``"none"``, ``"shift"``, ``"flow"``).

    ``found``, a dict, receives the first input's ``pixel_size`` (axis → size, from its file).
    """
    inputs = _files(args.input, "--input")
    targets = _files(args.target, "--target")
    cleans = _files(args.clean, "--clean")
    for flag, files in (("--target", targets), ("--clean", cleans)):
        if files and len(files) != len(inputs):
            raise InputError(
                f"{len(inputs)} input images but {len(files)} for {flag}: give one {flag} per input, in "
                "the same order."
            )
    sets = []
    axes_seen = {}
    read = []
    methods = {"none"}
    for k, path in enumerate(inputs):
        inp = read_image(path, "input")
        read.append(inp)
        target = read_image(targets[k], "target") if targets else None
        clean = read_image(cleans[k], "clean image") if cleans else None
        if target is not None and args.mode == "n2n":
            require_distinct_inputs(inp, target)
        axes = image_axes(inp, _axes_given(args, inp), others=(target, clean))
        axes_seen.setdefault(axes, path)
        if found is not None and k == 0:
            found["pixel_size"] = dict(inp.pixel_size or {})
        data, target_data, clean_data = (
            inp.data,
            None if target is None else target.data,
            None if clean is None else clean.data,
        )
        if args.pair_neighbours:
            data, target_data, clean_data, axes, method = _neighbours(args, data, clean_data, axes)
            methods.add(method)
        sets.append((data, target_data, clean_data))
    if len(axes_seen) > 1:
        listed = ", ".join(f"{a} ({p})" for a, p in axes_seen.items())
        raise InputError(
            f"The input images have different axes: {listed}. One model trains on images of one kind; "
            "give --axes if the files only describe them differently."
        )
    note = geometry_note(read)
    if note:
        print(f"napari-n2n: {note}", file=sys.stderr)
    # the model records the strongest registration (its loss masks NaN targets if any has them)
    registered = next(m for m in ("flow", "shift", "none") if m in methods)
    if len(sets) == 1:
        return (*sets[0], axes, registered)
    data, target_data, clean_data = (list(column) for column in zip(*sets))
    given = [
        column if any(a is not None for a in column) else None
        for column in (target_data, clean_data)
    ]
    return data, *given, axes, registered


def geometry_note(images) -> str | None:
    """A warning when training images differ in voxel size or (NIfTI) orientation, else ``None``.

    One model learns the noise and the structures at one scale: volumes of 1 mm and 2 mm voxels,
    or a volume and its mirror image, train it on two different things without a word.
    """
    if len(images) < 2:
        return None
    sizes = {}
    for image in images:
        key = tuple(sorted((a, float(f"{v:.4g}")) for a, v in image.pixel_size.items())), image.unit
        sizes.setdefault(key, image.source)
    if len(sizes) > 1:
        listed = "; ".join(
            f"{source}: {_size_text(dict(size), unit)}" for (size, unit), source in sizes.items()
        )
        return (
            f"the training images have different voxel sizes ({listed}). The model learns one "
            "scale: resample them to one voxel size (e.g. nibabel.processing.resample_to_output), "
            "or train a model for each; training goes on."
        )
    directions = {}
    for image in images:
        affine = image.extra.get("nifti_affine")
        if affine is not None:
            linear = np.asarray(affine, dtype=float)[:3, :3]
            unit = linear / np.linalg.norm(linear, axis=0, keepdims=True)
            directions.setdefault(tuple(np.round(unit, 2).ravel()), image.source)
    if len(directions) > 1:
        listed = ", ".join(directions.values())
        return (
            f"the training volumes have different orientations in their NIfTI affines ({listed}): "
            "their axes point in different directions of the body, so the model sees each one "
            "turned. Reorient them to one orientation first (e.g. nibabel.as_closest_canonical); "
            "training goes on."
        )
    return None


def _size_text(size: dict, unit: str | None) -> str:
    if not size:
        return "no voxel size"
    return " × ".join(f"{axis} {value:g}" for axis, value in size.items()) + (
        f" {unit}" if unit else ""
    )


def _axes_given(args, image) -> str | None:
    """``--axes``; else, pairing the frames of a 3D file that does not say its axes, the frames
    along the first axis (``--pair-neighbours T``: TYX), which the note on stderr says."""
    if args.axes or not args.pair_neighbours or image.axes or image.ndim != 3:
        return args.axes
    axes = f"{args.pair_neighbours}YX"
    print(
        f"napari-n2n: {image.source} does not say what its axes are: using {axes}, its frames along "
        f"the first axis (--pair-neighbours {args.pair_neighbours}; give --axes to choose others)",
        file=sys.stderr,
    )
    return axes


def _neighbours(args, data, clean, axes: str):
    from ..core.data.pairs import stack_neighbours

    if args.pair_neighbours not in axes:
        raise InputError(
            f"--pair-neighbours {args.pair_neighbours}: the input's axes {axes} have no "
            f"{args.pair_neighbours}. Give --axes with it (e.g. --axes TYX)."
        )
    pair = stack_neighbours(
        data,
        axis=axes.index(args.pair_neighbours),
        axes=axes,
        clean=clean,
        pairing=args.pairing,
        register=args.register,
    )
    if args.register != "none":
        _motion_note(pair, args.register)
    return pair.input, pair.target, pair.clean, pair.axes, pair.register


def _motion_note(pair, asked: str) -> None:
    """The measured motion and the registration used, on stderr."""
    shifts = [m.shift_px for m in pair.motions]
    flows = [m.flow for m in pair.motions if m.flow is not None]
    text = f"note: frame pairs shift by {min(shifts):.2f}-{max(shifts):.2f} px"
    if flows:
        text += f", local flow {min(flows):.2f}-{max(flows):.2f} px"
    chosen = f"registered by {pair.register}" if pair.register != "none" else "not registered"
    print(f"{text}; {chosen} (--register {asked})", file=sys.stderr)
