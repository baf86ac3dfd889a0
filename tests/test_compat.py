"""Each workaround in zoo/compat.py: the upstream behaviour it works around still exists
(the test fails, naming the patch, the day upstream changes), and the workaround works."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from zoo import compat


def _fit(callbacks, steps_per_execution=32):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=steps_per_execution)
    x = np.zeros((125 * 4, 2), "float32")
    model.fit(x, x[:, :1], batch_size=4, epochs=1, verbose=1, callbacks=callbacks)


def test_keras_still_reports_steps_past_the_epoch_end():
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    _fit([Record()])
    assert compat.keras_overshoots_progress()
    assert max(seen) + 1 > 125, (
        "keras no longer counts past the epoch's last step with steps_per_execution > 1: "
        "drop zoo.compat.progress_bar"
    )


def test_progress_bar_never_counts_past_the_epoch(capsys):
    bar = compat.progress_bar()
    shown = []

    class Spy(type(bar)):
        def _update_progbar(self, batch, logs=None):
            super()._update_progbar(batch, logs)
            shown.append(self.seen)

    _fit([Spy()])
    assert shown and max(shown) == 125
    assert "128/125" not in capsys.readouterr().out


def test_keras_caches_downloads_under_keras_cache_home(tmp_path):
    """get_file (here on a file:// URL, no network) writes where the zoo looks for caches."""
    source = tmp_path / "payload.bin"
    source.write_bytes(b"cached")
    path = keras.utils.get_file("zoo-compat-probe.bin", origin=source.as_uri())
    try:
        assert compat.keras_cache_home() / "datasets" / "zoo-compat-probe.bin" == Path(path)
    finally:
        Path(path).unlink(missing_ok=True)


def test_keras_applications_fetch_weights_through_the_replaced_get_file():
    class Asked(Exception):
        pass

    def replacement(fname=None, origin=None, **kw):
        raise Asked(fname, origin)

    with compat.replaced_get_file(replacement):
        try:
            keras.applications.MobileNetV2(
                weights="imagenet", include_top=False, input_shape=(32, 32, 3)
            )
        except Asked as asked:
            assert "mobilenet_v2" in asked.args[0]
        else:
            raise AssertionError(
                "keras.applications no longer calls keras.src.utils.file_utils.get_file: "
                "update zoo.compat.replaced_get_file"
            )
