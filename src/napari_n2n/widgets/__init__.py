"""The napari widgets: thin magicgui/Qt views over :mod:`napari_n2n.core`.

One module per widget (``noisy_pairs``, ``train``, ``denoise``), each a
:class:`~._base.ViewerWidget` with public ``start()`` / ``stop()`` / ``wait()`` / ``busy``; and
small shared pieces: ``_base`` (layer events, teardown, long jobs), ``_jobs`` (thread workers
whose errors always reach the user), ``_session`` (the evented state of a training run),
``_preview`` (the live preview layer), ``_plot`` (the loss plot), ``_device`` (the device label,
torch kept off the main thread), ``_layers`` (layer checks, names and placement) and
``_registry`` (the session's trained models). Importing this package imports nothing heavy; the
widget modules import Qt and magicgui, and torch only off the main thread.
"""
