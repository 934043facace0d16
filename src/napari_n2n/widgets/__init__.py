"""The napari widgets: thin magicgui/Qt views over :mod:`napari_n2n.core`.

One module per widget (``noisy_pairs``, ``train``, ``denoise``), each a
:class:`~._base.ViewerWidget` with public ``start()`` / ``stop()`` / ``wait()`` / ``busy``; and
small shared pieces: ``_base`` (layer events and the selected layer, teardown, long jobs, help
links), ``_jobs`` (thread workers whose errors always reach the user), ``_session`` (the evented
state of a training run), ``_preview`` (the live preview layer), ``_plot`` (the loss plot, in the
viewer's theme), ``_device`` (the device label, torch kept off the main thread), ``_layers``
(layer checks, defaults, axes from metadata, names, placement, the data a run starts with),
``_axes`` (the axes field: shown, never guessed silently), ``_train_form`` (the Train widget's
settings, with an Advanced section), ``_model_io`` (saving and loading model files without
tracebacks) and ``_registry`` (the session's trained models, the pairs made). Importing this package imports nothing heavy; the
widget modules import Qt and magicgui, and torch only off the main thread.
"""
