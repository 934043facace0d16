"""Prediction on a dask cluster of 2 worker processes on loopback: the single-process result, one model load per
worker, and a resume that recomputes only the units missing from the ledger."""

import dataclasses

import numpy as np
import pytest

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.training.train import Trainer
from napari_n2n.io import write_image

from .._helpers import TRAIN_TINY

zarr = pytest.importorskip("zarr")
distributed = pytest.importorskip("distributed")
OPTIONS = dict(chunks=(1, 80, 80), unit_voxels=80 * 80, tile=96, overlap=32, device="cpu")


@pytest.fixture(scope="module")
def cluster_client():
    import logging

    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.slow
def test_two_workers_give_the_single_process_result_and_resume(
    cluster_client, gaussian_pair, tmp_path
):
    from napari_n2n.core.progress import drain
    from napari_n2n.ondisk.cluster import load_model
    from napari_n2n.ondisk.output import (
        LEDGER_NAME,
        partial_path,
        predict_to_zarr,
        predict_to_zarr_iter,
    )

    _, a, b = gaussian_pair
    trainer = Trainer(a, b, axes="YX", config=TrainConfig(**dict(TRAIN_TINY, steps=30)))
    list(trainer.run())
    den = trainer.denoiser()
    model = den.save(tmp_path / "m.n2n")
    raw = write_image(tmp_path / "raw.ome.zarr", np.stack([a[:160, :160], b[96:, 96:]]), axes="TYX")
    # one torch thread here and on the workers: a float sum in another order would differ in the last bits
    den.config = dataclasses.replace(den.config, threads=1)
    single = predict_to_zarr(den, raw, tmp_path / "single.ome.zarr", **OPTIONS)
    on_cluster = predict_to_zarr(
        model, raw, tmp_path / "cluster.ome.zarr", client=cluster_client, threads=1, **OPTIONS
    )
    expected = zarr.open_array(str(single / "0"))[:]
    np.testing.assert_array_equal(zarr.open_array(str(on_cluster / "0"))[:], expected)
    # every worker took a share and loaded the model file once
    loads = cluster_client.run(lambda: load_model.cache_info().misses)
    assert sorted(loads.values()) == [1, 1], loads
    # a run that stopped after 3 units; then the ledger loses 1 of them and a listed unit is spoiled:
    # the resume recomputes exactly the 5 + 1 unlisted units and leaves the listed one alone
    out = tmp_path / "resumed.ome.zarr"
    assert (
        drain(
            predict_to_zarr_iter(
                model, raw, out, client=cluster_client, threads=1, max_units=3, **OPTIONS
            )
        )
        is None
    )
    ledger = partial_path(out) / LEDGER_NAME
    lines = ledger.read_text().splitlines()
    assert len(lines) == 1 + 3
    ledger.write_text("\n".join(lines[:-1]) + "\n")
    kept = tuple(int(i) for i in lines[1].split(","))
    level0 = zarr.open_array(str(partial_path(out) / "0"), mode="r+")
    box = tuple(slice(i * u, (i + 1) * u) for i, u in zip(kept, OPTIONS["chunks"]))
    level0[box] = -7
    events = list(
        predict_to_zarr_iter(
            model, raw, out, client=cluster_client, threads=1, resume=True, **OPTIONS
        )
    )
    assert events[0].skipped == 2 and events[0].total == 8
    result = zarr.open_array(str(out / "0"))[:]
    assert (result[box] == -7).all()
    result[box] = expected[box]
    np.testing.assert_array_equal(result, expected)
