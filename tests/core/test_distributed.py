"""Multi-process training (DDP) on the CPU: 2 gloo processes on loopback, spawned by the test.

One spawn runs every scenario (starting processes costs seconds): the invariants are checked
in the processes and the figures they write are checked here.
"""

import json
import os

import numpy as np
import pytest
import torch

from napari_n2n.core.config import TrainConfig

from .._helpers import TRAIN_TINY

pytestmark = pytest.mark.slow

CONFIG = TrainConfig(
    **{**TRAIN_TINY, "steps": 6, "val_every": 2, "patch_size": 16, "device": "cpu", "seed": 5}
)


def _data():
    rng = np.random.default_rng(0)
    clean = np.cumsum(rng.random((64, 64)), axis=0).astype(np.float32)
    return (
        clean,
        clean + rng.normal(0, 2, clean.shape).astype(np.float32),
        clean + rng.normal(0, 2, clean.shape).astype(np.float32),
    )


def _flat(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _run_checking_ranks(trainer, world: int, stop_at: int | None = None) -> list[bool]:
    """Run ``trainer``; after every step, whether all ranks hold identical weights."""
    import torch.distributed as dist

    from napari_n2n.core.events import Progress

    same = []
    for event in trainer.run():
        if isinstance(event, Progress):
            mine = _flat(trainer.models[0])
            gathered = [torch.empty_like(mine) for _ in range(world)]
            dist.all_gather(gathered, mine)
            same.append(all(torch.equal(g, gathered[0]) for g in gathered))
            if stop_at is not None and event.step == stop_at and dist.get_rank() == 0:
                trainer.request_stop()  # on rank 0 only: the others must stop at the same step
    return same


def _worker(rank: int, tmp: str) -> None:
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    torch.set_num_threads(1)
    import torch.distributed as dist

    from napari_n2n.core.training import train as train_module
    from napari_n2n.core.training.resume import Checkpointing
    from napari_n2n.core.training.train import Trainer

    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=2)
    _, a, b = _data()
    first_batches, after_first = [], {}
    real_source = train_module.batch_source

    def recording_source(*args, **kwargs):
        source = real_source(*args, **kwargs)
        original = source.next

        def next_batch(**kwargs):
            batch = original(**kwargs)
            if not first_batches:
                first_batches.append([t.clone() for t in batch])
            return batch

        source.next = next_batch
        return source

    train_module.batch_source = recording_source
    report = {}
    trainer = Trainer(a, b, config=CONFIG)
    gen = trainer.run()
    for event in gen:  # the first step, then the rest
        if getattr(event, "step", None) == 1 and not after_first:
            after_first = {k: v.clone() for k, v in trainer.models[0].state_dict().items()}
    train_module.batch_source = real_source
    report["notes"] = list(trainer.notes)
    full = {k: v.clone() for k, v in trainer.models[0].state_dict().items()}
    report["n2n_identical"] = _run_checking_ranks(Trainer(a, b, config=CONFIG), 2)
    report["nb2nb_identical"] = _run_checking_ranks(
        Trainer(a, None, config=CONFIG.replace(mode="nb2nb", steps=3)), 2
    )
    # core/multi_image
    several = Trainer([a, a[:40, :48]], [b, b[:40, :48]], config=CONFIG.replace(steps=3))
    report["several_identical"] = _run_checking_ranks(several, 2)
    report["several_notes"] = list(several.notes)
    # interrupted on rank 0 at step 3, resumed from the state rank 0 wrote
    state = os.path.join(tmp, "run.ckpt")
    stopped = Trainer(a, b, config=CONFIG, checkpoint=Checkpointing(state, every_steps=100))
    _run_checking_ranks(stopped, 2, stop_at=3)
    report["stopped_at"] = stopped.history["steps_done"]
    dist.barrier()  # the state is written by rank 0 before the others read it
    resumed = Trainer(a, b, config=CONFIG, resume=state)
    _run_checking_ranks(resumed, 2)
    report["resumed_equal"] = all(
        torch.equal(v, resumed.models[0].state_dict()[k]) for k, v in full.items()
    )
    report["kept_same_step"] = resumed.best_step == trainer.best_step
    if rank == 0:
        report["processes_in_model"] = resumed.denoiser().info.get("processes")
    torch.save(
        {"batch": first_batches[0], "after_first": after_first}, os.path.join(tmp, f"rank{rank}.pt")
    )
    with open(os.path.join(tmp, f"rank{rank}.json"), "w") as f:
        json.dump(report, f)
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def ddp_reports(tmp_path_factory):
    import torch.multiprocessing as mp

    tmp = str(tmp_path_factory.mktemp("ddp"))
    mp.spawn(_worker, args=(tmp,), nprocs=2, join=True)
    reports = [json.load(open(os.path.join(tmp, f"rank{r}.json"))) for r in range(2)]
    tensors = [torch.load(os.path.join(tmp, f"rank{r}.pt"), weights_only=True) for r in range(2)]
    return reports, tensors


def test_both_ranks_hold_identical_weights_after_every_step(ddp_reports):
    reports, _ = ddp_reports
    for r in reports:
        assert r["n2n_identical"] == [True] * CONFIG.steps
        # Neighbor2Neighbor's no-grad pass works under DDP
        assert r["nb2nb_identical"] == [True] * 3
    assert "process 1 of 2 (batch 4 each, 8 in all)" in reports[0]["notes"]


def test_ranks_draw_different_patches(ddp_reports):
    _, tensors = ddp_reports
    assert not torch.equal(tensors[0]["batch"][0], tensors[1]["batch"][0])


def test_one_ddp_step_equals_one_step_on_the_concatenated_batch(ddp_reports, monkeypatch):
    """Batch b on each of 2 ranks == batch 2b in one process (same start, same Adam step)."""
    from napari_n2n.core.events import Progress
    from napari_n2n.core.training import train as train_module
    from napari_n2n.core.training.train import Trainer

    _, tensors = ddp_reports
    joined = tuple(torch.cat([tensors[0]["batch"][i], tensors[1]["batch"][i]]) for i in range(2))

    class Joined:
        def next(self, **_kwargs):
            return joined

        def close(self):
            pass

    monkeypatch.setattr(train_module, "batch_source", lambda *a, **k: Joined())
    _, a, b = _data()
    single = Trainer(a, b, config=CONFIG.replace(batch_size=2 * CONFIG.batch_size))
    for event in single.run():
        if isinstance(event, Progress):
            single.request_stop()
    state = single.models[0].state_dict()
    for name, value in tensors[0]["after_first"].items():
        torch.testing.assert_close(state[name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_resume_under_ddp_gives_the_weights_of_an_uninterrupted_run(ddp_reports):
    reports, _ = ddp_reports
    for r in reports:
        assert r["stopped_at"] == 3  # rank 0 asked, both stopped at the same step
        assert r["resumed_equal"]
    assert reports[0]["kept_same_step"]  # rank 0 validates and keeps the weights
    assert reports[0]["processes_in_model"] == 2


def test_several_images_train_under_ddp(ddp_reports):
    """A multi-image run (patches in proportion to size, from each step's generator) keeps the ranks in step."""
    reports, _ = ddp_reports
    for r in reports:
        assert r["several_identical"] == [True] * 3
    assert any(
        "2 images, patches drawn in proportion to their size" in n
        for n in reports[0]["several_notes"]
    )
