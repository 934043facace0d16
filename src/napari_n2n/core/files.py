"""Safe writes: every file napari-n2n writes (images, model files) goes through here.

A :class:`Destination` is checked *before* any long work and written *after* it:

* the check refuses a folder, a device or other special file, one of the inputs (compared by
  inode, so a symbolic or hard link to an input is caught too), a folder that does not exist
  or cannot be written (probed by creating a file there, which also catches read-only mounts
  and immutable folders where ``os.access`` says yes to root), an existing file unless
  replacing it was allowed, and, where the size can be estimated, a disk without room;
* the write goes to a temporary file in the destination folder, unique to the process and
  the call (``.<name>.part-<pid>-<host>-<random><suffix>``), created with the user's umask,
  flushed to disk, then renamed into place: a crash, a kill or a full disk leaves the old file
  as it was, never a partial one (and the next write to the folder removes a temporary file
  a kill left, see :func:`sweep_stale_temporaries`);
* the rename never replaces a file that appeared, or changed, after the check (another run
  writing the same path): that is an :class:`~napari_n2n.core.errors.OutputError`, and
  :func:`write_with_fallback` then saves beside it instead of losing the work.

Examples
--------
>>> import tempfile
>>> import numpy as np
>>> folder = tempfile.TemporaryDirectory()
>>> dest = Destination(f"{folder.name}/out.npy", inputs=[f"{folder.name}/in.npy"])  # checked
>>> result = np.zeros((4, 4))  # the long work
>>> dest.write(lambda tmp: np.save(tmp, result)).name
'out.npy'
>>> Destination(f"{folder.name}/out.npy")  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
napari_n2n.core.errors.OutputError: Cannot write the output ...: the file already exists. ...
>>> folder.cleanup()
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError

#: suffixes of two parts, kept together when a fallback name is made (``out-1.ome.tif``)
COMPOUND_SUFFIXES = (".ome.tif", ".ome.tiff", ".ome.zarr", ".nii.gz", ".tar.gz")
#: bytes kept free beyond an output's estimated size
SPACE_MARGIN = 1 << 20
_REASONS = {
    errno.EROFS: "the folder is on a read-only file system",
    errno.EACCES: "you have no permission to write in that folder",
    errno.EPERM: "the folder or file is protected (read-only, immutable)",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "your disk quota is used up",
    errno.EISDIR: "it is a folder",
    errno.ENOENT: "its folder no longer exists (removed or unmounted)",
}


#: this host, in the names of temporary files (a shared disk holds those of several hosts)
HOST_TAG = hashlib.blake2b(socket.gethostname().encode(), digest_size=3).hexdigest()
#: the name of a temporary file of :class:`Destination`
_TEMPORARY = re.compile(r"^\..*\.part-(?P<pid>\d+)-(?P<host>[0-9a-f]{6})-[0-9a-f]{8}")
#: folders this process has swept (see :func:`sweep_stale_temporaries`)
_SWEPT: set[str] = set()


def split_suffix(name: str) -> tuple[str, str]:
    """Split a file name into its stem and suffix, keeping two-part suffixes together.

    Parameters
    ----------
    name : str
        A file name.

    Returns
    -------
    stem, suffix : str

    Examples
    --------
    >>> split_suffix("out.ome.tif"), split_suffix("m.n2n"), split_suffix("README")
    (('out', '.ome.tif'), ('m', '.n2n'), ('README', ''))
    """
    low = name.lower()
    for compound in COMPOUND_SUFFIXES:
        if low.endswith(compound) and len(name) > len(compound):
            return name[: -len(compound)], name[-len(compound) :]
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if stem else (name, "")


def reason(exc: OSError) -> str:
    """A few words on why ``exc`` stopped a write (``"the disk is full"``).

    Parameters
    ----------
    exc : OSError
        The error.

    Returns
    -------
    str
    """
    return _REASONS.get(exc.errno or 0, exc.strerror or str(exc))


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` are the same file (same device and inode; links followed).

    Parameters
    ----------
    a, b : str or os.PathLike
        Two paths.

    Returns
    -------
    bool
        False if either is missing.
    """
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` lies inside the folder ``folder`` (links followed; a path is not inside itself).

    Parameters
    ----------
    path, folder : str or os.PathLike
        Two paths.

    Returns
    -------
    bool
    """
    p = os.path.realpath(path)
    f = os.path.realpath(folder)
    return p != f and os.path.isdir(f) and os.path.commonpath([p, f]) == f


@dataclass(frozen=True)
class _Seen:
    """What was at the destination when it was checked (to notice another writer)."""

    device: int
    inode: int
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: Path) -> _Seen | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return cls(st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class Destination:
    """An output file: checked now, written atomically later.

    Parameters
    ----------
    path : str or path-like
        Where to write. A symbolic link is followed: its target is replaced, the link stays.
    overwrite : bool
        Whether an existing file may be replaced (never a device or an input; a folder only
        by a ``folder`` output).
    inputs : iterable of paths
        Files read by the same run; the destination may not be one of them.
    what : str
        How messages name it: ``"output"``, ``"model file"``, ``"--out-a"``.
    overwrite_hint : str
        What the user does to allow replacing (``"add --overwrite"``, ``"pass overwrite=True"``).
    folder : bool
        The output is a folder (a zarr store): staged as a temporary folder beside it and
        renamed into place; an existing folder is replaced only with ``overwrite``, and removed
        only after the new one is in place.

    Raises
    ------
    OutputError
        If the destination cannot or may not be written (see the module docstring).

    Notes
    -----
    ``os.fspath(destination)`` is the path, so a destination can be passed wherever a path is
    expected; :func:`napari_n2n.core.checkpoint.save_checkpoint` then keeps its checks. A
    destination may be written more than once (a run's successive states): each write notes
    what it wrote, so only another writer's change is refused.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        overwrite: bool = False,
        inputs: Iterable = (),
        what: str = "output",
        overwrite_hint: str = "pass overwrite=True",
        folder: bool = False,
    ):
        if isinstance(path, Destination):
            path = path.given
        self.given = Path(os.path.expanduser(os.fspath(path)))
        self.overwrite = overwrite
        self.folder = folder
        self.what = what
        self.hint = overwrite_hint
        self.inputs = [Path(os.fspath(p)) for p in inputs if p is not None]
        self.path = Path(os.path.realpath(self.given))  # the file actually written
        self._seen: _Seen | None = None
        self.check()

    def __fspath__(self) -> str:
        return str(self.given)

    def __repr__(self) -> str:
        return f"Destination({str(self.given)!r}, overwrite={self.overwrite})"

    def _fail(self, why: str, what_to_do: str = "Choose another place") -> OutputError:
        return OutputError(f"Cannot write the {self.what} {self.given}: {why}. {what_to_do}.")

    # ---- checks ------------------------------------------------------------------------------
    def check(self) -> None:  # noqa: C901  one check per way a destination can fail, in the order a user meets them
        """Check the destination (called on creation) and note what is there, to notice another writer later."""
        path = self.path
        folder = self.path.parent
        if not folder.is_dir():
            if folder.exists():
                raise self._fail(f"{folder} is not a folder")
            raise self._fail(
                f"the folder {folder} does not exist", "Create it first, or choose another place"
            )
        for source in self.inputs:
            if same_file(source, path):
                same = (
                    "" if os.path.abspath(source) == os.path.abspath(self.given) else f" ({source})"
                )
                raise self._fail(
                    f"it is also an input of this run{same}, which writing would destroy",
                    "Choose another name",
                )
            if inside(path, source):
                raise self._fail(
                    f"it is inside the input {source}, which writing would change",
                    "Choose a place outside it",
                )
            if inside(source, path):
                raise self._fail(
                    f"the input {source} is inside it, and replacing it would destroy the input",
                    "Choose another name",
                )
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is not None:
            if stat.S_ISDIR(st.st_mode) != self.folder:
                if self.folder:
                    raise self._fail(
                        "it is a file, and this output is a folder", "Choose another name"
                    )
                raise self._fail(
                    "it is a folder",
                    f"Give a file name, e.g. {self.given / ('result' + self._default_suffix())}",
                )
            if not (stat.S_ISREG(st.st_mode) or self.folder):
                raise self._fail(
                    "it is a device or other special file, not a regular file", "Choose a file name"
                )
            if not self.overwrite:
                raise self._fail(
                    f"the {'folder' if self.folder else 'file'} already exists",
                    f"To replace it, {self.hint}; or choose another name",
                )
            if not os.access(path, os.W_OK):
                raise self._fail(
                    "the file is write-protected (read-only or immutable)",
                    "Make it writable, or choose another name",
                )
        self._probe(folder)
        self._seen = _Seen.of(path)

    def _default_suffix(self) -> str:
        return split_suffix(self.given.name)[1] or ".tif"

    def _probe(self, folder: Path) -> None:
        """Create and remove a file in ``folder``: the only test that holds for root and read-only mounts."""
        try:
            probe = self._create_temporary()
        except OSError as exc:
            raise self._fail(reason(exc)) from None
        self._remove(probe)

    def require_space(self, nbytes: int) -> None:
        """Raise :class:`OutputError` if the destination's disk has less than ``nbytes`` (plus a margin) free.

        Parameters
        ----------
        nbytes : int
            The estimated size of what will be written.
        """
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:  # nothing to estimate with
            return
        need = int(nbytes) + SPACE_MARGIN
        if free < need:
            raise self._fail(
                f"it needs about {_size(need)} and the disk has {_size(free)} free",
                "Free some space, or choose another disk",
            )

    # ---- writing -----------------------------------------------------------------------------
    def _create_temporary(self) -> Path:
        """A new empty file (or folder) beside the destination, unique to this process and call, with the umask's mode."""
        sweep_stale_temporaries(self.path.parent)
        stem, suffix = split_suffix(self.path.name)
        for _ in range(100):
            tmp = self.path.with_name(
                f".{stem}.part-{os.getpid()}-{HOST_TAG}-{secrets.token_hex(4)}{suffix}"
            )
            try:
                if self.folder:
                    os.mkdir(tmp, 0o777)  # the kernel applies the umask
                else:
                    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            except FileExistsError:
                continue
            return tmp
        raise OSError(
            errno.EEXIST, "no free temporary name"
        )  # pragma: no cover - 100 collisions of 32 random bits

    def _remove(self, tmp: Path) -> None:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)

    @contextmanager
    def staged(self) -> Iterator[Path]:
        """A temporary path to write; on leaving the block it is flushed and renamed to the destination.

        On an error (or Ctrl-C) inside the block the temporary file is removed and the
        destination is left as it was.

        Yields
        ------
        pathlib.Path
            An empty file (an empty folder for a ``folder`` destination) to write.
        """
        try:
            tmp = self._create_temporary()
        except OSError as exc:
            raise self._fail(reason(exc)) from exc
        try:
            yield tmp
            if not self.folder:
                _fsync(tmp)
            self._commit(tmp)
            self._seen = _Seen.of(self.path)  # what this run wrote: a later write may replace it
        except OSError as exc:
            raise self._fail(reason(exc)) from exc
        finally:
            self._remove(tmp)

    def write(self, writer: Callable[[Path], object]) -> Path:
        """Call ``writer(temporary_path)``, then move the result into place; return the path written.

        Parameters
        ----------
        writer : callable
            ``writer(temporary_path)`` writes the output; ``temporary_path`` is an empty file (an
            empty folder for a ``folder`` destination) that the writer replaces or fills.

        Returns
        -------
        pathlib.Path
            The destination's path as given.
        """
        with self.staged() as tmp:
            writer(tmp)
        return self.given

    def commit(self, tmp: Path) -> Path:
        """Move a file or folder written beside the destination by other means into place.

        As :meth:`staged` would, for a result written elsewhere (a resumable result, see
        :mod:`napari_n2n.ondisk.output`).

        Parameters
        ----------
        tmp : pathlib.Path
            The file or folder, in the destination's folder.

        Returns
        -------
        pathlib.Path
            The destination's path as given.
        """
        try:
            self._commit(tmp)
        except OSError as exc:
            raise self._fail(reason(exc)) from exc
        self._seen = _Seen.of(self.path)
        return self.given

    def _commit(self, tmp: Path) -> None:
        """Rename ``tmp`` to the destination, unless another writer got there since the check."""
        now = _Seen.of(self.path)
        if now != self._seen:
            raise self._conflict()
        if now is None:
            try:  # a hard link (a folder's rename) never replaces: an atomic "create if absent"
                if self.folder:
                    os.rename(tmp, self.path)
                else:
                    os.link(tmp, self.path)
                return
            except (FileExistsError, IsADirectoryError, NotADirectoryError):
                raise self._conflict() from None
            except OSError:
                # file systems without hard links (some network and FAT disks): rename below
                if self.path.exists():
                    raise self._conflict() from None
                if self.folder:
                    raise
        # a folder cannot be renamed over a full one: the old goes aside first
        if self.folder and now is not None:
            old = self.path.with_name(f".{self.path.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
            os.rename(self.path, old)
            try:
                os.rename(tmp, self.path)
            except OSError:
                os.rename(old, self.path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, self.path)
        _fsync_folder(self.path.parent)

    def _conflict(self) -> OutputError:
        return self._fail(
            "another process wrote that file while this one was running",
            "Nothing was replaced; choose another name",
        )

    def alternatives(self) -> list[Path]:
        """Where to write instead if this destination fails at the end.

        Returns
        -------
        list of pathlib.Path
            Beside it, then the current folder, then the temporary folder (names that do not
            exist yet).
        """
        stem, suffix = split_suffix(self.given.name)
        beside = next(
            (
                p
                for n in range(1, 1000)
                if not (p := self.given.with_name(f"{stem}-{n}{suffix}")).exists()
            ),
            None,
        )
        places = [beside] + [
            Path(d) / self.given.name for d in (os.getcwd(), tempfile.gettempdir())
        ]
        seen = set()
        out = []
        for p in places:
            if p is None:
                continue
            key = os.path.realpath(p)
            if key not in seen and key != str(self.path):
                seen.add(key)
                out.append(p)
        return out


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie, dead but not yet reaped, does not).

    Parameters
    ----------
    pid : int
        The process id.

    Returns
    -------
    bool

    Examples
    --------
    >>> process_alive(os.getpid())
    True
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (macOS): kill's answer stands
        return True
    return stat_line.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def sweep_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files (and folders) that killed writes of this host left in ``folder``.

    A write killed by SIGKILL or a power cut cannot remove its temporary file
    (``.NAME.part-PID-HOST-RANDOM.SUFFIX``). The first write of a process to a folder removes
    those whose process, on this host, is gone; those of processes that still run, or of
    other hosts (a shared disk: their processes cannot be checked from here), stay.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder.

    Returns
    -------
    list of Path
        What was removed.
    """
    key = os.path.realpath(folder)
    if key in _SWEPT:
        return []
    _SWEPT.add(key)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or match["host"] != HOST_TAG or process_alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    try:  # makes the rename itself durable; not possible everywhere (e.g. Windows)
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _size(nbytes: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return ""  # pragma: no cover


def write_with_fallback(
    destination: Destination, writer: Callable[[Destination], object]
) -> tuple[Path, str | None]:
    """Write with ``writer(destination)``; if that fails, to the first alternative that works.

    Use it for results that took long to make (a trained model), so a failure at the end loses
    nothing.

    Parameters
    ----------
    destination : Destination
        Where to write.
    writer : callable
        ``writer(destination)`` writes the result (also to a :class:`Destination` for each of
        :meth:`Destination.alternatives`).

    Returns
    -------
    path : pathlib.Path
        Where the result was written.
    why : str or None
        ``None``, or why the destination itself failed.

    Raises
    ------
    OutputError
        If no place could be written; the message says why the destination failed.
    """
    try:
        writer(destination)
        return destination.given, None
    except OutputError as exc:
        first = exc
    for place in destination.alternatives():
        try:
            other = Destination(place, what=destination.what, inputs=destination.inputs)
            writer(other)
            return other.given, str(first)
        except OutputError:
            continue
    raise OutputError(
        f"{first} No other place could be written either (tried beside it, the current folder "
        "and the temporary folder)."
    )
