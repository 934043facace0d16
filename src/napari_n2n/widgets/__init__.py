"""The napari widgets: thin magicgui/Qt views over :mod:`napari_n2n.core`.

One module per widget (``noisy_pairs``, ``train``, ``denoise``) and small shared helpers
(``_layers`` layer checks and placement, ``_worker`` thread workers whose errors always reach
the user, ``_state`` the session's trained models, ``_plot`` the live loss plot). Importing this
package imports nothing heavy; each widget module imports Qt and magicgui, and torch only when
training or denoising starts.
"""
