#!/usr/bin/env python
"""How long the viewer freezes: the longest gaps of napari's event loop during Train and Denoise.

    xvfb-run -a -s "-screen 0 1920x1080x24" python benchmarks/ui_stalls.py
    xvfb-run -a python benchmarks/ui_stalls.py --train-s 30 --repeat 2

A 10 ms ``QTimer`` runs on the main thread while the three docks work on the 2D sample (camera,
512×512, Gaussian noise); a gap between two ticks much longer than 10 ms is a time the window
could not repaint or react. Phases: *Train pressed* (from the press until the first step is
shown), *training* (``--train-s`` seconds), *Stop* (until the run has ended and its model is
kept) and *denoise + add* (from Denoise's press until the result layer is shown). Prints a table
of the longest gap, the gaps over 100 ms and each phase's length. Target (issue 22): < 100 ms on
a quiet machine. The first press also pays torch's one-off costs: ``--repeat 2`` shows a second.
"""

from __future__ import annotations

import argparse
import time


class GapMeter:
    """Gaps between the ticks of a 10 ms timer on the Qt main thread, by phase."""

    def __init__(self, interval_ms: int = 10):
        from qtpy.QtCore import QTimer

        self.interval_ms = interval_ms
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def phase(self) -> None:
        """Start a new phase (forget the gaps so far)."""
        self.gaps = []
        self._last = time.perf_counter()

    def summary(self) -> tuple[float, int]:
        """``(longest gap in ms, gaps over 100 ms)`` of the phase so far."""
        self._tick()  # the time since the last tick counts too
        longest = max(self.gaps, default=0.0)
        return 1000 * longest, sum(g > 0.1 for g in self.gaps)


def wait_until(predicate, timeout_s: float) -> float:
    """Process events until ``predicate()`` (or ``timeout_s``); return the seconds waited."""
    from qtpy.QtWidgets import QApplication

    start = time.perf_counter()
    while not predicate() and time.perf_counter() - start < timeout_s:
        QApplication.processEvents()
        time.sleep(0.002)
    return time.perf_counter() - start


def run_once(viewer, docks, meter: GapMeter, train_s: float) -> list[tuple[str, float, int, float]]:
    """One press of Train, a training of ``train_s`` seconds, Stop, and a denoise: the table's rows."""
    _pairs, train, denoise = docks
    rows = []
    form = train.form
    form.budget.value, form.minutes.value = "time", 60.0
    meter.phase()
    pressed = time.perf_counter()
    train.start()
    wait_until(lambda: train.session is not None and train.session.status.step >= 1, 300)
    rows.append(("Train pressed → first step", *meter.summary(), time.perf_counter() - pressed))
    meter.phase()
    took = wait_until(lambda: not train.busy, timeout_s=train_s)
    rows.append(("training", *meter.summary(), took))
    meter.phase()
    train.stop()
    took = wait_until(lambda: not train.busy, timeout_s=300)
    rows.append(("Stop → model kept", *meter.summary(), took))
    denoise.reset_choices()
    before = len(viewer.layers)
    meter.phase()
    denoise.start()
    took = wait_until(lambda: not denoise.busy and len(viewer.layers) > before, timeout_s=300)
    wait_until(lambda: False, timeout_s=0.2)  # the layer's first draw
    rows.append(("denoise + add the result", *meter.summary(), took + 0.2))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-s", type=float, default=15.0, help="seconds of training")
    parser.add_argument("--repeat", type=int, default=1, help="presses of Train, one after another")
    args = parser.parse_args()

    import napari

    viewer = napari.Viewer(show=True)
    viewer.open_sample("napari-n2n", "pair_2d")
    docks = [
        viewer.window.add_plugin_dock_widget("napari-n2n", name)[1]
        for name in ("Noisy pairs", "Train Noise2Noise", "Denoise")
    ]
    meter = GapMeter()
    wait_until(lambda: docks[1].form.device_label.value != "checking…", timeout_s=120)
    print(f"{'phase':<30} {'longest gap':>12} {'gaps >100 ms':>13} {'length':>8}")
    for i in range(args.repeat):
        for name, longest, over, took in run_once(viewer, docks, meter, args.train_s):
            label = f"{name} ({i + 1})" if args.repeat > 1 else name
            print(f"{label:<30} {longest:>9.0f} ms {over:>13d} {took:>6.1f} s", flush=True)
    viewer.close()


if __name__ == "__main__":
    main()
