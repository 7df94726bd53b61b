"""Evaluation on held-out tiles: every method's plan, scored on the same fires, summarised over tiles.

`run` (evaluate, select_tiles, write_outputs), the per-tile task (`tile`), statistics over tiles
(`stats`), files (`report`) and the check that evaluation tiles were never trained on (`leakage`).
"""

from fuelbreak.evaluation.run import (
    Evaluation,
    check_budgets,
    evaluate,
    select_tiles,
    write_outputs,
)
from fuelbreak.evaluation.stats import t_interval, win_rate
from fuelbreak.evaluation.tile import (
    check_same_fires,
    evaluate_tile,
    evaluation_fires,
    fires_digest,
    plan_seed,
)

__all__ = [
    "Evaluation",
    "check_budgets",
    "check_same_fires",
    "evaluate",
    "evaluate_tile",
    "evaluation_fires",
    "fires_digest",
    "plan_seed",
    "select_tiles",
    "t_interval",
    "win_rate",
    "write_outputs",
]
