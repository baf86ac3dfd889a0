"""``zoo serve`` under load, across a version swap, at SIGTERM, with a broken model, and
its page in a real headless browser (Debian's chromium). Slow tier: each test starts
its own server; loopback traffic only, bounded in count and time."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from urllib.parse import urlparse

import keras
import numpy as np
import pytest
from helpers import mnist_pixels
from PIL import Image

import zoo
from zoo.exporting import export
from zoo.serving.process import ServerProcess

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"


class Clients:
    """``n`` threads posting predict requests on keep-alive connections until told to
    stop or until ``max_requests`` in all; every answer and failure is kept."""

    def __init__(self, rest: str, model: str, inputs: np.ndarray, n: int, max_requests: int):
        url = urlparse(rest)
        self.host, self.port = url.hostname, url.port
        self.path = f"/v1/models/{model}:predict"
        self.inputs, self.n, self.max_requests = inputs, n, max_requests
        self.answers: list[tuple[int, np.ndarray]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(n)]

    def __enter__(self) -> Clients:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def _run(self, i: int) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        row = i % len(self.inputs)
        body = json.dumps({"instances": self.inputs[row : row + 1].tolist()})
        while not self._stop.is_set() and len(self.answers) < self.max_requests:
            try:
                conn.request("POST", self.path, body, {"Content-Type": "application/json"})
                reply = conn.getresponse()
                data = reply.read()
                if reply.status != 200:
                    raise RuntimeError(f"HTTP {reply.status}: {data[:200]!r}")
                with self._lock:
                    self.answers.append((row, np.asarray(json.loads(data)["predictions"][0])))
            except Exception as exc:  # every failure counts, none may happen
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        conn.close()


def _get(rest: str, path: str) -> dict:
    url = urlparse(rest)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("GET", path)
    body = json.loads(conn.getresponse().read())
    conn.close()
    return body


def _export(model, folder, name="mnist_mlp"):
    export(model, folder, formats=["saved_model"], name=name, labels=[str(i) for i in range(10)])


def _mlp(seed: int):
    keras.utils.set_random_seed(seed)
    return zoo.build("mnist_mlp")


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_32_concurrent_clients_no_failed_request_and_batches_merge(tmp_path):
    model = _mlp(0)
    _export(model, tmp_path / "mnist_mlp")
    server = ServerProcess([str(tmp_path / "mnist_mlp")], tmp_path, tmp_path / "serve.log")
    inputs = mnist_pixels(32, seed=4)
    expected = np.asarray(model(inputs, training=False))
    try:
        with Clients(server.rest, "mnist_mlp", inputs, n=32, max_requests=6000) as clients:
            time.sleep(20)
        stats = _get(server.rest, "/zoo/models")["models"][0]["batching"]
    finally:
        assert server.stop() == 0
    assert clients.failures == []
    assert len(clients.answers) >= 500  # it served, not only survived
    for row, got in clients.answers:  # every answer is its own request's
        np.testing.assert_allclose(got, expected[row], atol=1e-5)
    assert stats["instances"] / stats["batches"] > 2  # concurrent requests were merged


def test_version_swap_under_load_loses_no_request(tmp_path):
    old, new = _mlp(0), _mlp(1)
    folder = tmp_path / "mnist_mlp"
    _export(old, folder)
    server = ServerProcess([str(folder), "--poll-seconds", "0.5"], tmp_path, tmp_path / "log")
    inputs = mnist_pixels(8, seed=5)
    want_old, want_new = (np.asarray(m(inputs, training=False)) for m in (old, new))
    try:
        with Clients(server.rest, "mnist_mlp", inputs, n=8, max_requests=50_000) as clients:
            time.sleep(2)
            _export(new, folder)  # version 2, written while the server serves version 1

            def swapped() -> bool:
                return bool(clients.answers) and np.allclose(
                    clients.answers[-1][1], want_new[clients.answers[-1][0]], atol=1e-5
                )

            _wait_for(swapped, 120, "version 2 to serve")
            time.sleep(2)
        (folder / "3").mkdir()  # a broken version: reported, and version 2 keeps serving
        (folder / "3" / "saved_model.pb").write_bytes(b"not a SavedModel")
        _wait_for(lambda: len(_get(server.rest, "/v1/models/mnist_mlp")["model_version_status"])
                  == 3, 60, "version 3 to be tried")  # fmt: skip
        status = {r["version"]: r for r in _get(server.rest, "/v1/models/mnist_mlp")[
            "model_version_status"]}  # fmt: skip
        after = _get_prediction(server.rest, inputs[:1])
    finally:
        assert server.stop() == 0
    assert clients.failures == []
    for row, got in clients.answers:  # each answer came whole from one version or the other
        old_or_new = [np.allclose(got, w[row], atol=1e-5) for w in (want_old, want_new)]
        assert any(old_or_new)
    assert status["1"]["state"] == "END" and status["2"]["state"] == "AVAILABLE"
    assert status["3"]["state"] == "END" and status["3"]["status"]["error_code"] == "UNKNOWN"
    assert status["3"]["status"]["error_message"]
    np.testing.assert_allclose(after, want_new[:1], atol=1e-5)


def _get_prediction(rest: str, x: np.ndarray) -> np.ndarray:
    url = urlparse(rest)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("POST", "/v1/models/mnist_mlp:predict", json.dumps({"instances": x.tolist()}))
    body = json.loads(conn.getresponse().read())
    conn.close()
    return np.asarray(body["predictions"])


def test_sigterm_finishes_in_flight_requests_then_exits(tmp_path):
    model = _mlp(0)
    _export(model, tmp_path / "mnist_mlp")
    # batches wait 2 s to fill, so the requests are surely in flight when SIGTERM comes
    args = [str(tmp_path / "mnist_mlp"), "--batch-timeout-ms", "2000", "--max-batch-size", "64"]
    server = ServerProcess(args, tmp_path, tmp_path / "serve.log")
    inputs = mnist_pixels(6, seed=6)
    results: list = [None] * 6

    def one(i: int) -> None:
        try:
            results[i] = _get_prediction(server.rest, inputs[i : i + 1])[0]
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.8)
    started = time.monotonic()
    code = server.stop()
    for t in threads:
        t.join(30)
    assert code == 0
    expected = np.asarray(model(inputs, training=False))
    for i, got in enumerate(results):
        assert isinstance(got, np.ndarray), got
        np.testing.assert_allclose(got, expected[i], atol=1e-5)
    assert time.monotonic() - started < 30


def test_a_model_that_fails_to_load_is_reported_and_the_others_serve(tmp_path):
    _export(_mlp(0), tmp_path / "mnist_mlp")
    (tmp_path / "broken" / "1").mkdir(parents=True)
    (tmp_path / "broken" / "1" / "saved_model.pb").write_bytes(b"\x00garbage")
    args = [str(tmp_path / "mnist_mlp"), str(tmp_path / "broken")]
    server = ServerProcess(args, tmp_path, tmp_path / "serve.log")
    try:
        (row,) = _get(server.rest, "/v1/models/broken")["model_version_status"]
        prediction = _get_prediction(server.rest, mnist_pixels(1))
    finally:
        assert server.stop() == 0
    assert row["state"] == "END" and row["status"]["error_message"]
    assert prediction.shape == (1, 10)
    assert "error: broken version 1" in server.log.read_text()
    assert not any(line.startswith("broken:") for line in server.stdout)


# --------------------------------------------------------------------------- the page


def _trained_mlp():
    keras.utils.set_random_seed(0)
    model = zoo.build("mnist_mlp")
    splits = zoo.data.load("mnist_5k", batch_size=64, input_shape=(784,))
    model.fit(splits.train, epochs=3, verbose=0, shuffle=False)
    return model


@pytest.fixture(scope="module")
def page_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    models = {"mnist_mlp": _trained_mlp(), "cifar10_cnn": zoo.build("cifar10_cnn"),
              "conv_autoencoder": zoo.build("conv_autoencoder")}  # fmt: skip
    _export(models["mnist_mlp"], root / "mnist_mlp")
    export(models["cifar10_cnn"], root / "cifar10_cnn", formats=["saved_model"],
           name="cifar10_cnn", labels=[f"class {i}" for i in range(10)])  # fmt: skip
    export(models["conv_autoencoder"], root / "conv_autoencoder", formats=["saved_model"],
           name="conv_autoencoder")  # fmt: skip
    server = ServerProcess([str(root / n) for n in models], root, root / "serve.log")
    yield server, models
    assert server.stop() == 0


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox"])  # fmt: skip
        page = browser.new_page()
        page.route("**/*", _loopback_only)
        yield page
        browser.close()


def _loopback_only(route) -> None:
    host = urlparse(route.request.url).hostname
    if host in ("127.0.0.1", "localhost") or route.request.url.startswith("data:"):
        route.continue_()
    else:
        route.abort()


def test_page_lists_the_models_with_their_cards(page_server, browser_page):
    server, _ = page_server
    browser_page.goto(server.rest + "/")
    browser_page.wait_for_selector(".model")
    text = browser_page.inner_text("main")
    assert "mnist_mlp" in text and "cifar10_cnn" in text
    assert zoo.registry.get_entry("mnist_mlp").summary in text


def test_draw_a_digit_and_see_the_predicted_label(page_server, browser_page):
    server, models = page_server
    page = browser_page
    page.goto(server.rest + "/models/mnist_mlp")
    box = page.wait_for_selector("#canvas").bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x0 + 0.5 * w, y0 + 0.15 * h)  # a "1": one stroke down the middle
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(x0 + 0.5 * w, y0 + (0.15 + 0.7 * step / 20) * h)
    page.mouse.up()
    page.click("#predict")
    page.wait_for_selector("#top-label")
    shown = page.inner_text("#top-label")
    bars = page.query_selector_all(".bar")
    # the pixels the page sent, read back from its 28 x 28 canvas
    sent = np.asarray(page.evaluate(
        "() => Array.from(document.getElementById('small').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data)"), "float32").reshape(28, 28, 4)[..., 0]  # fmt: skip
    expected = np.asarray(models["mnist_mlp"]((sent / 255.0).reshape(1, 784), training=False))[0]
    assert len(bars) == 10
    assert shown == str(int(expected.argmax()))
    assert shown == "1"  # a trained MLP reads the stroke as a one


def test_upload_a_photo_and_see_bars(page_server, browser_page, tmp_path):
    server, _ = page_server
    photo = tmp_path / "photo.jpg"
    pixels = np.random.default_rng(7).integers(0, 256, (120, 160, 3), dtype="uint8")
    Image.fromarray(pixels).save(photo, format="JPEG")
    page = browser_page
    page.goto(server.rest + "/models/cifar10_cnn")
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#top-label")
    labels = [b.get_attribute("data-label") for b in page.query_selector_all(".bar")]
    assert sorted(labels) == sorted(f"class {i}" for i in range(10))
    assert page.inner_text("#top-label") == labels[0]
    assert base64.b64decode(page.get_attribute("#preview", "src").split(",", 1)[1])[:2] == (
        b"\xff\xd8"  # the JPEG the person chose
    )


def test_draw_for_an_autoencoder_and_see_its_reconstruction(page_server, browser_page):
    server, _ = page_server
    page = browser_page
    page.goto(server.rest + "/models/conv_autoencoder")
    box = page.wait_for_selector("#canvas").bounding_box()
    page.mouse.move(box["x"] + 60, box["y"] + 60)
    page.mouse.down()
    page.mouse.move(box["x"] + 200, box["y"] + 200)
    page.mouse.up()
    page.click("#predict")
    shown = page.wait_for_selector("#output-image")
    assert shown.get_attribute("width") == "28" and shown.get_attribute("height") == "28"
