"""Getting a GPU's pace without tuning: optional ``torch.compile``, and a batch that fits the memory.

Both are used by the training loop (:mod:`napari_n2n.core.training.train`) and each falls back cleanly:

* :func:`maybe_compile` compiles the network with ``torch.compile`` when asked
  (``TrainConfig.compile``); compilation happens at the first call, so the returned callable
  tries the compiled network once and, if compiling fails (no compiler, an unsupported
  platform), runs the plain network from then on and says so.
* :func:`fit_batch` finds a batch size whose training step fits in the device's memory: the
  preset's batch if it fits, else half, a quarter, ... (a step that runs out of memory is
  retried with half the batch). Only batch sizes the user left to the preset are changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an error is a device running out of memory (torch raises several types for it).

    Parameters
    ----------
    exc : BaseException
        The error.

    Returns
    -------
    bool
        For a ``MemoryError``, or an error whose message says "out of memory".
    """
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


class CompiledOrPlain:
    """Calls the compiled network; if compiling fails at the first call, the plain one from then on.

    Parameters
    ----------
    model : torch.nn.Module
        The plain network.
    compiled : callable or None
        ``torch.compile(model)``; ``None`` where compiling is not available.
    """

    def __init__(self, model, compiled):
        self.model = model
        self._compiled = compiled
        self.note: str | None = None

    def __call__(self, x):
        """The network's output for ``x``: the compiled one's while it works, else the plain's."""
        if self._compiled is not None:
            try:
                return self._compiled(x)
            except Exception as exc:
                if is_out_of_memory(exc):
                    raise
                self._compiled = None
                self.note = (
                    f"torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
                    "training without it"
                )
                log.warning(self.note)
        return self.model(x)


def maybe_compile(model, enabled: bool) -> Callable:
    """A network compiled where asked for and possible.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    enabled : bool
        Compile it (``TrainConfig.compile``).

    Returns
    -------
    callable
        ``model`` itself, or (``enabled``) a :class:`CompiledOrPlain` around
        ``torch.compile(model)`` (its ``note`` says when compiling is not available).
    """
    if not enabled:
        return model
    import torch

    try:
        return CompiledOrPlain(model, torch.compile(model))
    except Exception as exc:
        wrapper = CompiledOrPlain(model, None)
        wrapper.note = (
            f"torch.compile is not available here ({type(exc).__name__}); training without it"
        )
        return wrapper


def fit_batch(
    try_step: Callable[[int], None], batch: int, *, smallest: int = 1
) -> tuple[int, str | None]:
    """The largest of ``batch``, ``batch // 2``, ... (not below ``smallest``) whose step runs.

    Parameters
    ----------
    try_step : callable
        ``try_step(b)`` runs one training step with batch ``b`` (and must leave no trace on the
        model).
    batch : int
        The batch asked for.
    smallest : int, optional
        The smallest batch to try.

    Returns
    -------
    tuple
        ``(batch, note)``; the note says what was reduced, ``None`` if nothing was.

    Raises
    ------
    Exception
        Errors other than running out of memory, and running out of memory at ``smallest``,
        as ``try_step`` raised them.

    Examples
    --------
    >>> def step(b):
    ...     if b > 4:
    ...         raise RuntimeError("CUDA out of memory")
    >>> fit_batch(step, 16)
    (4, "batch 16 did not fit in the device's memory: batch 4")
    """
    wanted = b = batch
    while True:
        try:
            try_step(b)
        except Exception as exc:
            if not is_out_of_memory(exc) or b // 2 < smallest:
                raise
            b //= 2
            _free_cached_memory()
            continue
        note = (
            None if b == wanted else f"batch {wanted} did not fit in the device's memory: batch {b}"
        )
        return b, note


def _free_cached_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass


def fit_batch_to_memory(
    unet, sampler, objective, device, *, batch: int, amp: bool, ranks=None
) -> tuple[int, str | None]:
    """On a GPU, the largest batch that fits in memory.

    Tries ``batch``, ``batch // 2``, ... until one training step of a fresh ``UNet(unet)`` on
    the sampler's patches fits. With other processes, all take the smallest.

    Parameters
    ----------
    unet : UNetConfig
        The network to try.
    sampler : PatchSampler
        Gives the patches.
    objective : Objective
        The mode's objective (its loss and what a step computes).
    device : torch.device
        The GPU.
    batch : int
        The batch asked for.
    amp : bool
        Mixed precision, as the run will use it.
    ranks : Ranks, optional
        The other processes (see :mod:`napari_n2n.core.training.distributed`).

    Returns
    -------
    tuple
        ``(batch, note)`` as :func:`fit_batch`.
    """
    import torch

    from ..device import amp_dtype
    from ..model import UNet
    from . import distributed

    model = UNet(unet).to(device)

    def try_step(b: int) -> None:
        x, y = (
            None if v is None else torch.from_numpy(v).to(device) for v in sampler.sample_batch(b)
        )
        try:
            with torch.autocast("cuda", enabled=amp, dtype=amp_dtype(device)):
                loss = objective.loss(model, x, y, progress=0.0, generator=None)
            loss.backward()
        finally:
            model.zero_grad(set_to_none=True)

    fitted, note = fit_batch(try_step, batch)
    agreed = distributed.minimum(fitted, ranks or distributed.SINGLE, device)
    if agreed != fitted:
        note = f"batch {batch} did not fit every GPU's memory: batch {agreed}"
    return agreed, note
