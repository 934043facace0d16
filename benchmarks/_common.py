"""Shared helpers of the benchmark scripts: thread pinning, machine description, Markdown
tables, and writing one section of ``docs/benchmarks.md`` between markers.

Each script owns one section (``<!-- BEGIN name -->`` … ``<!-- END name -->``) of the
Markdown file and rewrites only that section, so the scripts can be rerun independently.

Threads are pinned *before* numpy/torch are imported (``pin_threads``): on a small machine
shared with other work, oversubscribed OpenMP threads make torch up to 10× slower and the
timings meaningless, so every method (ours and the peers') runs with the same fixed count.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)

DOC_PREAMBLE = """# Benchmarks

Figures measured by the scripts in `benchmarks/` (see `benchmarks/README.md` for how to rerun
them). Every section is rewritten by the script named in its header, with the command that made
it, the date and the machine. Numbers from different sections (or machines) are not
comparable in absolute terms; within a table all methods ran in the same process, one after
the other, with the same thread count.

"""


def pin_threads(n: int) -> None:
    """Fix the number of compute threads of OpenMP/BLAS (env) and torch, if already importable.

    Call before importing numpy-heavy modules; calling again after torch is imported still
    sets torch's intra-op threads.
    """
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    if "torch" in sys.modules or _can_import("torch"):
        import torch

        torch.set_num_threads(n)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set (it can be set only once per process)
            pass


def _can_import(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def total_ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def machine(threads: int | None = None, device: str = "cpu") -> str:
    """One line: CPU model, cores, RAM, OS, Python, torch and thread count (and GPU if used)."""
    import numpy as np
    import torch

    ram = total_ram_gb()
    parts = [
        f"{cpu_model()}, {os.cpu_count()} cores",
        f"{ram:.0f} GB RAM" if ram else None,
        f"{platform.system()} {platform.release().split('-')[0]}",
        f"Python {platform.python_version()}",
        f"torch {torch.__version__}",
        f"numpy {np.__version__}",
        f"{threads if threads is not None else torch.get_num_threads()} compute thread(s)",
    ]
    if hasattr(os, "getloadavg"):
        parts.append(
            f"load average {os.getloadavg()[0]:.1f} when the table was written, the benchmark's own processes included"
        )
    if device.startswith("cuda") and torch.cuda.is_available():
        parts.append(f"GPU {torch.cuda.get_device_name(0)}")
    return "; ".join(p for p in parts if p)


def command() -> str:
    """The command line that runs this script, relative to the repository root."""
    argv = list(sys.argv)
    try:
        argv[0] = str(Path(argv[0]).resolve().relative_to(ROOT))
    except ValueError:
        pass
    return "python " + " ".join(shlex.quote(a) for a in argv)


def code_version() -> str:
    """napari-n2n version, git commit, and a fingerprint of ``src/`` when it has uncommitted changes."""
    import hashlib
    import subprocess

    try:
        from napari_n2n import __version__
    except ImportError:  # pragma: no cover
        __version__ = "?"
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"napari-n2n {__version__}"
    if not dirty:
        return f"napari-n2n {__version__} at commit {rev}"
    h = hashlib.sha256()
    for f in sorted((ROOT / "src").rglob("*.py")):
        h.update(f.read_bytes())
    return f"napari-n2n {__version__} at commit {rev} with uncommitted changes in src/ (sha256 of src/**/*.py: {h.hexdigest()[:10]})"


def today() -> str:
    return _dt.datetime.now().strftime("%Y-%m-%d %H:%M")


def header(
    title: str,
    *,
    threads: int | None,
    budget: str | None = None,
    device: str = "cpu",
    level: int = 2,
    extra: list[str] | None = None,
) -> str:
    """The heading and the provenance lines that open every table section."""
    lines = [
        f"{'#' * level} {title}",
        "",
        f"- Command: `{command()}`",
        f"- Date: {today()}",
        f"- Machine: {machine(threads, device)}",
        f"- Code: {code_version()}",
    ]
    if budget:
        lines.append(f"- Budget: {budget}")
    lines += [f"- {e}" for e in (extra or [])]
    return "\n".join(lines) + "\n"


def fmt(v, digits: int = 2) -> str:
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return f"{v:,}"
    try:
        import math

        if math.isnan(v):
            return "—"
    except TypeError:
        return str(v)
    return f"{v:.{digits}f}"


def md_table(headers: list[str], rows: list[list], *, align: str | None = None) -> str:
    """A Markdown table; ``align`` is one of ``l``/``r``/``c`` per column (default: first left, rest right)."""
    align = align or ("l" + "r" * (len(headers) - 1))
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    for row in rows:
        out.append("| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in row) + " |")
    return "\n".join(out) + "\n"


def write_section(name: str, text: str, path: Path | str | None = None) -> Path:
    """Replace (or append) the section ``name`` of the Markdown file ``path`` with ``text``."""
    path = Path(path) if path else DOCS
    path.parent.mkdir(parents=True, exist_ok=True)
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    doc = path.read_text() if path.exists() else DOC_PREAMBLE
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        doc = head + block + tail
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    path.write_text(doc)
    return path


def run_tasks(worker, tasks: list, jobs: int, done) -> None:
    """``done(worker(task))`` for every task: ``jobs`` at a time in spawned processes, or here if ``jobs`` is 1.

    Results arrive in the order the tasks finish.
    """
    if jobs > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(jobs) as pool:
            for r in pool.imap_unordered(worker, tasks):
                done(r)
    else:
        for t in tasks:
            done(worker(t))


class Stopwatch:
    """Wall and process-CPU seconds of a block: ``with Stopwatch() as sw: ...; sw.wall, sw.cpu``."""

    def __enter__(self):
        import time

        self._t, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        import time

        self.wall = time.perf_counter() - self._t
        self.cpu = time.process_time() - self._c
        return False
