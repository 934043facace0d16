"""What every napari-n2n widget shares: the viewer, its layer events, teardown and long jobs.

:class:`ViewerWidget` is a magicgui :class:`~magicgui.widgets.Container` that

* keeps its choice lists in step with the viewer's layers (napari does this for docked
  widgets; the base does it for widgets that are not docked);
* calls :meth:`ViewerWidget.on_layer_inserted` when a layer is added, after updating the
  choice lists (napari's own update of a docked widget comes later, so the base updates them
  first on insertion: the one place the lists are rebuilt twice), and
  :meth:`ViewerWidget.on_layer_selected` when the user selects a layer in the layer list (while
  no work runs), so the widgets follow the user;
* knows when its Qt widgets are gone (:attr:`alive`) and tears down once
  (:meth:`ViewerWidget.teardown`: stop jobs, disconnect signals), whether the viewer closes
  or the dock is removed;
* runs long work through :meth:`ViewerWidget.start_job` (a :class:`~._jobs.LongJob`);
* offers the public actions a script or a test uses: :meth:`start`, :meth:`stop`,
  :meth:`wait` and :attr:`busy`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from magicgui.widgets import Container, Label

from ..core.errors import N2NError
from . import _notify as notify
from ._jobs import LongJob, wait_while

#: colour of links: readable on napari's dark and light themes
LINK_COLOUR = "#6fa8ff"
#: pixels between the rows of a widget
SPACING = 2
#: the user guide, relative to the source tree (a clone or an editable install)
GUIDE = Path(__file__).resolve().parents[3] / "docs" / "user-guide.md"


def docs_url(section: str = "") -> str | None:
    """Where the user guide is: the package's "Documentation" URL, else the guide in the source tree, else ``None``."""
    from importlib import metadata

    anchor = f"#{section}" if section else ""
    try:
        for entry in metadata.distribution("napari-n2n").metadata.get_all("Project-URL") or ():
            label, _, url = entry.partition(",")
            if label.strip().lower() in ("documentation", "docs", "user guide"):
                return url.strip() + anchor
    except metadata.PackageNotFoundError:
        pass
    return GUIDE.as_uri() + anchor if GUIDE.is_file() else None


def row(*widgets, label: str = "", layout: str = "horizontal", labels: bool = False) -> Container:
    """A tight sub-container of ``widgets`` (no margins, small spacing), e.g. a row of buttons."""
    box = Container(widgets=list(widgets), layout=layout, labels=labels, label=label)
    box.margins = (0, 0, 0, 0)
    box.native.layout().setSpacing(SPACING if layout == "vertical" else 4)
    return box


def align_labels(*containers: Container) -> None:
    """Give the labelled fields of ``containers`` one label column, as if they were one form.

    magicgui aligns the labels within one container; a widget made of several (a panel per
    choice) would show a column per panel. Aligned again whenever a label changes (an axes
    field says "guessed").

    Parameters
    ----------
    *containers : magicgui.widgets.Container
        Containers with ``labels=True`` shown one above the other.
    """
    from magicgui.application import use_app

    measure = use_app().get_obj("get_text_width")
    labels = {id(w): _label_beside(w) for box in containers for w in box}
    fields = [w for box in containers for w in box if labels[id(w)] is not None]

    def align(_label=None) -> None:
        widest = max(measure(w.label) for w in fields)
        for w in fields:
            labels[id(w)].setMinimumWidth(widest)

    for w in fields:
        w.label_changed.connect(align)
    align()


def _label_beside(widget):
    """The ``QLabel`` a labelled magicgui container shows beside ``widget``, or ``None``.

    magicgui puts a labelled field and its label in a row of their own (label first); seen
    through Qt's public API.
    """
    from qtpy.QtWidgets import QLabel

    parent = widget.native.parentWidget()
    layout = parent.layout() if parent is not None else None
    if layout is None or layout.count() != 2 or layout.itemAt(1).widget() is not widget.native:
        return None
    label = layout.itemAt(0).widget()
    return label if isinstance(label, QLabel) else None


def collapsible(title: str, container: Container):
    """A collapsed section titled ``title`` holding ``container`` (a superqt ``QCollapsible``)."""
    from superqt import QCollapsible

    section = QCollapsible(title, expandedIcon="▾", collapsedIcon="▸")
    section.setDuration(0)  # no animation: the dock resizes at once
    section.layout().setContentsMargins(0, 0, 0, 0)
    section.layout().setSpacing(0)
    section.addWidget(container.native)
    section.collapse(animate=False)
    return section


