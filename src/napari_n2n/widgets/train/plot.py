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

#: the lines' colours, readable on napari's dark and light themes
COLOURS = {"train": "#4f9fe0", "val": "#ff9f40", "psnr": "#5fd35f", "est": "#c39bff"}
#: napari's dark theme, used when the viewer's theme cannot be read
DARK = {"background": "#23242b", "foreground": "#2e333e", "text": "#f0f1f2", "secondary": "#565f6c"}


def theme_colours(theme: str) -> dict[str, str]:
    """The background, foreground, text and secondary colours of napari's theme ``theme`` (hex)."""
    try:
        from napari.utils.theme import get_theme

        t = get_theme(theme)
        return {key: getattr(t, key).as_hex() for key in DARK}
    except Exception:
        return dict(DARK)


class LossPlot:
    """Training loss, validation loss and validation PSNR, true and estimated (right axis), against step.

    ``plot.native`` is the Qt widget to put in a layout and ``plot.legend`` a Qt label saying
    what the colours mean (a matplotlib legend costs a third of each redraw). The plot takes
    the colours of napari's ``theme``; before the first point it shows no axes, only a line
    saying what will appear. :meth:`follow` subscribes it to a
    :class:`~napari_n2n.widgets.train.session.TrainingSession`.
    """

    LEGEND = (
        f"<span style='color:{COLOURS['train']}'>━ training loss</span>  "
        f"<span style='color:{COLOURS['val']}'>●━ validation</span>  "
        f"<span style='color:{COLOURS['psnr']}'>■ PSNR</span>  "
        f"<span style='color:{COLOURS['est']}'>◆ est. PSNR (dB, right)</span>"
    )
    #: the legend's tooltip: what the two PSNR lines are
    LEGEND_TIP = (
        "PSNR: against the clean layer, when one is given. est. PSNR: estimated without a clean image "
        "from the held-out noisy target (Noise2Noise)"
    )
    WAITING = (
        "The training and validation loss\n(and PSNR: estimated in N2N, measured with a clean layer)\n"
        "appear here during training."
    )

    def __init__(self, *, redraw_s: float = 1.0, height_px: int = 120, theme: str = "dark"):
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QLabel

        self.redraw_s = redraw_s
        self.colours = theme_colours(theme)
        self.figure = Figure(
            figsize=(3.6, height_px / 80), dpi=80, facecolor=self.colours["background"]
        )
        self.figure.subplots_adjust(left=0.17, right=0.84, bottom=0.3, top=0.95)
        self.native = FigureCanvasQTAgg(self.figure)
        # it may shrink to 70 px where the screen is short: the docks must fit a 1080-line screen
        self.native.setMinimumHeight(min(height_px, 70))
        self.native.setMaximumHeight(int(1.6 * height_px))
        self.legend = QLabel(self.LEGEND)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setToolTip(self.LEGEND_TIP)
        self.ax = self.figure.add_subplot(1, 1, 1)
        self.ax_psnr = self.ax.twinx()
        self._waiting = self.figure.text(
            0.5,
            0.5,
            self.WAITING,
            ha="center",
            va="center",
            fontsize=8,
            color=self.colours["text"],
            alpha=0.7,
        )
        self._last_draw = 0.0
        self._pending = False
        self.train: tuple[list, list] = ([], [])
        self.val: tuple[list, list] = ([], [])
        self.psnr: tuple[list, list] = ([], [])
        self.est_psnr: tuple[list, list] = ([], [])
        self._style()
        self.draw(force=True)

    @property
    def waiting(self) -> bool:
        """Whether the plot shows the line that says what will appear (no points yet) instead of its axes."""
        return self._waiting.get_visible()

    def _style(self) -> None:
        from matplotlib.ticker import FormatStrFormatter, MaxNLocator

        ax = self.ax
        ax2 = self.ax_psnr
        text = self.colours["text"]
        ax.set_facecolor(self.colours["foreground"])
        for spine in (*ax.spines.values(), *ax2.spines.values()):
            spine.set_color(self.colours["secondary"])
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        ax2.yaxis.set_major_formatter(FormatStrFormatter("%.1f"))
        ax.set_xlabel("step", fontsize=8, color=text)
        ax.set_ylabel("loss", fontsize=8, color=text)
        ax.tick_params(labelsize=7, colors=text)
        ax2.tick_params(labelsize=7, colors=COLOURS["psnr"])
        ax2.set_ylabel("PSNR (dB)", fontsize=8, color=COLOURS["psnr"])
        (self._l_train,) = ax.plot([], [], color=COLOURS["train"], lw=1, label="training loss")
        (self._l_val,) = ax.plot(
            [], [], "o-", color=COLOURS["val"], ms=3, lw=1, label="validation loss"
        )
        (self._l_psnr,) = ax2.plot(
            [], [], "s--", color=COLOURS["psnr"], ms=3, lw=1, label="PSNR vs clean"
        )
        (self._l_est,) = ax2.plot(
            [], [], "D:", color=COLOURS["est"], ms=3, lw=1, label="PSNR estimated"
        )
        for axis in (ax.xaxis, ax.yaxis, ax2.yaxis):
            axis.set_major_locator(MaxNLocator(4))
        self._show_axes()

    def _show_axes(self) -> None:
        """Axes only once there is something to plot; before, the line that says what will appear."""
        has_points = bool(self.train[0] or self.val[0])
        self.ax.set_visible(has_points)
        self.ax_psnr.set_visible(bool(self.psnr[0] or self.est_psnr[0]))
        self._waiting.set_visible(not has_points)

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
        self.draw(force=True)

    def release(self) -> None:
        """Stop following the session (the widget is closing)."""
        previous = getattr(self, "_session", None)
        if previous is not None:
            try:
                previous.train_point.disconnect(self.add_train)
                previous.validation_point.disconnect(self.add_validation)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._session = None

    def add_train(self, step: int, loss: float) -> None:
        self.train[0].append(step)
        self.train[1].append(loss)
        self.draw()

    def add_validation(
        self,
        step: int,
        loss: float | None,
        psnr: float | None = None,
        estimated_psnr: float | None = None,
    ) -> None:
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
        losses = self.train[1][len(self.train[1]) // 5 :] + self.val[1]
        if len(self.train[1]) >= 10 and losses:
            # the first steps' loss is far above the rest: keep the scale for what follows
            lo = min(losses)
            hi = float(np.quantile(losses, 0.98))
            if hi > lo:
                pad = 0.08 * (hi - lo)
                self.ax.set_ylim(lo - pad, hi + 2 * pad)
        self._show_axes()
        if self.psnr[0] or self.est_psnr[0]:
            self.ax_psnr.relim()
            self.ax_psnr.autoscale_view()
        try:
            self.native.draw_idle()
        except RuntimeError:  # the canvas was deleted (viewer closed)
            pass

    def _draw_pending(self) -> None:
        self._pending = False
        self.draw(force=True)
