"""Larger than memory: prediction chunk by chunk.

Prediction into an OME-Zarr store, resumable (``output``), and the same units of work on a
dask cluster (``cluster``). Needs the extra ``napari-n2n[io]``; importing this package imports
nothing heavy.
"""
