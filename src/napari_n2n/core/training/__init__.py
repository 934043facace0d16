"""Training: the :class:`~napari_n2n.core.training.train.Trainer` loop and its parts.

How a run starts (``start``), batches and patches (``batches``, ``sampling``, ``multi_image``), one
objective per mode and the losses (``objectives``, ``losses``), the learning-rate schedule, the
kept weights (``selection``), resumable states (``resume``), torchrun (``distributed``),
stopping inside a step (``interrupt``), ``torch.compile`` and the batch fitted to memory
(``acceleration``), live previews (``preview``), one model's run (``model_run``) and the named
recipes (``presets``). The top layer of the core.
"""
