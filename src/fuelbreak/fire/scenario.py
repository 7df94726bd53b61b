"""Weather scenarios: the inputs of fire behaviour that are not the landscape.

A list of scenarios with weights is a weather distribution; Monte Carlo draws from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from fuelbreak.errors import ConfigError

# The accepted range of each scenario field (checked on construction); closed except where OPEN_ABOVE.
RANGES: dict[str, tuple[float, float]] = {
    "wind_speed": (0.0, 200.0),
    "wind_direction": (0.0, 360.0),  # [0, 360): 360 is north again, so it is written 0
    "m1h": (0.01, 0.6),
    "m10h": (0.01, 0.6),
    "m100h": (0.01, 0.6),
    "herb": (0.05, 3.0),
    "woody": (0.05, 3.0),
    "foliar": (0.5, 3.0),
    "duration": (1.0, 60.0 * 24 * 14),
}

OPEN_ABOVE = frozenset({"wind_direction"})


def in_range(key: str, value: float) -> bool:
    """Whether a finite `value` lies in the accepted range of scenario field `key`."""
    lo, hi = RANGES[key]
    return lo <= value < hi if key in OPEN_ABOVE else lo <= value <= hi


def range_text(key: str) -> str:
    """The accepted range of scenario field `key` as text, e.g. "[0, 360)"."""
    lo, hi = RANGES[key]
    return f"[{lo:g}, {hi:g}{')' if key in OPEN_ABOVE else ']'}"


@dataclass(frozen=True)
class Scenario:
    """One weather scenario, uniform over the tile for the whole burn.

    wind_speed      km/h at 10 m
    wind_direction  degrees clockwise from north the wind blows FROM (meteorological)
    m1h..m100h      dead fuel moisture, fraction (0.06 = 6 %)
    herb, woody     live fuel moisture, fraction
    foliar          foliar moisture, fraction (about 1.0 is normal)
    duration        burn duration, minutes
    """

    wind_speed: float = 0.0
    wind_direction: float = 270.0
    m1h: float = 0.06
    m10h: float = 0.08
    m100h: float = 0.10
    herb: float = 0.60
    woody: float = 0.90
    foliar: float = 1.0
    duration: float = 240.0

    def __post_init__(self) -> None:
        for key in RANGES:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                raise ConfigError(f"scenario {key}={value!r} is not a number")
            if not (np.isfinite(value) and in_range(key, value)):
                hint = " (a direction is written in [0, 360): 0 = north, 90 = east)" if key == "wind_direction" else ""
                raise ConfigError(f"scenario {key}={value!r} is outside {range_text(key)}{hint}")

    def to_dict(self) -> dict:
        """The scenario's fields as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class Weather:
    """A weather distribution: scenarios and their probabilities (weights are normalised)."""

    scenarios: tuple[Scenario, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.scenarios:
            raise ConfigError("a weather distribution needs at least one scenario")
        if len(self.weights) != len(self.scenarios):
            raise ConfigError("weather: one weight per scenario is needed")
        w = np.asarray(self.weights, dtype=float)
        if not (np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0):
            raise ConfigError(f"weather weights must be non-negative with a positive sum, got {self.weights}")
        object.__setattr__(self, "weights", tuple(float(x) for x in w / w.sum()))

    @classmethod
    def single(cls, scenario: Scenario) -> Weather:
        """A distribution of one scenario, with probability 1."""
        return cls((scenario,), (1.0,))

    def sample(self, rng: np.random.Generator) -> Scenario:
        """One scenario drawn from `rng` with the distribution's probabilities."""
        return self.scenarios[int(rng.choice(len(self.scenarios), p=self.weights))]

    def to_dict(self) -> dict:
        """The scenarios and weights as plain data (`from_dict` reads it back)."""
        return {"scenarios": [s.to_dict() for s in self.scenarios], "weights": list(self.weights)}

    @classmethod
    def from_dict(cls, d: dict) -> Weather:
        """The distribution `to_dict` wrote.

        Raises:
            ConfigError: a scenario field is out of range, or the weights are invalid.
        """
        return cls(tuple(Scenario(**s) for s in d["scenarios"]), tuple(d["weights"]))


def default_weather() -> Weather:
    """Summer afternoon fire weather on dry fuels: calm, and moderate winds from the west quarter."""
    base = dict(m1h=0.06, m10h=0.08, m100h=0.10, herb=0.60, woody=0.90, foliar=1.0, duration=240.0)
    return Weather(
        (
            Scenario(wind_speed=0.0, wind_direction=270.0, **base),
            Scenario(wind_speed=15.0, wind_direction=225.0, **base),
            Scenario(wind_speed=20.0, wind_direction=270.0, **base),
            Scenario(wind_speed=25.0, wind_direction=315.0, **base),
        ),
        (0.2, 0.3, 0.3, 0.2),
    )
