"""``zoo serve`` as a TF Serving client sees it: a real server process on 127.0.0.1,
REST and the ``tensorflow-serving-api`` gRPC stubs, raw inputs, generate, bad requests."""

from __future__ import annotations

import base64
import io
import json
from types import SimpleNamespace

import grpc
import httpx
import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import mnist_pixels
from PIL import Image
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

import zoo
from zoo.cli import main as cli
from zoo.data.vocab import save_vectorizer
from zoo.exporting import export
from zoo.serving.process import ServerProcess

CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TEXTS = ["a great film", "a bad film", "great acting", "bad plot and bad acting", "loved it"]
LIMIT_MB = 1  # the server's body limit in these tests


def _export_text_model(root):
    entry = zoo.registry.get_entry("lstm_text")
    over = dict(entry.test_overrides)
    layer = keras.layers.TextVectorization(
        max_tokens=over["vocab_size"], output_sequence_length=over["sequence_length"]
    )
    layer.adapt(TEXTS)
    model = zoo.build("lstm_text", **over)
    export(model, root / "lstm_text", formats=["saved_model"], name="lstm_text",
           labels=["negative", "positive"])  # fmt: skip
    save_vectorizer(layer, root / "lstm_text" / "text_vectorization.json")
    return model, layer


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    keras.utils.set_random_seed(0)
    models = {
        "mnist_mlp": zoo.build("mnist_mlp"),
        "cifar10_cnn": zoo.build("cifar10_cnn"),
        "gan": zoo.build("gan", **zoo.registry.get_entry("gan").test_overrides),
        "char_lstm": zoo.build("char_lstm", **zoo.registry.get_entry("char_lstm").test_overrides),
        "diffusion": zoo.build("diffusion", **zoo.registry.get_entry("diffusion").test_overrides),
        "autoencoder": zoo.build("autoencoder",
                                 **zoo.registry.get_entry("autoencoder").test_overrides),
    }  # fmt: skip
    labels = {"mnist_mlp": [str(i) for i in range(10)], "cifar10_cnn": CIFAR}
    for name, model in models.items():
        export(model, root / name, formats=["saved_model"], name=name, labels=labels.get(name))
    models["lstm_text"], vectorizer = _export_text_model(root)
    args = [str(root / n) for n in models] + ["--max-body-mb", str(LIMIT_MB)]
    server = ServerProcess(args, cwd=root, log=root / "serve.log")
    client = httpx.Client(base_url=server.rest, timeout=30)
    yield SimpleNamespace(server=server, models=models, root=root, http=client,
                          vectorizer=vectorizer)  # fmt: skip
    client.close()
    assert server.stop() == 0, server.log.read_text()[-2000:]


def _keras(model, x):
    return np.asarray(model(np.asarray(x), training=False))


