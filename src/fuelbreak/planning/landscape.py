"""Planning and scoring a whole landscape in bounded memory, on an executor, resumable, with progress.

`plan_landscape` plans a landscape of any size: a landscape that fits one window is planned whole, as
`plan_cells` plans it; a larger one is planned in windows with halos and the budget shared where it
saves most (`fuelbreak.planning.windows`, the design). Windows run on an executor
(`fuelbreak.parallel`: serial, a local process pool, Ray), a few at a time; each finished window's
proposal is saved atomically in a state folder, so an interrupted plan resumes where it stopped.

`score_plan` scores a plan on fires that burn on the whole landscape, never clipped at a window, in
chunks of fires (`fuelbreak.fire.montecarlo.burned_counts`) spread over the executor: memory holds the
chunks in flight and two count maps, never every fire. The landscape goes to each worker once
(`Shared`; on Ray once per node, through the object store).

Memory: a window's planner holds its planning fires over its box ((size + 2 halo)^2 cells), a scoring
chunk `CHUNK_FIRE_CELLS` fire-cells, a worker one fire engine of the whole landscape (about 100 bytes a
cell) while it scores; nothing grows with cells x fires.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fuelbreak.errors import ConfigError, InputError, SimulationError
from fuelbreak.fire.montecarlo import FireSet, burned_counts, chunk_of, make_engine, sample_ignitions
from fuelbreak.fire.scenario import Scenario, Weather
from fuelbreak.landscape.core import Landscape
from fuelbreak.parallel import Shared, array_digest
from fuelbreak.planning.windows import (
    Proposal,
    ignition_weight,
    merge,
    propose,
    split_windows,
    window_landscape,
)

WINDOW = 256  # cells of a window's core side by default
HALO = 32  # cells of a window's halo by default (about 1 km at 30 m)
# A window first proposes this many times its fair share of the budget. With the policy on Worcester, 1.5 and
# 1.25 saved 5 % of the CPU and lost 0.1 and 1.6 points of reduction (docs/how-it-works/scale.md).
OVERSUPPLY = 2.0
ROUNDS = 2  # rounds at most in which windows whose whole proposal was taken propose twice as much
GAIN_FIRES = 128  # fires that measure a window's proposal
STATE_VERSION = 1


def available_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS tells it, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parallelism(executor) -> int:
    """Tasks an executor runs at once: its workers (process pool), its cluster's CPUs (Ray), else 2."""
    workers = getattr(executor, "workers", None)
    if workers:
        return int(workers)
    cpus = getattr(executor, "_cluster_cpus", None)
    if callable(cpus):
        return max(1, int(cpus()))
    return 2


