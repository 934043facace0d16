"""Classical denoisers the learned ones are compared with: BM3D/BM4D and scikit-image's.

BM3D (``bm3d`` package; BM4D from ``bm4d`` for volumes) is given the true noise level; for
Poisson and Poisson–Gaussian noise it runs on the generalised Anscombe transform (sigma 1) with
the closed-form approximation of the exact unbiased inverse (Mäkitalo & Foi 2011/2013).
"""

from __future__ import annotations

import time

from _cases import Case


# ---- classical methods --------------------------------------------------------------------------
def sigma_for(case: Case) -> tuple[float, str]:
    """Noise sigma in 0–255 units: the true one for Gaussian noise, else the wavelet estimate."""
    import numpy as np

    from napari_n2n import estimate_noise_sigma

    if case.noise.name == "gaussian":
        return float(case.noise.sigma), "true"
    est = float(estimate_noise_sigma(case.a))
    if est >= 0.5:
        return est, "estimated"
    # the robust (median-based) estimate sees no Gaussian component, e.g. salt & pepper on a
    # smooth image (moon: 0); the methods would then do nothing, so give them the oracle std
    return float(
        np.std(np.asarray(case.a, dtype=np.float64) - case.clean)
    ), f"oracle std (estimate {est:.1f})"


def anscombe_inverse(d, read_sigma_rel: float = 0.0):
    """Closed-form approximation of the exact unbiased inverse of the (generalised) Anscombe
    transform (Mäkitalo & Foi, IEEE TIP 2011 and 2013), minus the Gaussian variance."""
    import numpy as np

    d = np.maximum(d, 2 * np.sqrt(3 / 8))
    s = np.sqrt(1.5)
    inv = 0.25 * d**2 + 0.25 * s / d - 11 / 8 / d**2 + 5 / 8 * s / d**3 - 1 / 8 - read_sigma_rel**2
    return np.maximum(inv, 0.0)


def vst_denoise(x, denoise, *, scale: float, read_sigma_rel: float = 0.0):
    """``denoise`` (a Gaussian denoiser called as ``denoise(f, 1.0)``, e.g. BM3D or BM4D) run on
    the generalised Anscombe transform of ``x / scale`` (photon counts, read noise
    ``read_sigma_rel`` in photons), and the result brought back to ``x``'s units."""
    import numpy as np

    z = np.asarray(x, dtype=np.float64) / scale
    f = 2.0 * np.sqrt(np.maximum(z + 3 / 8 + read_sigma_rel**2, 0.0))
    return anscombe_inverse(denoise(f, 1.0), read_sigma_rel) * scale


def denoise_with_true_noise(x, noise, denoise):
    """``denoise`` (BM3D, BM4D) given ``noise``'s true model: its σ for Gaussian noise, the
    generalised Anscombe transform (σ 1) for Poisson–Gaussian noise."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    if noise.name == "gaussian":
        return denoise(x, noise.sigma)
    return vst_denoise(x, denoise, scale=noise.gain, read_sigma_rel=noise.read_sigma / noise.gain)


def bm3d_method(case: Case):
    import numpy as np

    a = np.asarray(case.a, dtype=np.float64)
    if a.ndim == 3:
        from bm4d import bm4d as denoise
    else:
        from bm3d import bm3d as denoise
    nz = case.noise
    if nz.name == "gaussian":
        return denoise(a, nz.sigma), f"true σ={nz.sigma:g}"
    if nz.name in ("poisson", "poisson_gaussian"):
        if nz.name == "poisson":
            scale, rs = float(case.clean.max()) / nz.peak, 0.0  # image units per photon
        else:
            scale, rs = nz.gain, nz.read_sigma / nz.gain
        return vst_denoise(a, denoise, scale=scale, read_sigma_rel=rs), "Anscombe, σ=1"
    s = float(np.std(a - case.clean))
    return denoise(a, s), f"oracle noise std {s:.0f}"


def skimage_methods(case: Case) -> dict:
    """NLM, TV, wavelet and calibrated NLM (TV for 3D) on the [0, 1] scale; returns 0–255 outputs."""
    import numpy as np
    from skimage import restoration as R

    x = np.asarray(case.a, dtype=np.float64) / 255.0
    sigma, how = sigma_for(case)
    s = sigma / 255.0
    three_d = x.ndim == 3
    nlm_kw = (
        dict(patch_size=3, patch_distance=3) if three_d else dict(patch_size=5, patch_distance=6)
    )
    out, notes, times = {}, {}, {}

    def timed(name, fn):
        t = time.perf_counter()
        out[name] = fn() * 255.0
        times[name] = time.perf_counter() - t

    timed("NLM", lambda: R.denoise_nl_means(x, h=0.8 * s, sigma=s, fast_mode=True, **nlm_kw))
    timed("TV (Chambolle)", lambda: R.denoise_tv_chambolle(x, weight=s))
    timed(
        "wavelet (BayesShrink)",
        lambda: R.denoise_wavelet(
            x, sigma=s, method="BayesShrink", mode="soft", rescale_sigma=True
        ),
    )
    if three_d:
        grid = {"weight": list(s * np.array([0.5, 0.75, 1.0, 1.5, 2.0]))}
        timed(
            "NLM calibrated (J-inv.)",
            lambda: R.calibrate_denoiser(x, R.denoise_tv_chambolle, grid)(x),
        )
        notes["NLM calibrated (J-inv.)"] = "TV weight calibrated (NLM too slow in 3D)"
    else:
        grid = {
            "h": list(s * np.array([0.4, 0.6, 0.8, 1.0, 1.2])),
            "sigma": [s],
            "fast_mode": [True],
            **{k: [v] for k, v in nlm_kw.items()},
        }
        timed(
            "NLM calibrated (J-inv.)", lambda: R.calibrate_denoiser(x, R.denoise_nl_means, grid)(x)
        )
    for k in ("NLM", "TV (Chambolle)", "wavelet (BayesShrink)"):
        notes[k] = f"{how} σ={sigma:.1f}"
    return out, notes, times
