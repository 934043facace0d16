"""Data: what a model trains on, and where it comes from.

Normalisation, noise models, where pairs come from (``pairs``, ``photon``), bundled example
data (``samples``), hot and dead pixels (``outliers``), noise statistics and the pair check
(``noisestats``, ``paircheck``). Imports only the core's foundation.
"""
