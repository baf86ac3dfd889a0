"""Training recipes: data, callbacks and schedules wired to registry entries.

Uses only ``zoo``'s public API; ``zoo`` itself never imports ``recipes``.
"""

from recipes.recipe import Recipe, get
from recipes.train import TrainResult, train

__all__ = ["Recipe", "TrainResult", "get", "train"]
