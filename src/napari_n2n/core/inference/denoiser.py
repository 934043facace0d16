"""A trained denoiser: U-Net weights + normalisation + how it was made; predicts and saves."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Literal

import numpy as np

from ..._version import __version__
from ..axes import AxisView, default_axes, validate_axes
from ..checkpoint import ModelFile, load_checkpoint, save_checkpoint
from ..checks import require_finite, require_not_empty, require_numeric, require_same_shape
from ..config import TrainConfig
from ..data.normalization import Normalization
from ..device import amp_dtype, cpu_thread_limit, select_device
from ..errors import DenoisingError, InputError, ModelFileError
from ..events import TileProgress
from ..model import UNet, UNetConfig, count_parameters
from ..progress import drain, in_sequence
from .predict import PredictOptions, predict_view, predict_view_on_device
from .tiling import network_frame

Tile = int | tuple[int, ...] | None
OutputDtype = Literal["float32", "input"]


def _fits_on_device(view: AxisView, device) -> bool:
    """Whether one sample of the output (float32) takes at most a quarter of the device's free memory."""
    import torch

    need = 4 * view.n_channels * int(np.prod(view.spatial_shape))
    return need <= 0.25 * torch.cuda.mem_get_info(device)[0]


def cast_like(result, dtype) -> np.ndarray:
    """A float prediction in another dtype.

    Parameters
    ----------
    result : array-like
        The float prediction.
    dtype : dtype
        The dtype wanted: integers (and bool) are rounded and clipped to its range, floats cast.

    Returns
    -------
    numpy.ndarray
        ``result`` in ``dtype``.

    Examples
    --------
    >>> cast_like(np.array([-3.0, 1.4, 70000.0]), np.uint16)
    array([    0,     1, 65535], dtype=uint16)
    """
    result, dtype = np.asarray(result), np.dtype(dtype)
    if dtype.kind in "iub":
        lo, hi = (np.iinfo(dtype).min, np.iinfo(dtype).max) if dtype.kind in "iu" else (0, 1)
        return np.clip(np.rint(result), lo, hi).astype(dtype)
    return result.astype(dtype, copy=False)