def on_choice(combo, slot: Callable) -> None:
    """Call ``slot()`` whenever ``combo``'s choice changes, to ``None`` too.

    magicgui's ``changed`` stays silent when a ComboBox that is not nullable is set to ``None``
    (our "none — single image" and "none" choices), and Qt's ``currentIndexChanged`` when new
    choices replace the old at the same index: both are connected (``slot`` may run twice).
    """
    combo.changed.connect(lambda _value: slot())
    combo.native.currentIndexChanged.connect(lambda _index: slot())


#: a place in a path where a line may break (a zero-width space): a long path wraps, not widens
_BREAK = "\u200b"


class StatusText(Label):
    """A status text of at most ``lines`` wrapped lines, so a long message never grows the dock.

    A text that needs more lines is cut with "…" (re-fitted when the width changes) and shown
    whole in the tooltip; :attr:`value` is always the whole text.

    Parameters
    ----------
    lines : int
        The most lines shown.
    **kwargs
        As :class:`magicgui.widgets.Label`.
    """

    _text = ""
    _tip: str | None = None

    def __init__(self, *, lines: int = 3, **kwargs):
        self._lines = lines
        super().__init__(**kwargs)
        from qtpy.QtWidgets import QSizePolicy

        native = self.native
        native.setWordWrap(True)
        # as wide as the dock gives, not as the shown text asks: a cut text would otherwise
        # shrink the label, and the narrower label would cut the next text shorter still
        native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._fit()
        self._refit = _on_resize(native, self._fit)

    @property
    def value(self) -> str:
        return self._text

    @value.setter
    def value(self, text) -> None:
        self._text = "" if text is None else str(text)
        self._fit()

    @property
    def tooltip(self) -> str | None:
        return self._tip

    @tooltip.setter
    def tooltip(self, text: str | None) -> None:
        self._tip = text
        self._fit()

    @property
    def elided(self) -> bool:
        """Whether the text is cut (the tooltip has it whole)."""
        return self.native.text() != _breakable(self._text)

    def _fit(self) -> None:
        try:
            native = self.native
        except AttributeError:  # magicgui sets value or tooltip before its Qt widget exists
            return
        text = _breakable(self._text)
        width = native.width() if native.width() > 40 else 280
        # the label itself judges what fits: its own layout of the text at its width, against
        # the height it asks for `lines` lines (measured at each fit: napari's style sheet sets
        # the font after the label is made, and a font's wrapped lines are a pixel or two taller
        # than its line spacing)
        native.setText("\n".join(["Mg"] * self._lines))
        most = native.heightForWidth(10**4)
        native.setMaximumHeight(most)

        def fits(candidate: str) -> bool:
            native.setText(candidate)
            return native.heightForWidth(width) <= most

        shown = _longest_start_that_fits(text, fits)
        native.setText(shown)
        # as high as the shown lines need (never squeezed to clip them), and no higher
        native.setMinimumHeight(min(native.heightForWidth(width), most))
        whole = self._text if shown != text else ""
        native.setToolTip("\n\n".join(t for t in (whole, self._tip) if t))


def _breakable(text: str) -> str:
    """``text`` with a line-break chance after each "/" and "\\" (paths wrap instead of widening)."""
    return text.replace("/", "/" + _BREAK).replace("\\", "\\" + _BREAK)


def _longest_start_that_fits(text: str, fits: Callable[[str], bool]) -> str:
    """``text`` if it fits, else its longest start that fits with "…" after it (at least "…")."""
    if fits(text):
        return text
    # text[:lo] + "…" fits; text[:hi] + "…" does not
    lo = 0
    hi = len(text)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(text[:mid].rstrip() + "…") else (lo, mid)
    return text[:lo].rstrip() + "…"


def _on_resize(native, slot: Callable):
    """Call ``slot()`` when ``native`` changes width; return the event filter (keep it)."""
    from qtpy.QtCore import QEvent, QObject

    class WidthWatcher(QObject):
        def eventFilter(self, obj, event) -> bool:
            if (
                event.type() == QEvent.Type.Resize
                and event.size().width() != event.oldSize().width()
            ):
                slot()
            return False

    watcher = WidthWatcher(native)
    native.installEventFilter(watcher)
    return watcher


def explain_choices(combo, describe: Callable) -> None:
    """Keep ``combo``'s tooltip the full description of its choice: ``describe(value)``.

    For choices shown by a short label that fits the field (a preset: "quick (CPU)"), the
    tooltip says what the label stands for ("quick on a CPU (patch 48, batch 8)").
    """

    def update() -> None:
        try:
            combo.tooltip = describe(combo.value)
        except (KeyError, TypeError):
            combo.tooltip = None

    on_choice(combo, update)
    update()


