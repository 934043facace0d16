"""Model files are checked whole before anything is built from them; saving never loses a file or a model."""

import json
import os
import resource
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from napari_n2n.core.data.normalization import Normalization
from napari_n2n.core.errors import DenoisingError, ModelFileError, OutputError
from napari_n2n.core.inference.denoiser import Denoiser
from napari_n2n.core.model import UNet, UNetConfig


@pytest.fixture
def model_path(tmp_path):
    unet = UNetConfig(depth=2, base_channels=4)
    torch.manual_seed(0)
    den = Denoiser(
        [UNet(unet)],
        [[0]],
        Normalization((100.0,), (50.0,)),
        unet=unet,
        axes="YX",
        history={"step": [1, 2], "train_loss": [0.5, 0.4], "steps_done": 2},
    )
    return den.save(tmp_path / "m.n2n")


def craft(path, out, *, meta=None, payload=None, tensors=None):
    """A copy of the model file ``path`` at ``out`` with metadata, payload fields or tensors changed."""
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata())
    data = load_file(str(path))
    body = json.loads(metadata["payload"])
    body.update(payload or {})
    metadata.update(meta or {}, payload=json.dumps(body))
    data = tensors(data) if tensors else data
    save_file(data, str(out), metadata=metadata)
    return out


@pytest.mark.parametrize(
    "case,meta,payload,message",
    [
        (
            "format_version not a number",
            {"format_version": "two"},
            None,
            "unreadable format version",
        ),
        ("format_version negative", {"format_version": "-3"}, None, "unreadable format version"),
        (
            "empty normalisation lists",
            None,
            {"normalization": {"offset": [], "scale": []}},
            "normalisation offset",
        ),
        (
            "scale 0",
            None,
            {"normalization": {"offset": [100.0], "scale": [0.0]}},
            "scale .* not positive",
        ),
        (
            "scale NaN",
            None,
            {"normalization": {"offset": [100.0], "scale": [float("nan")]}},
            "normalisation scale",
        ),
        ("axes a number", None, {"axes": 3}, "axes 3 are not a string"),
        ("axes bad letters", None, {"axes": "QQ"}, "axes 'QQ' are not valid"),
        (
            "3D network without Z",
            None,
            {
                "unet": {
                    "in_channels": 1,
                    "out_channels": 1,
                    "ndim": 3,
                    "depth": 2,
                    "base_channels": 4,
                },
                "axes": "YX",
            },
            "3D network",
        ),
        ("channel groups", None, {"channel_groups": [[0], [0]]}, "channel groups"),
        (
            "history malformed",
            None,
            {"history": {"step": "many", "train_loss": [1]}},
            "history 'step'",
        ),
        (
            "architecture larger than the tensors",
            None,
            {
                "unet": {
                    "in_channels": 1,
                    "out_channels": 1,
                    "ndim": 2,
                    "depth": 6,
                    "base_channels": 4096,
                    "max_channels": 4096,
                }
            },
            "has shape .* needs",
        ),
        ("unet sizes not numbers", None, {"unet": {"depth": "2"}}, "U-Net description is invalid"),
        ("payload not an object", None, None, None),
    ],
)
def test_bad_metadata_is_refused_with_one_line_that_names_the_file(
    model_path, tmp_path, case, meta, payload, message
):
    out = tmp_path / "bad.n2n"
    if case == "payload not an object":
        with safe_open(str(model_path), framework="pt") as f:
            metadata = dict(f.metadata(), payload="[1, 2]")
        save_file(load_file(str(model_path)), str(out), metadata=metadata)
        message = "malformed"
    else:
        craft(model_path, out, meta=meta, payload=payload)
    with pytest.raises(ModelFileError, match=message) as info:
        Denoiser.load(out)
    text = str(info.value)
    assert str(out) in text and "\n" not in text
    # the file is blamed, not the image or the user
    assert "the image" not in text and "your axes" not in text


