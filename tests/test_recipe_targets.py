"""Slow tier: the cheap entries, trained with their full recipe, reach their stated target.

"Cheap": the recipe trains in well under half a minute on 2 CPU cores
(benchmarks/ACCURACY.md lists each entry's training seconds). The other entries'
numbers come from ``python -m benchmarks results``.
"""

import pytest

import recipes
from benchmarks.results import metric_value

CHEAP = (
    "perceptron",
    "mlp_regressor",
    "lstm_forecaster",
    "mnist_mlp",  # README command 1: the default main job
    "mnist_cnn",
    "lstm_timeseries",
    "transformer_timeseries",
    "simple_rnn_text",
    "transformer_text",
    "autoencoder",
    "denoising_autoencoder",
    "vae",
    "gan",
)


@pytest.mark.slow
@pytest.mark.parametrize("name", CHEAP)
def test_recipe_reaches_its_target(name, tmp_path):
    recipe = recipes.get(name)
    result = recipes.train(name, out_dir=tmp_path, verbose=0, seed=0)
    value = metric_value(result.metrics, result.report, recipe.target_metric)
    assert result.out_dir == tmp_path
    assert recipe.meets_target(value), (
        f"{name}: {recipe.target_metric} {value:.4f} misses the recipe's target {recipe.target}"
    )
