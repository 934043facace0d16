"""The ledger of a chunked prediction: which units of work are written, kept on the disk.

One JSON header line (the model's digest and the settings the run must keep), then one line
per finished unit, appended and flushed after the unit's write (see
:mod:`~napari_n2n.core.inference.chunked`). It records what a run *did*, so a resume skips exactly
those units; a line the disk garbled counts as not written, so its unit is denoised again.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from ..errors import OutputStateError

LEDGER_FORMAT = "napari-n2n ledger 1"


class Ledger:
    """Which units of a chunked prediction are written.

    A file of one JSON header line, then one line per finished unit (``"3,0,1"``), appended and
    flushed to disk after the unit's write. Opening an existing ledger checks its header; a line
    cut short by a crash is ignored (and trimmed), and a garbled one (bytes changed on the disk)
    is listed in :attr:`damaged`: its unit counts as not written, so a resume denoises it again.

    Parameters
    ----------
    path : str or PathLike
        The ledger file; created if it does not exist.
    header : dict
        The model's digest (``"model"``) and the settings the run must keep.

    Raises
    ------
    OutputStateError
        If the ledger was started by another model or with other settings, or is damaged
        (``kind="mismatch"``; its advice says how to start over).
    """

    def __init__(self, path: str | os.PathLike, header: dict):
        self.path = Path(path)
        self.header = {"format": LEDGER_FORMAT, **header}
        self.done: set[tuple[int, ...]] = set()
        #: lines of an existing ledger that were garbled (their units are denoised again)
        self.damaged: list[str] = []
        if self.path.exists():
            self._load()
        else:
            with open(self.path, "w") as f:
                f.write(json.dumps(self.header, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())

    def _refuse(self, why: str, advice: str) -> OutputStateError:
        return OutputStateError(self.path, "mismatch", why, advice)

    def _load(self) -> None:
        raw = self.path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]
        if len(complete) < len(raw):
            # a line cut short by a crash: trimmed, so the next one starts clean
            with open(self.path, "r+b") as f:
                f.truncate(len(complete))
        # bytes a disk or an editor garbled must not stop a resume: such lines are redone below
        lines = complete.decode(errors="replace").splitlines()
        try:
            first = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            first = {}
        if first.get("format") != LEDGER_FORMAT:
            raise self._refuse(
                f"{self.path} is not a napari-n2n ledger (or it is damaged): the run it belongs "
                "to cannot be resumed;",
                "to start over, {overwrite}.",
            )
        if first.get("model") != self.header.get("model"):
            raise self._refuse(
                "The unfinished result was started with another model (digest "
                f"{str(first.get('model'))[:12]}, this one is {str(self.header.get('model'))[:12]}): "
                "resuming would mix two models' output.",
                "Resume with the model file it was started with, or to start over, {overwrite}.",
            )
        changed = [
            f"{k} {first.get(k)!r} → {v!r}" for k, v in self.header.items() if first.get(k) != v
        ]
        if changed:
            raise self._refuse(
                f"The unfinished result was started with other settings ({'; '.join(changed)}): "
                "resuming would mix two results.",
                "Resume with the same settings, or to start over, {overwrite}.",
            )
        for line in lines[1:]:
            if not line.strip():
                continue
            try:
                index = tuple(int(v) for v in line.split(","))
            except ValueError:
                # a garbled line: its unit is not known to be written, so it is done again
                self.damaged.append(line)
                continue
            self.done.add(index)
        if self.damaged:
            warnings.warn(
                f"{self.path}: {len(self.damaged)} garbled line(s) (the disk or an editor changed "
                "them); their units are denoised again.",
                UserWarning,
                stacklevel=3,
            )

    def record(self, index: tuple[int, ...]) -> None:
        """Record unit ``index`` as written (appended and flushed to disk)."""
        with open(self.path, "a") as f:
            f.write(",".join(str(i) for i in index) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done.add(tuple(index))
