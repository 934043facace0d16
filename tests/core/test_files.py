"""Safe writes (core/files.py): checked before the work, atomic, never replacing what it should not."""

import os
import stat
import threading

import pytest

from napari_n2n.core.errors import OutputError
from napari_n2n.core.files import Destination, split_suffix, write_with_fallback

from .._fs import in_tiny_tmpfs, make_immutable, read_only, undo_immutable


def _write(text):
    return lambda tmp: tmp.write_text(text)


def test_a_new_file_is_written_whole_and_leaves_no_temporary(tmp_path):
    dest = Destination(tmp_path / "out.txt")
    assert dest.write(_write("hello")) == tmp_path / "out.txt"
    assert (tmp_path / "out.txt").read_text() == "hello"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_an_existing_file_is_replaced_only_when_allowed(tmp_path):
    (tmp_path / "out.txt").write_text("old")
    with pytest.raises(OutputError, match="already exists. To replace it, add --overwrite"):
        Destination(tmp_path / "out.txt", overwrite_hint="add --overwrite")
    Destination(tmp_path / "out.txt", overwrite=True).write(_write("new"))
    assert (tmp_path / "out.txt").read_text() == "new"


@pytest.mark.parametrize("link", ["symlink", "hardlink", "same"])
def test_an_input_is_never_a_destination_by_path_or_inode(tmp_path, link):
    src = tmp_path / "input.tif"
    src.write_text("precious")
    other = tmp_path / "other.tif"
    if link == "symlink":
        other.symlink_to(src)
    elif link == "hardlink":
        os.link(src, other)
    else:
        other = tmp_path / "." / "input.tif"
    with pytest.raises(OutputError, match="also an input"):
        Destination(other, overwrite=True, inputs=[src])
    assert src.read_text() == "precious"


