"""The tutorial's hand-written Keras code: build, ``compile``, ``fit`` on NumPy arrays.

``mnist_mlp`` and ``cifar10_cnn`` are written out layer by layer as the
tutorial writes them. Other entries take the zoo's network (the same layers)
but are compiled and fed the plain way: one step per call, NumPy input, and
TensorFlow's own runtime defaults (the harness sets ZOO_RUNTIME_DEFAULTS=0).
"""

from __future__ import annotations

import keras

from benchmarks.programs.common import arrays, parse, report_keras


def mnist_mlp() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def cifar10_cnn() -> keras.Model:
    layers = [keras.Input(shape=(32, 32, 3))]
    for filters in (32, 64, 128):
        for _ in range(2):
            layers += [
                keras.layers.Conv2D(filters, 3, padding="same", use_bias=False),
                keras.layers.BatchNormalization(),
                keras.layers.Activation("relu"),
            ]
        layers += [keras.layers.MaxPooling2D(2), keras.layers.Dropout(0.25)]
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(128, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ]
    model = keras.Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


HAND_WRITTEN = {"mnist_mlp": mnist_mlp, "cifar10_cnn": cifar10_cnn}


def same_network(name: str, overrides: dict) -> keras.Model:
    """The zoo's layers, compiled as plain Keras would be: one step per call."""
    import zoo

    return zoo.build(name, steps_per_execution=1, **overrides)


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    for name in args.model:
        x, y, spec = arrays(args.data, name)
        batch = spec["batch_size"]
        if name in HAND_WRITTEN:
            model = HAND_WRITTEN[name]()
        else:
            model = same_network(name, spec["overrides"])
        report_keras(
            name,
            len(x),
            lambda e, cbs, m=model, x=x, y=y, b=batch: m.fit(
                x, y, batch_size=b, epochs=e, callbacks=cbs, verbose=0
            ),
            args.epochs,
        )


if __name__ == "__main__":
    main()
