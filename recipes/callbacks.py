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
    monitor: str = "val_loss",
    reduce_lr: bool = True,
    tensorboard: bool = False,
    backup: bool = True,
    phase: str = "phase1",
) -> list[Any]:
    """EarlyStopping (best weights), ReduceLROnPlateau, ModelCheckpoint (best), CSVLogger,
    TerminateOnNaN, BackupAndRestore and optionally TensorBoard, writing under ``out_dir``.

    ``reduce_lr`` must be off when the optimizer follows a schedule (it cannot set it).
    """
    import keras

    out = Path(out_dir)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    cbs: list[Any] = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.EarlyStopping(
            monitor=monitor, patience=max(5, epochs // 4), restore_best_weights=True
        ),
        keras.callbacks.ModelCheckpoint(
            str(out / "checkpoints" / "best.keras"), monitor=monitor, save_best_only=True
        ),
        keras.callbacks.CSVLogger(str(out / "training_log.csv"), append=True),
    ]
    if reduce_lr:
        cbs.append(keras.callbacks.ReduceLROnPlateau(**REDUCE_LR, verbose=0))
    if tensorboard:
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard")))
    if backup:
        # kept until the whole run succeeds, so a killed run resumes in either phase
        cbs.append(
            keras.callbacks.BackupAndRestore(
                str(out / "backup" / phase),
                save_freq="epoch",
                delete_checkpoint=False,
                double_checkpoint=True,  # a kill while writing leaves the previous copy
            )
        )
    return cbs
