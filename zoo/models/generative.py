"""Generative models: autoencoders, a VAE, GANs and a small diffusion model.

All train with ``model.fit(dataset)`` on image batches scaled to [0, 1] (the
zoo's pipeline; labels are ignored) and round-trip through ``.keras``.
Sampling is seeded and reproducible; random draws happen outside the
exported graphs: decoders, generators and the denoiser take the noise (and
the time step) as inputs (docs/PLATFORM_NOTES.md: random ops block TFLite builtins).

Autoencoders and the VAE use Keras' own step (``compute_loss``); the GANs and
the diffusion model have their own ``train_step`` (two optimizers; an EMA copy),
written once and run on every backend (``own_step``, ``gradient_step``).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from zoo.models._blocks import check_positive, check_range
from zoo.models._layers import BatchNormalization, output_dtype
from zoo.models._optimizers import clone, fused
from zoo.registry import register
from zoo.tasks import AUTOENCODE, GENERATE, Task, register_task

_IMAGE_DATA = ("classification", "binary", "regression")  # labels are ignored


def _jit_own_step() -> bool:
    """Compile the own steps on JAX only (``jax.jit`` of the stateless step); on TensorFlow
    they run as a plain ``tf.function`` (the EMA's cross-replica update and the GAN's two
    tapes stay out of XLA), and torch runs eagerly."""
    return keras.backend.backend() == "jax"


class _CompiledOnLoad:
    """Keras does not call a custom ``compile`` when it loads a model (it warns instead),
    so a loaded GAN or diffusion model could not ``fit``; this calls it with the saved
    compile keywords."""

    def compile_from_config(self, config: dict[str, Any]) -> None:
        from zoo.compat import steps_this_backend_runs

        keywords = keras.saving.deserialize_keras_object(config)
        if keywords.get("optimizer") is not None:  # the file holds Keras' Adam: fuse it
            keywords["optimizer"] = fused(keywords["optimizer"])  # before the GAN clones it
        self.compile(**keywords)
        steps_this_backend_runs(self)


class OptimizerPair(keras.optimizers.Optimizer):
    """The GAN's discriminator and generator optimizers, seen as one by Keras' JAX trainer.

    That trainer threads ``model.optimizer.variables`` through its pure training step, so
    both optimizers' slots ride in this pair; the GAN's step still applies each one to
    its own network. Only set on JAX, after ``compile``, so saved files keep the plain
    optimizer's configuration.
    """

    def __init__(self, first: keras.optimizers.Optimizer, second: keras.optimizers.Optimizer):
        super().__init__(learning_rate=0.0, name="optimizer_pair")
        self.first, self.second = first, second
        self.built = True  # both are built by the GAN's compile

    @property
    def variables(self) -> list:
        return self.first.variables + self.second.variables

    @property
    def iterations(self):
        """Training steps taken: each step applies the second (generator) optimizer once."""
        return self.second.iterations

    def build(self, variables: list) -> None:
        self.built = True


def own_step(model: keras.Model, args: tuple, step) -> Any:
    """Run ``step(data) -> logs`` (written statefully: variables assigned, optimizers
    applied) as the active backend's trainer calls ``train_step``/``test_step``.

    TensorFlow and torch call ``train_step(data)`` and let it change the variables.
    Keras' JAX trainer calls ``train_step(state, data)`` and wants ``(logs, new_state)``:
    a pure function it can ``jax.jit``. There the step runs in a ``StatelessScope``
    over that state, and what it assigned is the new state.
    """
    if keras.backend.backend() != "jax":
        return step(args[-1])
    state, data = args
    groups = _state_variables(model, len(state))
    mapping = [(ref, value) for refs, values in zip(groups, state)
               for ref, value in zip(refs, values)]  # fmt: skip
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = step(data)
    new_state = tuple([scope.get_current_value(ref) for ref in refs] for refs in groups)
    return logs, new_state


def _state_variables(model: keras.Model, size: int) -> list[list[Any]]:
    """The variables behind each part of the JAX trainer's state: (trainable,
    non-trainable, optimizer, metrics) for a training step, without the optimizer's
    for a test step."""
    if size == 4:
        return [model.trainable_variables, model.non_trainable_variables,
                model.optimizer.variables, model.metrics_variables]  # fmt: skip
    return [model.trainable_variables, model.non_trainable_variables, model.metrics_variables]


def _images(data: Any) -> Any:
    """The images of a training batch: ``x`` of ``(x, y)`` (a tuple on TensorFlow, a list on
    torch) or the batch itself; the labels are ignored."""
    return keras.utils.unpack_x_y_sample_weight(data)[0]


def gradient_step(model: keras.Model, loss_fn, variables: list, optimizer: Any):
    """``loss_fn()``, and one ``optimizer`` step on ``variables`` down its gradient:
    ``tf.GradientTape`` on TensorFlow, autograd (``loss.backward()``) on torch, and
    ``jax.value_and_grad`` on JAX (inside ``own_step``'s scope)."""
    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_gradient_step(model, loss_fn, variables, optimizer)
    if backend == "torch":
        import torch

        for v in variables:
            v.value.grad = None
        loss = loss_fn()
        loss.backward()
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            optimizer.apply(grads, variables)
        return loss
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn()
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss


def _jax_gradient_step(model: keras.Model, loss_fn, variables: list, optimizer: Any):
    """The JAX twin of the tape: differentiate ``loss_fn`` in the values of ``variables``,
    with every other variable of ``model`` at its current value. What the loss assigns
    on the way (batch-norm statistics, dropout seeds) comes out as an auxiliary result
    and is assigned in the enclosing scope, then the optimizer applies the gradients."""
    import jax

    differentiated = {id(v) for v in variables}
    others = [v for v in model.trainable_variables + model.non_trainable_variables
              if id(v) not in differentiated]  # fmt: skip
    current = [v.value for v in others]

    def loss_and_updates(values):
        mapping = list(zip(variables, values)) + list(zip(others, current))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            loss = loss_fn()
        return loss, [scope.get_current_value(v) for v in others]

    (loss, updates), grads = jax.value_and_grad(loss_and_updates, has_aux=True)(
        [v.value for v in variables]
    )
    for v, value in zip(others, updates):
        v.assign(value)
    optimizer.apply(grads, variables)
    return loss


def train_noise(shape: Any, like: Any, seed: keras.random.SeedGenerator) -> Any:
    """Standard normal noise inside a training step: ``tf.random`` on TensorFlow (safe in
    any replica context), ``torch.randn`` on torch (on ``like``'s device), and on JAX
    ``keras.random`` drawing from ``seed``, whose state travels in the trainer's state."""
    backend = keras.backend.backend()
    if backend == "jax":
        return keras.random.normal(shape, seed=seed)
    if backend == "torch":
        import torch

        return torch.randn(*[int(d) for d in shape], device=like.device)
    import tensorflow as tf

    return tf.random.normal(shape)


def train_timesteps(n: Any, timesteps: int, like: Any, seed: keras.random.SeedGenerator) -> Any:
    """``(n, 1)`` uniform random int32 time steps in ``[0, timesteps)``, as ``train_noise``."""
    backend = keras.backend.backend()
    if backend == "jax":
        return keras.random.randint((n, 1), 0, timesteps, dtype="int32", seed=seed)
    if backend == "torch":
        import torch

        return torch.randint(0, timesteps, (int(n), 1), dtype=torch.int32, device=like.device)
    import tensorflow as tf

    return tf.random.uniform((n, 1), maxval=timesteps, dtype="int32")


def _image_output(meaning: str):
    def spec(d: Any) -> dict[str, Any]:
        return {"shape": [None, *d.get("image_shape", d.get("input_shape"))], "meaning": meaning}

    return spec


register_task(
    Task(
        "autoencoder",
        {
            "optimizer": "adam",
            "loss": "binary_crossentropy",  # sigmoid pixels in [0, 1]: sharper than MSE
            "metrics": lambda: ["mse"],
        },
        output_spec=_image_output("reconstructed images in [0, 1]"),
        data_tasks=_IMAGE_DATA,
        learns_from=AUTOENCODE,
        report="generative",
    )
)
register_task(
    Task(
        "gan",
        {"optimizer": "adam", "loss": None, "metrics": lambda: None},
        output_spec=_image_output("generated images in [0, 1]"),
        input_spec=lambda d: {"shape": [None, d["noise_dim"]], "dtype": "float32"},
        data_tasks=_IMAGE_DATA,
        learns_from=GENERATE,
        report="generative",
        recipe_metric="frechet_distance",
        monitor=None,  # adversarial losses: no single loss to watch
    )
)
register_task(
    Task(
        "diffusion",
        {"optimizer": "adam", "loss": None, "metrics": lambda: None},
        output_spec=_image_output("predicted noise"),
        input_spec=lambda d: {
            "shape": [[None, *d["image_shape"]], [None, 1]],
            "dtype": ["float32", "int32"],
        },
        data_tasks=_IMAGE_DATA,
        learns_from=GENERATE,
        report="generative",
        recipe_metric="frechet_distance",
        monitor=None,
    )
)

_IMG = (28, 28, 1)
_GEN_FACTS = dict(
    section="Generative models",
    preprocessing="images scaled to [0, 1]; generators and decoders take noise vectors",
    dataset="mnist_5k",
    batch_size=64,
    exports=("saved_model", "tflite", "onnx"),
    quantizations=("dynamic", "float16"),
)


def _flat(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape))


