"""Fire: behaviour per cell (pyretechnics), spread engines and Monte Carlo scoring of plans."""

from fuelbreak.fire.behavior import STENCIL8, STENCIL16, FireBehavior, compute_behavior
from fuelbreak.fire.montecarlo import (
    ENGINES,
    FireSet,
    behaviors_for,
    burn_fire_set,
    burn_probability,
    burned_areas,
    draw_fires,
    expected_burned_area,
    make_engine,
    sample_ignitions,
)
from fuelbreak.fire.mtt import BurnResult, MTTEngine
from fuelbreak.fire.scenario import Scenario, Weather, default_weather

__all__ = [
    "ENGINES",
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
    "compute_behavior",
    "default_weather",
    "draw_fires",
    "expected_burned_area",
    "make_engine",
    "sample_ignitions",
]
