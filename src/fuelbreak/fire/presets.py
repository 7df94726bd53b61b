"""Named weather presets and weather scenario files (CSV or TOML), resolved by one function.

`resolve_weather(spec)` takes a preset name (`PRESETS`) or the path of a scenario file and returns a
`Weather`. A scenario file lists scenarios, one a row (CSV) or one a `[[scenario]]` table (TOML), with
the fields of `Scenario` and an optional `weight`:

    wind_speed,wind_direction,m1h,m10h,m100h,herb,woody,foliar,duration,weight
    30,225,0.03,0.04,0.06,0.30,0.60,0.90,480,0.7
    15,270,0.05,0.06,0.08,0.60,0.90,1.00,240,0.3

Wind in km/h at 10 m and the direction it blows FROM (degrees clockwise from north); moistures and
foliar moisture as fractions; duration in minutes; weights are normalised (default 1 each). Every
value is checked; a bad one is a `ConfigError` naming the file, the row and the column.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from fuelbreak.errors import ConfigError, InputError
from fuelbreak.fire.scenario import Scenario, Weather, default_weather, in_range, range_text

COLUMNS = tuple(f.name for f in fields(Scenario))
WEIGHT = "weight"


def seed_weather() -> Weather:
    """The system we replace: 24 h burns, no wind, dead 10/15/25 %, live herbaceous and woody 10 %."""
    return Weather.single(
        Scenario(
            wind_speed=0.0,
            wind_direction=270.0,
            m1h=0.10,
            m10h=0.15,
            m100h=0.25,
            herb=0.10,
            woody=0.10,
            foliar=1.0,
            duration=24 * 60.0,
        )
    )


def dry_windy_weather() -> Weather:
    """A bad fire day, in the style of 97th-percentile weather held for a day: 30 km/h, cured dry fuels.

    Dead moistures 3/4/6 %, live herbaceous 30 % (cured), live woody 60 %, foliar 90 %, 24 h burns;
    the wind blows from the south-west (40 %), west (30 %), north-west (20 %) or south (10 %). On the
    Worcester VT timber litter a fire then burns about 30 % of a 50x50 tile (8 h burns: about 5 %).
    """
    base = dict(wind_speed=30.0, m1h=0.03, m10h=0.04, m100h=0.06, herb=0.30, woody=0.60, foliar=0.9)
    dirs = ((225.0, 0.4), (270.0, 0.3), (315.0, 0.2), (180.0, 0.1))
    return Weather(
        tuple(Scenario(wind_direction=d, duration=1440.0, **base) for d, _ in dirs), tuple(w for _, w in dirs)
    )


def mixture(parts: tuple[tuple[Weather, float], ...]) -> Weather:
    """One distribution over the scenarios of several, each weather's share of probability given."""
    scenarios, weights = [], []
    for weather, share in parts:
        scenarios += weather.scenarios
        weights += [share * w for w in weather.weights]
    return Weather(tuple(scenarios), tuple(weights))


def broad_weather() -> Weather:
    """What the shipped policy trains on: the default (50 %), dry-windy (35 %) and seed (15 %) scenarios.

    A policy trained on 4 h burns alone reads the burn probability and downstream area of day-long
    windy fires (which burn most of a tile) as nothing it has seen, and plans worse than DomiRank
    there; trained on this mixture it meets short and long, calm and windy burns alike.
    """
    return mixture(((default_weather(), 0.5), (dry_windy_weather(), 0.35), (seed_weather(), 0.15)))


PRESETS: dict[str, tuple[Callable[[], Weather], str]] = {
    "default": (default_weather, "calm and 15-25 km/h winds, dead 6/8/10 %, live 60/90 %, 4 h burns"),
    "seed": (seed_weather, "24 h burns, no wind, dead 10/15/25 %, live 10/10 % (the system we replace)"),
    "dry-windy": (dry_windy_weather, "30 km/h winds from SW/W/NW/S, dead 3/4/6 %, live 30/60 %, 24 h burns"),
    "broad": (broad_weather, "default 50 %, dry-windy 35 % and seed 15 % (the shipped policy's training weather)"),
}


def preset_help() -> str:
    """The weather presets and what each is, for help texts."""
    return "; ".join(f"{name}: {about}" for name, (_, about) in PRESETS.items())


