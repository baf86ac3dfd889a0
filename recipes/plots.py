"""Figures written next to a trained model (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_history(history: dict[str, list[float]], path: Path, title: str = "") -> None:
    """Loss and the first metric, training vs validation, as in the tutorial's figure."""
    metrics = [k for k in history if not k.startswith("val_") and k not in ("learning_rate",)]
    first = "loss" if "loss" in history else (metrics[0] if metrics else None)
    if first is None:
        raise ValueError("The history has no metric to plot.")
    shown = [first] + [m for m in metrics if m != first][:1]
    fig, axes = plt.subplots(1, len(shown), figsize=(5 * len(shown), 4), squeeze=False)
    for ax, key in zip(axes[0], shown):
        epochs = range(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], label=f"training {key}")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def image_grid(images, path: Path, title: str = "", rows: int | None = None) -> None:
    """Images (n, h, w, c) in [0, 1] tiled into one PNG."""
    import numpy as np

    imgs = np.clip(np.asarray(images, dtype="float32"), 0, 1)
    n = len(imgs)
    cols = int(np.ceil(np.sqrt(n))) if rows is None else int(np.ceil(n / rows))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.2 + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img in zip(axes.ravel(), imgs):
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
