"""``python -m napari_n2n.cli`` runs the ``napari-n2n`` command (e.g. under ``torchrun``)."""

import sys

from . import main

sys.exit(main())
