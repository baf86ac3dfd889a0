"""The zoo's way: ``zoo.build(name)`` with its compile defaults, fed by ``zoo.data``.

``--feed numpy`` instead passes NumPy arrays to ``fit``, as a script that
only calls ``zoo.build`` would.
"""

from __future__ import annotations

import zoo  # first: the zoo's runtime settings must precede TensorFlow's import

# isort: split

from benchmarks.programs.common import arrays, parse, report_keras


def dataset(name: str, x, y, batch_size: int):
    """The zoo's training pipeline (cache, shuffle, batch, prefetch) over the arrays."""
    import tensorflow as tf

    entry = zoo.get_entry(name)
    info = zoo.data.DatasetInfo(
        name="benchmark",
        task=entry.task,
        modality="text" if x.dtype.kind in "iu" else "image",
        element_shape=tuple(x.shape[1:]),
        num_classes=int(y.max()) + 1 if entry.task == "classification" else None,
    )
    ds = tf.data.Dataset.from_tensor_slices((x, y))  # autoencoders: y is x (see arrays)
    splits = zoo.data.pipeline(
        zoo.data.RawSplits(ds, ds, ds, info), batch_size=batch_size, rescale=False
    )
    return splits.train


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    for name in args.model:
        x, y, spec = arrays(args.data, name)
        batch = spec["batch_size"]
        model = zoo.build(name, **spec["overrides"])
        if args.feed == "numpy":

            def fit(e, cbs, m=model, x=x, y=y, b=batch):
                return m.fit(x, y, batch_size=b, epochs=e, callbacks=cbs, verbose=0)
        else:
            train = dataset(name, x, y, batch)

            def fit(e, cbs, m=model, d=train):
                return m.fit(d, epochs=e, callbacks=cbs, verbose=0)

        report_keras(name, len(x), fit, args.epochs)


if __name__ == "__main__":
    main()
