"""Batch runs of napari-n2n predict: globs, folders and lists; metadata kept; a broken file reported while
the others are written; --skip-existing; OME-Zarr and NIfTI outputs; --resume."""

import os

import numpy as np
import pytest
import tifffile

from napari_n2n.cli import main
from napari_n2n.io import read_image

from ._args import tiny_args

TINY = tiny_args(steps=3, batch=2)


@pytest.fixture
def raw(tmp_path, camera_crop):
    """raw/ with three small ZYX stacks (voxel size in their ImageJ metadata), a broken .tif, and a model."""
    folder = tmp_path / "raw"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        stack = (
            camera_crop[None, :64, : 80 + 16 * i] + rng.normal(0, 20, (2, 64, 80 + 16 * i))
        ).astype(np.float32)
        tifffile.imwrite(
            folder / f"cell{i}.tif",
            stack,
            imagej=True,
            resolution=(1 / 0.2, 1 / 0.2),
            metadata={"axes": "ZYX", "spacing": 0.8, "unit": "um"},
        )
    (folder / "cell3.tif").write_bytes(b"II*\x00 truncated by a full disk")
    assert (
        main(
            [
                "train",
                "--input",
                str(folder / "cell0.tif"),
                "--pair-neighbours",
                "Z",
                "--pairing",
                "even-odd",
                "--axes",
                "ZYX",
                "--model",
                str(tmp_path / "m.n2n"),
                *TINY,
            ]
        )
        == 0
    )
    (tmp_path / "den").mkdir()
    return tmp_path


def test_a_glob_writes_every_readable_file_with_its_metadata_and_reports_the_broken_one(
    raw, capsys
):
    code = main(
        [
            "predict",
            "--model",
            str(raw / "m.n2n"),
            "--input",
            str(raw / "raw" / "*.tif"),
            "--output-dir",
            str(raw / "den"),
            "--suffix",
            "_n2n",
            "--tile",
            "64",
        ]
    )
    assert code == 2
    out, err = capsys.readouterr()
    assert "cell3.tif: " in err and "not a readable TIFF" in err and "Traceback" not in err
    assert "3 of 4 written; 1 failed: " in out
    for i in range(3):
        image = read_image(raw / "den" / f"cell{i}_n2n.tif")
        assert image.axes == "ZYX" and image.shape == (2, 64, 80 + 16 * i) and image.unit == "µm"
        assert image.pixel_size == pytest.approx({"Z": 0.8, "Y": 0.2, "X": 0.2})
    # the rerun of the batch leaves finished files alone and still reports the broken one
    before = {p.name: p.stat().st_mtime_ns for p in (raw / "den").iterdir()}
    assert (
        main(
            [
                "predict",
                "--model",
                str(raw / "m.n2n"),
                "--input",
                str(raw / "raw"),
                "--output-dir",
                str(raw / "den"),
                "--suffix",
                "_n2n",
                "--skip-existing",
                "--quiet",
            ]
        )
        == 2
    )
    assert {p.name: p.stat().st_mtime_ns for p in (raw / "den").iterdir()} == before
    assert "0 of 4 written; 3 skipped (output exists); 1 failed" in capsys.readouterr().out
    # one file of an array job: nothing to do when its result exists
    assert (
        main(
            [
                "predict",
                "--model",
                str(raw / "m.n2n"),
                "--input",
                str(raw / "raw" / "cell1.tif"),
                "--output-dir",
                str(raw / "den"),
                "--suffix",
                "_n2n",
                "--skip-existing",
            ]
        )
        == 0
    )
    assert "skipped" in capsys.readouterr().out


