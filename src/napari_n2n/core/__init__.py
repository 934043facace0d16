"""The napari-n2n library: numpy + torch only (no Qt, no napari)."""