class Progress:
    """Lines on stderr: what is done of how much, time elapsed and an estimate of the time left."""

    def __init__(self, what: str, total: int, unit: str, stream=None, enabled: bool = True):
        self.what, self.total, self.unit = what, int(total), unit
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.start = time.monotonic()
        self.base = 0  # work done before this run (resumed), not counted in the rate

    def update(self, done: int, note: str = "") -> None:
        """Report `done` of `total`."""
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        fresh = done - self.base
        left = ""
        if 0 < fresh and done < self.total:
            left = f", about {_duration(elapsed / fresh * (self.total - done))} left"
        extra = f" ({note})" if note else ""
        print(
            f"{self.what}: {done}/{self.total} {self.unit}{extra}, {_duration(elapsed)} elapsed{left}",
            file=self.stream,
            flush=True,
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# ----------------------------------------------------------------------------- the state folder


class PlanState:
    """A folder of a windowed plan's finished proposals, one file each, written atomically.

    `request.json` names the plan they belong to; a folder of another plan is refused on resume and
    cleared otherwise.
    """

    def __init__(self, folder: str | os.PathLike, request: dict):
        self.folder = Path(folder)
        self.request = {"state_version": STATE_VERSION, **request}

    def open(self, resume: bool) -> dict[int, Proposal]:
        """Make the folder ready; the proposals kept from an earlier run when `resume`."""
        from fuelbreak.atomic import atomic_write_text, remove_stale_temporaries

        meta = self.folder / "request.json"
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigError(f"--resume state {self.folder} is a file, not a folder")
        found: dict[int, Proposal] = {}
        if resume and meta.exists():
            try:
                earlier = json.loads(meta.read_text())
            except (OSError, ValueError) as exc:
                raise InputError(f"state {meta}: cannot read it ({exc}); remove the folder to start again") from None
            if earlier != self.request:
                differ = sorted(k for k in {**earlier, **self.request} if earlier.get(k) != self.request.get(k))
                raise ConfigError(
                    f"--resume: the state in {self.folder} is of another plan (it differs in {', '.join(differ)}); "
                    "plan without --resume to start again, or give the same flags"
                )
            remove_stale_temporaries(self.folder)
            for path in sorted(self.folder.glob("w*.npz")):
                try:
                    with np.load(path) as arrays:
                        p = Proposal.from_arrays(arrays)
                except (OSError, ValueError, KeyError):
                    continue  # not a whole proposal: planned again
                if p.index not in found or p.asked > found[p.index].asked:
                    found[p.index] = p
        elif self.folder.exists():
            self.clear()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(meta, json.dumps(self.request, indent=1, sort_keys=True))
        except OSError as exc:
            raise ConfigError(f"state folder {self.folder}: cannot write it ({exc.strerror or exc})") from None
        return found

    def save(self, proposal: Proposal) -> None:
        """Keep a finished proposal (atomically: a file is whole or absent)."""
        from fuelbreak.atomic import atomic_write

        cost = "" if math.isinf(proposal.requested_cost) else f"-{proposal.requested_cost:.6g}"
        path = self.folder / f"w{proposal.index:06d}-{proposal.requested}{cost}.npz"
        atomic_write(path, lambda fh: np.savez(fh, **proposal.to_arrays()))

    def clear(self) -> None:
        """Remove the folder and what it holds."""
        shutil.rmtree(self.folder, ignore_errors=True)


def landscape_digest(landscape: Landscape) -> str:
    """A content name of a landscape: its layers (names, values) and cell size."""
    names = sorted(landscape.layers)
    return array_digest(np.array(landscape.cell_size), *(landscape.layers[k] for k in names)) + ":" + ",".join(
        names
    )


def _options_text(options: dict) -> dict:
    """Options as JSON-able text (a loaded policy by its source)."""
    return {k: getattr(v, "source", None) or repr(v) for k, v in sorted(options.items())}


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class LandscapePlan:
    """A plan of a whole landscape and how it was made."""

    cells: np.ndarray  # flat indices, in placement order
    windows: int  # 1: planned whole
    window: int
    halo: int
    proposals: int  # window proposals computed by this run (not resumed)
    resumed: int  # window proposals read from the state folder
    rounds: int  # merge rounds (1: the first proposals sufficed)
    taken: dict  # window index -> cells of its proposal in the plan


def plan_landscape(
    method: str,
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int,
    options: dict | None = None,
    *,
    window: int = WINDOW,
    halo: int = HALO,
    oversupply: float | None = OVERSUPPLY,
    rounds: int = ROUNDS,
    gain_fires: int = GAIN_FIRES,
    executor=None,
    state: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = False,
    reuse: bool = True,
) -> LandscapePlan:
    """`budget` break cells of `method` on `landscape`: whole when it fits one window, else in windows.

    `executor` (default: in this process) runs the windows, as many at a time as it has workers; `state`
    (a folder) keeps finished windows so that `resume` continues an interrupted plan there. With `reuse`, a
    trained policy's window asked for more cells continues its earlier proposal (`propose`'s `earlier`).
    `oversupply` (None: `OVERSUPPLY`): a window's first proposal, in fair shares. A cost limit (`options`'
    `max_cost`) is shared so too: each window plans under its share of it (oversupplied, plus its dearest
    cell), and the merge ranks the windows' cells by gain per unit cost and keeps the plan within it
    (`merge`); a plan under a cost limit may hold fewer cells than `budget`.
    """
    from fuelbreak.baselines.common import cell_costs
    from fuelbreak.planning.planners import plan_cells

    options = dict(options or {})
    if oversupply is None:
        oversupply = OVERSUPPLY
    if not (isinstance(oversupply, int | float) and math.isfinite(oversupply) and oversupply >= 1):
        raise ConfigError(f"oversupply must be a number >= 1, got {oversupply!r}")
    windows = split_windows(landscape.shape, window, halo)
    if len(windows) == 1:
        cells = np.asarray(plan_cells(method, landscape, weather, budget, seed, options), dtype=np.int64)
        return LandscapePlan(cells, 1, window, halo, 1, 0, 1, {0: len(cells)})

    weight = ignition_weight(landscape)
    treatable = landscape.treatable
    total = float(weight.sum())
    if total <= 0:
        raise InputError(f"landscape '{landscape.name}' has no burnable cell where a fire could start")
    max_cost = options.get("max_cost")
    costs = cell_costs(landscape, max_cost)  # None without a cost limit
    grid = None if costs is None else costs.reshape(landscape.shape)
    shares, caps, cost_caps, cost_requests = {}, {}, {}, {}
    for w in windows:
        r0, r1, c0, c1 = w.core
        shares[w.index] = float(weight[r0:r1, c0:c1].sum()) / total
        caps[w.index] = int(treatable[r0:r1, c0:c1].sum())
        cost_caps[w.index] = cost_requests[w.index] = math.inf
        if grid is not None:
            core = grid[r0:r1, c0:c1][treatable[r0:r1, c0:c1]]
            dearest = float(core.max()) if core.size else 0.0
            cost_caps[w.index] = float(core.sum()) or math.inf  # cells that cost nothing: no cap
            cost_requests[w.index] = min(cost_caps[w.index], oversupply * max_cost * shares[w.index] + dearest)
    if budget > sum(caps.values()):
        raise ConfigError(f"budget {budget} exceeds the {sum(caps.values())} cells where a break may go")
    requests = {
        w.index: min(caps[w.index], math.ceil(oversupply * budget * shares[w.index]) + 1) for w in windows
    }
    reuse = reuse and costs is None  # a policy continues no proposal under a cost limit
    keep = None
    done: dict[int, Proposal] = {}

    def window_options(i: int) -> dict:
        return options if costs is None else {**options, "max_cost": cost_requests[i]}

    def stale(i: int) -> bool:
        """Whether window i has no proposal yet, or one made for less than it is asked for now."""
        return i not in done or done[i].requested < requests[i] or done[i].requested_cost < cost_requests[i]

    if state is not None:
        request = {
            "method": method,
            "options": _options_text(options),
            "budget": int(budget),
            "seed": int(seed),
            "weather": weather.to_dict(),
            "landscape": landscape_digest(landscape),
            "window": window,
            "halo": halo,
            "oversupply": float(oversupply),
            "gain_fires": int(gain_fires),
        }
        keep = PlanState(state, request)
        done = keep.open(resume)
    resumed = len(done)
    run_here = executor is None
    if run_here:
        from fuelbreak.parallel import make_executor

        executor = make_executor("serial")
    wave = parallelism(executor)
    by_index = {w.index: w for w in windows}
    computed, round_no = 0, 0
    try:
        while True:
            round_no += 1
            todo = [i for i in requests if stale(i)]
            # the largest proposals first: a wave's windows take about as long, and the last wave is the shortest
            todo.sort(key=lambda i: (-(requests[i] - (len(done[i].cells) if i in done and reuse else 0)), i))
            bar = Progress(f"windows (round {round_no})", len(windows), "windows done", enabled=progress)
            bar.base = len(windows) - len(todo)
            bar.update(len(windows) - len(todo), f"{len(windows)} windows of {window} cells, halo {halo}")
            for s in range(0, len(todo), wave):
                part = todo[s : s + wave]
                args = [
                    (
                        window_landscape(landscape, by_index[i]),
                        by_index[i],
                        landscape.shape[1],
                        shares[i],
                        method,
                        weather,
                        requests[i],
                        seed,
                        window_options(i),
                        gain_fires,
                        done[i].cells if i in done and reuse else None,  # a policy continues its proposal
                    )
                    for i in part
                ]
                for p in executor.map(propose, args):
                    done[p.index] = p
                    computed += 1
                    if keep is not None:
                        keep.save(p)
                bar.update(len(windows) - len(todo) + s + len(part))
            cells, taken = merge([done[i] for i in sorted(done)], budget, costs, max_cost)
            full = [
                i
                for i in requests
                if taken.get(i, 0) >= len(done[i].cells)
                and (requests[i] < caps[i] or cost_requests[i] < cost_caps[i])
                and not stale(i)
            ]
            short = len(cells) < budget and (costs is None or affordable(costs, treatable, cells, max_cost))
            if not full or (round_no > rounds and not short):
                break
            for i in full:
                requests[i] = min(caps[i], 2 * requests[i])
                cost_requests[i] = min(cost_caps[i], 2 * cost_requests[i])
    finally:
        if run_here:
            executor.close()
    if len(cells) < budget and costs is None:
        raise SimulationError(
            f"{method}: the windows proposed only {len(cells)} of the {budget} cells of the budget; "
            "plan with a larger --window"
        )
    return LandscapePlan(cells, len(windows), window, halo, computed, resumed, round_no, taken)


def affordable(costs: np.ndarray, treatable: np.ndarray, cells: np.ndarray, max_cost: float) -> bool:
    """Whether a treatable cell not in `cells` still fits in what `max_cost` leaves."""
    free = treatable.ravel().copy()
    free[cells] = False
    return bool(free.any()) and float(costs[cells].sum()) + float(costs[free].min()) <= max_cost


# ----------------------------------------------------------------------------- scoring


def draw_groups(
    landscape: Landscape,
    weather: Weather,
    n_fires: int,
    seed: int | np.random.Generator | np.random.SeedSequence,
    ignition_weights: np.ndarray | None = None,
) -> list[tuple[Scenario, np.ndarray]]:
    """The (scenario, ignitions) groups `draw_fires` draws for the same arguments, without building engines."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(weather.scenarios), size=n_fires, p=weather.weights)
    ign = sample_ignitions(landscape, n_fires, rng, ignition_weights)
    return [(s, ign[idx == i]) for i, s in enumerate(weather.scenarios) if (idx == i).any()]


_ENGINE: dict = {}  # one fire engine of a whole landscape per process: (landscape key, scenario) -> engine


def _engine(landscape: Landscape, key: str, scenario: Scenario):
    """The engine of `scenario` on `landscape`, kept for the next task of the same key (one at a time)."""
    k = (key, scenario)
    if k not in _ENGINE:
        _ENGINE.clear()  # free the old engine before building the new one
        _ENGINE[k] = make_engine("mtt", landscape, scenario)
    return _ENGINE[k]


def score_chunk(
    landscape: Landscape, key: str, scenario: Scenario, ignitions: np.ndarray, cells: np.ndarray, chunk: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Burned counts (H, W) int32 and areas of some fires without and with the break `cells` (a pure task)."""
    engine = _engine(landscape, key, scenario)
    fires = FireSet([scenario], [np.asarray(ignitions, dtype=np.int64)], [engine])
    breaks = np.zeros(landscape.n_cells, dtype=bool)
    breaks[np.asarray(cells, dtype=np.int64)] = True
    before, area_before = burned_counts(fires, None, chunk)
    after, area_after = burned_counts(fires, breaks.reshape(landscape.shape), chunk)
    return before.astype(np.int32), after.astype(np.int32), area_before, area_after


@dataclass(frozen=True)
class PlanScore:
    """Burned counts per cell and burned area per fire, without and with a plan, on the same fires."""

    counts_before: np.ndarray  # (H, W): fires that burn each cell
    counts_after: np.ndarray
    areas_before: np.ndarray  # (n_fires,) burned cells per fire, groups in order
    areas_after: np.ndarray

    @property
    def n_fires(self) -> int:
        """Fires scored."""
        return len(self.areas_before)


def score_plan(
    landscape: Landscape,
    groups: list[tuple[Scenario, np.ndarray]],
    cells: np.ndarray,
    executor=None,
    chunk: int | None = None,
    progress: bool = False,
) -> PlanScore:
    """Burn the fires `groups` (`draw_groups`) on the whole landscape without and with the plan `cells`.

    Tasks of about `chunk` fires (default: what fits `CHUNK_FIRE_CELLS`, and at least two tasks a
    worker) go to `executor` (default: this process), a few at a time.
    """
    n_fires = sum(len(g) for _, g in groups)
    run_here = executor is None
    if run_here:
        from fuelbreak.parallel import make_executor

        executor = make_executor("serial")
    workers = 1 if executor.kind == "serial" else parallelism(executor)
    size = chunk_of(landscape.n_cells) if chunk is None else int(chunk)
    if size < 1:
        raise ConfigError(f"a chunk of scoring fires must hold at least 1 fire, got {chunk}")
    size = max(1, min(size, math.ceil(n_fires / (2 * workers))))
    shared = Shared(("landscape", landscape_digest(landscape)), landscape)
    key = shared.key[1]
    cells = np.asarray(cells, dtype=np.int64)
    tasks = [
        (shared, key, scenario, ign[i : i + size], cells, size)
        for scenario, ign in groups
        for i in range(0, len(ign), size)
    ]
    counts_before = np.zeros(landscape.shape, dtype=np.int64)
    counts_after = np.zeros(landscape.shape, dtype=np.int64)
    areas_before, areas_after = [], []
    bar = Progress("scoring", n_fires, "fires burned without and with the plan", enabled=progress)
    burned = 0
    try:
        for s in range(0, len(tasks), workers):
            part = tasks[s : s + workers]
            for before, after, a_before, a_after in executor.map(score_chunk, part):
                counts_before += before
                counts_after += after
                areas_before.append(a_before)
                areas_after.append(a_after)
            burned += sum(len(t[3]) for t in part)
            bar.update(burned)
    finally:
        _ENGINE.clear()
        if run_here:
            executor.close()
    return PlanScore(
        counts_before,
        counts_after,
        np.concatenate(areas_before) if areas_before else np.zeros(0),
        np.concatenate(areas_after) if areas_after else np.zeros(0),
    )
