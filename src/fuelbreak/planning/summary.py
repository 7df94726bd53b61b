"""What a plan comes to: treated cells, hectares and cost, and its expected effect on area and value.

The expected burned area and value loss come from the burn probability of each cell over the scoring
fires (the mean of their burned masks): the expected burned cells are the sum of the probabilities,
the expected value loss the sum of probability times value (`Landscape.cell_values`; without a value
layer every cell is worth 1, so the value loss is the burned cells). Both are means per fire, the same
as `fuelbreak.fire.montecarlo.expected_loss` over those fires.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from fuelbreak.landscape.core import Landscape


@dataclass(frozen=True)
class PlanSummary:
    """A plan's figures: treatment (cells, hectares, cost) and expected burned hectares and value loss per fire."""

    treated_cells: int
    treated_hectares: float
    cost: float | None
    value_treated: float | None
    burned_hectares_before: float
    burned_hectares_after: float
    value_loss_before: float | None
    value_loss_after: float | None
    n_fires: int
    objective: str = "area"
    max_cost: float | None = None

    @property
    def area_reduction(self) -> float:
        """Fraction of the expected burned area the plan saves."""
        b = self.burned_hectares_before
        return (b - self.burned_hectares_after) / b if b > 0 else 0.0

    @property
    def value_reduction(self) -> float | None:
        """Fraction of the expected value loss the plan saves (None without a value layer)."""
        if self.value_loss_before is None:
            return None
        b = self.value_loss_before
        return (b - self.value_loss_after) / b if b > 0 else 0.0

    def to_dict(self) -> dict:
        """The summary as JSON-ready numbers, reductions included."""
        return {
            **asdict(self),
            "area_reduction": self.area_reduction,
            "value_reduction": self.value_reduction,
        }

    def lines(self) -> list[str]:
        """The lines that report it (what `fuelbreak plan` prints)."""
        cost = (
            ""
            if self.cost is None
            else f", cost {self.cost:.6g}"
            + (f" of at most {self.max_cost:g}" if self.max_cost is not None else "")
        )
        out = [
            f"treated: {self.treated_cells} cells = {self.treated_hectares:.2f} ha{cost}"
            + ("" if self.value_treated is None else f", holding value {self.value_treated:.6g}"),
            f"expected per fire, over {self.n_fires} random scoring fires (objective: {self.objective}):",
            f"  burned area: {self.burned_hectares_before:.2f} ha without breaks, {self.burned_hectares_after:.2f} ha "
            f"with the plan ({100 * self.area_reduction:.1f} % reduction)",
        ]
        if self.value_loss_before is not None:
            out.append(
                f"  value loss: {self.value_loss_before:.6g} without breaks, {self.value_loss_after:.6g} with the plan "
                f"({100 * self.value_reduction:.1f} % reduction)"
            )
        return out


def plan_summary(
    landscape: Landscape,
    breaks: np.ndarray,
    prob_before: np.ndarray,
    prob_after: np.ndarray,
    n_fires: int,
    objective: str = "area",
    max_cost: float | None = None,
) -> PlanSummary:
    """The PlanSummary of a break mask given the burn probability of each cell without and with it."""
    breaks = np.asarray(breaks, dtype=bool)
    ha = landscape.cell_size**2 / 1e4
    cost = landscape.planner_layer("cost")
    value = landscape.planner_layer("value")
    values = landscape.cell_values
    has_value = value is not None
    return PlanSummary(
        treated_cells=int(breaks.sum()),
        treated_hectares=float(breaks.sum() * ha),
        cost=None if cost is None else float(cost[breaks].astype(np.float64).sum()),
        value_treated=float(values[breaks].sum()) if has_value else None,
        burned_hectares_before=float(np.sum(prob_before, dtype=np.float64) * ha),
        burned_hectares_after=float(np.sum(prob_after, dtype=np.float64) * ha),
        value_loss_before=float(np.sum(prob_before * values)) if has_value else None,
        value_loss_after=float(np.sum(prob_after * values)) if has_value else None,
        n_fires=int(n_fires),
        objective=objective,
        max_cost=max_cost,
    )
