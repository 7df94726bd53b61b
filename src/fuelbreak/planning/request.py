"""A plan request: the budget as a user gives it, a cost limit and the objective, resolved on a landscape.

Budgets (`--budget`, and each of evaluate's `--budget` list):

    5%        a percentage of the tile's cells
    0.05      a fraction of the tile's cells (a number below 1)
    120ha     hectares (cells of the landscape's cell size, rounded down)
    75cells   a number of cells (also plain 75: a whole number of 1 or more)

`--max-cost X` limits the summed cost layer of the treated cells (it needs a cost layer, `--cost`);
with it alone the cell limit is every treatable cell, so the cost is the only limit; with both, the
plan respects each. `--objective area` minimises the expected burned area, `value` the expected loss
of value (it needs a value layer, `--values`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from fuelbreak.errors import ConfigError
from fuelbreak.fire.montecarlo import OBJECTIVES
from fuelbreak.landscape.core import Landscape

DEFAULT_BUDGET_TEXT = "5%"
_BUDGET = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(%|ha|cells?)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Budget:
    """A budget as given: `kind` 'fraction' (of the tile's cells; '5%' is 0.05), 'hectares' or 'cells'."""

    kind: str
    amount: float
    text: str

    def cells(self, landscape: Landscape | None = None, *, n_cells: int | None = None,
              cell_size: float | None = None, flag: str = "--budget") -> int:  # fmt: skip
        """Break cells on a landscape (or a grid of `n_cells` cells of `cell_size` m); at least 1.

        Raises:
            ConfigError: the budget gives no cell on this grid.
        """
        n = landscape.n_cells if landscape is not None else n_cells
        size = landscape.cell_size if landscape is not None else cell_size
        if self.kind == "fraction":
            cells = int(round(self.amount * n))
        elif self.kind == "hectares":
            cells = int(math.floor(self.amount * 1e4 / size**2 + 1e-9))
        else:
            cells = int(self.amount)
        if cells < 1:
            what = f"{n} cells" if self.kind == "fraction" else f"cells of {size:g} m ({size**2 / 1e4:g} ha)"
            raise ConfigError(f"{flag} {self.text} gives no break cell on a grid of {what}")
        return cells

    def tile_budget(self, n_cells: int, cell_size: float, flag: str = "--budget") -> float:
        """The budget as the evaluation's number: a fraction (< 1) stays one, hectares become a cell count."""
        if self.kind == "fraction":
            return self.amount
        return float(self.cells(n_cells=n_cells, cell_size=cell_size, flag=flag))

    def describe(self, cells: int, landscape: Landscape) -> str:
        """'75 cells (3.0 % of the tile, 6.75 ha)': what the budget came to."""
        ha = cells * landscape.cell_size**2 / 1e4
        return f"{cells} cells ({100 * cells / landscape.n_cells:.1f} % of the tile, {ha:g} ha) from --budget {self.text}"


def parse_budget(text: str | float, flag: str = "--budget") -> Budget:
    """A Budget from '5%', '0.05', '120ha', '75cells' or '75' (module docstring).

    Raises:
        ConfigError: anything else, naming `flag`.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        text = repr(text) if isinstance(text, float) else str(text)
    m = _BUDGET.match(str(text))
    forms = "5% (of the tile), 0.05 (a fraction below 1), 120ha, 75cells or 75"
    if not m:
        raise ConfigError(f"{flag} {text}: a budget is {forms}")
    amount, unit = float(m.group(1)), (m.group(2) or "").lower()
    if not (math.isfinite(amount) and amount > 0):
        raise ConfigError(f"{flag} {text}: a budget must be more than 0 ({forms})")
    if unit == "%":
        if amount > 100:
            raise ConfigError(f"{flag} {text}: a percentage of the tile is at most 100%")
        return Budget("fraction", amount / 100.0, str(text).strip())
    if unit == "ha":
        return Budget("hectares", amount, str(text).strip())
    if unit.startswith("cell") or amount >= 1:
        if amount != int(amount):
            raise ConfigError(f"{flag} {text}: a budget of 1 or more is a whole number of cells (a fraction is below 1)")
        return Budget("cells", float(int(amount)), str(text).strip())
    return Budget("fraction", amount, str(text).strip())


def budget_arg(text: str) -> Budget:
    """Argparse type of --budget (an ArgumentTypeError names the forms)."""
    import argparse

    try:
        return parse_budget(text)
    except ConfigError as exc:
        why = str(exc).removeprefix(f"--budget {text}: ")
        raise argparse.ArgumentTypeError(f"{text} is not a budget: {why}") from None


def check_objective(
    objective: str, landscape: Landscape | None = None, has_values: bool | None = None
) -> str:
    """`objective` when known and, for 'value', when a value layer exists: the flag's check, naming --objective.

    The planners check it again (`fuelbreak.fire.montecarlo.check_objective`) for callers of the library.

    Raises:
        ConfigError: an unknown objective, or 'value' without a value layer.
    """
    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective {objective!r}: choose {' or '.join(OBJECTIVES)}")
    if has_values is None and landscape is not None:
        has_values = landscape.planner_layer("value") is not None
    if objective == "value" and has_values is False:
        raise ConfigError(
            "--objective value needs values at risk: give --values PATH[:ATTRIBUTE] (a raster, or points or "
            "polygons with a value attribute)"
        )
    return objective


def check_max_cost(max_cost: float | None, has_cost: bool) -> float | None:
    """`max_cost` when positive and a cost layer exists (None stays None).

    Raises:
        ConfigError: a cost limit that is not a positive number, or one without a cost layer.
    """
    if max_cost is None:
        return None
    if not (isinstance(max_cost, int | float) and math.isfinite(max_cost) and max_cost > 0):
        raise ConfigError(f"--max-cost {max_cost!r}: a cost limit is a number more than 0")
    if not has_cost:
        raise ConfigError("--max-cost needs a cost of each cell: give --cost PATH|NUMBER")
    return float(max_cost)


@dataclass(frozen=True)
class PlanRequest:
    """What a plan must respect and what it minimises.

    At most `cells` break cells, a summed cost of at most `max_cost` (None: no cost limit), and the
    `objective` ('area' or 'value'). `request_options` turns it into planner options.
    """

    cells: int
    max_cost: float | None = None
    objective: str = "area"
    budget: Budget | None = None

    def to_dict(self) -> dict:
        """The request for a plan's JSON outputs."""
        return {
            "budget": None if self.budget is None else self.budget.text,
            "budget_cells": self.cells,
            "max_cost": self.max_cost,
            "objective": self.objective,
        }


def resolve_request(
    landscape: Landscape,
    budget: Budget | str | float | None = None,
    max_cost: float | None = None,
    objective: str = "area",
    flag: str = "--budget",
) -> PlanRequest:
    """The request of a command's flags on `landscape` (its planner layers attached).

    The cell limit is `budget` on the landscape (5 % of its cells without --budget or --max-cost; every
    treatable cell with --max-cost alone).

    Raises:
        ConfigError: a bad budget, more cells than the landscape can treat, --max-cost without a cost layer
            or below the cheapest treatable cell, --objective value without a value layer.
    """
    objective = check_objective(objective, landscape)
    max_cost = check_max_cost(max_cost, landscape.planner_layer("cost") is not None)
    treatable = landscape.treatable
    legal = int(treatable.sum())
    where = f"tile '{landscape.name}'" if landscape.name else "the tile"
    if legal == 0:
        raise ConfigError(f"{where} has no cell a break may go on (burnable and not excluded)")
    if budget is None and max_cost is not None:
        cells = legal
    else:
        if budget is None:
            budget = DEFAULT_BUDGET_TEXT
        if not isinstance(budget, Budget):
            budget = parse_budget(budget, flag)
        cells = budget.cells(landscape, flag=flag)
        if cells > legal:
            excluded = int((landscape.burnable & landscape.excluded).sum())
            why = f" ({excluded} burnable cells are excluded)" if excluded else ""
            raise ConfigError(
                f"{flag} {budget.text} asks for {cells} break cells, but {where} has only {legal} burnable cells "
                f"a break may go on{why}"
            )
    if max_cost is not None:
        cheapest = float(landscape.planner_layer("cost")[treatable].min())
        if cheapest > max_cost:
            raise ConfigError(
                f"--max-cost {max_cost:g} buys no cell: the cheapest cell a break may go on costs {cheapest:g}"
            )
    return PlanRequest(cells, max_cost, objective, budget if isinstance(budget, Budget) else None)


def request_options(request: PlanRequest | None, planner: str, takes) -> dict:
    """The planner options of a request's cost limit and objective, for a planner that takes `takes`.

    A cost limit goes as `max_cost`, the value objective as `objective`; the area objective, today's, needs no
    option.

    Raises:
        ConfigError: the planner does not take the option the request needs.
    """
    if request is None:
        return {}
    out = {}
    if request.max_cost is not None:
        if "max_cost" not in takes:
            raise ConfigError(f"--max-cost: {planner} does not take a cost limit")
        out["max_cost"] = request.max_cost
    if request.objective != "area":
        if "objective" not in takes:
            raise ConfigError(f"--objective {request.objective}: {planner} does not plan for that objective")
        out["objective"] = request.objective
    return out
