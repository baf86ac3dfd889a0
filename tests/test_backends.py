"""The three Keras backends: the tutorial's PyTorch loop trains a zoo model, a ``.keras``
file crosses backends, ``zoo train --backend``, and TensorFlow-only features say so.

Keras picks its backend when it is imported, so each check runs in a child process
with ``KERAS_BACKEND`` set (the registry-wide tests run whole under each backend: see
tests/test_models_registry_wide.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_under(backend: str, code: str, cwd: Path, timeout: int = 600) -> str:
    """Run ``code`` in a fresh Python on ``backend``; its stdout (it must exit 0)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_the_tutorials_pytorch_loop_trains_a_zoo_model(tmp_path):
    """With the torch backend, zoo.build returns a torch.nn.Module that a plain PyTorch
    loop (torch.optim.Adam over model.parameters(), loss.backward(), step) trains."""
    out = run_under(
        "torch",
        """
        import keras, numpy as np, torch
        import zoo

        splits = zoo.data.load("mnist_5k", batch_size=32, seed=0, input_shape=(784,))
        def arrays(ds):
            xs, ys = zip(*[(np.asarray(x), np.asarray(y)) for x, y in ds])
            return torch.tensor(np.concatenate(xs)), torch.tensor(np.concatenate(ys))
        x_train, y_train = arrays(splits.train)
        x_test, y_test = arrays(splits.test)

        keras.utils.set_random_seed(0)  # torch's too; unseeded, Keras' initial weights varied
        model = zoo.build("mnist_mlp")
        assert isinstance(model, torch.nn.Module)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = torch.nn.NLLLoss()  # the model ends in softmax: log-probabilities in
        for epoch in range(5):
            model.train()
            order = torch.randperm(len(x_train))
            for i in range(0, len(order), 32):
                batch = order[i : i + 32]
                optimizer.zero_grad()
                loss = loss_fn(torch.log(model(x_train[batch]) + 1e-9), y_train[batch].long())
                loss.backward()
                optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_test).argmax(-1) == y_test).float().mean().item()
        print(accuracy)
    """,
        tmp_path,
    )
    assert float(out.split()[-1]) >= 0.92


def test_a_keras_file_saved_under_one_backend_predicts_alike_under_the_others(tmp_path):
    run_under(
        "tensorflow",
        """
        import numpy as np, keras
        import zoo

        keras.utils.set_random_seed(0)
        model = zoo.build("mnist_cnn")
        x = np.random.default_rng(0).random((16, 28, 28, 1), dtype="float32")
        model.fit(x, np.arange(16) % 10, epochs=1, verbose=0)
        model.save("cnn.keras")
        np.savez("io.npz", x=x, y=keras.ops.convert_to_numpy(model(x, training=False)))
    """,
        tmp_path,
    )
    saved = np.load(tmp_path / "io.npz")
    for backend in ("jax", "torch"):
        run_under(backend, f"""
            import numpy as np, keras
            model = keras.saving.load_model("cnn.keras")
            x = np.load("io.npz")["x"]
            np.save("{backend}.npy", keras.ops.convert_to_numpy(model(x, training=False)))
        """, tmp_path)  # fmt: skip
        np.testing.assert_allclose(np.load(tmp_path / f"{backend}.npy"), saved["y"], atol=1e-5)


