"""Figures written next to a trained model (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_history(history: dict[str, list[float]], path: Path, title: str = "") -> None:
    """Loss and the first metric, training vs validation, as in the tutorial's figure."""
    metrics = [k for k in history if not k.startswith("val_") and k not in ("learning_rate",)]
    shown = ["loss"] + [m for m in metrics if m != "loss"][:1]
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