def test_a_list_of_files_to_ome_zarr_and_nifti(raw, capsys):
    nib = pytest.importorskip("nibabel")
    pytest.importorskip("zarr")
    (raw / "list.txt").write_text(
        f"# two of them\n{raw / 'raw' / 'cell1.tif'}\n{raw / 'raw' / 'cell2.tif'}\n"
    )
    assert (
        main(
            [
                "predict",
                "--model",
                str(raw / "m.n2n"),
                "--input-list",
                str(raw / "list.txt"),
                "--output-dir",
                str(raw / "den"),
                "--output-format",
                "ome.zarr",
                "--quiet",
            ]
        )
        == 0
    )
    image = read_image(raw / "den" / "cell2.ome.zarr")
    assert image.axes == "ZYX" and image.pixel_size == pytest.approx({"Z": 0.8, "Y": 0.2, "X": 0.2})
    assert image.unit == "µm" and image.shape == (2, 64, 112)
    # NIfTI in, NIfTI out: the affine is kept
    affine = np.array([[0, -0.9, 0, 30], [0.7, 0, 0, -10], [0, 0, 1.5, 4], [0, 0, 0, 1]])
    vol = np.moveaxis(tifffile.imread(raw / "raw" / "cell0.tif"), 0, -1)[
        :, :, :2
    ].copy()  # X Y Z (2 slices)
    nib.save(nib.Nifti1Image(vol, affine), raw / "raw" / "head.nii.gz")
    assert (
        main(
            [
                "predict",
                "--model",
                str(raw / "m.n2n"),
                "--input",
                str(raw / "raw" / "head.nii.gz"),
                "--output",
                str(raw / "den" / "head.nii.gz"),
                "--quiet",
            ]
        )
        == 0
    )
    back = nib.load(raw / "den" / "head.nii.gz")
    np.testing.assert_allclose(back.affine, affine, atol=1e-6)
    assert back.shape == vol.shape and back.get_data_dtype() == np.float32