# --------------------------------------------------------------------------- autoencoders


def _dense_coder(x, units, *, name, activation="relu"):
    for i, width in enumerate(units, start=1):
        x = keras.layers.Dense(width, activation=activation, name=f"{name}_dense{i}")(x)
    return x


def _autoencoder(name, input_shape, encoder_units, latent_dim, noise=0.0, conv=False):
    check_positive("input_shape", input_shape)
    check_positive("latent_dim", latent_dim)
    inputs = keras.Input(shape=input_shape, name="images")
    if conv:
        encoder, decoder = _conv_coders(input_shape, latent_dim)
    else:
        enc_in = keras.Input(shape=input_shape, name="images")
        h = keras.layers.Flatten()(enc_in) if len(input_shape) > 1 else enc_in
        h = _dense_coder(h, encoder_units, name="enc")
        z = keras.layers.Dense(latent_dim, activation="relu", name="latent")(h)
        encoder = keras.Model(enc_in, z, name="encoder")
        dec_in = keras.Input(shape=(latent_dim,), name="code")
        h = _dense_coder(dec_in, tuple(reversed(encoder_units)), name="dec")
        h = keras.layers.Dense(_flat(input_shape), activation="sigmoid", dtype=output_dtype())(h)
        decoder = keras.Model(dec_in, keras.layers.Reshape(input_shape)(h), name="decoder")
    x = keras.layers.GaussianNoise(noise, name="corrupt")(inputs) if noise else inputs
    return keras.Model(inputs, decoder(encoder(x)), name=name)


