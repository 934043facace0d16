"""The pair-check panel of Noisy pairs: is this a valid Noise2Noise pair, and what to do if not.

A button and the findings of :func:`napari_n2n.core.data.paircheck.check_pair` in plain words. The
check reads a few planes and takes about a second on a 512² pair, so it runs off the main
thread (a :class:`~._jobs.LongJob`); it only warns and never blocks training.
"""

from __future__ import annotations

import html

from magicgui.widgets import Container, Label, PushButton

from .._base import when_alive
from .._jobs import LongJob, wait_while

#: how a finding is shown, by severity
MARKS = {
    "error": ("⛔", "#d9534f"),
    "warning": ("⚠", "#e8a33d"),
    "info": ("ℹ", None),
    "ok": ("✓", "#5cb85c"),
}


def check_job(a, b, axes: str | None, stack=None):
    """Generator for a :class:`LongJob`: check the pair, return ``(PairCheck, MotionCheck or None)``.

    ``stack``: ``(stack, axis, axes)`` of a stack paired with its neighbours, whose motion
    between frames is measured too (:func:`~napari_n2n.core.data.motioncheck.check_motion`);
    its finding joins the pair check's.
    """
    import dataclasses

    from ...core.data.motioncheck import check_motion
    from ...core.data.paircheck import check_pair

    yield "checking"
    report = check_pair(a, b, axes=axes)
    if stack is None:
        return report, None
    yield "measuring the motion between frames"
    data, axis, stack_axes = stack
    motion = check_motion(data, axis=axis, axes=stack_axes)
    return dataclasses.replace(report, findings=(*report.findings, motion.finding)), motion


def motion_html(motion) -> str:
    """The motion of each measured frame pair, one line each."""
    lines = [f"frames {t}–{t + 1}: {m.describe()}" for t, m in zip(motion.frames, motion.motions)]
    return "<p>" + "<br>".join(html.escape(line) for line in lines) + "</p>"


def findings_html(report) -> str:
    """The findings as rich text, warnings first, one paragraph each."""
    order = {"error": -1, "warning": 0, "info": 1, "ok": 2}
    parts = []
    for f in sorted(report.findings, key=lambda f: order[f.severity]):
        mark, colour = MARKS[f.severity]
        style = f" style='color:{colour}'" if colour else ""
        parts.append(f"<p><span{style}>{mark}</span> {html.escape(f.text)}</p>")
    return "".join(parts)


#: lines of findings shown at once (the rest scroll: warnings come first)
FINDINGS_LINES = 8


def _scroll_area(label, *, lines: int):
    """``label`` in a frameless vertical scroll area at most ``lines`` text lines high."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QFrame, QScrollArea, QSizePolicy

    area = QScrollArea()
    area.setWidget(label)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    spacing = label.fontMetrics().lineSpacing()
    area.setMaximumHeight(lines * spacing + 8)
    area.setMinimumHeight(3 * spacing + 8)  # the first finding, where the screen is short
    area.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
    return area


class PairCheckPanel(Container):
    """ "Check pair" and its findings. ``source()`` returns ``(a, b, axes)`` to check, or raises InputError.

    A stack's source adds ``(stack, axis, axes)``: the motion between its frames is measured too.
    """

    def __init__(self, source, *, report_error):
        super().__init__(labels=False)
        self._source = source
        self._report_error = report_error
        self.button = PushButton(text="Check pair (shift, brightness, noise)")
        self.findings = Label(value="")
        self.findings.native.setWordWrap(True)
        from qtpy.QtCore import Qt

        self.findings.native.setTextFormat(Qt.TextFormat.RichText)
        self.findings.native.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.extend([self.button])
        #: the findings scroll within a few lines: however many, the dock stays on the screen
        self.scroll = _scroll_area(self.findings.native, lines=FINDINGS_LINES)
        self.native.layout().addWidget(self.scroll)
        self.scroll.setVisible(False)
        self.margins = (0, 0, 0, 0)
        self.job: LongJob | None = None
        #: the last :class:`~napari_n2n.core.data.paircheck.PairCheck`
        self.report = None
        #: the last :class:`~napari_n2n.core.data.motioncheck.MotionCheck` (stacks only)
        self.motion = None
        self._closed = False
        self.button.changed.connect(self.start)

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.running

    @property
    def alive(self) -> bool:
        return not self._closed

    def start(self, _=None) -> LongJob | None:
        """Check the pair chosen in the widget (errors become notifications)."""
        if self.busy:
            return None
        given = self._report_error(self._source)
        if given is None:
            return None
        a, b, axes, *stack = given
        self.button.enabled = False
        self._show("Checking…")
        self.job = LongJob(
            check_job,
            a,
            b,
            axes,
            stack[0] if stack else None,
            what="Pair check",
            hold_gc=False,
            on_returned=self._on_returned,
            on_errored=self._on_errored,
            on_finished=self._on_finished,
        )
        return self.job.start()

    def wait(self, timeout_s: float = 60.0) -> bool:
        """Process Qt events until the check ends; return whether it ended."""
        return wait_while(lambda: self.busy, timeout_s)

    def clear(self) -> None:
        self.report = None
        self.motion = None
        self._show("")

    def _show(self, text: str) -> None:
        """Show ``text`` in the findings area (hidden while there is nothing to show)."""
        self.findings.value = text
        self.scroll.setVisible(bool(text))

    def teardown(self) -> None:
        self._closed = True
        if self.job is not None:
            self.job.abandon()

    @when_alive
    def _on_returned(self, result) -> None:
        self.report, self.motion = result
        extra = "" if self.motion is None else motion_html(self.motion)
        self._show(findings_html(self.report) + extra)

    @when_alive
    def _on_errored(self, exc) -> None:
        from .._jobs import notify_error

        self._show("")
        notify_error(exc)

    @when_alive
    def _on_finished(self) -> None:
        self.button.enabled = True