def _png(pixels: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


# --------------------------------------------------------------------------- TF Serving's API


def test_status_answers_as_tf_serving(served):
    ok = {"error_code": "OK", "error_message": ""}
    expected = {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": ok}]}
    assert served.http.get("/v1/models/mnist_mlp").json() == expected
    assert served.http.get("/v1/models/mnist_mlp/versions/1").json() == expected
    missing = served.http.get("/v1/models/mnist_mlp/versions/9")
    assert missing.status_code == 404 and "version 9" in missing.json()["error"]
    assert any(line.startswith("mnist_mlp: version 1 AVAILABLE") for line in served.server.stdout)


def test_metadata_is_the_signature_def(served):
    body = served.http.get("/v1/models/mnist_mlp/metadata").json()
    assert body["model_spec"] == {"name": "mnist_mlp", "version": "1", "signature_name": ""}
    sig = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    pixels = sig["inputs"]["pixels"]
    assert pixels["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in pixels["tensor_shape"]["dim"]] == ["-1", "784"]
    assert list(sig["outputs"]) == ["output_0"]


@pytest.mark.parametrize(
    "body_of, key",
    [
        (lambda x: {"instances": x.tolist()}, "predictions"),
        (lambda x: {"instances": [{"pixels": r} for r in x.tolist()]}, "predictions"),
        (lambda x: {"inputs": x.tolist()}, "outputs"),
        (lambda x: {"inputs": {"pixels": x.tolist()}, "signature_name": "serve"}, "outputs"),
    ],
    ids=["row", "row-named", "columnar", "columnar-named"],
)
def test_rest_predict_equals_keras(served, body_of, key):
    x = mnist_pixels(5, seed=1)
    for url in ("/v1/models/mnist_mlp:predict", "/v1/models/mnist_mlp/versions/1:predict"):
        answer = served.http.post(url, json=body_of(x))
        assert answer.status_code == 200, answer.text
        assert list(answer.json()) == [key]
        got = np.asarray(answer.json()[key])
        np.testing.assert_allclose(got, _keras(served.models["mnist_mlp"], x), atol=1e-5)


def _stub(served, kind=prediction_service_pb2_grpc.PredictionServiceStub):
    return kind(grpc.insecure_channel(served.server.grpc))


def test_grpc_with_tf_serving_stubs_equals_keras(served):
    x = mnist_pixels(4, seed=2)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "mnist_mlp"
    request.model_spec.signature_name = "serving_default"
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(x))
    response = _stub(served).Predict(request, timeout=30)
    got = tf.make_ndarray(response.outputs["output_0"])
    np.testing.assert_allclose(got, _keras(served.models["mnist_mlp"], x), atol=1e-5)
    assert response.model_spec.version.value == 1

    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "mnist_mlp"
    status = _stub(served, model_service_pb2_grpc.ModelServiceStub).GetModelStatus(
        status_request, timeout=30
    )
    (row,) = status.model_version_status
    assert row.version == 1 and row.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE


@pytest.mark.parametrize(
    "model, tensor, code",
    [
        ("mnist_mlp", np.zeros((1, 784), "float64"), grpc.StatusCode.INVALID_ARGUMENT),
        ("mnist_mlp", np.zeros((1, 3), "float32"), grpc.StatusCode.INVALID_ARGUMENT),
        ("no_such_model", np.zeros((1, 784), "float32"), grpc.StatusCode.NOT_FOUND),
    ],
    ids=["dtype", "shape", "unknown-model"],
)
def test_grpc_bad_requests(served, model, tensor, code):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(tensor))
    with pytest.raises(grpc.RpcError) as err:
        _stub(served).Predict(request, timeout=30)
    assert err.value.code() == code


# --------------------------------------------------------------------------- beyond TF Serving


def test_raw_text_equals_keras_on_the_saved_vocabulary(served):
    answer = served.http.post("/v1/models/lstm_text:predict", json={"instances": TEXTS[:2]})
    assert answer.status_code == 200, answer.text
    ids = np.asarray(served.vectorizer(TEXTS[:2]))
    expected = _keras(served.models["lstm_text"], ids)
    np.testing.assert_allclose(answer.json()["predictions"], expected, atol=1e-5)


@pytest.mark.parametrize("size", [(32, 32), (48, 64)], ids=["same-size", "resized"])
def test_encoded_image_equals_keras_with_top_k_labels(served, size):
    pixels = np.random.default_rng(3).integers(0, 256, (*size, 3), dtype="uint8")
    body = {"instances": [{"b64": _png(pixels)}], "top_k": 3}
    answer = served.http.post("/v1/models/cifar10_cnn:predict", json=body)
    assert answer.status_code == 200, answer.text
    x = tf.image.resize(pixels.astype("float32"), (32, 32)).numpy() / 255.0
    expected = _keras(served.models["cifar10_cnn"], x[None])[0]
    np.testing.assert_allclose(answer.json()["predictions"][0], expected, atol=1e-5)
    ranked = answer.json()["top_k"][0]
    assert [r["label"] for r in ranked] == [CIFAR[i] for i in np.argsort(-expected)[:3]]
    assert ranked[0]["probability"] == pytest.approx(expected.max(), abs=1e-6)


def test_drawn_digit_as_png_reaches_the_flat_mlp(served):
    digit = np.zeros((28, 28), "uint8")
    digit[4:24, 13:16] = 255  # a "1"
    answer = served.http.post("/v1/models/mnist_mlp:predict",
                              json={"instances": [{"b64": _png(digit)}]})  # fmt: skip
    assert answer.status_code == 200, answer.text
    expected = _keras(served.models["mnist_mlp"], (digit / 255.0).reshape(1, 784))
    np.testing.assert_allclose(answer.json()["predictions"], expected, atol=1e-5)


def test_language_model_generates_as_the_keras_model(served):
    body = {"prompt": "def f(x):", "length": 12, "temperature": 0}
    answer = served.http.post("/v1/models/char_lstm:generate", json=body)
    assert answer.status_code == 200, answer.text
    expected = served.models["char_lstm"].generate("def f(x):", 12, temperature=0)
    assert answer.json()["text"] == expected


def test_generator_returns_png_samples(served):
    answer = served.http.post("/v1/models/gan:generate", json={"count": 3, "seed": 5})
    assert answer.status_code == 200, answer.text
    images = [Image.open(io.BytesIO(base64.b64decode(i["b64"]))) for i in answer.json()["images"]]
    assert [im.size for im in images] == [(8, 8)] * 3
    again = served.http.post("/v1/models/gan:generate", json={"count": 3, "seed": 5}).json()
    assert again == answer.json()  # the seed fixes the noise


def test_diffusion_samples_as_the_keras_denoiser(served):
    from zoo.models.generative import ddim_sample, noise_schedule

    body = {"count": 2, "steps": 3, "seed": 1}
    answer = served.http.post("/v1/models/diffusion:generate", json=body)
    assert answer.status_code == 200, answer.text
    got = np.stack([np.asarray(Image.open(io.BytesIO(base64.b64decode(i["b64"]))))
                    for i in answer.json()["images"]])  # fmt: skip
    model = served.models["diffusion"]

    def denoise(x, t):
        return np.asarray(model.network([x, t], training=False))

    expected = ddim_sample(denoise, 2, (8, 8, 1), noise_schedule(model.timesteps), 3, 1)
    assert np.abs(got.astype(int) - np.round(expected[..., 0] * 255)).max() <= 1


def test_autoencoder_answers_its_reconstruction(served):
    x = np.random.default_rng(8).uniform(0, 1, (1, 8, 8, 1)).astype("float32")
    answer = served.http.post("/v1/models/autoencoder:predict", json={"instances": x.tolist()})
    assert answer.status_code == 200, answer.text
    expected = _keras(served.models["autoencoder"], x)
    np.testing.assert_allclose(answer.json()["predictions"], expected, atol=1e-5)


def test_listing_and_page_assets(served):
    listing = {m["name"]: m for m in served.http.get("/zoo/models").json()["models"]}
    assert {n: m["kind"] for n, m in listing.items()} == {
        "mnist_mlp": "digit", "cifar10_cnn": "image", "lstm_text": "text", "gan": "generator",
        "char_lstm": "language_model", "diffusion": "diffusion", "autoencoder": "image",
    }  # fmt: skip
    assert listing["autoencoder"]["output"] == "image"
    assert listing["cifar10_cnn"]["output"] == "classes"
    assert listing["cifar10_cnn"]["labels"] == CIFAR
    card = listing["cifar10_cnn"]["card"]
    assert card["summary"] == zoo.registry.get_entry("cifar10_cnn").summary
    for path in ("/", "/models/mnist_mlp", "/static/app.js", "/static/style.css"):
        page = served.http.get(path)
        assert page.status_code == 200 and page.content
    assert "http" not in served.http.get("/").text.replace("http-equiv", "")  # nothing remote


# --------------------------------------------------------------------------- bad requests

_PIXELS = [0.0] * 784
BAD = [
    ("mnist_mlp:predict", b"{not json", 400, "JSON Parse error"),
    ("mnist_mlp:predict", b"[1, 2]", 400, "must be a JSON object"),
    ("mnist_mlp:predict", {}, 400, "Missing 'inputs' or 'instances'"),
    ("mnist_mlp:predict", {"instances": [[1, 2]]}, 400, "does not match"),
    ("mnist_mlp:predict", {"instances": [["a"] * 784]}, 400, "expected numbers"),
    ("mnist_mlp:predict", {"instances": [[1, 2], [3]]}, 400, "does not match"),
    ("mnist_mlp:predict", {"inputs": [[0.0] * 784, [0.0] * 3]}, 400, "unequal length"),
    ("mnist_mlp:predict", b'{"instances": [[NaN]]}', 400, "non-finite"),
    ("mnist_mlp:predict", {"instances": [[1e39] * 784]}, 400, "non-finite"),
    ("mnist_mlp:predict", {"instances": [_PIXELS], "signature_name": "x"}, 400, '"x" not found'),
    ("mnist_mlp:predict", {"instances": [_PIXELS], "top_k": 0}, 400, "top_k"),
    ("cifar10_cnn:predict", {"instances": [{"b64": "@@@"}]}, 400, "not valid base64"),
    ("cifar10_cnn:predict", {"instances": [{"b64": "aGVsbG8="}]}, 400, "not a readable image"),
    ("cifar10_cnn:predict", {"instances": ["/etc/passwd"]}, 400, "got a string"),
    ("lstm_text:predict", {"instances": [[1.5] * 12]}, 400, "whole numbers"),
    ("gan:generate", {"count": 1000}, 400, "'count'"),
    ("mnist_mlp:generate", {}, 400, "generate is for"),
    ("no_such_model:predict", {"instances": [_PIXELS]}, 404, "Latest(no_such_model)"),
    ("mnist_mlp/versions/7:predict", {"instances": [_PIXELS]}, 404, "Specific(mnist_mlp, 7)"),
    ("mnist_mlp/labels/x", {}, 404, "Malformed request"),
]


@pytest.mark.parametrize("path, body, status, fragment", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_request_gets_a_json_error_and_the_server_keeps_serving(
    served, path, body, status, fragment
):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = served.http.post(f"/v1/models/{path}", content=content)
    assert answer.status_code == status, answer.text
    assert fragment in answer.json()["error"]
    good = served.http.post("/v1/models/mnist_mlp:predict", json={"instances": [_PIXELS]})
    assert good.status_code == 200


def test_oversized_payload_is_413(served):
    body = b'{"instances": [' + b"0.0," * (LIMIT_MB * 1024 * 1024 // 4) + b"0.0]}"
    answer = served.http.post("/v1/models/mnist_mlp:predict", content=body)
    assert answer.status_code == 413 and "limit" in answer.json()["error"]


def test_unknown_model_name_is_a_clear_cli_error(tmp_path, capsys):
    assert cli(["serve", "no_such_export"]) == 2
    err = capsys.readouterr().err
    assert "no_such_export" in err and "zoo export" in err and "Traceback" not in err


def test_python_serve_rejects_unknown_options_and_bad_values():
    with pytest.raises(zoo.InvalidArgumentError, match="rest_prot"):
        zoo.serve("mnist_mlp", rest_prot=1)
    with pytest.raises(zoo.InvalidArgumentError, match="rest_port"):
        zoo.serve("mnist_mlp", rest_port=70000)
    with pytest.raises(zoo.InvalidArgumentError, match="max_batch_size"):
        zoo.serve("mnist_mlp", max_batch_size=0)