def _conv_coders(input_shape, latent_dim):
    h, w, c = input_shape
    if h % 4 or w % 4:
        from zoo.errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"conv_autoencoder needs sizes divisible by 4, got {input_shape}."
        )
    enc_in = keras.Input(shape=input_shape, name="images")
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(enc_in)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    z = keras.layers.Dense(latent_dim, activation="relu", name="latent")(keras.layers.Flatten()(x))
    encoder = keras.Model(enc_in, z, name="encoder")
    dec_in = keras.Input(shape=(latent_dim,), name="code")
    x = keras.layers.Dense((h // 4) * (w // 4) * 64, activation="relu")(dec_in)
    x = keras.layers.Reshape((h // 4, w // 4, 64))(x)
    x = keras.layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(x)
    out = keras.layers.Conv2D(c, 3, padding="same", activation="sigmoid", dtype=output_dtype())(x)
    return encoder, keras.Model(dec_in, out, name="decoder")


_AE_FACTS = dict(
    **{**_GEN_FACTS, "batch_size": 32},
    task="autoencoder",
    epochs=30,
    compile_defaults={"learning_rate": 2e-3},
    search_space={"latent_dim": {"choice": [16, 32, 64]},
                  "learning_rate": {"float": [1e-4, 1e-2], "sampling": "log"}},
)  # fmt: skip


@register("autoencoder", summary="The tutorial's dense autoencoder: 784-128-64-32 and a mirrored "
          "decoder with a sigmoid output.", tags=("autoencoder", "generative"),
          test_overrides={"input_shape": (8, 8, 1), "encoder_units": (8,), "latent_dim": 4},
          **_AE_FACTS)  # fmt: skip
def autoencoder(
    *,
    input_shape: tuple[int, ...] = _IMG,
    encoder_units: tuple[int, ...] = (128, 64),
    latent_dim: int = 32,
) -> keras.Model:
    """Compresses images to ``latent_dim`` numbers and back; ``get_layer('encoder')`` encodes."""
    return _autoencoder("autoencoder", input_shape, encoder_units, latent_dim)


@register("conv_autoencoder", summary="A convolutional autoencoder: strided convolutions down, "
          "transposed convolutions up.", tags=("autoencoder", "generative", "cnn"),
          test_overrides={"input_shape": (8, 8, 1), "latent_dim": 4}, **_AE_FACTS)  # fmt: skip
def conv_autoencoder(*, input_shape: tuple[int, ...] = _IMG, latent_dim: int = 32) -> keras.Model:
    """Convolutions keep the image's locality: sharper reconstructions than the dense one."""
    return _autoencoder("conv_autoencoder", input_shape, (), latent_dim, conv=True)


@register("denoising_autoencoder", summary="The dense autoencoder trained to undo Gaussian "
          "noise added to its inputs (training only).", tags=("autoencoder", "generative"),
          test_overrides={"input_shape": (8, 8, 1), "encoder_units": (8,), "latent_dim": 4},
          **_AE_FACTS)  # fmt: skip
def denoising_autoencoder(
    *,
    input_shape: tuple[int, ...] = _IMG,
    encoder_units: tuple[int, ...] = (128, 64),
    latent_dim: int = 32,
    noise: float = 0.3,
) -> keras.Model:
    """A GaussianNoise layer corrupts inputs while training; inference sees clean inputs."""
    check_range("noise", noise, 0.0, None)
    return _autoencoder("denoising_autoencoder", input_shape, encoder_units, latent_dim, noise)


# --------------------------------------------------------------------------- VAE


@keras.saving.register_keras_serializable(package="zoo")
class Sampling(keras.layers.Layer):
    """z = mean + exp(log_var / 2) * eps while training (seeded), the mean at inference;
    adds the KL divergence as a layer loss."""

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        mean, log_var = inputs
        kl = -0.5 * ops.mean(ops.sum(1 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1))
        self.add_loss(kl)
        if not training:  # inference uses the mean: deterministic, and no random op to export
            return mean
        eps = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * eps

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="zoo")
class VAE(keras.Model):
    """Encoder to (mean, log-variance), reparameterization, decoder; reconstruction + KL."""

    def __init__(
        self,
        input_shape: tuple[int, ...] = _IMG,
        hidden_units: tuple[int, ...] = (512, 256),
        latent_dim: int = 2,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        input_shape, hidden_units = tuple(input_shape), tuple(hidden_units)
        enc_in = keras.Input(shape=input_shape, name="images")
        h = _dense_coder(keras.layers.Flatten()(enc_in), hidden_units, name="enc")
        mean = keras.layers.Dense(latent_dim, name="z_mean")(h)
        log_var = keras.layers.Dense(latent_dim, name="z_log_var")(h)
        encoder = keras.Model(enc_in, [mean, log_var], name="encoder")
        dec_in = keras.Input(shape=(latent_dim,), name="z")
        h = _dense_coder(dec_in, tuple(reversed(hidden_units)), name="dec")
        h = keras.layers.Dense(_flat(input_shape), activation="sigmoid", dtype=output_dtype())(h)
        decoder = keras.Model(dec_in, keras.layers.Reshape(input_shape)(h), name="decoder")

        inputs = keras.Input(shape=input_shape, name="images")
        z = Sampling(seed, name="sampling")(encoder(inputs))
        kwargs.setdefault("name", "vae")
        super().__init__(inputs, decoder(z), **kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim = latent_dim
        self.config = {"input_shape": list(input_shape), "hidden_units": list(hidden_units),
                       "latent_dim": latent_dim, "seed": seed}  # fmt: skip
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    def get_config(self) -> dict[str, Any]:
        return {**self.config, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VAE:
        return cls(**config)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        target = x if y is None else y
        per_pixel = keras.losses.binary_crossentropy(
            ops.reshape(target, (ops.shape(target)[0], -1, 1)),
            ops.reshape(y_pred, (ops.shape(y_pred)[0], -1, 1)),
        )
        reconstruction = ops.mean(ops.sum(per_pixel, axis=-1))
        kl = sum(self.losses) if self.losses else ops.convert_to_tensor(0.0)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return reconstruction + kl

    @property
    def metrics(self):
        return [*super().metrics, self.reconstruction_tracker, self.kl_tracker]

    def encode(self, images) -> tuple[np.ndarray, np.ndarray]:
        mean, log_var = self.encoder(images, training=False)
        return np.asarray(mean), np.asarray(log_var)

    def decode(self, z) -> np.ndarray:
        return np.asarray(self.decoder(np.asarray(z, "float32"), training=False))

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` images decoded from z ~ N(0, I), reproducible under ``seed``."""
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")
        return self.decode(z)


@register("vae", task="autoencoder", summary="A variational autoencoder: reconstruction and "
          "KL losses (both reported), encode, decode and sample(n).",
          tags=("vae", "generative"), epochs=30,
          test_overrides={"input_shape": (8, 8, 1), "hidden_units": (8,), "latent_dim": 2},
          search_space={"latent_dim": {"choice": [2, 8, 16]},
                        "learning_rate": {"float": [1e-4, 1e-2], "sampling": "log"}},
          **{**_GEN_FACTS, "exports": ("saved_model", "tflite", "onnx")})  # fmt: skip
def vae(
    *,
    input_shape: tuple[int, ...] = _IMG,
    hidden_units: tuple[int, ...] = (512, 256),
    latent_dim: int = 2,
    seed: int = 0,
) -> keras.Model:
    """Export ``model.decoder`` (noise in); the full model samples inside, so it does not export."""
    check_positive("latent_dim", latent_dim)
    return VAE(input_shape, hidden_units, latent_dim, seed)


# --------------------------------------------------------------------------- GANs


def _dense_generator(noise_dim, image_shape):
    z = keras.Input(shape=(noise_dim,), name="noise")
    x = z
    for width in (256, 512, 1024):
        x = keras.layers.Dense(width)(x)
        x = BatchNormalization(momentum=0.8)(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Dense(_flat(image_shape), activation="tanh", dtype=output_dtype())(x)
    return keras.Model(z, keras.layers.Reshape(image_shape)(x), name="generator")


def _dense_discriminator(image_shape):
    img = keras.Input(shape=image_shape, name="images")
    x = keras.layers.Flatten()(img)
    for width in (512, 256):
        x = keras.layers.Dense(width)(x)
        x = keras.layers.LeakyReLU(0.2)(x)
        x = keras.layers.Dropout(0.3)(x)
    out = keras.layers.Dense(1, activation="sigmoid", dtype=output_dtype())(x)
    return keras.Model(img, out, name="discriminator")


def _conv_generator(noise_dim, image_shape):
    h, w, c = image_shape
    z = keras.Input(shape=(noise_dim,), name="noise")
    x = keras.layers.Dense((h // 4) * (w // 4) * 128, use_bias=False)(z)
    x = keras.layers.LeakyReLU(0.2)(BatchNormalization()(x))
    x = keras.layers.Reshape((h // 4, w // 4, 128))(x)
    for filters in (64, 32):
        x = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False)(x)
        x = keras.layers.LeakyReLU(0.2)(BatchNormalization()(x))
    out = keras.layers.Conv2D(c, 3, padding="same", activation="tanh", dtype=output_dtype())(x)
    return keras.Model(z, out, name="generator")


def _conv_discriminator(image_shape):
    img = keras.Input(shape=image_shape, name="images")
    x = img
    for filters in (32, 64):
        x = keras.layers.Conv2D(filters, 4, strides=2, padding="same")(x)
        x = keras.layers.Dropout(0.3)(keras.layers.LeakyReLU(0.2)(x))
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(1, activation="sigmoid", dtype=output_dtype())(x)
    return keras.Model(img, out, name="discriminator")


@keras.saving.register_keras_serializable(package="zoo")
class GAN(_CompiledOnLoad, keras.Model):
    """The generator as a model (noise in, images in [0, 1] out) that trains adversarially.

    ``fit(images)`` alternates a discriminator and a generator step with two
    optimizers (Adam 2e-4, beta_1 0.5) and reports ``d_loss`` and ``g_loss``.
    TensorFlow or torch backend (its own ``train_step``).
    """

    def __init__(
        self,
        image_shape: tuple[int, ...] = _IMG,
        noise_dim: int = 100,
        conv: bool = False,
        **kwargs: Any,
    ) -> None:
        image_shape = tuple(image_shape)
        make_g, make_d = (
            (_conv_generator, _conv_discriminator)
            if conv
            else (_dense_generator, _dense_discriminator)
        )
        generator = make_g(noise_dim, image_shape)
        discriminator = make_d(image_shape)
        noise = keras.Input(shape=(noise_dim,), name="noise")
        images = keras.layers.Rescaling(0.5, offset=0.5, name="to_unit_range")(generator(noise))
        kwargs.setdefault("name", "dcgan" if conv else "gan")
        super().__init__(noise, images, **kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.noise_dim = noise_dim
        self.config = {"image_shape": list(image_shape), "noise_dim": noise_dim, "conv": conv}
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.train_seed = keras.random.SeedGenerator()  # JAX's noise (not saved)

    def get_config(self) -> dict[str, Any]:
        return {**self.config, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GAN:
        return cls(**config)

    def compile(self, optimizer=None, loss=None, metrics=None, **kwargs):
        """Two optimizers cloned from ``optimizer`` (default Adam(2e-4, beta_1=0.5))."""
        if optimizer is None or isinstance(optimizer, str):
            optimizer = fused(keras.optimizers.Adam(2e-4, beta_1=0.5))
        config = optimizer.get_config()
        if isinstance(optimizer, keras.optimizers.Adam) and config.get("beta_1") == 0.9:
            config["beta_1"] = 0.5  # the GAN setting
        self.d_optimizer = clone(optimizer, config)
        self.g_optimizer = clone(optimizer, config)
        # build their slots now, in the strategy's scope, not lazily inside a replica
        self.d_optimizer.build(self.discriminator.trainable_weights)
        self.g_optimizer.build(self.generator.trainable_weights)
        kwargs.pop("jit_compile", None)
        super().compile(optimizer=optimizer, jit_compile=_jit_own_step(), **kwargs)
        if keras.backend.backend() == "jax":  # the trainer carries model.optimizer's state
            self.optimizer = OptimizerPair(self.d_optimizer, self.g_optimizer)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def train_step(self, *args):
        return own_step(self, args, self._adversarial_step)

    def _adversarial_step(self, data):
        """One discriminator step, then one generator step against the updated one."""
        real = ops.cast(_images(data), "float32") * 2.0 - 1.0
        n = ops.shape(real)[0]  # [0, 1] -> the generator's tanh range, above
        z = train_noise((n, self.noise_dim), real, self.train_seed)
        d_loss = gradient_step(self, lambda: self._d_loss(real, z, training=True),
                               self.discriminator.trainable_weights, self.d_optimizer)  # fmt: skip
        z = train_noise((n, self.noise_dim), real, self.train_seed)
        g_loss = gradient_step(self, lambda: self._g_loss(z, training=True),
                               self.generator.trainable_weights, self.g_optimizer)  # fmt: skip
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, *args):
        return own_step(self, args, self._evaluation_step)

    def _evaluation_step(self, data):
        real = ops.cast(_images(data), "float32") * 2.0 - 1.0
        z = train_noise((ops.shape(real)[0], self.noise_dim), real, self.train_seed)
        self.d_loss_tracker.update_state(self._d_loss(real, z, training=False, smooth=1.0))
        self.g_loss_tracker.update_state(self._g_loss(z, training=False))
        return {m.name: m.result() for m in self.metrics}

    def _d_loss(self, real, z, training: bool, smooth: float = 0.9):
        """The discriminator's loss: real images labelled ``smooth`` (one-sided label
        smoothing while training), generated ones 0."""
        bce = keras.losses.BinaryCrossentropy()
        real_p = self.discriminator(real, training=training)
        fake_p = self.discriminator(self.generator(z, training=training), training=training)
        return bce(ops.ones_like(real_p) * smooth, real_p) + bce(ops.zeros_like(fake_p), fake_p)

    def _g_loss(self, z, training: bool):
        """The generator's loss: its images should be called real."""
        fake_p = self.discriminator(self.generator(z, training=training), training=training)
        return keras.losses.BinaryCrossentropy()(ops.ones_like(fake_p), fake_p)

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` generated images in [0, 1], reproducible under ``seed``."""
        z = np.random.default_rng(seed).standard_normal((n, self.noise_dim)).astype("float32")
        return ops.convert_to_numpy(self(z, training=False))


_GAN_FACTS = dict(
    **_GEN_FACTS,
    task="gan",
    epochs=30,
    compile_defaults={"learning_rate": 2e-4},
    search_space={"learning_rate": {"float": [5e-5, 5e-4], "sampling": "log"}},
)


@register("gan", summary="The tutorial's GAN: dense generator (100-d noise, 256-512-1024 with "
          "batch norm, tanh) and discriminator (512-256, dropout 0.3); its own train_step.",
          tags=("gan", "generative"), test_overrides={"image_shape": (8, 8, 1), "noise_dim": 8},
          **_GAN_FACTS)  # fmt: skip
def gan(*, image_shape: tuple[int, ...] = _IMG, noise_dim: int = 100) -> keras.Model:
    """Noise in, images out; ``model.discriminator`` judges them. fit() trains both."""
    check_positive("noise_dim", noise_dim)
    return GAN(image_shape, noise_dim, conv=False)


@register("dcgan", summary="A DCGAN: transposed-convolution generator and convolutional "
          "discriminator; its own train_step.", tags=("gan", "generative", "cnn"),
          test_overrides={"image_shape": (8, 8, 1), "noise_dim": 8}, **_GAN_FACTS)  # fmt: skip
def dcgan(*, image_shape: tuple[int, ...] = _IMG, noise_dim: int = 100) -> keras.Model:
    """Convolutions make sharper digits than the dense GAN in fewer epochs."""
    check_positive("noise_dim", noise_dim)
    return GAN(image_shape, noise_dim, conv=True)


# --------------------------------------------------------------------------- diffusion


@keras.saving.register_keras_serializable(package="zoo")
class SinusoidalEmbedding(keras.layers.Layer):
    """The Transformer's sinusoidal position code, applied to the diffusion time step."""

    def __init__(self, dim: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dim = dim

    def call(self, t):
        half = self.dim // 2
        dtype = self.compute_dtype  # float32 (built so), so large step numbers stay exact
        freqs = ops.exp(-math.log(10000.0) * ops.arange(half, dtype=dtype) / half)
        args = ops.cast(ops.reshape(t, (-1, 1)), dtype) * ops.reshape(freqs, (1, -1))
        return ops.concatenate([ops.sin(args), ops.cos(args)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dim": self.dim}


def _unet(image_shape, widths, time_dim):
    """A small U-Net: (noisy image, step) -> predicted noise."""
    img = keras.Input(shape=image_shape, name="noisy_images")
    t = keras.Input(shape=(1,), dtype="int32", name="timestep")
    temb = SinusoidalEmbedding(time_dim, dtype=output_dtype(), name="time_embedding")(t)
    temb = keras.layers.Dense(time_dim, activation="swish")(temb)

    def block(x, width, name):
        h = keras.layers.Conv2D(width, 3, padding="same", activation="swish", name=f"{name}_c1")(x)
        h = h + keras.layers.Reshape((1, 1, width))(keras.layers.Dense(width)(temb))
        h = keras.layers.Conv2D(width, 3, padding="same", activation="swish", name=f"{name}_c2")(h)
        return h

    skips = []
    x = keras.layers.Conv2D(widths[0], 3, padding="same")(img)
    for i, width in enumerate(widths):
        x = block(x, width, f"down{i}")
        skips.append(x)
        if i < len(widths) - 1:
            x = keras.layers.AveragePooling2D(2)(x)
    for i, width in reversed(list(enumerate(widths[:-1]))):
        x = keras.layers.UpSampling2D(2)(x)
        x = keras.layers.Concatenate()([x, skips[i]])
        x = block(x, width, f"up{i}")
    out = keras.layers.Conv2D(image_shape[-1], 1, dtype=output_dtype(), name="noise")(x)
    return keras.Model([img, t], out, name="denoiser")


@keras.saving.register_keras_serializable(package="zoo")
class Diffusion(_CompiledOnLoad, keras.Model):
    """A small DDPM: the model is the denoiser ((x_t, t) -> noise); ``fit(images)`` trains it
    with the noise-prediction loss and keeps an EMA copy; ``sample(n, steps)`` runs DDIM.
    TensorFlow or torch backend (its own ``train_step``)."""

    def __init__(
        self,
        image_shape: tuple[int, ...] = _IMG,
        widths: tuple[int, ...] = (32, 64),
        timesteps: int = 1000,
        time_dim: int = 32,
        ema: float = 0.999,
        **kwargs: Any,
    ) -> None:
        image_shape, widths = tuple(image_shape), tuple(widths)
        network = _unet(image_shape, widths, time_dim)
        inputs = [keras.Input(shape=image_shape, name="noisy_images"),
                  keras.Input(shape=(1,), dtype="int32", name="timestep")]  # fmt: skip
        kwargs.setdefault("name", "diffusion")
        super().__init__(inputs, network(inputs), **kwargs)
        self.network = network
        self.ema_network = _unet(image_shape, widths, time_dim)
        self.ema_network.set_weights(network.get_weights())
        self.ema_network.trainable = False
        self.config = {"image_shape": list(image_shape), "widths": list(widths),
                       "timesteps": timesteps, "time_dim": time_dim, "ema": ema}  # fmt: skip
        self.alpha_bar = noise_schedule(timesteps)
        self.timesteps, self.ema = timesteps, ema
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.train_seed = keras.random.SeedGenerator()  # JAX's noise and time steps

    def get_config(self) -> dict[str, Any]:
        return {**self.config, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Diffusion:
        return cls(**config)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def compile(self, optimizer=None, loss=None, metrics=None, **kwargs):
        kwargs.pop("jit_compile", None)
        optimizer = optimizer or fused(keras.optimizers.Adam())
        super().compile(optimizer=optimizer, jit_compile=_jit_own_step(), **kwargs)

    def _noised(self, images):
        x0 = ops.cast(images, "float32") * 2.0 - 1.0
        t = train_timesteps(ops.shape(x0)[0], self.timesteps, x0, self.train_seed)
        ab = ops.reshape(ops.take(ops.convert_to_tensor(self.alpha_bar), t[:, 0]), (-1, 1, 1, 1))
        eps = train_noise(ops.shape(x0), x0, self.train_seed)
        return ops.sqrt(ab) * x0 + ops.sqrt(1.0 - ab) * eps, t, eps

    def train_step(self, *args):
        return own_step(self, args, self._denoising_step)

    def _denoising_step(self, data):
        """One noise-prediction step on the network, then the EMA copy follows it."""
        x_t, t, eps = self._noised(_images(data))
        loss = gradient_step(
            self, lambda: ops.mean(ops.square(eps - self.network([x_t, t], training=True))),
            self.network.trainable_weights, self.optimizer,
        )  # fmt: skip
        # EMA with warm-up: early on the average follows the weights closely
        step = ops.cast(self.optimizer.iterations, "float32")
        decay = ops.minimum(self.ema, (1.0 + step) / (10.0 + step))
        backend = keras.backend.backend()
        if backend == "tensorflow":
            self._update_ema_in_replicas(decay)
        else:
            self._update_ema_eagerly(decay)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def _update_ema_eagerly(self, decay) -> None:
        """torch: outside autograd; JAX: assigned in ``own_step``'s scope."""
        import contextlib

        no_grad = contextlib.nullcontext()
        if keras.backend.backend() == "torch":
            import torch

            no_grad = torch.no_grad()
        with no_grad:
            for w, ew in zip(self.network.weights, self.ema_network.weights):
                ew.assign(decay * ew + (1.0 - decay) * w)

    def _update_ema_in_replicas(self, decay) -> None:
        import tensorflow as tf

        pairs = list(zip(self.network.weights, self.ema_network.weights))

        def update_ema(strategy, decay):  # cross-replica: mirrored EMA variables stay in sync
            for w, ew in pairs:
                strategy.extended.update(  # on the tf.Variables under the keras ones
                    ew.value, lambda v, t, d: v.assign(d * v + (1.0 - d) * t), args=(w.value, decay)
                )

        tf.distribute.get_replica_context().merge_call(update_ema, args=(decay,))

    def test_step(self, *args):
        return own_step(self, args, self._evaluation_step)

    def _evaluation_step(self, data):
        x_t, t, eps = self._noised(_images(data))
        loss = ops.mean(ops.square(eps - self.ema_network([x_t, t], training=False)))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def sample(self, n: int, steps: int = 20, seed: int | None = None) -> np.ndarray:
        """``n`` images in [0, 1] by deterministic DDIM over ``steps`` steps (EMA weights)."""

        def denoise(x: np.ndarray, t: np.ndarray) -> np.ndarray:
            return np.asarray(self.ema_network([x, t], training=False))

        shape = tuple(self.config["image_shape"])
        return ddim_sample(denoise, n, shape, self.alpha_bar, steps, seed)


def noise_schedule(timesteps: int) -> np.ndarray:
    """The cumulative signal fractions (alpha-bar) of the linear DDPM schedule
    (betas from 1e-4 to 0.02): what training noised with and sampling undoes."""
    betas = np.linspace(1e-4, 0.02, timesteps, dtype="float64")
    return np.cumprod(1.0 - betas).astype("float32")


def ddim_sample(denoise: Any, n: int, image_shape: tuple, alpha_bar: np.ndarray,
                steps: int = 20, seed: int | None = None) -> np.ndarray:  # fmt: skip
    """``n`` images in [0, 1] by deterministic DDIM: ``denoise(x, t)`` predicts the noise
    in ``x`` at time steps ``t`` (shape (n, 1)). Used by ``Diffusion.sample`` and by
    ``zoo serve`` on an exported denoiser."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *image_shape)).astype("float32")
    ts = np.linspace(len(alpha_bar) - 1, 0, max(1, steps)).round().astype(int)
    for i, t in enumerate(ts):
        ab = alpha_bar[t]
        eps = np.asarray(denoise(x, np.full((n, 1), t, "int32")))
        x0 = np.clip((x - np.sqrt(1 - ab) * eps) / np.sqrt(ab), -1, 1)
        ab_prev = alpha_bar[ts[i + 1]] if i + 1 < len(ts) else 1.0
        x = (np.sqrt(ab_prev) * x0 + np.sqrt(1 - ab_prev) * eps).astype("float32")
    return ((np.clip(x, -1, 1) + 1) / 2).astype("float32")


@register("diffusion", task="diffusion", summary="A small DDPM/DDIM for 28x28 images: U-Net with "
          "sinusoidal time embedding, noise-prediction loss, EMA weights, sample(n, steps).",
          tags=("diffusion", "generative"), epochs=30,
          test_overrides={"image_shape": (8, 8, 1), "widths": (8, 16), "timesteps": 50},
          search_space={"learning_rate": {"float": [1e-4, 3e-3], "sampling": "log"}},
                **{**_GEN_FACTS, "export_tolerance": 1e-4})  # fmt: skip
def diffusion(
    *,
    image_shape: tuple[int, ...] = _IMG,
    widths: tuple[int, ...] = (32, 64),
    timesteps: int = 1000,
    ema: float = 0.999,
) -> keras.Model:
    """The exported model is the denoiser: noisy image and time step in, noise out."""
    check_positive("timesteps", timesteps)
    check_range("ema", ema, 0.0, 1.0)
    return Diffusion(image_shape, widths, timesteps, ema=ema)
