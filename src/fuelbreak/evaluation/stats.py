"""Summary statistics over tiles: means, a 95 % t-interval of the reduction, pairwise win rates.

The unit of replication is the tile: each tile gives one number per method (mean over its
evaluation fires), and the interval is Student's t over those per-tile numbers. Win rates are
paired: on each tile where both methods succeeded, the one with less burned area wins, a tie
counts half to each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
CI_METHOD = "Student t over tiles"
TIE_RTOL = 1e-9  # burned areas this close (relative) are a tie: the same breaks burn the same fires


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high) of a t confidence interval for the mean; NaN bounds with fewer than 2 values."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, math.nan, math.nan
    sem = float(v.std(ddof=1) / math.sqrt(v.size))
    if sem == 0.0:
        return mean, mean, mean
    low, high = stats.t.interval(confidence, v.size - 1, loc=mean, scale=sem)
    return mean, float(low), float(high)


def outcome(a: float, b: float) -> float:
    """1 when `a` burned less than `b`, 0 when more, 0.5 for a tie."""
    if math.isclose(a, b, rel_tol=TIE_RTOL, abs_tol=1e-12):
        return 0.5
    return 1.0 if a < b else 0.0


def win_rate(mine: dict[int, float], theirs: dict[int, float]) -> tuple[float, int]:
    """Share of shared tiles (tile -> burned area) on which `mine` burned less; (NaN, 0) when none."""
    shared = sorted(set(mine) & set(theirs))
    if not shared:
        return math.nan, 0
    return float(np.mean([outcome(mine[t], theirs[t]) for t in shared])), len(shared)


def summarize(
    records: list[dict], methods: Sequence[str], budgets: Sequence[float], objective: str = "area"
) -> list[dict]:
    """One summary row per (budget, method) from the per-tile records (failed ones counted, not used).

    Reductions and wins are of the objective's loss (burned cells, or value burned); the area and value
    reductions, treated hectares and cost are means over the tiles too.
    """
    out = []
    loss = "value_lost_with" if objective == "value" else "burned_with"
    for budget in budgets:
        at = [r for r in records if r["budget"] == budget]
        burned = {
            m: {r["tile_index"]: r[loss] for r in at if r["method"] == m and r["status"] == "ok"}
            for m in methods
        }
        for method in methods:
            mine = [r for r in at if r["method"] == method]
            ok = [r for r in mine if r["status"] == "ok"]
            mean, low, high = t_interval([r["reduction_pct"] for r in ok])
            row = {
                "budget": budget,
                "budget_cells": _mean([r["budget_cells"] for r in mine]),
                "budget_pct": _mean([100.0 * r["budget_cells"] / r["n_cells"] for r in mine]),
                "method": method,
                "tiles": len(ok),
                "failed": len(mine) - len(ok),
                "burned_without": _mean([r["burned_without"] for r in ok]),
                "burned_with": _mean([r["burned_with"] for r in ok]),
                "reduction_pct": mean,
                "reduction_ci_low": low,
                "reduction_ci_high": high,
                "plan_seconds": _mean([r["plan_seconds"] for r in ok]),
                **{
                    key: _mean([r[key] for r in ok if key in r])
                    for key in (
                        "area_reduction_pct", "value_lost_without", "value_lost_with", "value_reduction_pct",
                        "treated_ha", "cost",
                    )  # fmt: skip
                },
            }
            for other in methods:
                rate = win_rate(burned[method], burned[other])[0] if other != method else math.nan
                row[f"win_vs_{other}"] = rate
            out.append(row)
    return out


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan
