from pathlib import Path

import numpy as np
import pytest

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.errors import InputError, ModelFileError
from napari_n2n.core.inference.denoiser import Denoiser
from napari_n2n.core.inference.tiling import axis_weights, tile_starts
from napari_n2n.core.metrics import psnr
from napari_n2n.core.training.train import Trainer

from .._helpers import TRAIN_TINY


@pytest.mark.parametrize(
    "size,tile,overlap", [(100, 32, 8), (512, 512, 32), (37, 64, 8), (513, 128, 32)]
)
def test_tiles_cover_and_weights_sum_to_one(size, tile, overlap):
    starts = tile_starts(size, tile, overlap)
    covered = np.zeros(size)
    ws = axis_weights(size, tile, starts, overlap)
    t = min(tile, size)
    for s, w in zip(starts, ws):
        covered[s : s + t] += w
        assert s + t <= size
    np.testing.assert_allclose(covered, 1.0, rtol=1e-5)
    if len(starts) > 1:
        assert min(b - a for a, b in zip(starts, starts[1:])) <= t - overlap


@pytest.mark.slow
def test_tiled_prediction_matches_untiled(n2n_result, gaussian_pair):
    den = n2n_result["denoiser"]
    _, a, _ = gaussian_pair
    whole = den.predict(a, tile=256)  # one tile
    tiled = den.predict(a, tile=128, overlap=48)
    assert whole.shape == tiled.shape == a.shape
    # seams would show as large errors on tile borders; the blend keeps every pixel within 1 % of the range
    assert np.abs(whole - tiled).max() < 0.01 * 255
    assert psnr(whole, tiled, data_range=255) > 55


@pytest.mark.slow
def test_checkpoint_round_trip_is_exact(n2n_result, gaussian_pair, tmp_path):
    den = n2n_result["denoiser"]
    _, a, _ = gaussian_pair
    path = den.save(tmp_path / "m.n2n")
    loaded = Denoiser.load(path)
    np.testing.assert_array_equal(loaded.predict(a), den.predict(a))
    assert loaded.config == den.config and loaded.norm == den.norm and loaded.axes == "YX"
    assert loaded.history["steps_done"] == 400 and len(loaded.history["train_loss"]) == 400
    import napari_n2n

    assert napari_n2n.load_model(path).summary() == loaded.summary()


@pytest.mark.slow
def test_bad_model_files_give_clear_errors(n2n_result, tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        Denoiser.load(tmp_path / "missing.n2n")
    good = n2n_result["denoiser"].save(tmp_path / "m.n2n")
    data = open(good, "rb").read()
    (tmp_path / "trunc.n2n").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.n2n").write_bytes(b"\x00garbage" * 100)
    (tmp_path / "empty.n2n").write_bytes(b"")
    for name in ("trunc.n2n", "junk.n2n"):
        with pytest.raises(ModelFileError, match="not a napari-n2n model"):
            Denoiser.load(tmp_path / name)
    with pytest.raises(ModelFileError, match=r"empty \(0 bytes\): a download or copy that did not"):
        Denoiser.load(tmp_path / "empty.n2n")
    # a valid safetensors file that is not ours
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(tmp_path / "other.n2n"))
    with pytest.raises(ModelFileError, match="not a napari-n2n model"):
        Denoiser.load(tmp_path / "other.n2n")
    # a pickle (what torch.save writes) is refused, never unpickled
    torch.save({"w": torch.zeros(3)}, tmp_path / "pickle.n2n")
    with pytest.raises(ModelFileError):
        Denoiser.load(tmp_path / "pickle.n2n")


@pytest.mark.slow
def test_prediction_on_dask_reads_tile_by_tile(n2n_result, gaussian_pair):
    da = pytest.importorskip("dask.array")
    den = n2n_result["denoiser"]
    _, a, _ = gaussian_pair
    stack = np.stack([a, a[::-1]])
    lazy = da.from_array(stack, chunks=(1, 64, 64))
    reads = []

    class Counting:
        shape, dtype, ndim = lazy.shape, lazy.dtype, lazy.ndim

        def __getitem__(self, idx):
            block = lazy[idx]
            reads.append(block.size)
            return block.compute()

    out = den.predict(Counting(), axes="TYX", tile=128, overlap=16)
    np.testing.assert_allclose(out, den.predict(stack, axes="TYX", tile=128, overlap=16), atol=1e-4)
    assert max(reads) <= 128 * 128  # never more than one tile at a time


