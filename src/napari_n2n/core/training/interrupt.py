"""Stopping inside a long training step.

A training step of the standard network on 128² patches in batches of 16 takes about 5 s on a
CPU; a stop checked only between steps waited that long. :func:`stop_inside_steps` makes every
convolution of the network ask "stop?" as the step reaches it, going forward and, through a
gradient hook on its output, going backward, and raise :class:`StepInterrupted` when the answer
is yes: the step is abandoned (its optimiser update never happens) within one convolution's
time, a fraction of a second (``benchmarks/stop_latency.py``). The checks cost nothing
measurable: the step keeps its batch whole, so the CPU's speed is unchanged (splitting the batch
into small chunks instead made steps up to twice as slow).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


class StepInterrupted(Exception):
    """A stop was asked for in the middle of a step (or a validation or preview pass)."""


@contextmanager
def stop_inside_steps(
    model, should_stop: Callable[[], bool], *, enabled: bool = True
) -> Iterator[None]:
    """While inside, the model's convolutions raise :class:`StepInterrupted` once a stop is asked.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    should_stop : callable
        Returns True once the step should be abandoned (checked after every convolution,
        forward and backward).
    enabled : bool, optional
        ``False`` does nothing (on a GPU a step takes milliseconds, and hooks would break a
        compiled network's graph).

    Yields
    ------
    None
        The block runs with the hooks in place; they are removed after it.
    """
    import torch

    if not enabled:
        yield
        return

    def check(*_):
        if should_stop():
            raise StepInterrupted

    def after_forward(module, inputs, output):
        check()
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(check)  # called when backward reaches this layer

    convolutions = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
    handles = [
        m.register_forward_hook(after_forward)
        for m in model.modules()
        if isinstance(m, convolutions)
    ]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