def when_alive(method: Callable) -> Callable:
    """Run ``method`` only while the widget's Qt objects exist; a deleted widget ignores the call."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        if self._closed:
            return None
        try:
            return method(self, *args, **kwargs)
        except (
            RuntimeError
        ) as exc:  # "wrapped C/C++ object ... has been deleted": the viewer is closing
            if "deleted" not in str(exc):
                raise
            self._closed = True
            return None

    return guarded


class ViewerWidget(Container):
    """Base of the napari-n2n widgets (see the module's docstring)."""

    def __init__(self, viewer, *, labels: bool = True, **kwargs):
        super().__init__(labels=labels, **kwargs)
        self._viewer = viewer
        self._closed = False
        self.job: LongJob | None = None
        self._side_jobs: list[LongJob] = []  # short jobs beside the main one (a device check)
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.selection.events.active.connect(self._on_active)
        for event in ("removed", "reordered"):
            getattr(viewer.layers.events, event).connect(self._on_layers_changed)
        self.native.destroyed.connect(self._destroyed_hook())
        # compact: the three docks share one screen's height (1080 lines) with the layer controls
        self.margins = (6, 3, 6, 3)
        self.native.layout().setSpacing(SPACING)

    # ---- state ---------------------------------------------------------------------------
    @property
    def viewer(self):
        return self._viewer

    @property
    def alive(self) -> bool:
        """Whether the widget can still be shown and used (its viewer is open)."""
        return not self._closed

    @property
    def busy(self) -> bool:
        """Whether the widget's long work (training, denoising) is running."""
        return self.job is not None and self.job.running

    # ---- public actions --------------------------------------------------------------------
    def start(self):
        """Start the widget's work as its main button does (errors become notifications)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Ask the running work to stop (as the Stop / Cancel button does); nothing if idle."""

    def wait(self, timeout_s: float = 600.0) -> bool:
        """Process Qt events until the work ends or ``timeout_s`` passes; return whether it ended."""
        return wait_while(lambda: self.busy, timeout_s)

    # ---- helpers for subclasses ------------------------------------------------------------
    def start_job(self, gen_fn, *args, **options) -> LongJob:
        """Run the generator ``gen_fn(*args)`` as this widget's job (see :class:`~._jobs.LongJob`)."""
        self.job = LongJob(gen_fn, *args, **options)
        return self.job.start()

    def start_side_job(self, gen_fn, *args, **options) -> LongJob:
        """Run a short job beside the main one (a device check); abandoned with the widget."""
        self._side_jobs = [job for job in self._side_jobs if job.running]
        job = LongJob(gen_fn, *args, **options).start()
        self._side_jobs.append(job)
        return job

    @staticmethod
    def report(call: Callable, *args, **kwargs):
        """``call(*args, **kwargs)``; an :class:`N2NError` becomes an error notification (and ``None``)."""
        try:
            return call(*args, **kwargs)
        except N2NError as exc:
            notify.error(str(exc))
            return None

    def add_help_link(self, section: str, row: Container | None = None) -> None:
        """A "?" link to the widget's section of the user guide, at the end of ``row`` (or of the widget)."""
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QLabel

        url = docs_url(section)
        self.help_link = QLabel(
            f"<a href='{url}' style='color:{LINK_COLOUR}'>&nbsp;?&nbsp;</a>" if url else "?"
        )
        self.help_link.setTextFormat(Qt.TextFormat.RichText)
        self.help_link.setOpenExternalLinks(True)
        self.help_link.setToolTip(
            f"User guide: {section.replace('-', ' ')}"
            + (f"\n{url}" if url else " (docs/user-guide.md in the napari-n2n source)")
        )
        (row or self).native.layout().addWidget(self.help_link)

    def on_layer_inserted(self, layer) -> None:
        """A layer was added to the viewer (after the choice lists were updated). Override for autofill."""

    def on_layer_selected(self, layer) -> None:
        """The layer selected in the layer list changed to ``layer``. Override to follow the user."""

    def teardown(self) -> None:
        """Stop what runs and let go of shared state; called once, when the widget's Qt objects go.

        Subclasses extend it; it must not touch Qt widgets (they are being destroyed).
        """
        # quit the workers and detach their slots: nothing of this widget runs after
        for job in [self.job, *self._side_jobs]:
            if job is not None:
                job.abandon()

    # ---- wiring ----------------------------------------------------------------------------
    @when_alive
    def _on_inserted(self, event) -> None:
        self.reset_choices()
        self.on_layer_inserted(event.value)

    @when_alive
    def _on_active(self, event) -> None:
        if not self.busy and event.value is not None:
            self.on_layer_selected(event.value)

    @when_alive
    def _on_layers_changed(self, _event=None) -> None:
        if not self._docked():  # napari does this for docked widgets
            self.reset_choices()

    def _docked(self) -> bool:
        parent = self.native.parent()
        return parent is not None and type(parent).__name__ == "QtViewerDockWidget"

    def _destroyed_hook(self):
        def destroyed(*_args):
            if not self._closed:
                self._closed = True
                self.teardown()

        return destroyed