@pytest.mark.slow
def test_dtype_and_out_options(n2n_result, gaussian_pair, tmp_path):
    den = n2n_result["denoiser"]
    _, a, _ = gaussian_pair
    u16 = np.clip(a * 100 + 1000, 0, 65535).astype(np.uint16)
    res = den.predict(u16, dtype="input")
    assert res.dtype == np.uint16
    mm = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.float32, shape=a.shape)
    den.predict(a, out=mm)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), den.predict(a), atol=1e-5)
    with pytest.raises(InputError, match="must match"):
        den.predict(a, out=np.zeros((3, 3), np.float32))
    bad = a.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        den.predict(bad)


@pytest.mark.slow
def test_pair_average_beats_single(n2n_result, gaussian_pair):
    clean, a, b = gaussian_pair
    den = n2n_result["denoiser"]
    assert psnr(clean, den.predict_pair(a, b)) > psnr(clean, n2n_result["pred"]) + 0.3


def test_channel_models_and_mismatch():
    rng = np.random.default_rng(0)
    img = rng.random((2, 48, 48)).astype(np.float32)
    for mode in ("joint", "separate"):
        tr = Trainer(img, img + 0.01, axes="CYX", config=TrainConfig(channels=mode, **TRAIN_TINY))
        list(tr.run())
        den = tr.denoiser()
        assert len(den.models) == (1 if mode == "joint" else 2)
        assert den.predict(img, axes="CYX").shape == img.shape
        with pytest.raises(InputError, match="2 channels but the image has 3"):
            den.predict(np.concatenate([img, img[:1]]), axes="CYX")
    # a single-channel model is applied to each channel of a multi-channel image
    tr = Trainer(img[0], img[0] + 0.01, config=TrainConfig(**TRAIN_TINY))
    list(tr.run())
    assert tr.denoiser().predict(np.moveaxis(img, 0, -1), axes="YXC").shape == (48, 48, 2)


DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.mark.parametrize(
    "name,padding", [("model_v1_zeros", "zeros"), ("model_v1_reflect", "reflect")]
)
def test_format_1_files_load_and_predict_as_when_they_were_saved(name, padding):
    """Files of format 1, kept in tests/data, written by napari-n2n at 80c7cdd (before the U-Net recorded its
    padding: zero padding) and at 22f349c (reflect padding recorded), each with an input and the prediction the
    model made when it was saved."""
    from napari_n2n.core.checkpoint import FORMAT_VERSION

    den = Denoiser.load(DATA / f"{name}.n2n")
    assert FORMAT_VERSION == 2 and den.unet.padding == padding and den.config.padding == padding
    image = np.load(DATA / f"{name}_input.npy")
    expected = np.load(DATA / f"{name}_expected.npy")
    # the network computes what it computed then (the image fitted one tile: the network alone)
    import torch

    off, sc = den.norm.shaped([0], 2)
    with torch.no_grad():
        net = den.models[0].eval()(torch.from_numpy((image[None] - off) / sc)[None].float())
    np.testing.assert_allclose(net[0].numpy() * sc + off, expected[None], rtol=1e-5, atol=1e-3)
    # prediction now extends the image by reflection first (core.inference.tiling.BORDER_MODE, as
    # exported Zoo packages declare it): the outer pixels changed, the inner ones did not
    inner = (slice(12, -12), slice(12, -12))
    np.testing.assert_allclose(den.predict(image)[inner], expected[inner], rtol=1e-5, atol=5e-3)


def test_files_of_a_development_version_are_refused_with_a_message():
    """A file from before 80c7cdd (U-Net with a residual output) cannot run here: one message, no traceback."""
    with pytest.raises(ModelFileError, match="pre-release development version"):
        Denoiser.load(DATA / "model_v1_residual.n2n")