def test_a_small_file_asking_for_a_huge_network_is_refused_before_it_is_built(model_path, tmp_path):
    out = craft(
        model_path,
        tmp_path / "huge.n2n",
        payload={
            "axes": "ZYX",
            "unet": {
                "in_channels": 1,
                "out_channels": 1,
                "ndim": 3,
                "depth": 6,
                "base_channels": 4096,
                "max_channels": 4096,
            },
        },
    )
    assert os.path.getsize(out) < 200_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(ModelFileError, match="U-Net description needs"):
        Denoiser.load(out)
    assert time.perf_counter() - t0 < 2
    # KiB: nothing large allocated
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000


def test_weights_that_are_not_floats_or_not_finite_are_refused(model_path, tmp_path):
    def to_int8(d):
        return {k: (v * 10).to(torch.int8) for k, v in d.items()}

    def with_nan(d):
        d = dict(d)
        d["model0.head.bias"] = torch.tensor([float("nan")])
        return d

    with pytest.raises(ModelFileError, match="holds I8 values; weights must be floating point"):
        Denoiser.load(craft(model_path, tmp_path / "int8.n2n", tensors=to_int8))
    with pytest.raises(ModelFileError, match="NaN or Inf .*model0.head.bias"):
        Denoiser.load(craft(model_path, tmp_path / "nan.n2n", tensors=with_nan))


def test_a_model_that_predicts_nan_does_not_report_success(model_path):
    den = Denoiser.load(model_path)
    with torch.no_grad():
        den.models[0].head.weight.fill_(1e38)  # finite weights whose output overflows
        den.models[0].down[0][0].weight.fill_(1e38)
    with pytest.raises(DenoisingError, match="NaN or Inf"):
        den.predict(np.random.default_rng(0).random((32, 32)).astype(np.float32) * 200)


def test_save_never_replaces_a_file_unless_told(model_path, tmp_path):
    den = Denoiser.load(model_path)
    with pytest.raises(OutputError, match="already exists. To replace it, pass overwrite=True"):
        den.save(model_path)
    den.save(model_path, overwrite=True)
    (tmp_path / "folder.n2n").mkdir()
    with pytest.raises(OutputError, match="it is a folder"):
        den.save(tmp_path / "folder.n2n", overwrite=True)


def test_model_files_follow_the_umask(model_path, tmp_path):
    den = Denoiser.load(model_path)
    old = os.umask(0o022)
    try:
        path = den.save(tmp_path / "shared.n2n")
    finally:
        os.umask(old)
    # colleagues can read it (it used to be 0600)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_two_processes_saving_one_path_keep_one_model_and_say_so(model_path, tmp_path):
    """Two trainings that checked the same (absent) path both finish: one file each, nothing replaced silently."""
    script = (
        "import sys; from napari_n2n.core.inference.denoiser import Denoiser; from napari_n2n.core.files import Destination,"
        " write_with_fallback; d = Destination(sys.argv[2], what='model file'); den = Denoiser.load(sys.argv[1]);"
        " import time; time.sleep(1.0); print(write_with_fallback(d, den.save))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(model_path), str(tmp_path / "same.n2n")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sorted(os.listdir(tmp_path)) == ["m.n2n", "same-1.n2n", "same.n2n"]
    assert sum("another process" in o for o, _ in outs) == 1
    for name in ("same.n2n", "same-1.n2n"):
        Denoiser.load(tmp_path / name)


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_an_empty_or_truncated_zoo_zip_is_called_a_damaged_package(tmp_path, damage):
    import zipfile

    from napari_n2n.loading import load_model

    package = tmp_path / "denoiser.bioimageio.zip"
    with zipfile.ZipFile(package, "w") as zf:
        zf.writestr("rdf.yaml", "type: model\nname: x\n" * 50)
        zf.writestr("weights.pt", np.random.default_rng(0).bytes(4096))
    raw = package.read_bytes()
    package.write_bytes(b"" if damage == "empty" else raw[: len(raw) // 2])
    match = "is empty \\(0 bytes\\)" if damage == "empty" else "is a damaged zip file"
    with pytest.raises(ModelFileError, match=match) as info:
        load_model(package)
    assert "not a napari-n2n model file" not in str(info.value) and str(package) in str(info.value)
    # a truncated zip under another name is recognised by its first bytes
    if damage == "truncated":
        other = tmp_path / "model.n2n"
        other.write_bytes(package.read_bytes())
        with pytest.raises(ModelFileError, match="is a damaged zip file"):
            load_model(other)
