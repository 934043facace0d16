"""Export a denoiser as a BioImage Model Zoo package (``.bioimageio.zip``).

See :func:`export_bmz`; the model is a :class:`~napari_n2n.core.inference.denoiser.Denoiser`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.axes import AxisView
from ..core.errors import InputError
from ..core.files import Destination
from . import _describe as d
from ._common import (
    CURRENT_ARCHITECTURE,
    first_line,
    frozen_architecture_path,
    quiet,
    require_bioimageio,
    require_onnx_export,
)

DEFAULT_NAME = "napari-n2n denoiser"
#: side of the test tensors (rounded down to a valid size): 2D YX, 3D ZYX
TEST_SHAPE = {2: (128, 128), 3: (32, 48, 48)}
#: largest side taken from a sample image (keeps the test tensors and the cover small)
SAMPLE_MAX = {2: (256, 256), 3: (32, 96, 96)}


@dataclass(frozen=True)
class PackageInfo:
    """What a package says about its model: its name, description, authors, licence and tags.

    Parameters
    ----------
    name : str
        Shown in the Zoo (characters the spec refuses already replaced, see :meth:`of`).
    description : str
        One or two sentences.
    authors : tuple of str or dict
        Names, or dicts with ``name`` and optionally ``affiliation``, ``email``, ``orcid``.
    license : str
        An SPDX licence identifier for the weights.
    tags : tuple of str
        Extra tags (e.g. the imaging modality, ``"fluorescence-light-microscopy"``).
    github_user : str, optional
        The GitHub user name of the package's maintainer (the Zoo asks every package for one).
    """

    name: str
    description: str
    authors: tuple = ()
    license: str = "BSD-3-Clause"
    tags: tuple[str, ...] = ()
    github_user: str | None = None

    @classmethod
    def of(
        cls,
        denoiser,
        *,
        name: str | None = None,
        description: str | None = None,
        authors: Sequence[str | dict] = (),
        license: str = "BSD-3-Clause",
        tags: Sequence[str] = (),
        github_user: str | None = None,
    ) -> PackageInfo:
        """The package's information as :func:`export_bmz` is given it, with its defaults.

        Parameters
        ----------
        denoiser : Denoiser
            The model (its dimension names it in the default description).
        name : str, optional
            Shown in the Zoo (default :data:`DEFAULT_NAME`).
        description : str, optional
            One or two sentences.
        authors : sequence of str or dict
            Names, or dicts with ``name`` and optionally ``affiliation``, ``email``, ``orcid``.
        license : str
            An SPDX licence identifier for the weights.
        tags : sequence of str
            Extra tags.
        github_user : str, optional
            The GitHub user name of the package's maintainer.

        Returns
        -------
        PackageInfo
            The name sanitised (default :data:`DEFAULT_NAME`), the description defaulting to
            one that names the model's dimension.
        """
        return cls(
            name=d.sanitize_name(name or DEFAULT_NAME),
            description=description
            or f"{denoiser.spatial_ndim}D Noise2Noise denoiser made with napari-n2n.",
            authors=tuple(authors or ()),
            license=license,
            tags=tuple(tags),
            github_user=github_user or None,
        )


def export_bmz(  # noqa: PLR0913  public keywords, one per export-bmz option
    denoiser,
    path: str | os.PathLike,
    *,
    name: str | None = None,
    description: str | None = None,
    authors: Sequence[str | dict] = (),
    license: str = "BSD-3-Clause",
    sample=None,
    sample_axes: str | None = None,
    torchscript: bool = False,
    onnx: bool = False,
    tags: Sequence[str] = (),
    github_user: str | None = None,
    test: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write a denoiser to a BioImage Model Zoo package that ``bioimageio.core`` validates and runs.

    The package holds the U-Net as a frozen architecture file that needs only PyTorch, its
    state dict (readable with ``torch.load(weights_only=True)``), optionally TorchScript and
    ONNX copies, test tensors (and a cover made from them), the normalisation as the spec's
    pre- and postprocessing, citations, the training configuration (``n2n_config.json``) and a
    README. Models with one network per channel are exported as one wrapper network.

    Parameters
    ----------
    denoiser : Denoiser
        The model to export.
    path : str or path-like
        The package to write; it must end in ``.zip`` (``NAME.bioimageio.zip`` by convention).
    name : str, optional
        Shown in the Zoo; characters the spec refuses (such as ``·``) are replaced.
    description : str, optional
        One or two sentences (default: one that names the model's dimension).
    authors : sequence of str or dict
        Names, or dicts with ``name`` and optionally ``affiliation``, ``email``, ``orcid``.
    license : str
        An SPDX licence identifier for the weights.
    sample : array-like, optional
        An image the model was made for; a centre crop becomes the test input (and the cover).
        Default: a synthetic image with the training data's intensity statistics.
    sample_axes : str, optional
        Axes of ``sample`` (default: as :meth:`Denoiser.resolve_axes` infers them).
    torchscript : bool
        Add TorchScript weights (for deepImageJ, QuPath, the BioEngine).
    onnx : bool
        Add ONNX weights (needs the ``onnx`` extra).
    tags : sequence of str
        Extra tags (e.g. the imaging modality, ``"fluorescence-light-microscopy"``).
    github_user : str, optional
        The GitHub user name of the package's maintainer: the Zoo asks every package for one
        (``bioimageio.spec`` warns without it). Its format is checked; it is not looked up on
        GitHub (export works offline; the Zoo's upload checks it).
    test : bool
        Run ``bioimageio.core``'s model test on the package before it is moved into place.
    overwrite : bool
        Replace an existing file at ``path``.

    Returns
    -------
    Path
        The written package.

    Raises
    ------
    InputError
        The extra is missing, the path does not end in ``.zip``, an option is unusable, or the
        package fails its test (nothing is left behind).
    OutputError
        The path cannot be written: it exists (without ``overwrite``), its folder is missing or
        read-only, ...
    """
    require_bioimageio()
    if onnx:
        require_onnx_export()
    path = Path(path)
    if not path.name.lower().endswith(".zip"):
        raise InputError(
            f"A BioImage Model Zoo package is a zip file: give a name ending in .bioimageio.zip, not {path.name!r}."
        )
    if getattr(denoiser.unet, "xy_only_levels", 0):
        raise InputError(
            "This model pools in y and x only at its top levels (an anisotropic volume's network), "
            "which the Zoo package's frozen architecture cannot express yet. Use the .n2n model "
            "file, or train on these data with an isotropic voxel size (--voxel-size 1 1 1) to export."
        )
    destination = Destination(
        path, overwrite=overwrite, what="package", overwrite_hint="allow overwriting"
    )
    info = PackageInfo.of(
        denoiser,
        name=name,
        description=description,
        authors=authors,
        license=license,
        tags=tags,
        github_user=github_user,
    )
    with tempfile.TemporaryDirectory(prefix="n2n-bmz-") as tmp, quiet():
        descr = _describe(
            denoiser,
            Path(tmp),
            info,
            sample=sample,
            sample_axes=sample_axes,
            torchscript=torchscript,
            onnx=onnx,
        )

        def write(
            tmp_zip: Path,
        ) -> None:  # core/files: checked first, written beside, renamed into place
            tmp_zip.unlink()  # the packager writes the zip itself
            _package(descr, tmp_zip)
            if test:
                _test(tmp_zip)

        destination.write(write)
    return path


