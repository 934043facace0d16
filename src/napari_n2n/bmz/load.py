"""Run BioImage Model Zoo packages made anywhere: tiled, with their own pre- and postprocessing.

:func:`load_bmz` opens a ``.bioimageio.zip``, picks weights that can run here without
executing code from the package (TorchScript, ONNX, or a PyTorch state dict whose
architecture file is one napari-n2n ships), checks that they reproduce the package's own
test output, and returns a :class:`BmzModel` with the same ``predict`` / ``predict_iter``
interface as :class:`~napari_n2n.core.inference.denoiser.Denoiser`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..core.axes import AxisView
from ..core.checkpoint import damaged_file_note
from ..core.checks import require_finite, require_numeric
from ..core.device import select_device
from ..core.errors import DenoisingError, InputError, ModelFileError
from ..core.events import TileProgress
from ..core.inference.denoiser import Denoiser, cast_like
from ..core.inference.predict import PredictOptions
from ._common import first_line, is_bmz_path, quiet, require_bioimageio
from ._package import choose_weights, missing_module, read_package, tileable

#: default side of the part of each block that is kept (the halo comes on top; the model's size rules round it): 2D, 3D
DEFAULT_BLOCK = {2: 512, 3: 96}


#: what the backends say of a weights file that is not one (ONNX runtime, torch's readers)
_DAMAGED_WEIGHTS = (
    "INVALID_PROTOBUF",
    "protobuf parsing failed",
    "PytorchStreamReader failed",
    "failed finding central directory",
    "invalid load key",
    "not a zip file",
)


def _innermost(exc: BaseException) -> BaseException:
    """The first of the errors bundled in ``exc`` (bioimageio.core groups one per device)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def load_bmz(
    path: str | os.PathLike,
    *,
    allow_code: bool = False,
    device: str | None = None,
    verify: bool = True,
) -> BmzModel:
    """Open a BioImage Model Zoo package for prediction.

    Parameters
    ----------
    path : str or path-like
        A ``.zip`` package with an ``rdf.yaml`` (or ``bioimageio.yaml``) inside.
    allow_code : bool
        Allow weights that run Python code named by the package (a PyTorch state dict whose
        architecture is a ``.py`` file in the package or a callable from an installed library).
        Only for packages from a source you trust.
    device : str, optional
        ``"auto"`` (default), ``"cpu"``, ``"cuda"``, ...
    verify : bool
        Run the weights on the package's test input and compare with its test output.

    Returns
    -------
    BmzModel
        The model, ready to predict.

    Raises
    ------
    ModelFileError
        Not a package, not a model, invalid, no weights that run here, or weights failing their test.
    CodeConsentRequired
        The only runnable weights need ``allow_code=True``.
    InputError
        ``bioimageio.core`` is not installed.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Model file {path} does not exist. Check the path.")
    if (note := damaged_file_note(path)) is not None:
        raise ModelFileError(note)
    if not is_bmz_path(path):
        raise ModelFileError(
            f"{path.name} is not a BioImage Model Zoo package (a zip file holding rdf.yaml). "
            "Choose a .bioimageio.zip package, or a .n2n model."
        )
    require_bioimageio()
    with quiet():
        descr = read_package(path)
        dev = select_device(device or "auto")
        fmt = choose_weights(descr, path, allow_code=allow_code, device_type=dev.type)
        model = BmzModel(path, descr, fmt, device=str(dev))
        if verify:
            model.verify()
    return model


class BmzModel:
    """A BioImage Model Zoo model ready to predict (see :func:`load_bmz`).

    It has a :class:`~napari_n2n.core.inference.denoiser.Denoiser`'s ``predict``,
    ``predict_iter``, ``predict_pair`` and ``resolve_axes``.

    Parameters
    ----------
    path : Path
        The package.
    descr : ModelDescr
        Its description, as ``bioimageio.spec`` read it.
    weight_format : str
        The weights to run (``"torchscript"``, ``"onnx"``, ``"pytorch_state_dict"``).
    device : str, optional
        Where to run (default ``"auto"``).

    Attributes
    ----------
    name : str
        The model's name in the package.
    axes : str
        The axes it takes by default (``"YX"``, ``"ZYX"``, ``"CYX"``, ...).
    spatial_ndim : int
        2 or 3.
    n_channels : int
        The channels it takes (a single-channel model takes any number, one by one).

    Raises
    ------
    ModelFileError
        If the model does not map one image to an image of the same axes and channels, or its
        weights cannot be loaded here.
    """

    # what does not depend on how the network runs is a Denoiser's: the axes rule (the given axes,
    # else the model's if the dimensions match, else inferred), predict and the pair average
    resolve_axes = Denoiser.resolve_axes
    predict = Denoiser.predict
    predict_pair_iter = Denoiser.predict_pair_iter
    predict_pair = Denoiser.predict_pair

    def __init__(self, path: Path, descr, weight_format: str, *, device: str | None = None):
        self.path, self.descr, self.weight_format = Path(path), descr, weight_format
        self.name = str(descr.name)
        self.config = None
        self._parse_axes()
        # what runs: fixed output sizes tied to the input, with a halo where none is declared
        self._run_descr, self._added_halo = tileable(descr)
        self._device = str(select_device(device or "auto"))
        self._pp = self._pipeline(self._device)

    # ---- description ---------------------------------------------------------------------------
    def _parse_axes(self) -> None:
        d = self.descr
        if len(d.inputs) != 1 or len(d.outputs) != 1:
            raise ModelFileError(
                f"{self.path.name} has {len(d.inputs)} inputs and {len(d.outputs)} outputs; napari-n2n runs "
                "models with one input image and one output image."
            )
        inp = d.inputs[0]
        out = d.outputs[0]
        kinds = {a.type for a in inp.axes} - {"batch", "channel", "space"}
        if kinds:
            raise ModelFileError(
                f"{self.path.name} has {', '.join(sorted(kinds))} axes; napari-n2n runs models over "
                "batch, channel and space axes only."
            )
        space = [a for a in inp.axes if a.type == "space"]
        if len(space) not in (2, 3):
            raise ModelFileError(
                f"{self.path.name} has {len(space)} space axes; napari-n2n runs 2D and 3D models."
            )
        names = [str(a.id) for a in space]
        order = "zyx"[-len(space) :]
        self._space = (
            [space[names.index(c)] for c in order] if sorted(names) == sorted(order) else space
        )
        self.spatial_ndim = len(space)
        chan = [a for a in inp.axes if a.type == "channel"]
        self._channel_id = chan[0].id if chan else None
        self.n_channels = int(chan[0].size) if chan else 1
        out_space = sorted(str(a.id) for a in out.axes if a.type == "space")
        out_chan = [a for a in out.axes if a.type == "channel"]
        n_out = (
            int(out_chan[0].size)
            if out_chan and isinstance(out_chan[0].size, int)
            else (1 if not out_chan else -1)
        )
        if out_space != sorted(names) or n_out != self.n_channels:
            raise ModelFileError(
                f"{self.path.name} does not map an image to an image of the same axes and channels "
                "(e.g. it segments or classifies); napari-n2n runs denoising and restoration models."
            )
        self.axes = ("C" if self.n_channels > 1 else "") + "ZYX"[-self.spatial_ndim :]
        self.n_parameters = None

    def summary(self) -> str:
        """One line saying what this model is, e.g. for a widget label."""
        return (
            f"BioImage Model Zoo model '{self.name}': {self.spatial_ndim}D, {self.n_channels} channel(s), "
            f"{self.weight_format} weights"
        )

    def _pipeline(self, device: str):
        from bioimageio.core import create_prediction_pipeline

        try:
            with quiet():
                return create_prediction_pipeline(
                    self._run_descr, weights_format=self.weight_format, devices=[device]
                )
        except Exception as exc:  # the backends raise many types
            missing = missing_module(exc)
            if missing:
                raise ModelFileError(
                    f"{self.path.name} needs the Python package '{missing}', which is not installed here. Install it, "
                    "or ask the package's authors for TorchScript or ONNX weights."
                ) from exc
            inner = _innermost(exc)
            if any(mark in str(inner) for mark in _DAMAGED_WEIGHTS):
                raise ModelFileError(
                    f"{self.path.name}: its {self.weight_format} weights file is damaged (cut or "
                    f"not a weights file: {first_line(inner)}). The package is broken, not your "
                    "installation: download it again, or ask its authors for a new one."
                ) from exc
            raise ModelFileError(
                f"{self.path.name}: its {self.weight_format} weights cannot be loaded here "
                f"({type(inner).__name__}: {first_line(inner)})."
            ) from exc

    def verify(self) -> None:
        """Run the weights on the package's test input and compare with its test output.

        Raises
        ------
        ModelFileError
            If the weights fail on the test input, or their output differs beyond the
            package's tolerance.
        """
        from bioimageio.core.digest_spec import get_test_input_sample, get_test_output_sample

        try:
            with quiet():
                sample, expected = (
                    get_test_input_sample(self.descr),
                    get_test_output_sample(self.descr),
                )
                result = self._pp.predict_sample_without_blocking(
                    sample, skip_input_padding=True, skip_output_cropping=True
                )
        except Exception as exc:
            raise ModelFileError(
                f"{self.path.name}: its {self.weight_format} weights fail on the package's own test "
                f"input ({type(exc).__name__}: {first_line(exc)})."
            ) from exc
        rtol, atol, ppm_allowed = self._tolerance()
        for member, exp in expected.members.items():
            act = result.members.get(member)
            e = np.asarray(exp.data, dtype=np.float64)
            a = np.asarray(act.data, dtype=np.float64) if act is not None else None
            if a is None or a.shape != e.shape:
                raise ModelFileError(
                    f"{self.path.name}: its {self.weight_format} weights give an output of the wrong shape "
                    "on the package's own test input; the package is broken."
                )
            bad = ~(np.abs(a - e) <= atol + rtol * np.abs(e))
            if bad.mean() * 1e6 > ppm_allowed:
                raise ModelFileError(
                    f"{self.path.name}: its {self.weight_format} weights do not reproduce the package's own test output "
                    f"({100 * bad.mean():.1f}% of values differ by more than the package's tolerance). The package is "
                    "broken or made for another environment; ask its authors."
                )

    def _tolerance(self) -> tuple[float, float, float]:
        from bioimageio.spec.model import v0_5

        for tol in self.descr.config.bioimageio.reproducibility_tolerance:
            if not tol.weights_formats or self.weight_format in tol.weights_formats:
                return (
                    tol.relative_tolerance,
                    tol.absolute_tolerance,
                    tol.mismatched_elements_per_million,
                )
        d = v0_5.ReproducibilityTolerance()
        return d.relative_tolerance, d.absolute_tolerance, d.mismatched_elements_per_million

    # ---- prediction --------------------------------------------------------------------------
    def _sizes(self):
        """Per space axis (ZYX order): (smallest input size, step) of the model."""
        out = []
        for a in self._space:
            size = a.size
            if isinstance(size, int):
                out.append((size, 0))
            elif hasattr(size, "step"):
                out.append((int(size.min), int(size.step)))
            else:
                out.append((1, 1))
        return out

    def _halos(self) -> list[int]:
        """Per space axis (ZYX order): the output halo, the border of each block that is discarded."""
        halos = {
            str(a.id): int(getattr(a, "halo", 0) or 0) for a in self._run_descr.outputs[0].axes
        }
        return [halos.get(str(a.id), 0) for a in self._space]

    def _whole_sizes(self, shape) -> list[int] | None:
        """The smallest input sizes the model accepts that hold ``shape`` (``None`` if a fixed size is too small)."""
        sizes = []
        for (lo, step), side in zip(self._sizes(), shape):
            if not step:
                if side > lo:
                    return None
                sizes.append(lo)
            else:
                sizes.append(lo + -(-max(0, side - lo) // step) * step)
        return sizes

    def _block_parameter(self, shape, tile) -> dict | None:
        """``ns`` for bioimageio.core's blocking: blocks whose kept part (without halo) is about ``tile``.

        ``None`` when the image fits in one tile: it is then predicted in one pass (padded to a
        size the model accepts), not in blocks whose halos would cost several passes. A block is
        never larger than the (padded) image.
        """
        nd = self.spatial_ndim
        tile = DEFAULT_BLOCK[nd] if tile is None else tile
        tiles = (tile,) * nd if isinstance(tile, int) else tuple(tile)
        if len(tiles) != nd or min(tiles) < 8:
            raise InputError(f"Tile must be one size or {nd} sizes, each at least 8; got {tile}.")
        # one pass pads by the package's halo, or by none where napari-n2n added it: not both at once
        mixed = 0 < len(self._added_halo) < nd
        if (
            all(s <= t for s, t in zip(shape, tiles))
            and self._whole_sizes(shape) is not None
            and not mixed
        ):
            return None
        ns = {}
        for a, (lo, step), halo, side, t in zip(
            self._space, self._sizes(), self._halos(), shape, tiles
        ):
            if step:
                block = min(max(side, lo), t + 2 * halo)
                ns[(self.descr.inputs[0].id, a.id)] = max(0, (block - lo) // step)
        return ns

    def predict_iter(  # noqa: PLR0913  the Denoiser's prediction keywords, so both run alike
        self,
        image,
        *,
        axes: str | None = None,
        tile=None,
        overlap: int | None = None,
        batch_size: int | None = None,
        device: str | None = None,
        options: PredictOptions | None = None,
        out=None,
        dtype: str = "float32",
    ) -> Iterator[TileProgress]:
        """Like :meth:`Denoiser.predict_iter`: yields progress per block.

        Parameters
        ----------
        image : array-like
            The image to denoise.
        axes : str, optional
            Its axes (default as for :meth:`Denoiser.predict`).
        tile : int, optional
            Bounds the side of the model's input blocks (rounded down to a size the model
            accepts).
        overlap, batch_size : int, optional
            Ignored: the package's business (its halo).
        device : str, optional
            Where to run.
        options : PredictOptions, optional
            The four above as one object; a keyword given as well wins over its field.
        out : array, optional
            Zero-filled array of the image's shape to write into.
        dtype : {"float32", "input"}
            ``"input"`` rounds and clips to the input's dtype.

        Yields
        ------
        TileProgress
            After every block.

        Returns
        -------
        numpy.ndarray
            The prediction, as ``StopIteration.value``.

        Raises
        ------
        InputError
            If the channels or the output array do not fit.
        """
        options = PredictOptions.of(
            options, tile=tile, overlap=overlap, batch_size=batch_size, device=device
        )
        tile = options.tile
        device = options.device
        image = require_numeric(image, "the image")
        require_finite(image, "the image")
        view = AxisView(image, self.resolve_axes(image, axes), self.spatial_ndim)
        if view.n_channels == self.n_channels:
            groups = [list(range(view.n_channels))]
        elif self.n_channels == 1:
            groups = [[c] for c in range(view.n_channels)]
        else:
            raise InputError(
                f"The model takes {self.n_channels} channels but the image has {view.n_channels}. "
                "Choose an image with the same channels, or give its axes with C."
            )
        if device and str(select_device(device)) != self._device:
            self._device = str(select_device(device))
            self._pp = self._pipeline(self._device)
        if out is None:
            out = np.zeros(image.shape, dtype=np.float32)
        elif tuple(out.shape) != tuple(image.shape):
            raise InputError(
                f"The output array has shape {tuple(out.shape)}; it must match the image {tuple(image.shape)}."
            )
        ns = self._block_parameter(view.spatial_shape, tile)
        with quiet():
            yield from self._predict_view(view, groups, ns, out)
        return cast_like(out, image.dtype) if dtype == "input" else out

    def _predict_view(self, view: AxisView, groups: list, ns: dict, out) -> Iterator[TileProgress]:
        done = 0
        total = None
        for n in range(view.n_samples):
            block = view.read(n)
            result = np.empty_like(block)
            for chs in groups:
                steps, intermediates = self._start(block[chs], n, ns)
                total = total or steps * len(groups) * view.n_samples
                last = None
                try:
                    for intermediate in intermediates:
                        last = intermediate
                        done += 1
                        yield TileProgress(
                            done=done, total=total, sample=n, n_samples=view.n_samples
                        )
                except (RuntimeError, MemoryError) as exc:
                    raise DenoisingError.from_exception(exc) from exc
                result[chs] = self._result(last.sample, block[chs].shape)
            view.write(out, n, tuple(slice(None) for _ in view.spatial_shape), result)

    def _start(self, block: np.ndarray, n: int, ns: dict | None):
        """Start the prediction of one ``(C, *spatial)`` block: ``(steps, intermediates)``.

        Each intermediate has the output so far as ``.sample``; blockwise with ``ns``, else in one pass.
        """
        from bioimageio.core import Sample, Tensor

        sizes = (
            self._whole_sizes(block.shape[1:]) if ns is None else [lo for lo, _ in self._sizes()]
        )
        pads = [(0, 0)] + [(0, max(0, size - s)) for size, s in zip(sizes, block.shape[1:])]
        block = np.pad(block, pads, mode="symmetric") if any(p for _, p in pads) else block
        inp = self.descr.inputs[0]
        ours = [str(self._channel_id or "channel")] + [str(a.id) for a in self._space]
        data = block if self._channel_id is not None else block[0]
        tensor = Tensor.from_numpy(data, dims=ours if self._channel_id is not None else ours[1:])
        tensor = tensor.transpose([a.id for a in inp.axes])
        sample = Sample(members={inp.id: tensor}, stat={}, id=n)
        if ns is None:
            return 1, self._one_pass(sample)
        return self._pp.predict_sample_with_blocking_yield_intermediates(sample, ns=ns)

    def _one_pass(self, sample):
        # a halo napari-n2n added is not padded around a whole image of the package's fixed size
        skip = bool(self._added_halo)
        yield _Output(
            self._pp.predict_sample_without_blocking(
                sample, skip_input_padding=skip, skip_output_cropping=skip
            )
        )

    def _result(self, sample, shape) -> np.ndarray:
        """The output member of ``sample`` as a ``(C, *spatial)`` array cropped to ``shape``."""
        t = sample.members[self.descr.outputs[0].id]
        space = [a.id for a in self._space]
        dims = [self._channel_id] + space if self._channel_id is not None else space
        arr = np.asarray(t.transpose(dims).data, dtype=np.float32)
        if self._channel_id is None:
            arr = arr[None]
        return arr[(slice(None),) + tuple(slice(0, s) for s in shape[1:])]


class _Output(NamedTuple):
    sample: object
