"""Larger than memory: prediction into an OME-Zarr store chunk by chunk, resumable
(``output``), and the same units of work on a dask cluster (``cluster``). Needs the extra
``napari-n2n[io]``; importing this package imports nothing heavy."""