def _describe(
    denoiser,
    tmp: Path,
    info: PackageInfo,
    *,
    sample,
    sample_axes: str | None,
    torchscript: bool,
    onnx: bool,
):
    """Write the package's files into ``tmp`` and return the model description."""
    import torch
    from bioimageio.spec import ValidationContext
    from bioimageio.spec.model import v0_5 as s
    from pydantic import ValidationError

    unet = denoiser.unet
    nd = denoiser.spatial_ndim
    min_size, step, halo = d.space_sizes(unet.depth, nd)
    norm = denoiser.norm
    x = _test_input(denoiser, sample, sample_axes, min_size, step)
    y = _run_ours(denoiser, x)
    files = _write_tensors(tmp, x, y)
    net, kwargs, callable_name = _frozen_network(denoiser)
    torch.save(
        {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, tmp / "weights.pt"
    )
    shutil.copyfile(frozen_architecture_path(), tmp / CURRENT_ARCHITECTURE)
    (tmp / "n2n_config.json").write_text(
        json.dumps(json.loads(denoiser.model_file().to_json()), indent=1)
    )
    formats = (
        ["pytorch_state_dict"]
        + (["torchscript"] if torchscript else [])
        + (["onnx"] if onnx else [])
    )
    (tmp / "README.md").write_text(
        d.readme(
            name=info.name,
            description=info.description,
            denoiser=denoiser,
            weights=formats,
            halo=halo,
            min_size=min_size,
            step=step,
        )
    )
    version = s.Version(torch.__version__.split("+")[0])
    try:
        with ValidationContext(root=tmp, perform_io_checks=True):
            inputs, outputs, config = d.tensors(
                n_channels=x.shape[0],
                ndim=nd,
                depth=unet.depth,
                offset=norm.offset,
                scale=norm.scale,
                files=files,
                output_max=float(np.abs(y).max()),
            )
            weights = s.WeightsDescr(
                pytorch_state_dict=s.PytorchStateDictWeightsDescr(
                    source=tmp / "weights.pt",
                    pytorch_version=version,
                    architecture=s.ArchitectureFromFileDescr(
                        source=tmp / CURRENT_ARCHITECTURE,
                        callable=s.Identifier(callable_name),
                        kwargs=kwargs,
                    ),
                )
            )
            mode = denoiser.config.mode if denoiser.config else None
            fields = dict(
                name=info.name,
                description=info.description,
                authors=d.authors(info.authors),
                maintainers=d.maintainers(
                    info.github_user,
                    [a if isinstance(a, str) else a.get("name") for a in info.authors],
                ),
                cite=d.citations(mode),
                license=info.license,
                tags=d.tags(nd, mode, info.tags),
                documentation=s.FileDescr(source=tmp / "README.md"),
                attachments=[s.FileDescr(source=tmp / "n2n_config.json")],
                inputs=inputs,
                outputs=outputs,
                weights=weights,
                config=config,
                version=s.Version("1"),
                covers=_covers(inputs, outputs, x, y),
            )
            descr = s.ModelDescr(**fields)
            if torchscript:
                weights.torchscript = _torchscript(net, x, tmp / "weights_torchscript.pt", version)
            if onnx:
                weights.onnx = _onnx(descr, tmp / "weights.onnx")
            if torchscript or onnx:
                descr = s.ModelDescr(**{**fields, "weights": weights})
    except ValidationError as exc:
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
        msg = errors[0]["msg"] if errors else first_line(exc)
        raise InputError(
            f"The model cannot be described for the BioImage Model Zoo: {where}: {msg}."
        ) from exc
    return descr


def _write_tensors(tmp: Path, x: np.ndarray, y: np.ndarray) -> dict:
    """Test tensors (``.npy``, with the batch axis) and sample tensors (``.tif``) of input and output."""
    import tifffile

    files = {}
    for kind, arr in (("input", x), ("output", y)):
        files[f"test_{kind}"] = tmp / f"test_{kind}.npy"
        files[f"sample_{kind}"] = tmp / f"sample_{kind}.tif"
        np.save(files[f"test_{kind}"], arr[None])
        tifffile.imwrite(files[f"sample_{kind}"], arr)
    return files


def _covers(inputs, outputs, x: np.ndarray, y: np.ndarray) -> list:
    """The spec's cover made from the test tensors (written to a temporary file, then packaged)."""
    from bioimageio.spec.model import v0_5 as s

    try:
        return list(s.generate_covers([(inputs[0], x[None])], [(outputs[0], y[None])]))
    except Exception:
        # a cover is optional: bioimageio.core draws one from the test tensors when absent
        return []


def _test_input(denoiser, sample, sample_axes, min_size: int, step: int) -> np.ndarray:
    """The ``(C, *spatial)`` test input: a centre crop of ``sample`` or a synthetic image, of a valid size."""
    nd = denoiser.spatial_ndim
    if sample is None:
        shape = tuple(d.valid_size(s, min_size, step) for s in TEST_SHAPE[nd])
        return d.synthetic_test_image(shape, denoiser.norm.offset, denoiser.norm.scale)
    axes = denoiser.resolve_axes(sample, sample_axes)
    view = AxisView(sample, axes, nd)
    if view.n_channels != denoiser.n_channels and denoiser.n_channels != 1:
        raise InputError(
            f"The sample image has {view.n_channels} channel(s) but the model was trained on {denoiser.n_channels}; "
            "give an image like the training data."
        )
    crop = []
    for side, cap in zip(view.spatial_shape, SAMPLE_MAX[nd]):
        size = min(side, cap)
        start = (side - size) // 2
        crop.append(slice(start, start + size))
    block = view.read(view.n_samples // 2, tuple(crop))[: denoiser.n_channels]
    if not np.isfinite(block).all():
        raise InputError(
            "The sample image contains NaN or Inf values; replace them first (e.g. numpy.nan_to_num)."
        )
    pads = [(0, 0)] + [(0, max(0, min_size - s)) for s in block.shape[1:]]
    block = np.pad(block, pads, mode="symmetric")
    sizes = [d.valid_size(s, min_size, step) for s in block.shape[1:]]
    return np.ascontiguousarray(
        block[(slice(None),) + tuple(slice(0, s) for s in sizes)], dtype=np.float32
    )


def _run_ours(denoiser, x: np.ndarray) -> np.ndarray:
    """napari-n2n's own prediction of one ``(C, *spatial)`` block, untiled (what the package must reproduce)."""
    import torch

    out = np.empty_like(x)
    nd = denoiser.spatial_ndim
    with torch.inference_mode():
        for model, group in zip(denoiser.models, denoiser.channel_groups):
            off, sc = denoiser.norm.shaped(group, nd)
            inp = torch.from_numpy(np.ascontiguousarray((x[group] - off) / sc)[None])
            out[group] = model.cpu().eval()(inp)[0].numpy() * sc + off
    return out


def _frozen_network(denoiser):
    """The frozen architecture's network with the denoiser's weights: ``(module, kwargs, callable name)``."""
    from . import n2n_unet_v1 as arch

    u = denoiser.unet
    common = dict(
        ndim=u.ndim,
        depth=u.depth,
        base_channels=u.base_channels,
        max_channels=u.max_channels,
        padding=u.padding,
    )
    if len(denoiser.models) == 1:
        group = denoiser.channel_groups[0]
        kwargs = dict(in_channels=len(group), out_channels=len(group), **common)
        net = arch.N2NUNet(**kwargs)
        name = "N2NUNet"
        state = denoiser.models[0].state_dict()
    else:
        kwargs = dict(channel_groups=[list(g) for g in denoiser.channel_groups], **common)
        net = arch.N2NUNetPerChannel(**kwargs)
        name = "N2NUNetPerChannel"
        state = {
            f"nets.{i}.{k}": v
            for i, m in enumerate(denoiser.models)
            for k, v in m.state_dict().items()
        }
    net.load_state_dict(state, strict=True)
    return net.eval(), kwargs, name


def _torchscript(net, x: np.ndarray, dest: Path, version):
    import torch
    from bioimageio.spec.model import v0_5 as s

    with torch.no_grad():
        traced = torch.jit.trace(net, torch.from_numpy(x[None].copy()))
    traced.save(str(dest))
    return s.TorchscriptWeightsDescr(
        source=dest,
        pytorch_version=version,
        parent="pytorch_state_dict",
        comment="traced from the pytorch_state_dict network by napari-n2n",
    )


def _onnx(descr, dest: Path):
    import logging
    import warnings

    from bioimageio.core.weight_converters.pytorch_to_onnx import convert

    torch_onnx_log = logging.getLogger("torch.onnx")
    level = torch_onnx_log.level
    # it warns about every torchvision operator it does not find
    torch_onnx_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exported = convert(descr, dest.with_name("exported.onnx"), opset_version=18)
            return _one_file(exported, dest)
    except Exception as exc:  # torch's exporter raises many types
        raise InputError(
            f"ONNX export failed: {first_line(exc)}. Export without ONNX, or with TorchScript only."
        ) from exc
    finally:
        torch_onnx_log.setLevel(level)


#: ONNX weights up to this size are one file (protobuf holds at most 2 GiB; larger ones keep external data)
ONNX_ONE_FILE_MAX = 2**30


def _one_file(weights, dest: Path):
    """The ONNX weights as one file ``dest``: torch's exporter writes the tensors to a separate ``.data`` file."""
    import onnx
    from bioimageio.spec.model import v0_5 as s

    external = weights.external_data
    if external is None or Path(external.source).stat().st_size > ONNX_ONE_FILE_MAX:
        return weights
    source = Path(weights.source)
    data = Path(external.source)
    model = onnx.load(str(source), load_external_data=True)
    onnx.save_model(model, str(dest), save_as_external_data=False)
    source.unlink()
    data.unlink()
    return s.OnnxWeightsDescr(
        source=dest,
        parent=weights.parent,
        opset_version=weights.opset_version,
        comment=f"{weights.comment} Saved as one file by napari-n2n.",
    )


def _package(descr, dest: Path) -> None:
    from bioimageio.spec import save_bioimageio_package

    try:
        save_bioimageio_package(descr, output_path=dest, local_files_only=True)
    except ValueError as exc:
        raise InputError(f"The package did not validate: {first_line(exc)}") from exc


def _test(package: Path) -> None:
    """Run ``bioimageio.core.test_model``; raise with the first failure if it does not pass."""
    from bioimageio.core import test_model

    summary = test_model(package)
    if summary.status != "passed":
        errors = [f"{'.'.join(map(str, e.loc))}: {first_line(e.msg)}" for e in summary.errors]
        raise InputError(
            "The exported package failed bioimageio.core's model test: "
            + ("; ".join(errors[:2]) or summary.status)
            + ". Nothing was written."
        )
