"""Demonstrations for DQfD: a teacher's plans on training episodes, computed once and cached on disk.

A demonstration is one training episode (tile, scenario, ignitions, planner layers and objective: the
episode that `FuelBreakEnv.reset(seed=DEMO_SEED + i)` draws) placed by a baseline planner on the episode's
scenario, for the episode's objective (`dqn.demo_method`; the default is tree-greedy on 160 fires). A strong teacher takes a
second or more a plan, so plans are cached: one
`.npy` file per plan under the cache folder, named by a SHA-256 key of everything the plan depends
on (the tile's layers, the scenario, the budget, the planner, its options and seed, and the
fuelbreak version of the engine). A run whose demonstrations are all cached pays nothing for them;
a changed tile, weather or planner setting simply misses. Missing plans are computed on the run's
executor, in parallel, and written atomically, so an interrupted run keeps what it finished.

The package ships the cache of the default configuration (`fuelbreak/policies/demonstrations/`),
rebuilt by `fuelbreak policy demos`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from fuelbreak.atomic import atomic_write
from fuelbreak.errors import ConfigError
from fuelbreak.fire.scenario import Scenario, Weather
from fuelbreak.landscape.core import Landscape

DEMO_SEED = 0xDE30
# A teacher's plan may take minutes (greedy on a large fire); past this it counts as hung.
PLAN_TIMEOUT_S = 1800.0
# Bumped whenever the fire engine or a planner changes what plans it makes, so stale caches miss.
ENGINE_VERSION = "mtt-2026-12-01"  # a diagonal passes one blocked corner, not two touching breaks
# 2026-11-30: ties between equally fast moves go to the lowest direction (trees)
# 2026-11-29b: no diagonal cuts the corner of a blocked cell


def default_cache_dir() -> Path:
    """$FUELBREAK_CACHE, else $XDG_CACHE_HOME/fuelbreak, else ~/.cache/fuelbreak; plus demonstrations/."""
    root = os.environ.get("FUELBREAK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "fuelbreak"
    )
    return Path(root) / "demonstrations"


def shipped_cache_dir() -> Path:
    """The demonstrations that ship with the package (those of the default configuration)."""
    return Path(str(resources.files("fuelbreak") / "policies" / "demonstrations"))


@dataclass(frozen=True)
class DemoSpec:
    """One demonstration to make: an episode's tile and scenario, and the planner that places it."""

    index: int  # i: the episode of reset(seed=DEMO_SEED + i)
    landscape: Landscape
    scenario: Scenario
    budget: int
    method: str
    options: tuple[tuple[str, object], ...]
    seed: int
    objective: str = "area"  # what the teacher plans for: the episode's objective

    def key(self) -> str:
        """A hex digest naming this demonstration in the cache.

        It covers the landscape's layers and cell size, the scenario, budget, method, options, seed and the
        engine's version, so a change to any of them computes the plan again.
        """
        h = hashlib.sha256()
        for name in sorted(self.landscape.layers):
            h.update(name.encode())
            h.update(np.ascontiguousarray(self.landscape.layers[name], dtype=np.float32).tobytes())
        h.update(f"{self.landscape.cell_size}".encode())
        meta = {
            "scenario": self.scenario.to_dict(),
            "budget": self.budget,
            "method": self.method,
            "options": [list(o) for o in self.options],
            "seed": self.seed,
            "engine": ENGINE_VERSION,
        }
        if self.objective != "area":  # the area plans keep the keys they had before objectives existed
            meta["objective"] = self.objective
        h.update(json.dumps(meta, sort_keys=True).encode())
        return h.hexdigest()[:32]


def make_demo_plan(spec: DemoSpec) -> np.ndarray:
    """The teacher's plan of one demonstration (a pure task for an executor)."""
    from fuelbreak.baselines import plan

    return plan(
        spec.method,
        spec.landscape,
        Weather.single(spec.scenario),
        spec.budget,
        spec.seed,
        **dict(spec.options),
        **({"objective": spec.objective} if spec.objective != "area" else {}),
    )


class DemoCache:
    """Plans by key: read from the run's cache folder, then from the shipped one; written to the first."""

    def __init__(self, folder: str | Path | None = None, read_only: tuple[Path, ...] | None = None):
        self.folder = Path(folder) if folder else default_cache_dir()
        self.read_only = read_only if read_only is not None else (shipped_cache_dir(),)

    def _path(self, key: str, folder: Path) -> Path:
        return folder / f"{key}.npy"

    def get(self, spec: DemoSpec) -> np.ndarray | None:
        """The cached plan (flat cell indices) of `spec`, or None when no cache folder holds it.

        Raises:
            ConfigError: a cached file is unreadable or does not hold a plan of `spec.budget` cells.
        """
        key = spec.key()
        for folder in (self.folder, *self.read_only):
            path = self._path(key, folder)
            if path.is_file():
                try:
                    cells = np.load(path, allow_pickle=False)
                except (OSError, ValueError) as exc:
                    raise ConfigError(
                        f"cached demonstration {path} is unreadable ({exc}); delete it to compute it again"
                    ) from None
                if cells.shape != (spec.budget,) or not np.issubdtype(cells.dtype, np.integer):
                    raise ConfigError(
                        f"cached demonstration {path} holds {cells.shape} {cells.dtype}, not a plan of "
                        f"{spec.budget} cells; delete it to compute it again"
                    )
                return cells.astype(np.int64)
        return None

    def put(self, spec: DemoSpec, cells: np.ndarray) -> Path:
        """Cache `cells`, the plan of `spec`, atomically; returns the file written.

        Raises:
            ConfigError: the cache folder cannot be created.
        """
        path = self._path(spec.key(), self.folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"dqn.demo_cache: cannot create {self.folder}: {exc}") from None
        atomic_write(path, lambda fh: np.save(fh, np.asarray(cells, dtype=np.int64)))
        return path


def demo_plans(
    specs: list[DemoSpec], cache: DemoCache, executor=None, progress: bool = False, stopped=lambda: False
) -> list[np.ndarray]:
    """The plan of every spec: cached ones read, missing ones computed on `executor` and cached.

    When `stopped()` turns true, the plans finished so far (a prefix of `specs`) are returned.
    """
    plans: list[np.ndarray | None] = [cache.get(s) for s in specs]
    missing = [i for i, p in enumerate(plans) if p is None]
    if missing:
        from fuelbreak.parallel.local import SerialExecutor

        executor = executor or SerialExecutor()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(missing), desc=f"demonstrations ({specs[0].method})", unit="plan")
        batches = [(i, executor.submit_batch(make_demo_plan, [(specs[i],)], PLAN_TIMEOUT_S)) for i in missing]
        try:
            for i, batch in batches:
                if stopped():
                    return [p for p in plans[:i] if p is not None]
                outcome = executor.collect(batch)[0]
                if not outcome.ok:
                    raise ConfigError(
                        f"demonstration {specs[i].index} ({specs[i].method}) failed: {outcome.error}"
                    )
                plans[i] = np.asarray(outcome.value, dtype=np.int64)
                cache.put(specs[i], plans[i])
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    return plans  # type: ignore[return-value]
