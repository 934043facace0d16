"""A lock on an output that a run is writing, so that two runs never write it at once.

The lock is a file beside the output that holds the writer's process id and host name,
created atomically (``O_CREAT | O_EXCL``: of two runs, one creates it, the other finds it).
A lock whose process is gone (killed, crashed: it never removed its lock) is stale, and the
next run takes it over; a lock of a process that still runs, or of another host (whose
processes cannot be checked from here), stops the run with a message that names the process
and the file.

Examples
--------
>>> import tempfile
>>> folder = tempfile.TemporaryDirectory()
>>> with WriterLock(f"{folder.name}/.out.lock", what="out.ome.zarr") as lock:
...     lock.path.exists()
True
>>> lock.path.exists()
False
>>> folder.cleanup()
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from pathlib import Path

from ..core.errors import OutputStateError
from ..core.files import process_alive

#: a lock file still empty after this many seconds was left by a process killed as it made it
EMPTY_STALE_S = 10.0


class WriterLock:
    """The lock of one output; a context manager (see the module's description).

    Parameters
    ----------
    path : str or PathLike
        The lock file.
    what : str
        The output, as messages name it.

    Raises
    ------
    OutputStateError
        On entering, if another run holds the lock (``kind="locked"``).
    """

    def __init__(self, path: str | os.PathLike, *, what: str):
        self.path = Path(path)
        self.what = what
        self.mine = f"{os.getpid()} {socket.gethostname()}\n"
        self.held = False

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        """Create the lock, taking over a stale one; refuse if another run holds it."""
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is None:  # being written this instant: look again
                    time.sleep(0.05)
                    continue
                if owner != "stale":
                    raise self._locked(owner) from None
                self._take_over()
                continue
            try:
                os.write(fd, self.mine.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            self.held = True
            return
        raise self._locked(self._read() or "unknown")

    def release(self) -> None:
        """Remove the lock, if it is still this run's."""
        if self.held and self._read() == self.mine:
            self.path.unlink(missing_ok=True)
        self.held = False

    def _read(self) -> str | None:
        try:
            return self.path.read_text(errors="replace")
        except FileNotFoundError:
            return None
        except OSError:
            return ""

    def _owner(self) -> str | None:
        """``"stale"``, the holder's ``"pid host"`` line, or ``None`` when it is being made."""
        text = self._read()
        if text is None:
            return None
        parts = text.split()
        if not text.endswith("\n") or len(parts) != 2 or not parts[0].isdigit():
            try:
                age = time.time() - self.path.stat().st_mtime
            except FileNotFoundError:
                return None
            return "stale" if age > EMPTY_STALE_S else None
        pid = int(parts[0])
        host = parts[1]
        if host == socket.gethostname() and not process_alive(pid):
            return "stale"
        return text.strip()

    def _take_over(self) -> None:
        """Remove a stale lock, atomically: of two runs taking it over, one removes it."""
        seen = self._read()
        aside = self.path.with_name(f"{self.path.name}.stale-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:  # another run took it over first
            return
        if aside.read_text(errors="replace") != seen:
            # a fresh lock made after the stale one was read: give it back
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        aside.unlink(missing_ok=True)

    def _locked(self, owner: str) -> OutputStateError:
        pid, _, host = owner.partition(" ")
        return OutputStateError(
            self.path,
            "locked",
            f"Another run (process {pid} on {host or 'an unknown host'}) is writing {self.what}: "
            "two runs would write the same chunks.",
            "Wait for it to end, then {resume} if it did not finish; if no such run exists, delete "
            f"the lock file {_literal(self.path)}.",
        )


def _literal(path: Path) -> str:
    """A path inside an advice template (whose ``{fields}`` are filled later)."""
    return str(path).replace("{", "{{").replace("}", "}}")