def test_files_written_now_are_format_2_and_record_their_padding(tmp_path):
    from safetensors import safe_open

    from napari_n2n.core.checkpoint import load_checkpoint
    from napari_n2n.core.data.normalization import Normalization
    from napari_n2n.core.model import UNet, UNetConfig

    unet = UNetConfig(depth=2, base_channels=8, padding="zeros")
    path = Denoiser(
        [UNet(unet)], [[0]], Normalization((100.0,), (50.0,)), unet=unet, axes="YX"
    ).save(tmp_path / "m.n2n")
    with safe_open(path, framework="pt") as f:
        assert f.metadata()["format_version"] == "2"
    _, meta = load_checkpoint(path)
    assert meta.unet["padding"] == "zeros" and Denoiser.load(path).unet.padding == "zeros"


@pytest.mark.slow
def test_whole_volume_prediction_matches_training_sized_tiles():
    """A model trained on small patches predicts a large tile as well as patch-sized tiles.

    With zero-padded convolutions this run (3D, 16³ patches, seed 2) scored 29.7 dB on the
    whole volume and 32.5 dB in 16³ tiles: the network had learnt the patch border as a cue.
    """
    from napari_n2n.core.data.samples import volume_3d

    s = volume_3d()
    clean, a, b = s.clean[:, :64, :64], s.a[:, :64, :64], s.b[:, :64, :64]
    rng = float(clean.max() - clean.min())
    cfg = TrainConfig(
        depth=2,
        base_channels=8,
        patch_size=16,
        batch_size=4,
        learning_rate=3e-3,
        steps=200,
        val_fraction=0.0,
        device="cpu",
        seed=2,
    )
    tr = Trainer(a, b, axes="ZYX", config=cfg)
    list(tr.run())
    den = tr.denoiser()
    whole = psnr(clean, den.predict(a, tile=(32, 64, 64)), data_range=rng)
    small = psnr(clean, den.predict(a, tile=(16, 16, 16), overlap=4), data_range=rng)
    noisy = psnr(clean, a, data_range=rng)
    assert whole > noisy + 12, f"3D N2N: {whole:.2f} dB from {noisy:.2f} dB"
    assert abs(whole - small) < 0.6, f"whole volume {whole:.2f} dB vs 16³ tiles {small:.2f} dB"


def test_prediction_options_are_one_checked_object_with_the_keyword_api_on_top(
    gaussian_pair,
):
    from napari_n2n.core.inference.predict import PredictOptions

    assert PredictOptions(tile=[64, 96]).tile == (64, 96)  # a list from JSON becomes a tuple
    assert PredictOptions().tiles(2, "cpu") == (512, 512)
    assert PredictOptions().tiles(3, "cpu") == (48, 96, 96)
    assert PredictOptions().tiles(3, "cuda") == (64, 128, 128)
    assert PredictOptions(tile=64).overlaps(2, "cpu") == (32, 32)  # at most half a tile
    assert PredictOptions().overlap_for(3) == 16 and PredictOptions().batch_for(3, "cuda") == 8
    assert PredictOptions.of(PredictOptions(tile=64, overlap=8), overlap=16, device=None) == (
        PredictOptions(tile=64, overlap=16)
    )
    assert PredictOptions(tile=(64, 64)).to_dict() == {
        "tile": [64, 64],
        "overlap": None,
        "batch_size": None,
        "device": None,
    }
    for bad in (dict(tile=4), dict(tile=(64, "x")), dict(overlap=-1), dict(batch_size=0)):
        with pytest.raises(InputError):
            PredictOptions(**bad)
    with pytest.raises(InputError, match="Tile must be one size or 2 sizes"):
        PredictOptions(tile=(64, 64, 64)).tiles(2, "cpu")

    trainer = Trainer(*gaussian_pair[1:], axes="YX", config=TrainConfig(**TRAIN_TINY))
    list(trainer.run())
    den = trainer.denoiser()
    a, b = (x[:100, :90] for x in gaussian_pair[1:])
    options = PredictOptions(tile=64, overlap=16, device="cpu")
    np.testing.assert_array_equal(
        den.predict(a, options=options), den.predict(a, tile=64, overlap=16, device="cpu")
    )
    # a keyword wins over its field
    np.testing.assert_array_equal(
        den.predict(a, options=options, tile=96), den.predict(a, tile=96, overlap=16, device="cpu")
    )
    np.testing.assert_array_equal(
        den.predict_pair(a, b, options=options),
        den.predict_pair(a, b, tile=64, overlap=16, device="cpu"),
    )