@pytest.mark.slow  # three child processes; the fast tier keeps the cross-backend predict test
def test_a_model_saved_under_jax_trains_again_on_torch_and_tensorflow(tmp_path):
    """The file keeps its compile keywords (32 steps per call): Keras' torch trainer refuses
    them, the zoo's loader sets one step per call there; a GAN's own compile runs on load."""
    run_under("jax", """
        import numpy as np
        import zoo

        x = np.random.default_rng(0).random((16, 8, 8, 1), dtype="float32")
        zoo.build("mnist_mlp").save("mlp.keras")
        gan = zoo.build("gan", image_shape=(8, 8, 1), noise_dim=8)
        gan.fit(x, epochs=1, verbose=0)
        gan.save("gan.keras")
    """, tmp_path)  # fmt: skip
    for backend in ("torch", "tensorflow"):
        out = run_under(backend, """
            import numpy as np, keras
            import zoo
            from zoo.loading import load_keras_file
            from pathlib import Path

            zoo.list_models()  # registers the zoo's classes
            x = np.random.default_rng(1).random((16, 784), dtype="float32")
            try:
                keras.saving.load_model("mlp.keras").fit(x, np.arange(16) % 10, verbose=0)
                print("plain load trains")
            except ValueError as exc:
                print("keras refuses:", str(exc)[:60])
            mlp = load_keras_file(Path("mlp.keras"))
            print("mlp", sorted(mlp.fit(x, np.arange(16) % 10, verbose=0).history))
            images = np.random.default_rng(2).random((16, 8, 8, 1), dtype="float32")
            gan = keras.saving.load_model("gan.keras")
            print("gan", sorted(gan.fit(images, epochs=1, verbose=0).history))
        """, tmp_path)  # fmt: skip
        refusal = "keras refuses: `steps_per_execution` must be 1 with the PyTorch"
        assert (refusal if backend == "torch" else "plain load trains") in out
        assert "mlp ['accuracy', 'loss']" in out and "gan ['d_loss', 'g_loss']" in out


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_zoo_train_runs_on_the_backend_asked_for(backend, tmp_path):
    """recipes.train end to end on mnist_5k (tf.data input, callbacks, evaluation, every
    artifact) under the backend asked for."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KERAS_BACKEND", None)
    proc = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "train", "mnist_mlp", "--backend", backend,
         "--epochs", "1", "--out", str(tmp_path / "run")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert report["versions"]["backend"] == backend
    assert report["evaluation"]["accuracy"] > 0.8
    assert (tmp_path / "run" / "model.keras").is_file()


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_tensorflow_only_features_say_so(backend, tmp_path):
    out = run_under(backend, """
        import numpy as np
        import zoo
        from recipes.check import gradient_check

        def message(call):
            try:
                call()
            except zoo.ZooError as exc:
                return str(exc)
            return "no error"

        print(message(lambda: zoo.distribute.strategy("mirrored")))
        print(message(lambda: gradient_check(zoo.build("perceptron"), np.zeros((2, 30)))))
    """, tmp_path)  # fmt: skip
    strategy, check = out.strip().splitlines()[-2:]
    assert f"needs the TensorFlow backend; this process runs {backend}" in strategy
    assert "keras.distribution.DataParallel()" in strategy
    assert check.startswith("The gradient check (zoo check) needs the TensorFlow backend")


def test_a_model_trained_on_jax_exports_from_jax_and_from_tensorflow(tmp_path):
    """model.export straight from JAX (SavedModel and TFLite, with parity), and the .keras
    file it saved exports under TensorFlow: both serve what JAX computed."""
    import zoo

    out = run_under("jax", """
        import numpy as np, keras
        import zoo

        keras.utils.set_random_seed(0)
        model = zoo.build("mnist_mlp")
        x = np.random.default_rng(0).random((64, 784), dtype="float32")
        model.fit(x, np.arange(64) % 10, epochs=2, verbose=0)
        model.save("mlp.keras")
        np.savez("io.npz", x=x, y=keras.ops.convert_to_numpy(model(x, training=False)))
        report = zoo.export(model, "direct", name="mnist_mlp")
        print(sorted(report.manifest["artifacts"]))
        try:
            zoo.export(model, "refused", formats=["onnx"])
        except zoo.ZooError as exc:
            print(exc)
    """, tmp_path)  # fmt: skip
    assert "['saved_model', 'tflite']" in out
    assert "On the jax backend zoo export writes saved_model, tflite, not onnx" in out
    assert "KERAS_BACKEND=tensorflow or torch" in out and not (tmp_path / "refused").exists()
    io = np.load(tmp_path / "io.npz")
    direct = tmp_path / "direct"
    np.testing.assert_allclose(_served(direct / "1", io["x"]), io["y"], atol=1e-5)
    np.testing.assert_allclose(_tflite(direct / "mnist_mlp.tflite", io["x"][:4]), io["y"][:4],
                               atol=1e-5)  # fmt: skip
    report = zoo.export(tmp_path / "mlp.keras", tmp_path / "exported",
                        formats=("saved_model", "tflite"), name="mnist_mlp")  # fmt: skip
    assert all(a["parity"]["max_abs_diff"] <= 1e-5 for a in report.manifest["artifacts"].values())
    np.testing.assert_allclose(_served(report.files["saved_model"], io["x"]), io["y"], atol=1e-5)


def test_a_model_trained_on_torch_exports_to_onnx_from_torch(tmp_path):
    out = run_under("torch", """
        import numpy as np, keras
        import zoo

        keras.utils.set_random_seed(0)
        model = zoo.build("mnist_cnn")
        x = np.random.default_rng(0).random((32, 28, 28, 1), dtype="float32")
        model.fit(x, np.arange(32) % 10, epochs=1, verbose=0)
        np.savez("io.npz", x=x, y=keras.ops.convert_to_numpy(model(x, training=False)))
        report = zoo.export(model, "direct", name="mnist_cnn")
        print(sorted(report.manifest["artifacts"]))
        try:
            zoo.export(model, "refused", formats=["saved_model"])
        except zoo.ZooError as exc:
            print(exc)
    """, tmp_path)  # fmt: skip
    assert "['onnx']" in out and "KERAS_BACKEND=jax or tensorflow" in out
    import onnxruntime as ort

    io = np.load(tmp_path / "io.npz")
    session = ort.InferenceSession(str(tmp_path / "direct" / "mnist_cnn.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: io["x"]})[0]
    np.testing.assert_allclose(got, io["y"], atol=1e-5)


def _served(saved_model: Path, x: np.ndarray) -> np.ndarray:
    """What TensorFlow's SavedModel loader serves for ``x`` (one input, one output)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(saved_model))
    served = loaded.signatures["serving_default"]
    key = next(iter(served.structured_input_signature[1]))
    return next(iter(served(**{key: tf.constant(x)}).values())).numpy()


