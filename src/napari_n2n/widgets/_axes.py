"""The axes field of the widgets: the axes always shown, read from the layer where it says, never guessed silently.

:class:`AxesField` is a text field (the axes, e.g. ``ZYX``) with a one-click choice beside it
(*ZYX volume*, *TYX time series*, *SYX separate images*, ...). When a layer is chosen the field
fills itself from the layer's metadata (:func:`~._layers.known_axes`: what napari-n2n recorded,
napari's axis labels); where nothing says (any 3D array without such metadata) it shows its
guess, marks it in its label ("axes — guessed, check") and keeps :attr:`AxesField.guessed`
true until the user picks a choice or types axes. The widgets repeat a remaining guess in a
warning when the work starts, so a time series is never trained as a volume unseen.
"""

from __future__ import annotations

from magicgui.widgets import ComboBox, Container, LineEdit

from ._layers import known_axes

#: the one-click choices, by number of dimensions
CHOICES = {
    2: [("YX image", "YX")],
    3: [
        ("ZYX volume (3D model)", "ZYX"),
        ("TYX time series (2D model)", "TYX"),
        ("SYX separate images (2D model)", "SYX"),
        ("CYX channels", "CYX"),
    ],
    4: [
        ("TZYX volumes over time", "TZYX"),
        ("CZYX channels of a volume", "CZYX"),
        ("TCYX channels over time", "TCYX"),
        ("SZYX separate volumes", "SZYX"),
    ],
    5: [("TCZYX", "TCZYX"), ("TZCYX", "TZCYX")],
}
#: the guess where nothing says, by number of dimensions (the core's default axes)
GUESS = {3: "ZYX", 4: "TZYX", 5: "TCZYX"}
OTHER = ("other: type the axes", None)
LABEL = "axes"
GUESSED_LABEL = "axes ⚠ guessed"


class AxesField(Container):
    """Axes text with a choice of common axes; :meth:`set_layer` fills it from a layer.

    ``value`` is the text (``""`` when no layer is chosen); :attr:`guessed` says whether it is
    an unconfirmed guess; :attr:`source` says where the axes came from.
    """

    def __init__(self, *, label: str = LABEL, tooltip: str = ""):
        self.text = LineEdit(
            value="", tooltip="One letter per dimension: S samples, T time, C channels, Z, Y, X"
        )
        self._ndim = 0
        # the choices are a function, so a reset of the choices (napari does it on layer events) keeps them
        self.choice = ComboBox(
            choices=self._choices, value=None, tooltip="Choose what the dimensions are"
        )
        super().__init__(
            widgets=[self.text, self.choice],
            layout="horizontal",
            labels=False,
            label=label,
            tooltip=tooltip,
        )
        self.margins = (0, 0, 0, 0)
        self.native.layout().setSpacing(4)
        self.text.native.setMaximumWidth(70)
        self._base_label = label
        self.guessed = False
        self.source = ""
        self._quiet = False
        self.text.changed.connect(self._on_typed)
        self.choice.changed.connect(self._on_chosen)

    # ---- value -------------------------------------------------------------------------------
    @property
    def value(self) -> str:
        return self.text.value.strip().upper()

    @value.setter
    def value(self, axes: str) -> None:
        """Set the axes as the user would (the guess is confirmed)."""
        self.text.value = axes or ""

    def set_layer(self, layer, *, fallback: str | None = None) -> None:
        """Fill the field from ``layer``: its known axes, else ``fallback`` if it fits, else the guess."""
        ndim = 0 if layer is None else layer.data.ndim
        axes, source = known_axes(layer)
        if axes is None and fallback and len(fallback) == ndim:
            axes = fallback
            source = "model"
        guessed = axes is None and ndim in GUESS
        if guessed:
            axes = GUESS[ndim]
            source = "guess"
        self._ndim = ndim
        self._set(axes or "", guessed=guessed, source=source)

    def confirm(self) -> None:
        """The user has seen the axes (e.g. they were shown in a warning): no longer a guess."""
        self._mark(False)

    # ---- internals ----------------------------------------------------------------------------
    def _choices(self, _widget=None) -> list:
        return [*CHOICES.get(self._ndim, []), OTHER]

    def _set(self, axes: str, *, guessed: bool, source: str) -> None:
        self._quiet = True
        try:
            self.choice.reset_choices()
            self.text.value = axes
            self._sync_choice()
        finally:
            self._quiet = False
        self.source = source
        self._mark(guessed)

    def _sync_choice(self) -> None:
        values = [v for _, v in CHOICES.get(self._ndim, [])]
        self.choice.value = self.value if self.value in values else None

    def _mark(self, guessed: bool) -> None:
        self.guessed = guessed
        self.label = GUESSED_LABEL if guessed else self._base_label
        style = "border: 1px solid #e3b617;" if guessed else ""
        self.text.native.setStyleSheet(style)
        self.choice.native.setStyleSheet(style)
        self.tooltip = (
            f"Guessed: the layer does not say what its {self._ndim} dimensions are, so they are read as "
            f"{self.value}. Choose what they are (a time series is TYX)."
            if guessed
            else f"Axes of the layer ({self.source})"
            if self.source
            else ""
        )

    def _on_typed(self, _=None) -> None:
        if self._quiet:
            return
        self._quiet = True
        try:
            self._sync_choice()
        finally:
            self._quiet = False
        self.source = "typed"
        self._mark(False)

    def _on_chosen(self, value) -> None:
        if self._quiet or value is None:
            return
        self._quiet = True
        try:
            self.text.value = value
        finally:
            self._quiet = False
        self.source = "chosen"
        self._mark(False)
