"""The Noisy pairs dock (:class:`~napari_n2n.widgets.noisy_pairs.widget.NoisyPairsWidget`) and
the pieces only it uses: the pair check (``pair_check``) and the photon split (``photon``)."""
