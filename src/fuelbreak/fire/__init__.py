"""Fire: behaviour per cell (pyretechnics), spread engines and Monte Carlo scoring of plans."""

from fuelbreak.fire.behavior import STENCIL8, STENCIL16, FireBehavior, compute_behavior
from fuelbreak.fire.montecarlo import (
    ENGINES,
    OBJECTIVES,
    FireSet,
    behaviors_for,
    burn_fire_set,
    burn_probability,
    burned_areas,
    burned_losses,
    check_objective,
    draw_fires,
    expected_burned_area,
    expected_loss,
    loss_weights,
    make_engine,
    sample_ignitions,
)
from fuelbreak.fire.mtt import BurnResult, MTTEngine
from fuelbreak.fire.scenario import Scenario, Weather, default_weather

__all__ = [
    "ENGINES",
    "OBJECTIVES",
    "STENCIL8",
    "STENCIL16",
    "BurnResult",
    "FireBehavior",
    "FireSet",
    "MTTEngine",
    "Scenario",
    "Weather",
    "behaviors_for",
    "burn_fire_set",
    "burn_probability",
    "burned_areas",
    "burned_losses",
    "check_objective",
    "compute_behavior",
    "default_weather",
    "draw_fires",
    "expected_burned_area",
    "expected_loss",
    "loss_weights",
    "make_engine",
    "sample_ignitions",
]