class Denoiser:
    """A trained Noise2Noise denoiser.

    Holds one U-Net (``channels="joint"``) or one per channel (``"separate"``), the
    normalisation it was trained with, the axes of the training data, and the training
    configuration and history. Create it by training (:func:`napari_n2n.train`) or with
    :meth:`load`.

    Parameters
    ----------
    models : list of torch.nn.Module
        The U-Nets, one per channel group.
    channel_groups : list of list of int
        The image channels each model takes.
    norm : Normalization
        The normalisation fitted to the training data.
    unet : UNetConfig
        The architecture of the models.
    axes : str
        The axes of the training data.
    config : TrainConfig, optional
        How the models were trained.
    noise : dict, optional
        The noise model of the training data, if known.
    history : dict, optional
        Losses and scores over the run.
    info : dict, optional
        Other facts about the run (device, initial model, intensity statistics, ...).

    Examples
    --------
    >>> from napari_n2n.core.training.start import general_model_path
    >>> den = Denoiser.load(general_model_path())
    >>> noisy = np.random.default_rng(0).random((64, 64), dtype="float32")
    >>> denoised = den.predict(noisy, axes="YX")
    >>> denoised.shape, denoised.dtype
    ((64, 64), dtype('float32'))
    """

    def __init__(  # noqa: PLR0913  a model is all of these; load() and the Trainer give them
        self,
        models: list,
        channel_groups: list[list[int]],
        norm: Normalization,
        *,
        unet: UNetConfig,
        axes: str,
        config: TrainConfig | None = None,
        noise: dict | None = None,
        history: dict | None = None,
        info: dict | None = None,
    ):
        self.models = models
        self.channel_groups = [list(g) for g in channel_groups]
        self.norm = norm
        self.unet = unet
        self.axes = axes
        self.config = config
        self.noise = noise
        self.history = history or {}
        self.info = dict(info or {})
        for m in self.models:
            m.eval()

    # ---- description ---------------------------------------------------------------------
    @property
    def spatial_ndim(self) -> int:
        """2 for a 2D model, 3 for a 3D one."""
        return self.unet.ndim

    @property
    def n_channels(self) -> int:
        """The channels the model was trained on (all groups together)."""
        return sum(len(g) for g in self.channel_groups)

    @property
    def n_parameters(self) -> int:
        """Trainable parameters of all the models."""
        return sum(count_parameters(m) for m in self.models)

    def summary(self) -> str:
        """One line saying what this model is, e.g. for a widget label or ``--help`` output."""
        cfg = self.config
        how = (
            f"{cfg.mode}, loss {cfg.loss}, {self.history.get('steps_done', '?')} steps"
            if cfg
            else "unknown training"
        )
        return (
            f"{self.unet.ndim}D U-Net ({self.n_parameters / 1e6:.2f} M parameters), {self.n_channels} channel(s), "
            f"trained on {self.axes} data ({how}{self._estimate_note()})"
        )

    def _estimate_note(self) -> str:
        """``"; est. PSNR 28.1 ± 0.2 dB"`` at the kept weights, when training estimated it."""
        from ..progress import describe_estimate

        h = self.history
        steps, values = h.get("val_step") or [], h.get("val_est_psnr") or []
        if h.get("best_step") not in steps:
            return ""
        i = steps.index(h["best_step"])
        if i >= len(values) or values[i] is None:
            return ""
        errors = h.get("val_est_psnr_stderr") or []
        return "; " + describe_estimate(values[i], errors[i] if i < len(errors) else None)

    # ---- prediction ----------------------------------------------------------------------
    def check_channels(self, view: AxisView) -> None:
        """Check that this model can take the image's channels, before long work.

        The model takes the channels it was trained on, or any number of channels one by one
        if it was trained on one. Checked e.g. before a store is written.

        Parameters
        ----------
        view : AxisView
            The image, seen through its axes.

        Raises
        ------
        InputError
            If the image has channels this model cannot take.
        """
        self._groups_for(view)

    def _groups_for(self, view: AxisView) -> list[tuple[object, list[int], list[int]]]:
        """(model, image channels, normalisation channels) triples for an image view."""
        if view.n_channels == self.n_channels:
            return [(m, g, g) for m, g in zip(self.models, self.channel_groups)]
        if self.n_channels == 1:  # a single-channel model applied to each channel in turn
            return [(self.models[0], [c], [0]) for c in range(view.n_channels)]
        raise InputError(
            f"The model was trained on {self.n_channels} channels but the image has {view.n_channels}. "
            "Choose an image with the same channels, or give its axes with C so the channels are found."
        )

    def resolve_axes(self, image, axes: str | None) -> str:
        """The axes to use for an image.

        Parameters
        ----------
        image : array-like
            The image.
        axes : str or None
            The axes given, if any (validated).

        Returns
        -------
        str
            ``axes``, else the training axes if they fit, else a default (ZYX for a 3D image and
            a 2D model).
        """
        if axes is not None:
            return validate_axes(axes, image.ndim)
        if len(self.axes) == image.ndim:
            return self.axes
        if self.spatial_ndim == 2 and image.ndim == 3:
            return "ZYX"
        return default_axes(image.ndim)

    def predict_iter(  # noqa: C901,PLR0913,PLR0915  the public prediction keywords, one branch per input kind
        self,
        image,
        *,
        axes: str | None = None,
        tile: Tile = None,
        overlap: int | None = None,
        batch_size: int | None = None,
        device: str | None = None,
        options: PredictOptions | None = None,
        out=None,
        dtype: OutputDtype = "float32",
        blend: Literal["auto", "host", "device"] = "auto",
    ) -> Iterator[TileProgress]:
        """Like :meth:`predict`, but yields progress after every batch of tiles.

        Parameters
        ----------
        image : array-like
            The image to denoise (see :meth:`predict`).
        axes : str, optional
            Its axes (see :meth:`predict`).
        tile, overlap, batch_size, device, options : optional
            Tiling and device, as for :meth:`predict`.
        out : array, optional
            Zero-filled array of the image's shape to write into.
        dtype : {"float32", "input"}
            ``"input"`` rounds and clips to the input's dtype.
        blend : {"auto", "host", "device"}
            Where overlapping tiles are blended; ``"auto"`` blends on a CUDA GPU when one sample
            of the output takes at most a quarter of its free memory, else on the host (numpy).

        Yields
        ------
        TileProgress
            After every batch of tiles.

        Returns
        -------
        numpy.ndarray
            The prediction, as ``StopIteration.value`` (``yield from`` gives it).

        Raises
        ------
        InputError
            If the axes, channels or output array do not fit the image or the model.
        """
        import torch

        options = PredictOptions.of(
            options, tile=tile, overlap=overlap, batch_size=batch_size, device=device
        )

        image = require_numeric(image, "the image")
        require_not_empty(image, "the image")
        axes = self.resolve_axes(image, axes)
        if self.spatial_ndim == 3 and "Z" not in axes:
            raise InputError(
                f"This is a 3D model, but the image has axes {axes!r} without Z. Denoise a volume (ZYX), "
                "or train a 2D model for 2D images."
            )
        require_finite(image, "the image")
        view = AxisView(image, axes, self.spatial_ndim)
        groups = self._groups_for(view)
        dev = select_device(options.device or (self.config.device if self.config else "auto"))
        tile = options.tiles(self.spatial_ndim, dev.type)
        overlaps = options.overlaps(self.spatial_ndim, dev.type)
        batch_size = options.batch_for(self.spatial_ndim, dev.type)
        if out is None:
            out = np.zeros(image.shape, dtype=np.float32)
        elif tuple(out.shape) != tuple(image.shape):
            raise InputError(
                f"The output array has shape {tuple(out.shape)}; it must match the image {tuple(image.shape)}."
            )
        models = {id(m): m.to(dev).eval() for m, _, _ in groups}
        amp = dev.type == "cuda" and (self.config.amp if self.config else True)
        spatial_nd = self.spatial_ndim
        shaped = {
            id(m): tuple(torch.from_numpy(v).to(dev) for v in self.norm.shaped(norm_ch, spatial_nd))
            for m, _, norm_ch in groups
        }
        nonfinite = torch.zeros((), dtype=torch.bool, device=dev)

        def run_model(x):
            """(B, C, *tile) tensor on the device, image units → the prediction, same."""
            result = torch.empty_like(x)
            with torch.no_grad():
                for model, img_ch, _ in groups:
                    off, sc = shaped[id(model)]
                    with torch.autocast(dev.type, enabled=amp, dtype=amp_dtype(dev)):
                        y = models[id(model)]((x[:, img_ch] - off) / sc)
                    result[:, img_ch] = y.float() * sc + off
            # checked without a device sync per batch
            nonfinite.logical_or_(~torch.isfinite(result).all())
            if dev.type == "cpu":
                check_finite()
            return result

        def check_finite():
            if bool(nonfinite):
                raise DenoisingError(
                    "The model produced NaN or Inf values: its weights or normalisation do not suit this image (the "
                    f"model was normalised for {self.norm.offset[0]:g} ± {self.norm.scale[0]:g}). Check the model file, "
                    "or retrain on data like this image."
                )

        def run_model_numpy(blocks: np.ndarray) -> np.ndarray:
            return run_model(torch.from_numpy(np.ascontiguousarray(blocks)).to(dev)).cpu().numpy()

        if blend == "auto":
            blend = "device" if dev.type == "cuda" and _fits_on_device(view, dev) else "host"
        # tiles at multiples of the network's stride (a pixel's prediction then does not depend on
        # where they are), over the image extended by its reflected border (as exported packages declare)
        frame = network_frame(self.spatial_ndim, self.unet.depth)
        tiling = dict(tile=tile, overlap=overlaps, batch_size=batch_size, **frame)
        try:
            with cpu_thread_limit(dev, self.config.threads if self.config else None):
                if blend == "device":
                    yield from predict_view_on_device(run_model, view, out, device=dev, **tiling)
                else:
                    yield from predict_view(run_model_numpy, view, out, **tiling)
            check_finite()
        except (RuntimeError, MemoryError) as exc:
            raise DenoisingError.from_exception(exc) from exc
        return cast_like(out, image.dtype) if dtype == "input" else out

    def predict(  # noqa: PLR0913  the public prediction keywords
        self,
        image,
        *,
        axes: str | None = None,
        tile: Tile = None,
        overlap: int | None = None,
        batch_size: int | None = None,
        device: str | None = None,
        options: PredictOptions | None = None,
        out=None,
        dtype: OutputDtype = "float32",
    ) -> np.ndarray:
        """Denoise ``image`` (numpy or dask) and return the result in the input's intensity units.

        Parameters
        ----------
        image : array-like
            2D, 3D, time series, channels: any axes in ``"STCZYX"`` (see ``axes``). dask and
            zarr arrays are read tile by tile, never loaded whole.
        axes : str, optional
            One letter per dimension, e.g. ``"YX"``, ``"ZYX"``, ``"TYX"``, ``"CYX"``. Default:
            the training axes if the dimensions match, else inferred (2D → YX, 3D → ZYX).
        tile : int or tuple, optional
            Tile size (default 512 in 2D; 48×96×96 on CPU in 3D). Smaller tiles use less memory.
        overlap : int, optional
            Overlap between tiles (default 48 in 2D, 16 in 3D), blended smoothly.
        batch_size : int, optional
            Tiles per forward pass (default 1 on the CPU; on a GPU 16 in 2D, 8 in 3D).
        device : str, optional
            Where to run (default: the training device choice, ``"auto"``).
        options : PredictOptions, optional
            ``tile``, ``overlap``, ``batch_size`` and ``device`` as one object (see
            :class:`~napari_n2n.core.inference.predict.PredictOptions`); a keyword given as well
            wins over its field.
        out : array, optional
            Zero-filled array of the image's shape to write into (e.g. a memory map).
        dtype : {"float32", "input"}
            ``"input"`` rounds and clips to the input's dtype (e.g. uint16).

        Returns
        -------
        ndarray
            float32 (or the input's dtype), same shape as ``image``.
        """
        options = PredictOptions.of(
            options, tile=tile, overlap=overlap, batch_size=batch_size, device=device
        )
        return drain(self.predict_iter(image, axes=axes, options=options, out=out, dtype=dtype))

    def predict_pair_iter(  # noqa: PLR0913  the public prediction keywords
        self,
        a,
        b,
        *,
        axes: str | None = None,
        tile: Tile = None,
        overlap: int | None = None,
        batch_size: int | None = None,
        device: str | None = None,
        options: PredictOptions | None = None,
        dtype: OutputDtype = "float32",
    ) -> Iterator[TileProgress]:
        """Predict both noisy copies of a pair, yielding progress over both; return the average.

        The mean of the two predictions has lower error than either, since their errors are
        partly independent.

        Parameters
        ----------
        a, b : array-like
            The two noisy copies, of the same shape.
        axes : str, optional
            Their axes (see :meth:`predict`).
        tile, overlap, batch_size, device, options : optional
            Tiling and device, as for :meth:`predict`.
        dtype : {"float32", "input"}
            ``"input"`` rounds and clips the mean to ``a``'s dtype.

        Yields
        ------
        TileProgress
            After every batch of tiles, of either copy.

        Returns
        -------
        numpy.ndarray
            The mean prediction, as ``StopIteration.value``.
        """
        require_same_shape(a, b, names=("the first image of the pair", "the second image"))
        options = PredictOptions.of(
            options, tile=tile, overlap=overlap, batch_size=batch_size, device=device
        )
        results = yield from in_sequence(
            [self.predict_iter(image, axes=axes, options=options) for image in (a, b)]
        )
        mean = 0.5 * (
            np.asarray(results[0], dtype=np.float32) + np.asarray(results[1], dtype=np.float32)
        )
        return cast_like(mean, a.dtype) if dtype == "input" else mean

    def predict_pair(  # noqa: PLR0913  the public prediction keywords
        self,
        a,
        b,
        *,
        axes: str | None = None,
        tile: Tile = None,
        overlap: int | None = None,
        batch_size: int | None = None,
        device: str | None = None,
        options: PredictOptions | None = None,
        dtype: OutputDtype = "float32",
    ) -> np.ndarray:
        """Average of the predictions of two noisy copies (lower error than either).

        Parameters
        ----------
        a, b : array-like
            The two noisy copies, of the same shape.
        axes : str, optional
            Their axes (see :meth:`predict`).
        tile, overlap, batch_size, device, options : optional
            Tiling and device, as for :meth:`predict`.
        dtype : {"float32", "input"}
            ``"input"`` rounds and clips the mean to ``a``'s dtype.

        Returns
        -------
        numpy.ndarray
            The mean of the two predictions, the shape of ``a``.

        Raises
        ------
        InputError
            If the two copies differ in shape, or do not fit the model.
        """
        options = PredictOptions.of(
            options, tile=tile, overlap=overlap, batch_size=batch_size, device=device
        )
        return drain(self.predict_pair_iter(a, b, axes=axes, options=options, dtype=dtype))

    # ---- files -----------------------------------------------------------------------------
    def model_file(self) -> ModelFile:
        """What the model file says about this model (see :class:`~napari_n2n.core.checkpoint.ModelFile`)."""
        return ModelFile(
            unet=self.unet.to_dict(),
            channel_groups=self.channel_groups,
            normalization=self.norm.to_dict(),
            axes=self.axes,
            config=self.config.to_dict() if self.config else None,
            noise=self.noise,
            history=self.history,
            info=self.info,
            napari_n2n_version=__version__,
        )

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> str:
        """Save weights and metadata to one ``.n2n`` (safetensors) file, atomically.

        Parameters
        ----------
        path : str, PathLike or Destination
            The file; may also be a :class:`~napari_n2n.core.files.Destination` checked before
            training.
        overwrite : bool, optional
            Replace an existing file. Off by default: a model file is often the result of hours
            of training, and a call that fails costs nothing (this denoiser is still in memory;
            call again with another name or ``overwrite=True``), while a silent replacement
            cannot be undone.

        Returns
        -------
        str
            The path written.

        Raises
        ------
        OutputError
            If the file exists (and ``overwrite`` is False), is an input, a folder or a device,
            or its folder cannot be written.
        """
        tensors = {
            f"model{i}.{k}": v for i, m in enumerate(self.models) for k, v in m.state_dict().items()
        }
        return str(save_checkpoint(path, tensors, self.model_file(), overwrite=overwrite))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Denoiser:
        """Load a ``.n2n`` file of any known format (never unpickles; see :mod:`napari_n2n.core.checkpoint`).

        The file is checked completely (metadata, tensor shapes and dtypes, finite weights)
        before a network is built.

        Parameters
        ----------
        path : str or PathLike
            The model file.

        Returns
        -------
        Denoiser
            The model, on the CPU until it predicts.

        Raises
        ------
        ModelFileError
            If the file is missing, damaged or not a napari-n2n model (the message names it).
        """
        tensors, meta = load_checkpoint(path)
        try:
            config = TrainConfig.from_dict(meta.config) if meta.config else None
        except (InputError, TypeError) as exc:
            raise ModelFileError(
                f"{path}: its training configuration is invalid ({exc}). It is damaged or was not "
                "written by napari-n2n; retrain or use another file."
            ) from exc
        try:
            unet = UNetConfig(**meta.unet)
            models = []
            for i, group in enumerate(meta.channel_groups):
                prefix = f"model{i}."
                state = {
                    k[len(prefix) :]: v.float() for k, v in tensors.items() if k.startswith(prefix)
                }
                model = UNet(unet.for_channels(len(group)))
                model.load_state_dict(state, strict=True)
                models.append(model)
            norm = Normalization.from_dict(meta.normalization)
            return cls(
                models,
                meta.channel_groups,
                norm,
                unet=unet,
                axes=validate_axes(meta.axes),
                config=config,
                noise=meta.noise,
                history=meta.history,
                info=meta.info,
            )
        except (
            KeyError,
            TypeError,
            ValueError,
            RuntimeError,
        ) as exc:  # pragma: no cover - load_checkpoint checked it
            raise ModelFileError(
                f"{path} looks like a napari-n2n file but its contents are inconsistent ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}). It may be corrupted; retrain or use another file."
            ) from exc