def _value(path: Path, row: str, column: str, raw, typed: bool = False) -> float:
    """One cell of a scenario file as a float in its column's range; errors name file, row and column.

    `typed` (TOML): a value must be a TOML number; a string such as "30" is an error, not a guess.
    """
    where = f"{path}: {row}, column {column}"
    if isinstance(raw, bool) or raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ConfigError(f"{where}: missing or not a number ({raw!r})")
    if typed and not isinstance(raw, int | float):
        raise ConfigError(
            f"{where}: {raw!r} is not a number (a TOML {'string' if isinstance(raw, str) else type(raw).__name__}); "
            "write numbers without quotes"
        )
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"{where}: {raw!r} is not a finite number")
    if column == WEIGHT:
        if value < 0:
            raise ConfigError(f"{where}: weight {value:g} must not be negative")
        return value
    if not in_range(column, value):
        raise ConfigError(f"{where}: {value:g} is outside {range_text(column)} ({_UNITS[column]})")
    return value


_UNITS = {
    "wind_speed": "km/h at 10 m",
    "wind_direction": "degrees the wind blows from",
    "m1h": "fraction",
    "m10h": "fraction",
    "m100h": "fraction",
    "herb": "fraction",
    "woody": "fraction",
    "foliar": "fraction",
    "duration": "minutes",
}


def _scenarios(path: Path, rows: list[tuple[str, dict]], typed: bool = False) -> Weather:
    """Weather from (row label, {column: raw value}) pairs; every column checked (`typed`: see `_value`)."""
    if not rows:
        raise ConfigError(f"{path}: no scenarios (a CSV needs a header and at least one row)")
    scenarios, weights = [], []
    for label, row in rows:
        unknown = [k for k in row if k not in COLUMNS and k != WEIGHT]
        if unknown:
            raise ConfigError(
                f"{path}: {label}, column {unknown[0]}: unknown column; columns are {', '.join(COLUMNS)}, {WEIGHT}"
            )
        for k in (*COLUMNS, WEIGHT):  # the values given first, then what is missing
            if k in row:
                _value(path, label, k, row[k], typed)
        missing = [k for k in COLUMNS if k not in row]
        if missing:
            raise ConfigError(
                f"{path}: {label}, column {missing[0]}: missing (every scenario needs {', '.join(COLUMNS)})"
            )
        values = {k: _value(path, label, k, row[k], typed) for k in COLUMNS}
        weights.append(_value(path, label, WEIGHT, row[WEIGHT], typed) if WEIGHT in row else 1.0)
        scenarios.append(Scenario(**values))
    if sum(weights) <= 0:
        raise ConfigError(f"{path}: the weights sum to 0; at least one scenario needs a positive weight")
    return Weather(tuple(scenarios), tuple(weights))


def read_scenario_file(path: str | Path) -> Weather:
    """A weather distribution from a CSV or TOML scenario file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"scenario file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read scenario file {path}: {exc}") from None
    if path.suffix.lower() == ".toml":
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        tables = doc.get("scenario")
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise ConfigError(f"{path}: expected [[scenario]] tables with the columns {', '.join(COLUMNS)}")
        return _scenarios(path, [(f"scenario {i + 1}", t) for i, t in enumerate(tables)], typed=True)
    if path.suffix.lower() != ".csv":
        raise InputError(f"scenario file {path}: expected a .csv or .toml file")
    lines = [ln for ln in text.splitlines()]
    reader = csv.reader(lines)
    rows = []
    header = None
    for lineno, cells in enumerate(reader, start=1):
        if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in cells]
        if header is None:
            header = cells
            dupes = {c for c in header if header.count(c) > 1}
            if dupes:
                raise ConfigError(
                    f"{path}: line {lineno}: column {sorted(dupes)[0]} appears twice in the header"
                )
            continue
        label = f"row {len(rows) + 1} (line {lineno})"
        if len(cells) != len(header):
            raise ConfigError(f"{path}: {label}: {len(cells)} values for {len(header)} columns")
        rows.append((label, dict(zip(header, cells, strict=True))))
    return _scenarios(path, rows)


def resolve_weather(spec: str | Path) -> Weather:
    """The weather a preset name or a scenario file (.csv, .toml) describes."""
    text = str(spec).strip()
    if text in PRESETS:
        return PRESETS[text][0]()
    path = Path(text)
    if path.suffix.lower() in (".csv", ".toml") or path.exists():
        return read_scenario_file(path)
    raise ConfigError(
        f"weather {text!r} is neither a preset ({', '.join(PRESETS)}) nor a .csv or .toml scenario file"
    )
