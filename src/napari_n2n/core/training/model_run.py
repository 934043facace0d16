"""The live training of one model: its network, optimiser and loss scaler, and one optimiser step.

A :class:`ModelRun` starts from seeded random weights, from a trained model's weights
(fine-tuning) or from a resumed state (weights, Adam's moments, the loss scaler, the steps
done); under DDP its network is wrapped in ``DistributedDataParallel``, and compiled when asked
(:attr:`ModelRun.net`), while :attr:`ModelRun.model` stays the plain module that is validated,
previewed and saved.

A step either happens whole or not at all: a stop inside it (:mod:`napari_n2n.core.training.interrupt`,
on the CPU, where a step takes seconds) raises before the optimiser's update, and
:attr:`ModelRun.step` counts only the steps whose update was applied, so a run stopped midway
resumes at the step it abandoned, with the same batch, bit for bit.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass

from ..config import TrainConfig
from ..device import amp_dtype
from ..events import FinishReason
from ..model import UNet, UNetConfig
from . import distributed
from .acceleration import maybe_compile

_imports: dict[str, threading.Event] = {}
_imports_lock = threading.Lock()


def import_ahead() -> threading.Event:
    """Start importing, on a background thread, what building the first optimiser imports.

    torch's optimisers import ``torch._dynamo`` when the first one is built: 1.5 s on an idle
    2-core CPU, 3.4 s on a loaded one (and a stop asked meanwhile waited for it: 16 s were seen
    stopping a 3D run before its first step, issue #22). Started when a
    :class:`~napari_n2n.core.training.train.Trainer` is made, the import overlaps the rest of
    the set-up, and the run waits for it where a stop can still end it.

    Returns
    -------
    threading.Event
        Set once the import has ended (also when it failed: building the optimiser then
        raises the error).
    """
    with _imports_lock:
        if "torch._dynamo" not in _imports:
            done = _imports["torch._dynamo"] = threading.Event()
            if "torch._dynamo" in sys.modules:
                done.set()
            else:

                def work():
                    try:
                        import torch._dynamo  # noqa: F401
                    except Exception:  # raised again, in its place, by the optimiser
                        pass
                    finally:
                        done.set()

                threading.Thread(target=work, daemon=True, name="n2n-imports").start()
        return _imports["torch._dynamo"]


@dataclass(frozen=True)
class GroupResult:
    """How the run of one model (one channel group) ended.

    Attributes
    ----------
    reason : {"completed", "stopped", "time budget"}
        Why it ended.
    steps : int
        The steps it did.
    """

    reason: FinishReason
    steps: int


@dataclass
class ModelRun:
    """One model being trained (the model of one channel group)."""

    group: int
    offset: int  #: steps of the models trained before this one
    model: object
    net: object  #: what trains: ``model``, or its DDP wrapper, or either compiled
    opt: object
    scaler: object
    step: int  #: steps done
    t_start: float  #: when its training time began (earlier by the time of a resumed run)
    amp: tuple  #: (enabled, dtype)
    #: whether a stop may abandon a step midway: on the CPU, alone (under DDP the other processes would wait for
    #: its gradients), not compiled (hooks would break a compiled network's graph)
    interruptible: bool = False

    @classmethod
    def open(  # noqa: PLR0913  what one model's run is opened from, each from the Trainer
        cls,
        unet: UNetConfig,
        *,
        group: int,
        offset: int,
        config: TrainConfig,
        seed: int,
        device,
        ranks: distributed.Ranks,
        weights: dict | None = None,
        resumed=None,
    ) -> ModelRun:
        """Build a model, its optimiser and its loss scaler on a device.

        Parameters
        ----------
        unet : UNetConfig
            The architecture (for this group's channels).
        group : int
            The channel group.
        offset : int
            Steps of the models trained before this one.
        config : TrainConfig
            The run's options (learning rate, mixed precision, compilation).
        seed : int
            Seeds the initial weights.
        device : torch.device
            Where to train.
        ranks : Ranks
            The processes (the network is wrapped in DDP when there are several).
        weights : dict, optional
            Initial weights (a fine-tune's) instead of seeded random ones.
        resumed : Resumed, optional
            A state to continue: its weights, optimiser, scaler, step and time.

        Returns
        -------
        ModelRun
            The run, at its first step to do.
        """
        import torch

        # seeded initial weights, without touching the global seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = UNet(unet)
        if resumed is not None:
            model.load_state_dict(resumed.model)
        elif weights is not None:
            model.load_state_dict(weights)
        model = model.to(device)
        on_cuda = device.type == "cuda"
        # fused Adam: one kernel for all parameters instead of several per tensor
        opt = torch.optim.Adam(
            model.parameters(),
            lr=config.learning_rate,
            betas=(0.9, 0.99),
            **({"fused": True} if on_cuda else {}),
        )
        use_amp = config.amp and on_cuda
        adt = amp_dtype(device)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp and adt == torch.float16)
        step = 0
        elapsed = 0.0
        if resumed is not None:
            opt.load_state_dict(resumed.optimizer_state(opt))
            if resumed.state.scaler and scaler.is_enabled():
                scaler.load_state_dict(resumed.state.scaler)
            step = resumed.state.step
            elapsed = resumed.state.group_elapsed_s
        net = maybe_compile(distributed.wrap(model, ranks, device), config.compile)
        return cls(
            group,
            offset,
            model,
            net,
            opt,
            scaler,
            step,
            time.perf_counter() - elapsed,
            (use_amp, adt),
            interruptible=device.type == "cpu" and not config.compile and not ranks.active,
        )

    def train_step(self, objective, batch, *, lr: float, progress: float, generator):
        """One optimiser step.

        A :class:`~napari_n2n.core.training.interrupt.StepInterrupted` raised by the forward or
        backward pass leaves the weights, the optimiser, the scaler and :attr:`step` as they were.

        Parameters
        ----------
        objective : Objective
            The mode's objective.
        batch : tuple
            ``(x, y)`` tensors on the device.
        lr : float
            The learning rate of this step.
        progress : float
            The share of the run done (for annealed losses).
        generator : torch.Generator
            For the objective's random choices.

        Returns
        -------
        torch.Tensor
            The loss, on the device.
        """
        import torch

        for g in self.opt.param_groups:
            g["lr"] = lr
        x, y = batch
        with torch.autocast(x.device.type, enabled=self.amp[0], dtype=self.amp[1]):
            loss = objective.loss(self.net, x, y, progress=progress, generator=generator)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.step += 1
        return loss
