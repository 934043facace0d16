"""The Denoise dock (:class:`~napari_n2n.widgets.denoise.widget.DenoiseWidget`) and the pieces
only it uses: its prediction jobs (``jobs``), test-time augmentation and uncertainty maps
(``maps``) and the BioImage Model Zoo dialogs (``export``)."""
