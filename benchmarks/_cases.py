"""The benchmarks' shared cases: images, noises, the learned methods' configuration and training data.

Every benchmark script imports what it shares from here (and ``_common`` for output), never
from another script. Images are 256×256 centre crops of grayscale images that ship with
scikit-image (no download; ``cell`` is bright-field microscopy, ``phantom`` the Shepp–Logan
CT phantom) and a synthetic 3D volume of blurred cell-like blobs, all on the 0–255 scale. The volume is its own (dense cells on 0–255, 32×96×96), not the plugin's sparse
nuclei sample (:func:`napari_n2n.core.data.samples.volume_3d`): every quality figure since 9419ff8
was measured on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from napari_n2n.core.training.presets import preset

# ---- learned-method configuration (chosen by benchmarks/config_search.py) -----------------------
# At a 20 CPU-second budget the small networks win (see the config-search section of
# docs/benchmarks.md); the 3D one is the same network in 3D with 16³ patches. Its learning
# rate is 1e-3: at 3e-3, N2C on the volume (1189 steps) stalled at a training loss of
# 0.15-0.17 (28.9-31.8 dB over two seeds) where 1e-3 reached 0.009-0.010 (34.3-34.8 dB);
# N2N gave 34.7-34.8 dB at either rate.
CONFIG_2D = dict(preset("cpu-tiny").options)
CONFIG_3D = dict(preset("cpu-tiny").options, patch_size=16, batch_size=4, learning_rate=1e-3)

# ---- noise cases --------------------------------------------------------------------------------
NOISES = {
    "g15": ("Gaussian σ15", "gaussian", dict(sigma=15.0)),
    "g25": ("Gaussian σ25", "gaussian", dict(sigma=25.0)),
    "g50": ("Gaussian σ50", "gaussian", dict(sigma=50.0)),
    "p30": ("Poisson peak 30", "poisson", dict(peak=30.0)),
    "p5": ("Poisson peak 5", "poisson", dict(peak=5.0)),
    "pg": (
        "Poisson–Gaussian (gain 4, read σ10)",
        "poisson_gaussian",
        dict(gain=4.0, read_sigma=10.0),
    ),
    "sp10": ("salt & pepper 10 %", "salt_pepper", dict(fraction=0.1)),
}


# ---- data ---------------------------------------------------------------------------------------
def load_image(name: str, size: int = 256):
    """A ``size``×``size`` centre crop of a bundled scikit-image image (float64, 0–255); no larger than the image."""
    import numpy as np

    if name == "volume":
        return synthetic_volume()
    from skimage import data

    img = data.shepp_logan_phantom() * 255.0 if name == "phantom" else getattr(data, name)()
    if img.ndim == 3:
        from skimage.color import rgb2gray

        img = rgb2gray(img) * 255.0
    h, w = img.shape
    size = min(size, h, w)
    y, x = (h - size) // 2, (w - size) // 2
    return np.asarray(img[y : y + size, x : x + size], dtype=np.float64)


def synthetic_volume(shape=(32, 96, 96), n_cells: int = 160, seed: int = 7):
    """Cell-like volume on 0–255: densely packed soft-edged ellipsoids of varied brightness with
    a textured interior and a brighter nucleus, on a dim background; slightly blurred."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.arange(s, dtype=np.float64) for s in shape], indexing="ij")
    texture = gaussian_filter(rng.standard_normal(shape), 1.2)
    texture /= texture.std()
    vol = np.full(shape, 25.0)
    for _ in range(n_cells):
        c = [rng.uniform(0, s) for s in shape]
        r = [rng.uniform(3, 6), rng.uniform(5, 11), rng.uniform(5, 11)]
        d = np.sqrt(((z - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((x - c[2]) / r[2]) ** 2)
        inside = 1 / (1 + np.exp((d - 1) * 6))  # soft-edged cell
        vol += inside * rng.uniform(40, 110) * (1 + 0.25 * texture)
        vol += rng.uniform(30, 70) * np.exp(-((d * 2.5) ** 2))  # nucleus
    vol = gaussian_filter(vol, 0.7)
    return np.clip(vol / np.percentile(vol, 99.8) * 235.0, 0, 235.0)


@dataclass
class Case:
    image: str
    noise_key: str
    clean: object
    a: object
    b: object
    noise: object

    @property
    def label(self) -> str:
        return f"{self.image}, {NOISES[self.noise_key][0]}"


def make_case(image: str, noise_key: str, seed: int = 0) -> Case:
    from napari_n2n import make_noise, synthesize_pair

    clean = load_image(image)
    _, name, params = NOISES[noise_key]
    noise = make_noise(name, **params)
    a, b = synthesize_pair(clean, noise, seed=seed)
    return Case(image, noise_key, clean, a, b, noise)


# ---- learned methods ----------------------------------------------------------------------------
def train_config(ndim: int, mode: str, loss: str, steps: int, seed: int = 0):
    from napari_n2n import TrainConfig

    over = CONFIG_2D if ndim == 2 else CONFIG_3D
    return TrainConfig(
        mode=mode,
        loss=loss if mode != "nb2nb" else "l2",
        steps=steps,
        val_fraction=0.0,
        device="cpu",
        seed=seed,
        **over,
    )


def training_data(case: Case, mode: str):
    """``(input, target, axes)`` that ``mode`` trains on for ``case``.

    N2N trains on A→B and B→A (symmetric); N2C sees the same two noisy inputs, each with the
    clean target, so that the two differ only in their targets; Nb2Nb sees A alone.
    """
    import numpy as np

    axes = "YX" if case.a.ndim == 2 else "ZYX"
    a, b, clean = (np.asarray(x, dtype=np.float32) for x in (case.a, case.b, case.clean))
    if mode == "n2c":
        return np.stack([a, b]), np.stack([clean, clean]), "S" + axes
    return a, (b if mode == "n2n" else None), axes


def cpu_seconds_per_step(
    inp, target, cfg, *, n: int = 60, skip: int = 10, repeats: int = 2
) -> float:
    """Process CPU seconds per training step of ``cfg`` on this data, from short runs.

    The mean over the steps after ``skip`` warm-up steps, the lowest of ``repeats`` runs: work
    running beside the benchmark (or a second case in parallel) only ever inflates it, and one
    inflated calibration would shorten every run that uses it (seen: 571 steps instead of
    ~850 for a 20 s budget, runs that then used 13-17 CPU seconds).
    """
    from napari_n2n import train
    from napari_n2n.core.events import Progress

    best = float("inf")
    for _ in range(repeats):
        marks: list = []

        def cb(ev, marks=marks):
            if isinstance(ev, Progress):
                marks.append((ev.step, time.process_time()))

        train(inp, target, config=cfg.replace(steps=n), callback=cb)
        (s0, t0), (s1, t1) = marks[skip], marks[-1]
        best = min(best, (t1 - t0) / (s1 - s0))
    return best


def measure_costs(plans: dict, *, rounds: int = 3, log=print) -> dict:
    """CPU seconds per training step of each plan ``key: (input, target, config)``, the lowest of ``rounds``.

    The CPU of a shared virtual machine changes speed over minutes (the same calibration gave
    22.5, 23.6 and 32.6 ms within an hour), so the plans are measured in turns, ``rounds``
    times, and the lowest cost of each is kept: a slow spell then cannot favour one plan.
    """
    runs: dict = {key: [] for key in plans}
    for _ in range(rounds):
        for key, (inp, tgt, cfg) in plans.items():
            runs[key].append(cpu_seconds_per_step(inp, tgt, cfg, repeats=1))
    costs = {key: min(v) for key, v in runs.items()}
    for key, v in runs.items():
        log(
            f"  calibration: {key}: {costs[key] * 1e3:.1f} ms of CPU per step "
            f"(rounds: {', '.join(f'{x * 1e3:.1f}' for x in v)})"
        )
    return costs
