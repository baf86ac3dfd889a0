"""Training recipes: data, callbacks and schedules wired to registry entries.

Uses only ``zoo``'s public API; ``zoo`` itself never imports ``recipes``.
"""

from recipes.train import TrainResult, train

__all__ = ["TrainResult", "train"]
