"""A live plot of the training and validation loss (and PSNR) on matplotlib's Qt canvas.

The PSNR axis shows the PSNR against a clean reference when one was given, and the PSNR
estimated without one (Noise2Noise: from the held-out noisy target), so a user with no clean
image still sees how good the model is.

Points are added as events arrive; the canvas is redrawn at most every ``redraw_s`` seconds
and kept cheap: fixed margins (a constrained layout doubles the cost) and plain-text tick labels
on linear axes (log-axis labels go through mathtext, which cost ~300 ms per redraw on a busy
CPU). A redraw costs some tens of milliseconds of the main thread.
"""

from __future__ import annotations

import time

import numpy as np


class LossPlot:
    """Training loss, validation loss and validation PSNR, true and estimated (right axis), against step.

    ``plot.native`` is the Qt widget to put in a layout; ``LEGEND`` says what the colours mean
    (shown as a Qt label beside it: a matplotlib legend costs a third of each redraw).
    :meth:`follow` subscribes it to a :class:`~napari_n2n.widgets._session.TrainingSession`.
    """

    LEGEND = ("<span style='color:#1f77b4'>━ training loss</span>  "
              "<span style='color:#ff7f0e'>●━ validation loss</span>  "
              "<span style='color:#2ca02c'>■ PSNR vs clean (dB, right)</span>  "
              "<span style='color:#9467bd'>◆ PSNR estimated, no clean image (dB, right)</span>")

    def __init__(self, *, redraw_s: float = 1.0, height_px: int = 220):
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.redraw_s = redraw_s
        self.figure = Figure(figsize=(3.6, 2.4), dpi=80)
        self.figure.subplots_adjust(left=0.17, right=0.84, bottom=0.19, top=0.96)
        self.native = FigureCanvasQTAgg(self.figure)
        self.native.setMinimumHeight(height_px)
        self.ax = self.figure.add_subplot(1, 1, 1)
        self.ax_psnr = self.ax.twinx()
        self._last_draw = 0.0
        self._pending = False
        self.train: tuple[list, list] = ([], [])
        self.val: tuple[list, list] = ([], [])
        self.psnr: tuple[list, list] = ([], [])
        self.est_psnr: tuple[list, list] = ([], [])
        self._style()
        self.draw(force=True)

    def _style(self) -> None:
        from matplotlib.ticker import FormatStrFormatter, MaxNLocator

        ax, ax2 = self.ax, self.ax_psnr
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        ax2.yaxis.set_major_formatter(FormatStrFormatter("%.1f"))
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("loss", fontsize=8)
        ax.tick_params(labelsize=7)
        ax2.tick_params(labelsize=7, colors="tab:green")
        ax2.set_ylabel("PSNR (dB)", fontsize=8, color="tab:green")
        ax2.set_visible(False)
        (self._l_train,) = ax.plot([], [], color="tab:blue", lw=1, label="training loss")
        (self._l_val,) = ax.plot([], [], "o-", color="tab:orange", ms=3, lw=1, label="validation loss")
        (self._l_psnr,) = ax2.plot([], [], "s--", color="tab:green", ms=3, lw=1, label="PSNR vs clean")
        (self._l_est,) = ax2.plot([], [], "D:", color="tab:purple", ms=3, lw=1, label="PSNR estimated")
        for axis in (ax.xaxis, ax.yaxis, ax2.yaxis):
            axis.set_major_locator(MaxNLocator(4))

    def follow(self, session) -> None:
        """Clear the plot and draw ``session``'s losses from now on (instead of the previous session's)."""
        previous = getattr(self, "_session", None)
        if previous is not None:
            previous.train_point.disconnect(self.add_train)
            previous.validation_point.disconnect(self.add_validation)
        self._session = session
        self.clear()
        session.train_point.connect(self.add_train)
        session.validation_point.connect(self.add_validation)

    def clear(self) -> None:
        for xs, ys in (self.train, self.val, self.psnr, self.est_psnr):
            xs.clear()
            ys.clear()
        self.ax_psnr.set_visible(False)
        self.draw(force=True)

    def add_train(self, step: int, loss: float) -> None:
        self.train[0].append(step)
        self.train[1].append(loss)
        self.draw()

    def add_validation(self, step: int, loss: float | None, psnr: float | None = None,
                       estimated_psnr: float | None = None) -> None:
        if loss is not None:
            self.val[0].append(step)
            self.val[1].append(loss)
        if psnr is not None:
            self.psnr[0].append(step)
            self.psnr[1].append(psnr)
        if estimated_psnr is not None and np.isfinite(estimated_psnr):
            self.est_psnr[0].append(step)
            self.est_psnr[1].append(estimated_psnr)
        self.draw()

    def draw(self, *, force: bool = False) -> None:
        """Redraw now if forced or if the last redraw is ``redraw_s`` old; else later (once)."""
        now = time.perf_counter()
        if not force and now - self._last_draw < self.redraw_s:
            if not self._pending:
                from qtpy.QtCore import QTimer

                self._pending = True
                QTimer.singleShot(int(self.redraw_s * 1000), self._draw_pending)
            return
        self._last_draw = now
        self._l_train.set_data(*self.train)
        self._l_val.set_data(*self.val)
        self._l_psnr.set_data(*self.psnr)
        self._l_est.set_data(*self.est_psnr)
        self.ax.relim()
        self.ax.autoscale_view()
        losses = self.train[1][len(self.train[1]) // 5:] + self.val[1]
        if len(self.train[1]) >= 10 and losses:
            # the first steps' loss is far above the rest: keep the scale for what follows
            lo, hi = min(losses), float(np.quantile(losses, 0.98))
            if hi > lo:
                pad = 0.08 * (hi - lo)
                self.ax.set_ylim(lo - pad, hi + 2 * pad)
        if self.psnr[0] or self.est_psnr[0]:
            self.ax_psnr.set_visible(True)
            self.ax_psnr.relim()
            self.ax_psnr.autoscale_view()
        try:
            self.native.draw_idle()
        except RuntimeError:  # the canvas was deleted (viewer closed)
            pass

    def _draw_pending(self) -> None:
        self._pending = False
        self.draw(force=True)
