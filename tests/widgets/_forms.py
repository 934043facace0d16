"""What the widget tests share about the widgets' forms."""

from __future__ import annotations

from .._helpers import WIDGET_TINY


def set_tiny(widget, steps: int = 20) -> None:
    """Set the Train widget's form for a quick run of ``steps`` steps."""
    form = widget.form
    form.budget.value = "steps"
    form.steps.value = steps
    for name, value in WIDGET_TINY.items():
        getattr(form, name).value = value
