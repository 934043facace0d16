"""Many files in one command: inputs from paths, folders, glob patterns and list files; output names
made from the input names; a report of the files that failed."""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

from ..core.errors import InputError
from ..core.files import split_suffix
from ..io import FORMATS


def _is_image(path: Path) -> bool:
    name = path.name.lower()
    if any(name.endswith(s) for f in FORMATS for s in f.suffixes):
        return not name.startswith(".")  # hidden: a partial result, a temporary file
    return path.is_dir() and any(
        getattr(f, "sniff", lambda _: False)(path) for f in FORMATS if getattr(f, "folder", 0)
    )


def expand_inputs(
    items: list[str], list_file: str | None = None, *, flag: str = "--input"
) -> list[Path]:
    """The input files named by ``items``: paths, glob patterns (``'raw/*.tif'``) and folders (their image
    files, sorted), then the lines of ``list_file`` (one path or pattern a line; ``#`` starts a comment).

    Raises
    ------
    InputError
        If a pattern matches nothing, a folder holds no image, or the list file cannot be read.
    """
    items = list(items or [])
    if list_file:
        try:
            lines = Path(os.path.expanduser(list_file)).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(
                f"Cannot read the list of inputs {list_file} ({exc.__class__.__name__}). Give a text file "
                "with one image path a line."
            ) from exc
        items += [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]
    found: list[Path] = []
    for item in items:
        path = Path(os.path.expanduser(item))
        if glob.has_magic(item):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(item)))
            matches = [m for m in matches if _is_image(m)]
            if not matches:
                raise InputError(
                    f"{flag} {item!r} matches no image file. Check the pattern (quote it, so the shell "
                    "passes it as it is)."
                )
            found += matches
        elif path.is_dir() and not _is_image(path):
            images = sorted(p for p in path.iterdir() if _is_image(p))
            if not images:
                raise InputError(
                    f"The folder {item} holds no image file napari-n2n reads. Give a folder of images, "
                    "or the images themselves."
                )
            found += images
        else:
            found.append(path)
    unique = list(dict.fromkeys(found))
    if not unique:
        raise InputError(f"No input given: add {flag} with an image, a folder or a pattern.")
    return unique


def output_for(source: Path, out_dir: Path, *, suffix: str = "", ext: str | None = None) -> Path:
    """``out_dir / (name + suffix + ext)``: the output of ``source`` (``ext`` default: the input's own)."""
    stem, own = split_suffix(source.name)
    if ext and not ext.startswith("."):
        ext = "." + ext
    return out_dir / f"{stem}{suffix}{ext or own}"


def require_distinct_names(jobs: list[tuple[Path, Path]]) -> None:
    """Refuse a batch in which two inputs would be written to the same output."""
    seen: dict[str, Path] = {}
    for source, out in jobs:
        key = os.path.normcase(os.path.abspath(out))
        if key in seen:
            raise InputError(
                f"{seen[key]} and {source} would both be written to {out}. Give them different names, "
                "or run them in two commands with different --output-dir."
            )
        seen[key] = source


class Report:
    """The files of a batch that were written, skipped and failed; failures are printed as they happen."""

    def __init__(self, total: int):
        self.total = total
        self.written = []
        self.skipped = []
        self.failed = []

    def fail(self, source: Path, exc: BaseException) -> None:
        text = getattr(exc, "strerror", None) if isinstance(exc, OSError) else None
        text = (
            str(exc)
            if not text
            else f"{text} ({exc.filename})"
            if getattr(exc, "filename", None)
            else text
        )
        self.failed.append((source, text))
        print(f"napari-n2n: error: {source}: {text}", file=sys.stderr, flush=True)

    def summary(self) -> str:
        parts = [f"{len(self.written)} of {self.total} written"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped (output exists)")
        if self.failed:
            parts.append(f"{len(self.failed)} failed: " + ", ".join(str(s) for s, _ in self.failed))
        return "; ".join(parts)
