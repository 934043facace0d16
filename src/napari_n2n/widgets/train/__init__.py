"""The Train dock (:class:`~napari_n2n.widgets.train.widget.TrainWidget`) and the pieces only it
uses: its settings form (``form``), where a run starts (``start_from``), the device label
(``device``), the loss plot (``plot``), the live preview layer (``preview``) and the evented
state of a run (``session``)."""