def _tflite(path: Path, x: np.ndarray) -> np.ndarray:
    """The TFLite interpreter's outputs for ``x``, one sample per call (batch 1 files too)."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    key = next(iter(runner.get_input_details()))
    return np.concatenate([next(iter(runner(**{key: row[None]}).values())) for row in x])


@pytest.mark.slow  # the registry-wide tiers take one such step per backend in the fast time
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_own_step_models_train_on_the_other_backends(backend, tmp_path):
    """The GANs' and the diffusion model's own steps train there: every weight moves (the
    batch-norm statistics and the EMA copy too), each optimizer counts its steps, and the
    labels of a labelled tf.data set (lists on torch) are ignored."""
    out = run_under(backend, """
        import numpy as np, tensorflow as tf, keras
        import zoo

        keras.utils.set_random_seed(0)
        x = np.random.default_rng(0).random((32, 8, 8, 1), dtype="float32")
        data = tf.data.Dataset.from_tensor_slices((x, np.zeros(32, "int64"))).batch(8)
        for name, keywords in [("gan", {"image_shape": (8, 8, 1), "noise_dim": 8}),
                               ("dcgan", {"image_shape": (8, 8, 1), "noise_dim": 8}),
                               ("diffusion", {"image_shape": (8, 8, 1), "widths": (8, 16),
                                              "timesteps": 50})]:
            model = zoo.build(name, **keywords)
            before = [keras.ops.convert_to_numpy(w).copy() for w in model.weights]
            history = model.fit(data, epochs=2, validation_data=data, verbose=0).history
            after = [keras.ops.convert_to_numpy(w) for w in model.weights]
            still = sum(np.array_equal(a, b) for a, b in zip(before, after))
            optimizers = [model.d_optimizer, model.g_optimizer] if name != "diffusion" else [
                model.optimizer]
            steps = [int(keras.ops.convert_to_numpy(o.iterations)) for o in optimizers]
            finite = all(np.isfinite(v).all() for v in history.values())
            print(name, sorted(history), still, steps, finite)
    """, tmp_path)  # fmt: skip
    assert "gan ['d_loss', 'g_loss', 'val_d_loss', 'val_g_loss'] 0 [8, 8] True" in out
    assert "dcgan ['d_loss', 'g_loss', 'val_d_loss', 'val_g_loss'] 0 [8, 8] True" in out
    assert "diffusion ['loss', 'val_loss'] 0 [8] True" in out
