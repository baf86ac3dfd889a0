"""Training recipes: data, callbacks and schedules wired to registry entries.

Uses only ``zoo``'s public API; ``zoo`` itself never imports ``recipes``.
"""

from recipes.evaluate import evaluate_model, predict
from recipes.recipe import Recipe, get
from recipes.train import TrainingDivergedError, TrainResult, train

__all__ = [
    "Recipe",
    "TrainResult",
    "TrainingDivergedError",
    "evaluate_model",
    "get",
    "predict",
    "train",
]
