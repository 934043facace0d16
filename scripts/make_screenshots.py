"""Make the user guide's screenshots in a real napari viewer (run under Xvfb on a headless machine).

    OMP_NUM_THREADS=1 xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/make_screenshots.py [docs/images]
    OMP_NUM_THREADS=1 xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/make_screenshots.py \
        --docks docs/images/docks-after.png [--train-s 40]

The second form docks all three widgets on the screen, with the 2D sample open and nothing
chosen by hand (the widgets' own defaults), and prints the window's height against the
screen's; with ``--train-s`` it first presses Train and takes the picture that many seconds later.

It opens the bundled samples, drives the three widgets exactly as a user would (through
Plugins → napari-n2n), and saves ``viewer.screenshot(canvas_only=False)`` of each step. Training
is kept short (a small network, a few hundred steps on the CPU), so the images show the widgets
at work rather than a converged model; the walk-through numbers are printed at the end.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


def _wait(app, condition, timeout_s: float = 600.0) -> None:
    t0 = time.perf_counter()
    while not condition():
        app.processEvents()
        time.sleep(0.01)
        if time.perf_counter() - t0 > timeout_s:
            raise TimeoutError("gave up waiting")


def _camera(viewer):
    """``viewer.scene.camera`` (napari ≥ 0.9), else ``viewer.camera``."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def _grid(viewer, shape=None) -> None:
    """Grid mode on (with ``shape``) or off; ``viewer.canvas.grid`` in napari ≥ 0.9, else ``viewer.grid``."""
    canvas = getattr(viewer, "canvas", None)
    grid = canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid
    grid.enabled = shape is not None
    if shape is not None:
        grid.shape = shape


def _settle(app, seconds: float = 0.5) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        app.processEvents()
        time.sleep(0.01)


def three_docks(path: str, train_s: float = 0.0) -> dict:
    """Screenshot of the three docks together on the screen, right after opening the 2D sample.

    Nothing is chosen by hand: the picture shows the widgets' own defaults (with ``train_s``,
    after pressing Train and waiting that long). Returns the main window's height and the
    screen's available height (run with a 1920×1080 Xvfb screen).
    """
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(title="napari-n2n", show=True)
    app = QApplication.instance()
    window = viewer.window._qt_window
    screen = app.primaryScreen().availableGeometry()
    window.setGeometry(screen)
    viewer.open_sample("napari-n2n", "pair_2d")
    widgets = {
        name: viewer.window.add_plugin_dock_widget("napari-n2n", name)[1]
        for name in ("Noisy pairs", "Train Noise2Noise", "Denoise")
    }
    train = widgets["Train Noise2Noise"]
    # torch imported off the main thread
    _wait(app, lambda: not train.form.device_label.value.startswith("checking"), 120)
    _settle(app, 2.0)
    window.setGeometry(screen)
    _settle(app, 1.0)
    if train_s:
        train.start()
        _settle(app, train_s)
    result = {
        "window_height": window.frameGeometry().height(),
        "window_width": window.frameGeometry().width(),
        "screen_height": screen.height(),
        "screen_width": screen.width(),
    }
    result["window_height_now"] = window.frameGeometry().height()
    viewer.screenshot(path, canvas_only=False)
    if train_s:
        train.stop()
        _wait(app, lambda: not train.busy)
    viewer.close()
    return result