def test_resume_an_interrupted_ome_zarr_run_from_the_command_line(raw, capsys):
    pytest.importorskip("zarr")
    from napari_n2n.core.progress import drain
    from napari_n2n.ondisk.output import partial_path, predict_to_zarr_iter

    out = raw / "den" / "c.ome.zarr"
    argv = [
        "predict",
        "--model",
        str(raw / "m.n2n"),
        "--input",
        str(raw / "raw" / "cell2.tif"),
        "--output",
        str(out),
        "--chunks",
        "1,32,32",
        "--tile",
        "32",
        "--quiet",
    ]
    # a run killed after 2 units
    drain(
        predict_to_zarr_iter(
            raw / "m.n2n",
            raw / "raw" / "cell2.tif",
            out,
            chunks=(1, 32, 32),
            tile=32,
            unit_voxels=32 * 32,
            max_units=2,
        )
    )
    assert partial_path(out).is_dir() and not out.exists()
    assert main(argv) == 2
    assert "run it again with --resume" in capsys.readouterr().err
    # the unit size follows the chunks; the interrupted run used units of one chunk
    assert main(argv + ["--resume"]) == 2 and "other settings" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0 and out.is_dir() and not partial_path(out).exists()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--input", "raw/cell0.tif", "raw/cell1.tif", "--output", "x.tif"], "Use --output-dir"),
        (["--input", "raw/*.png", "--output-dir", "den"], "matches no image file"),
        (
            ["--input", "raw/cell0.tif", "--output", "x.tif", "--resume"],
            "give an output ending in .ome.zarr",
        ),
        (
            ["--input", "raw/cell0.tif", "--output", "x.tif", "--workers", "2"],
            "give an output ending in .ome.zarr",
        ),
        (["--input", "raw/cell0.tif", "--output-dir", "no/where"], "parent folder no does not"),
        (["--input", "raw/cell0.tif", "--output", "x.tif", "--output-dir", "den"], "not both"),
    ],
)
def test_batch_options_that_do_not_fit(raw, capsys, argv, message):
    os.chdir(raw)
    (raw / "other").mkdir()
    tifffile.imwrite(raw / "other" / "cell0.tif", np.zeros((8, 8), np.float32))
    assert main(["predict", "--model", "m.n2n", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_two_inputs_with_one_output_name_are_refused(raw, capsys):
    os.chdir(raw)
    (raw / "other").mkdir()
    tifffile.imwrite(raw / "other" / "cell0.tif", np.zeros((8, 8), np.float32))
    assert (
        main(
            [
                "predict",
                "--model",
                "m.n2n",
                "--input",
                "raw/cell0.tif",
                "other/cell0.tif",
                "--output-dir",
                "den",
            ]
        )
        == 2
    )
    assert "would both be written to" in capsys.readouterr().err


def test_train_on_several_images_of_different_sizes(raw, capsys):
    """Three stacks of different widths (and a pattern for them) train one model; mixed axes are refused."""
    assert (
        main(
            [
                "train",
                "--input",
                str(raw / "raw" / "cell[0-2].tif"),
                "--pair-neighbours",
                "Z",
                "--model",
                str(raw / "multi.n2n"),
                "--steps",
                "3",
                "--patch",
                "32",
                "--batch",
                "4",
                "--depth",
                "2",
                "--base-channels",
                "8",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "3 images, patches drawn in proportion to their size" in err
    tifffile.imwrite(raw / "flat.tif", np.zeros((64, 64), np.float32))
    assert (
        main(
            [
                "train",
                "--input",
                str(raw / "raw" / "cell0.tif"),
                str(raw / "flat.tif"),
                "--mode",
                "nb2nb",
                "--model",
                str(raw / "mixed.n2n"),
                *TINY,
            ]
        )
        == 2
    )
    assert "different axes: ZYX" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--input",
                str(raw / "raw" / "cell0.tif"),
                str(raw / "raw" / "cell1.tif"),
                "--target",
                str(raw / "raw" / "cell2.tif"),
                "--model",
                str(raw / "m2.n2n"),
                *TINY,
            ]
        )
        == 2
    )
    assert "give one --target per input" in capsys.readouterr().err


@pytest.mark.parametrize("differ", ["voxel size", "orientation"])
def test_training_volumes_of_different_voxel_sizes_or_orientations_are_named(
    tmp_path, capsys, differ
):
    """Issue 23 item 16: two NIfTI volumes whose affines differ train, with a warning naming both."""
    nib = pytest.importorskip("nibabel")
    rng = np.random.default_rng(0)
    first, second = np.diag([1.0, 1.0, 2.0, 1.0]), np.diag([1.0, 1.0, 2.0, 1.0])
    if differ == "voxel size":
        second[2, 2] = 3.0
    else:
        second[0, 0] = -1.0  # left and right swapped: the same voxel size, turned
    paths = []
    for name, affine in (("one", first), ("two", second)):
        volume = (100 + 20 * rng.standard_normal((64, 64, 4))).astype(np.float32)
        nib.save(nib.Nifti1Image(volume, affine), tmp_path / f"{name}.nii.gz")
        paths.append(str(tmp_path / f"{name}.nii.gz"))
    argv = ["train", "--input", *paths, "--mode", "nb2nb", "--axes", "XYS"]
    argv += ["--model", str(tmp_path / "m.n2n"), *TINY]
    assert main(argv) == 0
    err = capsys.readouterr().err
    if differ == "voxel size":
        assert "different voxel sizes" in err and "Z 2" in err and "Z 3" in err
    else:
        assert "different orientations" in err and "as_closest_canonical" in err
    assert "one.nii.gz" in err and "two.nii.gz" in err


def test_training_volumes_of_one_geometry_get_no_geometry_warning(tmp_path, capsys):
    nib = pytest.importorskip("nibabel")
    rng = np.random.default_rng(1)
    paths = []
    for name in ("one", "two"):
        volume = (100 + 20 * rng.standard_normal((64, 64, 4))).astype(np.float32)
        nib.save(nib.Nifti1Image(volume, np.diag([1.0, 1.0, 2.0, 1.0])), tmp_path / f"{name}.nii")
        paths.append(str(tmp_path / f"{name}.nii"))
    argv = ["train", "--input", *paths, "--mode", "nb2nb", "--axes", "XYS"]
    assert main([*argv, "--model", str(tmp_path / "m.n2n"), *TINY]) == 0
    err = capsys.readouterr().err
    assert "voxel sizes" not in err and "orientations" not in err
