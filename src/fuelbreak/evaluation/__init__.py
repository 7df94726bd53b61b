"""Pieces of `fuelbreak.evaluate`: the per-tile task (`tile`), statistics over tiles (`stats`), files (`report`)."""

from fuelbreak.evaluation.stats import t_interval, win_rate
from fuelbreak.evaluation.tile import (
    check_same_fires,
    evaluate_tile,
    evaluation_fires,
    fires_digest,
    plan_seed,
)

__all__ = [
    "check_same_fires",
    "evaluate_tile",
    "evaluation_fires",
    "fires_digest",
    "plan_seed",
    "t_interval",
    "win_rate",
]
