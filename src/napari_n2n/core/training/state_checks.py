"""Is a training state usable? Its checks, as strict as a model file's, before a run uses it.

A state file (:mod:`~napari_n2n.core.training.resume`) describes its model as a model file does,
and that description is checked the same way (:func:`~napari_n2n.core.checkpoint.check_metadata`);
then what only a state holds: the configuration, the step counters (against each other, the
configuration and the history, so that a state whose counters were edited is refused rather
than saved later as a model of that many steps), the kept weights' entries, and each tensor's
name and shape. Finiteness is checked where the tensors are read
(:func:`~napari_n2n.core.training.resume.load_state`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import NoReturn

from ..checkpoint import FLOAT_DTYPES, ModelFile, check_layout, check_metadata
from ..errors import InputError

#: the loss is read back (and logged in the history) after every step on the CPU, else after every this many
LOSS_READ_EVERY = 10


def check_state(state, layout: dict, bad: Callable[[str], NoReturn]) -> None:
    """Check a state's document and tensors, as strictly as a model file's, before a run uses it.

    Its description of the model is checked as a model file's
    (:func:`~napari_n2n.core.checkpoint.check_metadata`); then the run's own fields: the
    configuration, the counters against each other and against the history (a state whose
    counters were edited is refused, not saved later as a model of that many steps), the kept
    weights' entries, and each tensor's name and shape.

    Parameters
    ----------
    state : TrainingState
        The document.
    layout : dict
        Each tensor's name → ``(shape, safetensors dtype)``.
    bad : callable
        Called with what is wrong; it raises.
    """
    description = ModelFile(
        unet=state.unet,
        channel_groups=state.channel_groups,
        normalization=state.normalization,
        axes=state.axes,
        config=state.config,
        noise=state.noise,
        history=state.history,
        info=state.info,
        napari_n2n_version=state.napari_n2n_version,
    )
    unet = check_metadata(description, bad)
    _check_run_fields(state, bad)
    _check_counters(state, bad)
    groups = state.channel_groups
    expected = {
        f"model.{k}": shape
        for k, shape in unet.for_channels(len(groups[state.group])).state_shapes().items()
    }
    for entry in state.kept:
        shapes = unet.for_channels(len(groups[entry["group"]])).state_shapes()
        expected.update({f"kept{entry['group']}.{k}": shape for k, shape in shapes.items()})
    weights = {}
    for name, (shape, dtype) in layout.items():
        head, _, rest = name.partition(".")
        index, _, key = rest.partition(".")
        if head == "optimizer":
            if not (index.isdigit() and key) or dtype not in FLOAT_DTYPES:
                bad(
                    f"it holds an optimiser tensor {name} of {dtype} values that Adam has no place for"
                )
        else:
            weights[name] = (shape, dtype)
    check_layout(weights, expected, bad)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_run_fields(state, bad: Callable[[str], NoReturn]) -> None:
    """The fields a state has beyond a model file's: types and ranges."""
    from ..config import TrainConfig

    if not isinstance(state.config, dict):
        bad(f"its config field has the wrong type ({type(state.config).__name__})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # options of another version: compared later
            TrainConfig.from_dict(state.config)
    except (InputError, TypeError, ValueError) as exc:
        bad(f"its configuration is invalid ({str(exc).splitlines()[0] if str(exc) else exc!r})")
    for name, kinds in (("data", dict), ("scaler", dict), ("kept", list)):
        if not isinstance(getattr(state, name), kinds):
            bad(f"its {name} field has the wrong type ({type(getattr(state, name)).__name__})")
    if not (_is_count(state.world_size) and state.world_size >= 1):
        bad(f"its process count {state.world_size!r} is not a whole number from 1")
    n_groups = len(state.channel_groups)
    if not (_is_count(state.group) and state.group < n_groups):
        bad(f"its channel group {state.group!r} is not one of its {n_groups} group(s)")
    for entry in state.kept:
        g = entry.get("group") if isinstance(entry, dict) else None
        if not (_is_count(g) and g <= state.group):
            bad(f"its kept-weights entry {entry!r} names no group trained so far")
        loss = entry.get("best_val_loss")
        if not _is_count(entry.get("best_step")) or not (
            loss is None or (_is_number(loss) and math.isfinite(loss))
        ):
            bad(f"its kept-weights entry {entry!r} has no step and finite loss")
    _check_fingerprints(state.data, bad)
    for name in ("elapsed_s", "group_elapsed_s"):
        value = getattr(state, name)
        if not (_is_number(value) and math.isfinite(value) and value >= 0):
            bad(f"its {name} {value!r} is not a number of seconds")


def _check_fingerprints(data: dict, bad: Callable[[str], NoReturn]) -> None:
    """The data's fingerprints, which a resume compares with the data given now."""
    if not isinstance(data.get("axes"), str):
        bad(f"its data fingerprint's axes {data.get('axes')!r} are not a string")
    for role in ("input", "target"):
        print_ = data.get(role)
        if print_ is not None and not (
            isinstance(print_, dict) and isinstance(print_.get("digest"), str)
        ):
            bad(f"its data fingerprint of the {role} is not a fingerprint ({print_!r:.60})")


def _check_counters(state, bad: Callable[[str], NoReturn]) -> None:
    """The step counters agree with each other, with the configuration and with the history.

    The history logs the loss after every step on the CPU and after every
    :data:`LOSS_READ_EVERY` steps elsewhere, so the steps done are at most that many past its
    last entry.
    """
    step = state.step
    done = state.steps_done
    history = state.history
    if not (_is_count(step) and _is_count(done) and step <= done):
        bad(f"its step counters (step {step!r} of {done!r} in all) are not whole numbers in order")
    steps = state.config.get("steps")
    if _is_count(steps) and (step > steps or done > steps * len(state.channel_groups)):
        bad(f"its step counters (step {step}, {done} in all) exceed the run's {steps} steps")
    logged = history.get("step", [])
    if len(logged) != len(history.get("train_loss", [])):
        bad("its training history has not one loss per logged step")
    if history.get("steps_done", done) != done:
        bad(f"its step counter {done} disagrees with its history's {history['steps_done']!r}")
    last = logged[-1] if logged else 0
    if logged != sorted(logged) or last > done or done - last >= LOSS_READ_EVERY:
        bad(f"its step counter {done} disagrees with its history, whose last logged step is {last}")
