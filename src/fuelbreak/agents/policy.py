"""A trained Q-network as a planner: from a checkpoint to an ordered list of break cells.

The policy sees what it saw in training, the observation channels of `fuelbreak.env.observation`;
outside an episode there is no single scenario, so the intensity channels are averaged over the
weather distribution by weight, and the observation fires are drawn from the distribution, the same
information every baseline plans with. At each step the network scores the cells, the best legal
ones are placed (`cells_per_step` at a time, as in training), and the observation fires they touch
are burned again (`fuelbreak.fire.through_plan.PlanFires`), so the next step sees the plan so far.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fuelbreak.agents.checkpoint import check_channels, load_checkpoint, model_from_checkpoint
from fuelbreak.agents.networks import QNet, StaticSplit
from fuelbreak.env.observation import CHANNEL_INDEX, CHANNELS, PLAN_CHANNELS, static_channels, with_plan
from fuelbreak.env.simulation import INTENSITY_AZIMUTHS
from fuelbreak.errors import ConfigError
from fuelbreak.fire.montecarlo import behaviors_for, cell_equivalent_weights, check_plan, draw_fires
from fuelbreak.fire.scenario import Weather
from fuelbreak.fire.through_plan import PlanFires
from fuelbreak.landscape.core import Landscape

BP_FIRES = 64  # observation fires when a checkpoint does not record env.bp_fires
TRAIN_TILE = 50  # tile side the observation fires were counted for when a checkpoint does not record it
# Observation fires are held as (fires x cells) arrays of about 10 bytes each (`PlanFires`); scaling
# the fires with a landscape's area stops at this many fire-cells (about 0.5 GB).
MAX_FIRE_CELLS = 50_000_000
# Inference graphs this process traced, by the weights and the input they were traced for: a policy
# sent to a worker with each task arrives without its own (see `DQNPolicy.__getstate__`), and tracing
# again took about a tenth of a 50 x 50 plan. A few policies' worth; the oldest go first.
_TRACED: OrderedDict[tuple, object] = OrderedDict()
TRACED_KEPT = 16
SCAN = 4  # candidates `independent_best` looks at per step in a batched rollout, as a multiple of the batch
PLAN_FOLLOWING = (*PLAN_CHANNELS, CHANNEL_INDEX["breaks"])  # the channels a plan changes


def observation_fires(
    landscape: Landscape,
    weather: Weather,
    n_fires: int = BP_FIRES,
    seed: int = 0,
    existing_breaks=None,
    behaviors: dict | None = None,
    objective: str = "area",
) -> tuple[np.ndarray, PlanFires]:
    """What planning observes of fire on a landscape.

    The fireline intensity toward N, E, S, W (4, H, W) in kW/m, weighted over the weather's scenarios, and
    `n_fires` observation fires drawn from the weather (seeded), burned through `existing_breaks`, ready to
    follow the plan. `behaviors` (`behaviors_for(landscape, weather)`) when the caller has them already.
    Under the value objective the fires' downstream bounds count value
    (`fuelbreak.fire.montecarlo.cell_equivalent_weights`).
    """
    behaviors = behaviors_for(landscape, weather) if behaviors is None else behaviors
    intensity = np.zeros((4, *landscape.shape))
    for scenario, weight in zip(weather.scenarios, weather.weights, strict=True):
        b = behaviors[scenario]
        intensity += weight * np.stack([b.intensity_toward(az) for az in INTENSITY_AZIMUTHS])
    rng = np.random.default_rng([seed, 0xB9])
    # fires do not start on existing breaks (they would burn nothing), as the baselines' planning fires
    weights = None if existing_breaks is None else (~check_plan(landscape, existing_breaks)).astype(float)
    fires = draw_fires(landscape, weather, n_fires, rng, "mtt", weights, behaviors)
    return intensity, PlanFires(fires, existing_breaks, neutral_roots=True, weights=cell_equivalent_weights(landscape, objective))


def best_legal(q: np.ndarray, legal: np.ndarray, k: int) -> np.ndarray:
    """Flat indices of the k legal cells of highest Q, best first (ties: the lower index first)."""
    score = np.where(legal.ravel(), q.ravel(), -np.inf)
    if k == 1:
        return np.array([int(np.argmax(score))], dtype=np.int64)
    top = np.argpartition(-score, k - 1)[:k]
    return top[np.lexsort((top, -score[top]))].astype(np.int64)


def independent_best(
    q: np.ndarray, legal: np.ndarray, fires: PlanFires, k: int, reach: int, scan: int
) -> np.ndarray:
    """Up to `k` legal cells of high Q, best first, none interacting with a better candidate (flat indices).

    The best legal cell always; then, of the next `scan` - 1 legal cells in Q order (ties: lower index
    first), each that is more than `reach` cells (Chebyshev) from every better candidate and outside the
    boxes, widened by `reach`, of every observation fire a better candidate touches. Every candidate
    looked at, taken or not, blocks the cells below it the same way.
    """
    n_legal = int(legal.sum())
    if n_legal == 0 or k < 1:
        return np.zeros(0, dtype=np.int64)
    order = best_legal(q, legal, max(1, min(scan, n_legal)))
    if k == 1 or len(order) == 1:
        return order[:1]
    w = q.shape[1]
    rows, cols = np.divmod(order, w)
    # near[i, j]: candidates i and j within the reach of each other (Chebyshev distance)
    near = (np.abs(rows[:, None] - rows[None, :]) <= reach) & (np.abs(cols[:, None] - cols[None, :]) <= reach)
    b = fires.boxes
    # inside[f, i]: candidate i lies in fire f's box widened by the reach
    inside = (
        (b[:, 0:1] - reach <= rows) & (rows < b[:, 1:2] + reach) & (b[:, 2:3] - reach <= cols) & (cols < b[:, 3:4] + reach)
    )
    touch = fires.bound[:, order] > 0  # touch[f, i]: fire f's path touches candidate i
    before = np.zeros_like(touch)  # before[f, i]: fire f touches a better candidate than i
    before[:, 1:] = np.logical_or.accumulate(touch, axis=1)[:, :-1]
    free = ~(np.tril(near, -1).any(axis=1) | (before & inside).any(axis=0))
    free[0] = True
    return order[np.flatnonzero(free)[:k]].astype(np.int64)


@dataclass
class PlanStep:
    """One planning step: the Q map it saw (NaN on illegal cells) and the cells it placed."""

    q_map: np.ndarray
    cells: np.ndarray


@dataclass
class DQNPolicy:
    """A trained Q-network as a planner: places `cells_per_step` cells of highest Q at a time.

    `bp_fires` observation fires per training tile of `fire_cells` cells (scaled to larger tiles);
    `plan_aware`: the fire channels follow the plan, as in training; `source`: where it was loaded from.
    """
    model: QNet
    cells_per_step: int
    source: str = ""
    bp_fires: int = BP_FIRES  # observation fires of a training tile, as in training
    plan_aware: bool = True  # the fire channels follow the plan (as in training)
    fire_cells: int | None = TRAIN_TILE * TRAIN_TILE  # cells of the tile `bp_fires` is for (None: any tile)
    _frozen: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:  # the frozen inference graphs are rebuilt where the policy lands
        state = dict(self.__dict__)
        state["_frozen"] = {}
        return state

    @classmethod
    def shipped(cls) -> DQNPolicy:
        """The policy that ships with the package (`fuelbreak.agents.shipped`)."""
        from fuelbreak.agents.shipped import shipped_policy_path

        return cls.load(shipped_policy_path())

    @classmethod
    def load(cls, path: str | Path, model_type: str = "auto") -> DQNPolicy:
        """Load a checkpoint; `model_type` other than 'auto' must match the checkpoint's."""
        ckpt = load_checkpoint(path, None if model_type == "auto" else model_type)
        check_channels(ckpt, list(CHANNELS), prefix=True)
        model = model_from_checkpoint(ckpt).eval()
        env = ckpt["config"].get("env", {})
        return cls(
            model,
            int(env.get("cells_per_step", 1)),
            str(path),
            int(env.get("bp_fires", BP_FIRES)),
            bool(env.get("plan_aware", True)),
            int(env.get("tile_size", TRAIN_TILE)) ** 2,
        )

    def n_fires_for(self, landscape: Landscape) -> int:
        """Observation fires for `landscape`.

        `bp_fires` per training tile's area, so that every part of a larger landscape is covered by as many
        fires as a training tile was (a fixed number would leave most cells of a large tile with no fire
        through them, and their scores all zero); at most `MAX_FIRE_CELLS` fire-cells, at least `bp_fires`.
        """
        if self.fire_cells is None:
            return self.bp_fires
        scaled = int(np.ceil(self.bp_fires * landscape.n_cells / self.fire_cells))
        cap = max(MAX_FIRE_CELLS // max(landscape.n_cells, 1), self.bp_fires)
        return max(self.bp_fires, min(scaled, cap))

    def observation_fires(
        self,
        landscape: Landscape,
        weather: Weather,
        seed: int = 0,
        existing_breaks=None,
        behaviors=None,
        objective: str = "area",
    ) -> tuple[np.ndarray, PlanFires]:
        """The static channels (no breaks yet) and the observation fires, drawn from the weather.

        `behaviors` (`behaviors_for(landscape, weather)`) when the caller has them already.
        """
        n = self.n_fires_for(landscape)
        intensity, fires = observation_fires(landscape, weather, n, seed, existing_breaks, behaviors, objective)
        static = static_channels(landscape, intensity, *fires.view(), objective=objective)
        # a policy trained before the planner channels reads the first 16 (`check_channels(prefix=True)` in `load`)
        return (static if self.model is None else static[: self.model.in_channels]), fires

    def q_map(self, obs: np.ndarray) -> np.ndarray:
        """Q of every cell (H, W) for one observation, on one torch thread.

        Planning runs one small observation at a time: a second thread only adds synchronisation
        (it made plans 2.4 times slower beside a busy core), so the thread count is 1 for the call.
        """
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            x = torch.as_tensor(obs[None], dtype=torch.float32)
            with torch.inference_mode():
                return self._inference(x)(x)[0].float().numpy()
        finally:
            torch.set_num_threads(threads)

    def _inference(self, x: torch.Tensor):
        """The network traced, frozen and optimised for inference (oneDNN convolutions with packed weights) for one observation shape.

        The same values to float rounding (1e-6), and on one small observation about half the time of eager
        calls; the network itself where tracing is not possible.
        """
        return self._traced(tuple(x.shape), self.model.eval(), x)

    def _traced(self, key, module: torch.nn.Module, example):
        """`module` traced on `example`, frozen and optimised, kept under `key`.

        It is also kept in `_TRACED` for other copies of the same weights in this process.

        `module` itself where tracing is not possible.
        """
        fn = self._frozen.get(key)
        if fn is None:
            shared = (self._weights_key(), key)
            fn = _TRACED.get(shared)
            if fn is None:
                try:
                    with torch.no_grad(), warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # the tracer's notes on the shape checks
                        fn = torch.jit.optimize_for_inference(torch.jit.trace(module, example, check_trace=False))
                except (RuntimeError, TypeError):
                    fn = module
                _TRACED[shared] = fn
                while len(_TRACED) > TRACED_KEPT:
                    _TRACED.popitem(last=False)
            _TRACED.move_to_end(shared)
            self._frozen[key] = fn
        return fn

    def _weights_key(self) -> tuple:
        """The network's type, hyper-parameters and weights digest, computed once a policy."""
        key = self._frozen.get("weights")
        if key is None:
            from fuelbreak.agents.shipped import weights_digest

            model = self.model
            key = (type(model).__name__, repr(model.hparams), weights_digest(model.state_dict()))
            self._frozen["weights"] = key
        return key

    def plan_q(self, static: np.ndarray):
        """A function from an observation of one plan to its Q map (H, W).

        It takes observations whose channels other than those that follow the plan are `static`'s.

        The network's input layers see the static channels once (`StaticSplit`); each call then
        convolves only the channels the plan changes: the same values as `q_map` to float rounding,
        in about three quarters of its time. Call it on one torch thread, as `q_map` runs.
        """
        return PlanQ(self, static)

    def rollout(
        self,
        landscape: Landscape,
        weather: Weather,
        budget: int,
        seed: int = 0,
        existing_breaks=None,
        objective: str = "area",
        max_cost: float | None = None,
        prefix=None,
        batch: int = 1,
        scan: int = SCAN,
    ) -> list[PlanStep]:
        """Place up to `budget` cells greedily, `cells_per_step` at a time; every step's Q map and cells.

        After a placement only the cells within the network's reach of a changed input cell get a
        new Q (`PlanQ.update`); with a network that sees the whole tile, every cell does. Excluded cells
        are never placed. Under the value objective the fire channels count value; with `max_cost`, the
        cells of highest Q per unit cost that still fit are placed, and the plan ends when none fits.

        `prefix` (flat indices, counted in the budget): cells placed first, in one step, such as this plan's
        first cells from an earlier, smaller proposal; the steps after are those the plan would take after
        them. `batch` > 1 places up to `batch` cells a step that do not interact (`independent_best`, among
        `scan` x the batch best). Both need a plan-aware policy of one cell a step, and no cost limit; a
        batch also needs a network of finite reach.

        Raises:
            ConfigError: a budget out of range, or a prefix or batch the policy or the request cannot take.
        """
        from fuelbreak.baselines.common import cell_costs, cost_ratio

        costs = cell_costs(landscape, max_cost)
        static, fires = self.observation_fires(landscape, weather, seed, existing_breaks, objective=objective)
        breaks = fires.breaks.copy()
        legal = landscape.treatable & ~breaks
        if budget < 1 or budget > int(legal.sum()):
            raise ConfigError(f"budget {budget} must be between 1 and the {int(legal.sum())} legal cells")
        prefix = np.zeros(0, dtype=np.int64) if prefix is None else np.asarray(prefix, dtype=np.int64).reshape(-1)
        reach = getattr(self.model, "reach", None)
        if (len(prefix) or batch > 1) and (self.cells_per_step != 1 or not self.plan_aware or costs is not None):
            raise ConfigError("a prefix or a batch is placed only by a plan-aware policy of one cell a step, "
                              "without a cost limit")  # fmt: skip
        if batch > 1 and reach is None:
            raise ConfigError(f"a batch of cells needs a network of finite reach; {self.model.model_type} sees the whole tile")
        if len(prefix) > budget or len(np.unique(prefix)) < len(prefix) or not legal.ravel()[prefix].all():
            raise ConfigError(f"a prefix of {len(prefix)} cells must be distinct legal cells within the budget {budget}")
        left = max_cost
        steps: list[PlanStep] = []
        placed = 0
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one small observation at a time (see q_map)
        try:
            q_of = self.plan_q(static)
            if len(prefix):
                steps.append(PlanStep(np.full(landscape.shape, np.nan, dtype=np.float32), prefix))
                breaks.flat[prefix] = True
                legal.flat[prefix] = False
                fires.place(prefix)
                placed = len(prefix)
            view = fires.view()
            q = q_of(with_plan(static, breaks, *view))
            while placed < budget:
                if costs is not None:
                    legal &= (costs <= left).reshape(legal.shape)
                    if not legal.any():
                        break
                k = min(self.cells_per_step, budget - placed, int(legal.sum()))
                if costs is not None:  # Q per unit cost (Q can be negative: shift it above 0 first), as many as fit
                    shifted = q - float(q[legal].min()) + 1e-6
                    cells = best_legal(cost_ratio(shifted.ravel(), costs).reshape(q.shape), legal, k)
                    cells = cells[np.cumsum(costs[cells]) <= left]
                    left -= float(costs[cells].sum())
                elif batch > 1:
                    k = min(batch, budget - placed)
                    cells = independent_best(q, legal, fires, k, int(reach), scan * k)
                else:
                    cells = best_legal(q, legal, k)
                k = len(cells)
                steps.append(PlanStep(np.where(legal, q, np.nan), cells))
                breaks.flat[cells] = True
                legal.flat[cells] = False
                if self.plan_aware:
                    fires.place(cells)
                    view = fires.view()
                placed += k
                if placed < budget:
                    q = q_of.update(with_plan(static, breaks, *view))
        finally:
            torch.set_num_threads(threads)
        return steps

    def plan(
        self,
        landscape: Landscape,
        weather: Weather,
        budget: int,
        seed: int = 0,
        existing_breaks=None,
        objective: str = "area",
        max_cost: float | None = None,
        prefix=None,
        batch: int = 1,
    ) -> np.ndarray:
        """The plan of `budget` cells (flat indices, in placement order) on `landscape` under `weather`.

        `seed` draws the observation fires; `existing_breaks` are kept and not counted in the budget;
        `objective`, `max_cost`, `prefix` and `batch` as in `rollout`.
        """
        steps = self.rollout(landscape, weather, budget, seed, existing_breaks, objective, max_cost, prefix, batch)
        return np.concatenate([s.cells for s in steps] or [np.zeros(0, dtype=np.int64)]).astype(np.int64)


class PlanQ:
    """The Q maps of one plan's observations, for observations whose static channels are `static`'s.

    `__call__` computes the whole map. `update` computes the map of the next observation of the same
    plan: a network with a finite `reach` (each Q value depends on the cells within `reach` of it,
    `BasicQNet`) changes only within `reach` of the cells whose inputs changed, so only that window
    is convolved, cut with `reach` more cells of input around it, the same values as the whole map to
    float rounding (its outer ring of `reach` cells, which saw zeros beyond the cut, is discarded). A
    window larger than `WHOLE_MAP_SHARE` of the tile, or a network that sees the whole tile
    (`reach` None), is computed whole.
    """

    WHOLE_MAP_SHARE = 0.5

    def __init__(self, policy: DQNPolicy, static: np.ndarray):
        self.policy = policy
        self.reach = getattr(policy.model, "reach", None)
        split = policy._frozen.get("split")
        if split is None:
            split = policy._frozen["split"] = StaticSplit(policy.model, PLAN_FOLLOWING).eval()
        self.split = split
        self.dynamic = split.dynamic
        self.q: np.ndarray | None = None
        self.last: np.ndarray | None = None  # the dynamic channels the map was computed for
        if not split.dynamic:  # a network that reads none of the plan's channels: nothing to split
            self.fn, self.first, self.skip = None, None, None
            return
        with torch.no_grad():
            x = torch.as_tensor(static[None], dtype=torch.float32)
            self.first, self.skip = split.static(x.contiguous(memory_format=torch.channels_last))
            example = (x[:, self.dynamic].contiguous(), self.first, self.skip)
        self.fn = policy._traced(("split", *x.shape), split, example)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """The whole Q map (H, W) of `obs`."""
        if self.fn is None:
            self.q = self.policy.q_map(obs)
        else:
            with torch.inference_mode():
                x = torch.as_tensor(obs[None, self.dynamic], dtype=torch.float32)
                self.q = self.fn(x, self.first, self.skip)[0].numpy()
            self.last = obs[self.dynamic].copy()
        return self.q

    def update(self, obs: np.ndarray) -> np.ndarray:
        """The Q map of `obs`, the next observation of the plan the last call saw; a new array."""
        if self.fn is None or self.reach is None or self.q is None:
            return self(obs).copy()
        now = obs[self.dynamic]
        changed = (now != self.last).any(axis=0)
        q = self.q.copy()
        if not changed.any():
            self.q = q
            return q
        h, w = changed.shape
        r = self.reach
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        out = (max(rows[0] - r, 0), min(rows[-1] + r + 1, h), max(cols[0] - r, 0), min(cols[-1] + r + 1, w))
        cut = (max(out[0] - r, 0), min(out[1] + r, h), max(out[2] - r, 0), min(out[3] + r, w))
        if (cut[1] - cut[0]) * (cut[3] - cut[2]) > self.WHOLE_MAP_SHARE * h * w:
            return self(obs).copy()
        window = (slice(None), slice(None), slice(cut[0], cut[1]), slice(cut[2], cut[3]))
        with torch.inference_mode():
            x = torch.as_tensor(np.ascontiguousarray(now[None][window]), dtype=torch.float32)
            part = self.split(x, self.first[window], self.skip[window])[0].numpy()
        q[out[0] : out[1], out[2] : out[3]] = part[
            out[0] - cut[0] : out[1] - cut[0], out[2] - cut[2] : out[3] - cut[2]
        ]
        self.q, self.last = q, now.copy()
        return q


def resolve_policy(
    checkpoint: str | Path | DQNPolicy | None = None,
    model_type: str = "auto",
    cells_per_step: int | None = None,
    bp_fires: int | None = None,
) -> DQNPolicy:
    """A loaded policy: `checkpoint` is a path or a loaded `DQNPolicy` (None: the shipped one).

    `cells_per_step` overrides how many cells each Q map places and `bp_fires` how many observation fires it
    plans with, on any tile (by default the policy's training count, scaled with the tile's area:
    `DQNPolicy.n_fires_for`). Both channels that carry the fires are means over them, so more fires give the
    same quantities with less sampling noise.
    """
    if checkpoint is None:
        from fuelbreak.agents.shipped import shipped_policy_path

        checkpoint = shipped_policy_path()
    policy = checkpoint if isinstance(checkpoint, DQNPolicy) else DQNPolicy.load(checkpoint, model_type)
    if cells_per_step is not None:
        if isinstance(cells_per_step, bool) or not isinstance(cells_per_step, int) or cells_per_step < 1:
            raise ConfigError(f"dqn.cells_per_step must be an integer >= 1, got {cells_per_step!r}")
        policy = dataclasses.replace(policy, cells_per_step=cells_per_step)
    if bp_fires is not None:
        if isinstance(bp_fires, bool) or not isinstance(bp_fires, int) or bp_fires < 1:
            raise ConfigError(f"dqn.bp_fires must be an integer >= 1, got {bp_fires!r}")
        policy = dataclasses.replace(policy, bp_fires=bp_fires, fire_cells=None)
    return policy


def dqn_plan(
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int,
    checkpoint: str | Path | DQNPolicy | None = None,
    model_type: str = "auto",
    existing_breaks=None,
    cells_per_step: int | None = None,
    bp_fires: int | None = None,
    objective: str = "area",
    max_cost: float | None = None,
) -> np.ndarray:
    """The baselines' signature for a trained policy (see `resolve_policy` for the options)."""
    policy = resolve_policy(checkpoint, model_type, cells_per_step, bp_fires)
    return policy.plan(landscape, weather, budget, seed, existing_breaks, objective, max_cost)
