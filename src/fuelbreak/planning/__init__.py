"""Planning a landscape: the layer above the baselines and the agents.

A plan request names the planner, its options, the budget and the objective; planning turns it into
break cells. `cli/plan.py` and `evaluation` call this layer rather than dispatching on method names
themselves.

    planners   one entry point for every planner: the baselines, the policy (`dqn`) and `dqn_search`
"""

from fuelbreak.planning.planners import (
    base_method,
    is_dqn,
    known_methods,
    plan_cells,
    uses_policy,
)

__all__ = ["base_method", "is_dqn", "known_methods", "plan_cells", "uses_policy"]