def test_folders_devices_and_missing_folders_are_refused(tmp_path):
    (tmp_path / "d.tif").mkdir()
    with pytest.raises(OutputError, match="it is a folder"):
        Destination(tmp_path / "d.tif", overwrite=True)
    (tmp_path / "null.tif").symlink_to(os.devnull)
    with pytest.raises(OutputError, match="device or other special file"):
        Destination(tmp_path / "null.tif", overwrite=True)
    with pytest.raises(OutputError, match="does not exist"):
        Destination(tmp_path / "no" / "x.tif")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_symlink_destination_replaces_its_target_and_stays_a_link(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    (tmp_path / "link.txt").symlink_to(target)
    Destination(tmp_path / "link.txt", overwrite=True).write(_write("new"))
    assert (tmp_path / "link.txt").is_symlink() and target.read_text() == "new"


def test_a_read_only_folder_is_refused_before_the_work(tmp_path):
    with read_only(tmp_path / "ro") as folder:
        with pytest.raises(
            OutputError, match="Cannot write the model file .*(protected|permission|read-only)"
        ):
            Destination(os.path.join(folder, "m.n2n"), what="model file")
        assert os.listdir(folder) == []


def test_an_immutable_existing_file_is_refused_even_with_overwrite(tmp_path):
    path = tmp_path / "m.n2n"
    path.write_text("model")
    make_immutable(path)
    try:
        with pytest.raises(OutputError, match="write-protected"):
            Destination(path, overwrite=True)
    finally:
        undo_immutable(path)


def test_the_file_mode_follows_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        Destination(tmp_path / "a.txt").write(_write("x"))
        os.umask(0o077)
        Destination(tmp_path / "b.txt").write(_write("x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o664
    assert stat.S_IMODE(os.stat(tmp_path / "b.txt").st_mode) == 0o600


def test_a_failed_or_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.tif"
    path.write_text("old result")

    def half_then(exc):
        def writer(tmp):
            tmp.write_text("half")
            raise exc

        return writer

    for exc in (OSError(28, "No space left on device"), KeyboardInterrupt()):
        with pytest.raises((OutputError, KeyboardInterrupt)) as info:
            Destination(path, overwrite=True).write(half_then(exc))
        if isinstance(exc, OSError):
            assert "the disk is full" in str(info.value)
        assert path.read_text() == "old result" and os.listdir(tmp_path) == ["out.tif"]


def test_two_runs_writing_one_path_do_not_replace_each_other(tmp_path):
    """Both checked the (absent) path before their long work; the second to finish must not replace the first."""
    first, second = Destination(tmp_path / "m.n2n"), Destination(tmp_path / "m.n2n")
    first.write(_write("run 1"))
    with pytest.raises(OutputError, match="another process wrote that file"):
        second.write(_write("run 2"))
    assert (tmp_path / "m.n2n").read_text() == "run 1"
    # with --overwrite too: the file that was there at the check is replaced, not one written since
    third, fourth = (
        Destination(tmp_path / "m.n2n", overwrite=True),
        Destination(tmp_path / "m.n2n", overwrite=True),
    )
    third.write(_write("run 3"))
    saved, why = write_with_fallback(fourth, lambda d: d.write(_write("run 4")))
    assert (tmp_path / "m.n2n").read_text() == "run 3"
    assert (
        saved == tmp_path / "m-1.n2n" and saved.read_text() == "run 4" and "another process" in why
    )


def test_concurrent_saves_in_one_folder_use_their_own_temporary_files(tmp_path):
    errors, barrier = [], threading.Barrier(8)

    def save(i):
        try:
            dest = Destination(tmp_path / f"m{i}.n2n")
            barrier.wait()
            dest.write(lambda tmp: tmp.write_bytes(bytes([i]) * 200_000))
        except Exception as exc:  # collected: the test fails on any
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(os.listdir(tmp_path)) == sorted(f"m{i}.n2n" for i in range(8))
    assert all((tmp_path / f"m{i}.n2n").read_bytes() == bytes([i]) * 200_000 for i in range(8))


def test_fallback_when_the_folder_became_unwritable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    dest = Destination(tmp_path / "sub" / "m.n2n")  # checked before the work: writable then
    with read_only(tmp_path / "sub"):
        saved, why = write_with_fallback(dest, lambda d: d.write(_write("model")))
    assert saved == tmp_path / "m.n2n" and saved.read_text() == "model" and why


def test_free_space_is_checked_and_a_full_disk_during_the_write_loses_nothing(tmp_path):
    script = """
import os, sys
from napari_n2n.core.errors import OutputError
from napari_n2n.core.files import Destination
d = sys.argv[1]
open(os.path.join(d, "old.tif"), "w").write("old result")
try:
    Destination(os.path.join(d, "big.tif")).require_space(10_000_000)
except OutputError as exc:
    print("SPACE", exc)
dest = Destination(os.path.join(d, "old.tif"), overwrite=True)
open(os.path.join(d, "filler"), "wb").write(b"x" * 150_000)   # the disk fills after the check
try:
    dest.write(lambda tmp: tmp.write_bytes(b"y" * 200_000))
except OutputError as exc:
    print("FULL", exc)
print("LEFT", sorted(os.listdir(d)), open(os.path.join(d, "old.tif")).read())
"""
    proc = in_tiny_tmpfs(tmp_path / "mnt", 256, script, str(tmp_path / "mnt"))
    assert proc.returncode == 0, proc.stderr
    assert "SPACE" in proc.stdout and "disk has" in proc.stdout
    assert "FULL" in proc.stdout and "the disk is full" in proc.stdout
    assert "LEFT ['filler', 'old.tif'] old result" in proc.stdout


def test_fallback_names_keep_compound_suffixes():
    assert split_suffix("out.ome.tif") == ("out", ".ome.tif")
    assert split_suffix("m.n2n") == ("m", ".n2n")
    assert split_suffix("noext") == ("noext", "")


def test_a_folder_output_is_staged_and_replaced_whole(tmp_path):
    """Folder outputs (zarr stores): written beside, renamed into place; an old one replaced only when allowed."""

    def store(text):
        def writer(tmp):
            (tmp / "0.0").write_text(text)
            (tmp / ".zarray").write_text("{}")

        return writer

    Destination(tmp_path / "out.zarr", folder=True).write(store("first"))
    assert (tmp_path / "out.zarr" / "0.0").read_text() == "first"
    with pytest.raises(OutputError, match="folder already exists"):
        Destination(tmp_path / "out.zarr", folder=True)
    with pytest.raises(OutputError, match="the disk is full"):
        Destination(tmp_path / "out.zarr", folder=True, overwrite=True).write(
            lambda tmp: (_ for _ in ()).throw(OSError(28, "No space left on device"))
        )
    assert (tmp_path / "out.zarr" / "0.0").read_text() == "first"
    Destination(tmp_path / "out.zarr", folder=True, overwrite=True).write(store("second"))
    assert (tmp_path / "out.zarr" / "0.0").read_text() == "second"
    assert sorted(os.listdir(tmp_path)) == ["out.zarr"]


def _writer_that_hangs(path):
    """A real process that starts writing ``path`` through a Destination and never ends."""
    import subprocess
    import sys

    import napari_n2n

    code = (
        "import sys, time\n"
        "from napari_n2n.core.files import Destination\n"
        "def writer(tmp):\n"
        "    tmp.write_text('half')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(120)\n"
        f"Destination({str(path)!r}).write(writer)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(napari_n2n.__file__)))
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "writing"
    return proc


def test_a_temporary_file_a_kill_left_is_removed_by_the_next_save_to_its_folder(tmp_path):
    from napari_n2n.core import files

    running = _writer_that_hangs(tmp_path / "b.tif")
    killed = _writer_that_hangs(tmp_path / "a.tif")
    killed.kill()  # SIGKILL: no clean-up ran
    killed.wait()
    try:
        left = sorted(p.name for p in tmp_path.iterdir())
        assert len(left) == 2 and all(".part-" in n for n in left)
        # a temporary file of another host (a shared disk) cannot be judged from here
        foreign = tmp_path / f".c.part-{killed.pid}-zzzzzz-0123abcd.tif"
        foreign.write_text("another host's")
        files._SWEPT.discard(os.path.realpath(tmp_path))  # this process's first save there
        Destination(tmp_path / "out.tif").write(_write("x"))
        remaining = sorted(p.name for p in tmp_path.iterdir())
        # the killed run's file is gone; the running one's and the other host's stay
        assert not any(n.startswith(".a.part-") for n in remaining)
        assert any(n.startswith(f".b.part-{running.pid}-") for n in remaining)
        assert foreign.name in remaining and "out.tif" in remaining
    finally:
        running.kill()
        running.wait()