def main(out_dir: str = "docs/images") -> dict:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_n2n.core.metrics import psnr
    from napari_n2n.widgets._layers import n2n_meta

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    viewer = napari.Viewer(title="napari-n2n", show=True)
    app = QApplication.instance()
    viewer.window._qt_window.setGeometry(app.primaryScreen().availableGeometry())
    results: dict = {}

    # 1. Noisy pairs on the 2D sample's clean image
    layers = viewer.open_sample("napari-n2n", "pair_2d")
    clean = next(l for l in layers if n2n_meta(l).get("role") == "clean")
    for layer in list(viewer.layers):
        if layer is not clean:
            viewer.layers.remove(layer)
    clean.visible = True
    dock_pairs, pairs = viewer.window.add_plugin_dock_widget("napari-n2n", "Noisy pairs")
    pairs.source.value = "synthetic"  # (chosen already: only a clean layer is open)
    pairs.synthetic.clean_layer.value = clean
    pairs.synthetic.noise.value = "gaussian"
    pairs.synthetic.params["gaussian"]["sigma"].value = 25.0
    layer_a, layer_b = pairs.start()
    clean.visible = False
    _settle(app)
    viewer.screenshot(str(out / "noisy-pairs.png"), canvas_only=False)

    # 2. Train Noise2Noise: A → B, PSNR against the clean layer, live preview
    viewer.window.remove_dock_widget(dock_pairs)
    dock_train, train = viewer.window.add_plugin_dock_widget("napari-n2n", "Train Noise2Noise")
    assert train.form.input_layer.value == layer_a  # the pair just made
    train.form.budget.value = "steps"
    train.form.steps.value = 400
    train.form.preset.value = "cpu-quick"
    train.form.patch_size.value = 64
    train.form.learning_rate.value = 2e-3
    train.form.keep_preview.value = True
    train.preview.every_s = 2.0
    _camera(viewer).zoom = 1.6
    _settle(app, 1.0)
    train.start()
    run = train.session
    _wait(app, lambda: len(run.trainer.history["val_step"]) >= 6)
    _settle(app, 1.2)  # let the plot redraw
    viewer.screenshot(str(out / "train.png"), canvas_only=False)
    _wait(app, lambda: len(run.trainer.history["step"]) >= 300)
    train.stop()
    _wait(app, lambda: not train.busy)
    results["camera_steps"] = run.finished.steps_done
    results["camera_train_s"] = run.finished.elapsed_s

    # 3. Denoise with the model just trained, A and B averaged
    viewer.window.remove_dock_widget(dock_train)
    for layer in list(viewer.layers):
        if n2n_meta(layer).get("role") == "preview":
            viewer.layers.remove(layer)
    dock_denoise, denoise = viewer.window.add_plugin_dock_widget("napari-n2n", "Denoise")
    assert denoise.image_layer.value == layer_a  # the layer the model was trained on
    denoise.average.value = False
    denoise.start()
    _wait(app, lambda: not denoise.busy)
    single = denoise.last_layer
    denoise.average.value = True
    denoise.start()
    _wait(app, lambda: not denoise.busy)
    averaged = denoise.last_layer
    layer_a.visible = True
    single.visible = False
    _grid(viewer, (1, 2))
    viewer.reset_view()
    for layer in viewer.layers:
        layer.visible = layer in (layer_a, averaged)
    _settle(app, 1.0)
    viewer.screenshot(str(out / "denoise.png"), canvas_only=False)
    results.update(
        noisy_db=psnr(clean.data, layer_a.data),
        denoised_db=psnr(clean.data, single.data),
        averaged_db=psnr(clean.data, averaged.data),
    )

    # 4. The digits sample: the walk-through's last picture
    _grid(viewer, None)
    viewer.layers.clear()
    viewer.window.remove_dock_widget(dock_denoise)
    layers = viewer.open_sample("napari-n2n", "digits")
    roles = {n2n_meta(l).get("role"): l for l in layers}
    dock_train, train = viewer.window.add_plugin_dock_widget("napari-n2n", "Train Noise2Noise")
    # the sample's noisy A, never its clean layer
    assert train.form.input_layer.value == roles["noisy A"]
    train.form.budget.value = "steps"
    train.form.steps.value = 300
    train.form.preset.value = "cpu-quick"
    train.form.patch_size.value = 64
    train.form.learning_rate.value = 2e-3
    train.form.show_preview.value = False
    train.start()
    run = train.session
    _wait(app, lambda: not train.busy)
    results["digits_steps"] = run.finished.steps_done
    results["digits_train_s"] = run.finished.elapsed_s
    viewer.window.remove_dock_widget(dock_train)
    dock_denoise, denoise = viewer.window.add_plugin_dock_widget("napari-n2n", "Denoise")
    assert denoise.image_layer.value == roles["noisy A"]
    denoise.start()
    _wait(app, lambda: not denoise.busy)
    digits_out = denoise.last_layer
    for layer in viewer.layers:
        layer.visible = layer in (roles["noisy A"], digits_out, roles["clean"])
    _grid(viewer, (1, 3))
    viewer.reset_view()
    _settle(app, 1.0)
    viewer.screenshot(str(out / "digits.png"), canvas_only=False)
    results.update(
        digits_noisy_db=psnr(roles["clean"].data, roles["noisy A"].data),
        digits_denoised_db=psnr(roles["clean"].data, digits_out.data),
    )
    viewer.close()
    for key, value in results.items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")
    import torch

    print(f"torch threads: {torch.get_num_threads()}")
    return results


if __name__ == "__main__":
    np.seterr(all="ignore")
    if sys.argv[1:2] == ["--docks"]:
        seconds = (
            float(sys.argv[sys.argv.index("--train-s") + 1]) if "--train-s" in sys.argv else 0.0
        )
        print(three_docks(sys.argv[2], seconds))
    else:
        main(*sys.argv[1:2])
