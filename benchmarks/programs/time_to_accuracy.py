"""Train until the test accuracy reaches a target; print the training seconds it took.

``--variant zoo``: ``zoo.build`` fed by ``zoo.data.load``. ``--variant keras``:
the tutorial's hand-written code (``mnist_mlp`` only) on the same arrays.
The test set is scored after every epoch with the clock stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--target", type=float, required=True)
    p.add_argument("--max-epochs", type=int, default=20)
    p.add_argument("--variant", choices=("zoo", "keras"), default="zoo")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    import zoo  # first: its runtime settings (the harness turns them off for --variant keras)
    # isort: split

    import keras

    keras.utils.set_random_seed(args.seed)
    entry = zoo.get_entry(args.model)
    probe = zoo.build(args.model, compile=False)
    shape = tuple(probe.input_shape[1:])
    splits = zoo.data.load(args.dataset, batch_size=entry.batch_size, input_shape=shape,
                           seed=args.seed)  # fmt: skip
    x_test = np.concatenate([x for x, _ in splits.test.as_numpy_iterator()])
    y_test = np.concatenate([y for _, y in splits.test.as_numpy_iterator()])
    num_classes = splits.info.num_classes
    if args.variant == "zoo":
        model = zoo.build(args.model, num_classes=num_classes, input_shape=shape)
        fit_data = {"x": splits.train}
    else:
        from benchmarks.programs.keras_tutorial import HAND_WRITTEN

        model = HAND_WRITTEN[args.model]()
        xs, ys = zip(*splits.train.unbatch().as_numpy_iterator(), strict=True)
        fit_data = {"x": np.stack(xs), "y": np.array(ys), "batch_size": entry.batch_size,
                    "shuffle": True}  # fmt: skip

    state = {"train_s": 0.0, "epochs": 0, "accuracy": 0.0, "start": 0.0}

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            state["start"] = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            state["train_s"] += time.perf_counter() - state["start"]
            state["epochs"] = epoch + 1
            proba = self.model.predict(x_test, batch_size=256, verbose=0)
            state["accuracy"] = float(np.mean(proba.argmax(-1) == y_test))
            if state["accuracy"] >= args.target:
                self.model.stop_training = True

    model.fit(**fit_data, epochs=args.max_epochs, callbacks=[Clock()], verbose=0)
    print(json.dumps({
        "model": args.model, "dataset": args.dataset, "variant": args.variant,
        "target": args.target, "reached": state["accuracy"] >= args.target,
        "seconds": state["train_s"], "epochs": state["epochs"],
        "accuracy": state["accuracy"], "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
    }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
