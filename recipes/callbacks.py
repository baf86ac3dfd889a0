"""The callbacks a recipe trains with, in one place, with the tutorial's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The tutorial's ReduceLROnPlateau settings.
REDUCE_LR = {"monitor": "val_loss", "factor": 0.5, "patience": 5, "min_lr": 1e-7}


def standard(
    out_dir: str | Path,
    *,
    epochs: int,
    monitor: str | None = "val_loss",
    reduce_lr: bool = True,
    tensorboard: bool = False,
    backup: bool = True,
    phase: str = "phase1",
    backup_dir: str | Path | None = None,
    backup_read_only: bool = False,
) -> list[Any]:
    """EarlyStopping (best weights), ReduceLROnPlateau, ModelCheckpoint (best), CSVLogger,
    TerminateOnNaN, BackupAndRestore and optionally TensorBoard, writing under ``out_dir``.

    ``reduce_lr`` must be off when the optimizer follows a schedule (it cannot set it).
    """
    import keras

    out = Path(out_dir)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    from zoo.compat import progress_bar

    cbs: list[Any] = [
        progress_bar(),  # silent under verbose=0, like the one fit would add
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(str(out / "training_log.csv"), append=True),
    ]
    if monitor is None:  # adversarial / diffusion training: no single loss to watch
        cbs.append(good_checkpoint(out / "checkpoints" / "last.keras", monitor=None))
        reduce_lr = False
    else:
        cbs += [
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=max(5, epochs // 4), restore_best_weights=True
            ),
            good_checkpoint(out / "checkpoints" / "best.keras", monitor=monitor),
        ]
    if reduce_lr:
        cbs.append(keras.callbacks.ReduceLROnPlateau(**REDUCE_LR, verbose=0))
    if tensorboard:
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard")))
    if backup:
        # kept until the whole run succeeds, so a killed run resumes in either phase;
        # multi-worker: the chief writes it, the other workers restore from it (same weights)
        cls = _read_only_backup_class() if backup_read_only else keras.callbacks.BackupAndRestore
        cbs.append(
            cls(
                str(Path(backup_dir or out / "backup") / phase),
                save_freq="epoch",
                delete_checkpoint=False,
                double_checkpoint=True,  # a kill while writing leaves the previous copy
            )
        )
    return cbs


def weights_finite(model: Any) -> bool:
    """True when every weight of ``model`` is a finite number."""
    import numpy as np

    return all(np.isfinite(np.asarray(w)).all() for w in model.get_weights())


def good_checkpoint(path: str | Path, *, monitor: str | None) -> Any:
    """Save ``path`` after an epoch that improved ``monitor`` (every epoch when ``None``),
    never with a non-finite weight or metric, and atomically: a file the zoo calls the last
    good checkpoint is complete and holds numbers."""
    import math

    import keras

    from zoo.staging import write_atomic

    class GoodCheckpoint(keras.callbacks.Callback):
        best = math.inf

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(monitor) if monitor else 0.0
            if value is None or not math.isfinite(float(value)):
                return
            if monitor and float(value) >= self.best:
                return
            if not weights_finite(self.model):
                return
            self.best = float(value) if monitor else self.best
            write_atomic(Path(path), lambda p: self.model.save(p))

    return GoodCheckpoint()


def _read_only_backup_class():
    import keras

    class ReadOnlyBackup(keras.callbacks.BackupAndRestore):
        """Restores from another task's backup and never writes it."""

        def _save_model(self):
            return None

        def on_train_end(self, logs=None):
            return None

    return ReadOnlyBackup


def sample_grid(out_dir: str | Path, images: Any = None, n: int = 16) -> Any:
    """A callback writing ``samples/epoch_NNN.png`` after every epoch.

    Models with ``sample`` (GAN, VAE, diffusion) draw 16 seeded samples;
    autoencoders show 8 fixed images above their reconstructions.
    """
    import keras
    import numpy as np

    from recipes.plots import image_grid

    folder = Path(out_dir) / "samples"

    class SampleGrid(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"epoch_{epoch + 1:03d}.png"
            if hasattr(self.model, "sample"):
                grid = self.model.sample(n, seed=0)
                title = f"samples after epoch {epoch + 1}"
            else:
                recon = np.asarray(self.model.predict(images, verbose=0))
                grid = np.concatenate([images, recon])
                title = f"inputs (top) and reconstructions, epoch {epoch + 1}"
            image_grid(grid, path, title, rows=None if hasattr(self.model, "sample") else 2)

    return SampleGrid()
