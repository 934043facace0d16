"""Helpers for consuming long work that yields progress: run it to the end, describe its events.

The command line and the widgets show the same words for the same events; they come from here.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

from .events import Finished, Progress, Started, Validated

R = TypeVar("R")


def drain(gen: Generator[object, object, R], on_event=None) -> R:
    """Run a generator to its end; return its return value.

    Parameters
    ----------
    gen : generator
        The work.
    on_event : callable, optional
        Called with everything ``gen`` yields (a progress bar's update, say); else it is ignored.

    Returns
    -------
    object
        ``gen``'s return value.

    Examples
    --------
    >>> def work():
    ...     yield 1
    ...     return "done"
    >>> drain(work())
    'done'
    """
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_event is not None:
            on_event(event)


def relay(gen: Generator[object, object, R], convert) -> Generator[object, None, R]:
    """A generator that converts the events of another; closing it closes the other.

    Parameters
    ----------
    gen : generator
        The work.
    convert : callable
        Maps one of ``gen``'s events to the event to yield.

    Yields
    ------
    object
        ``convert(event)`` for each event of ``gen``.

    Returns
    -------
    object
        ``gen``'s return value, as ``StopIteration.value``.

    Examples
    --------
    >>> def work():
    ...     yield 1
    ...     return "done"
    >>> drain(relay(work(), lambda n: print(n + 1)))
    2
    'done'
    """
    try:
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                return stop.value
            yield convert(event)
    finally:
        gen.close()


def fmt_time(seconds: float) -> str:
    """A duration as ``m:ss`` below an hour, ``h:mm:ss`` above.

    Parameters
    ----------
    seconds : float
        The duration (negative times count as 0).

    Returns
    -------
    str
        Rounded to the second.

    Examples
    --------
    >>> fmt_time(75), fmt_time(3725.4)
    ('1:15', '1:02:05')
    """
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def describe_started(event: Started) -> str:
    """``"1.95 M parameters on cpu (2 threads)"`` and the run's notes.

    Parameters
    ----------
    event : Started
        The run's start.

    Returns
    -------
    str
        One line.
    """
    notes = f"; {'; '.join(event.notes)}" if event.notes else ""
    return f"{event.n_parameters / 1e6:.2f} M parameters on {event.device}{notes}"


def describe_progress(event: Progress, validated: Validated | None = None) -> str:
    """``"step 40/2000 · loss 0.123 · val 0.1 · PSNR 27.1 dB · est. PSNR 27.0 ± 0.2 dB · 120 patches/s · ETA 1:05"``.

    When the time budget will end the run (``event.limit == "time"``: always in a run bounded by
    time only) it counts time instead of steps: ``"1:05 of 5:00 · step 812 · loss ..."``.

    Parameters
    ----------
    event : Progress
        The run's latest progress.
    validated : Validated or None
        Its latest validation, if any.

    Returns
    -------
    str
        One line.
    """
    if event.limit == "time" and event.time_budget_s:
        parts = [
            f"{fmt_time(event.elapsed_s)} of {fmt_time(event.time_budget_s)}",
            f"step {event.step}",
        ]
    else:
        parts = [f"step {event.step}/{event.total_steps}"]
    parts.append(f"loss {event.train_loss:.4g}")
    if validated is not None:
        parts.append(f"val {validated.val_loss:.4g}")
        if validated.psnr is not None:
            parts.append(f"PSNR {validated.psnr:.2f} dB")
        if validated.estimated_psnr is not None:
            parts.append(
                describe_estimate(validated.estimated_psnr, validated.estimated_psnr_stderr)
            )
    parts += [f"{event.patches_per_s:.0f} patches/s", f"ETA {fmt_time(event.eta_s)}"]
    return " · ".join(parts)


def describe_estimate(psnr: float, stderr: float | None) -> str:
    """``"est. PSNR 28.4 ± 0.2 dB"``: the PSNR estimated without a clean image.

    Parameters
    ----------
    psnr : float
        The estimated PSNR (dB); ``inf`` reads "beyond measuring".
    stderr : float or None
        Its standard error, if known.

    Returns
    -------
    str
        The words.

    Examples
    --------
    >>> describe_estimate(28.43, 0.21)
    'est. PSNR 28.4 ± 0.2 dB'
    """
    if psnr == float("inf"):
        return "est. PSNR: beyond measuring"
    return f"est. PSNR {psnr:.1f}" + (f" ± {stderr:.1f}" if stderr is not None else "") + " dB"


def describe_finished(event: Finished) -> str:
    """``"Completed after 2000 steps (1:05), best model at step 1900 · est. PSNR 28.4 ± 0.2 dB"``.

    The best step is named only when validation chose it (``best_val_loss`` is set), with its
    PSNR (against a clean reference) or estimated PSNR when the run measured them.

    Parameters
    ----------
    event : Finished
        The run's end.

    Returns
    -------
    str
        One line.
    """
    best = (
        f", best model at step {event.best_step}"
        if event.best_val_loss is not None and event.best_step
        else ""
    )
    scores = [f"PSNR {event.psnr:.2f} dB"] if event.psnr is not None else []
    if event.estimated_psnr is not None:
        scores.append(describe_estimate(event.estimated_psnr, event.estimated_psnr_stderr))
    text = f"{event.reason.capitalize()} after {event.steps_done} steps ({fmt_time(event.elapsed_s)}){best}"
    return " · ".join([text, *scores])


def as_part(gen: Generator[object, object, R], k: int, n: int) -> Generator[object, None, R]:
    """A prediction's :class:`~napari_n2n.core.events.TileProgress` events as one of equal parts.

    A prediction made of ``n`` predictions in sequence (the two images of a pair, the
    orientations of test-time augmentation) counts its tiles over all of them: while part ``k``
    runs, ``done`` counts the ``k`` parts before it too and ``total`` all ``n``. Closing it
    closes ``gen`` (see :func:`relay`).

    Parameters
    ----------
    gen : generator
        One prediction, yielding ``TileProgress``.
    k : int
        Its part, from 0.
    n : int
        The number of parts.

    Yields
    ------
    TileProgress
        The events, counted over all parts.

    Returns
    -------
    object
        ``gen``'s return value, as ``StopIteration.value``.

    Examples
    --------
    >>> from napari_n2n.core.events import TileProgress
    >>> def work():
    ...     yield TileProgress(done=1, total=4, sample=0, n_samples=1)
    ...     return "done"
    >>> drain(as_part(work(), 1, 2), lambda ev: print(ev.done, ev.total))
    5 8
    'done'
    """
    from .events import TileProgress

    def rescale(ev):
        return TileProgress(
            done=k * ev.total + ev.done,
            total=n * ev.total,
            sample=ev.sample,
            n_samples=ev.n_samples,
        )

    return relay(gen, rescale)


def in_sequence(gens: list | tuple) -> Generator[object, None, list]:
    """Run generators one after the other as equal parts of one prediction.

    A generator does no work before its first step, so each starts when the one before it has
    ended.

    Parameters
    ----------
    gens : list or tuple of generator
        The predictions, yielding ``TileProgress``.

    Yields
    ------
    TileProgress
        Their events, rescaled by :func:`as_part`.

    Returns
    -------
    list
        Their return values, as ``StopIteration.value``.

    Examples
    --------
    >>> from napari_n2n.core.events import TileProgress
    >>> def work(x):
    ...     yield TileProgress(done=1, total=1, sample=0, n_samples=1)
    ...     return x
    >>> drain(in_sequence([work("a"), work("b")]), lambda ev: print(ev.done, ev.total))
    1 2
    2 2
    ['a', 'b']
    """
    results = []
    for k, gen in enumerate(gens):
        results.append((yield from as_part(gen, k, len(gens))))
    return results
