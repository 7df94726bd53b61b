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
from fuelbreak.fire.montecarlo import behaviors_for, check_plan, draw_fires
from fuelbreak.fire.scenario import Weather
from fuelbreak.fire.through_plan import PlanFires
from fuelbreak.landscape.core import Landscape

BP_FIRES = 64  # observation fires when a checkpoint does not record env.bp_fires
# Inference graphs this process traced, by the weights and the input they were traced for: a policy
# sent to a worker with each task arrives without its own (see `DQNPolicy.__getstate__`), and tracing
# again took about a tenth of a 50 x 50 plan. A few policies' worth; the oldest go first.
_TRACED: OrderedDict[tuple, object] = OrderedDict()
TRACED_KEPT = 16
PLAN_FOLLOWING = (*PLAN_CHANNELS, CHANNEL_INDEX["breaks"])  # the channels a plan changes


def observation_fires(
    landscape: Landscape, weather: Weather, n_fires: int = BP_FIRES, seed: int = 0, existing_breaks=None
) -> tuple[np.ndarray, PlanFires]:
    """What planning observes of fire on a landscape: the fireline intensity toward N, E, S, W (4, H, W)
    in kW/m, weighted over the weather's scenarios, and `n_fires` observation fires drawn from the
    weather (seeded), burned through `existing_breaks`, ready to follow the plan."""
    behaviors = behaviors_for(landscape, weather)
    intensity = np.zeros((4, *landscape.shape))
    for scenario, weight in zip(weather.scenarios, weather.weights, strict=True):
        b = behaviors[scenario]
        intensity += weight * np.stack([b.intensity_toward(az) for az in INTENSITY_AZIMUTHS])
    rng = np.random.default_rng([seed, 0xB9])
    # fires do not start on existing breaks (they would burn nothing), as the baselines' planning fires
    weights = None if existing_breaks is None else (~check_plan(landscape, existing_breaks)).astype(float)
    fires = draw_fires(landscape, weather, n_fires, rng, "mtt", weights, behaviors)
    return intensity, PlanFires(fires, existing_breaks, neutral_roots=True)


def best_legal(q: np.ndarray, legal: np.ndarray, k: int) -> np.ndarray:
    """Flat indices of the k legal cells of highest Q, best first (ties: the lower index first)."""
    score = np.where(legal.ravel(), q.ravel(), -np.inf)
    if k == 1:
        return np.array([int(np.argmax(score))], dtype=np.int64)
    top = np.argpartition(-score, k - 1)[:k]
    return top[np.lexsort((top, -score[top]))].astype(np.int64)


@dataclass
class PlanStep:
    """One planning step: the Q map it saw (NaN on illegal cells) and the cells it placed."""

    q_map: np.ndarray
    cells: np.ndarray


@dataclass
class DQNPolicy:
    model: QNet
    cells_per_step: int
    source: str = ""
    bp_fires: int = BP_FIRES  # observation fires, as in training
    plan_aware: bool = True  # the fire channels follow the plan (as in training)
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
        check_channels(ckpt, list(CHANNELS))
        model = model_from_checkpoint(ckpt).eval()
        env = ckpt["config"].get("env", {})
        return cls(
            model,
            int(env.get("cells_per_step", 1)),
            str(path),
            int(env.get("bp_fires", BP_FIRES)),
            bool(env.get("plan_aware", True)),
        )

    def observation_fires(
        self, landscape: Landscape, weather: Weather, seed: int = 0, existing_breaks=None
    ) -> tuple[np.ndarray, PlanFires]:
        """The static channels (no breaks yet) and the observation fires, drawn from the weather."""
        intensity, fires = observation_fires(landscape, weather, self.bp_fires, seed, existing_breaks)
        return static_channels(landscape, intensity, *fires.view()), fires

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
        """The network traced, frozen and optimised for inference (oneDNN convolutions with packed
        weights) for one observation shape: the same values to float rounding (1e-6), and on one
        small observation about half the time of eager calls; the network itself where tracing is
        not possible."""
        return self._traced(tuple(x.shape), self.model.eval(), x)

    def _traced(self, key, module: torch.nn.Module, example):
        """`module` traced on `example`, frozen and optimised, kept under `key` (and, for other
        copies of the same weights in this process, in `_TRACED`); `module` itself where tracing is
        not possible."""
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
        """A function from an observation of one plan to its Q map (H, W), for observations whose
        channels other than those that follow the plan are `static`'s.

        The network's input layers see the static channels once (`StaticSplit`); each call then
        convolves only the channels the plan changes: the same values as `q_map` to float rounding,
        in about three quarters of its time. Call it on one torch thread, as `q_map` runs.
        """
        split = self._frozen.get("split")
        if split is None:
            split = self._frozen["split"] = StaticSplit(self.model, PLAN_FOLLOWING).eval()
        if not split.dynamic:  # a network that reads none of the plan's channels: nothing to split
            return self.q_map
        with torch.no_grad():
            x = torch.as_tensor(static[None], dtype=torch.float32)
            first, skip = split.static(x.contiguous(memory_format=torch.channels_last))
            dynamic = split.dynamic
            example = (x[:, dynamic].contiguous(), first, skip)
        fn = self._traced(("split", *x.shape), split, example)

        def q_of(obs: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return fn(torch.as_tensor(obs[None, dynamic], dtype=torch.float32), first, skip)[0].numpy()

        return q_of

    def rollout(
        self, landscape: Landscape, weather: Weather, budget: int, seed: int = 0, existing_breaks=None
    ) -> list[PlanStep]:
        """Place `budget` cells greedily, `cells_per_step` at a time; every step's Q map and cells."""
        static, fires = self.observation_fires(landscape, weather, seed, existing_breaks)
        breaks = fires.breaks.copy()
        legal = landscape.burnable & ~breaks
        if budget < 1 or budget > int(legal.sum()):
            raise ConfigError(f"budget {budget} must be between 1 and the {int(legal.sum())} legal cells")
        steps: list[PlanStep] = []
        placed = 0
        view = fires.view()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one small observation at a time (see q_map)
        try:
            q_of = self.plan_q(static)
            while placed < budget:
                k = min(self.cells_per_step, budget - placed)
                q = q_of(with_plan(static, breaks, *view))
                cells = best_legal(q, legal, k)
                steps.append(PlanStep(np.where(legal, q, np.nan), cells))
                breaks.flat[cells] = True
                legal.flat[cells] = False
                if self.plan_aware:
                    fires.place(cells)
                    view = fires.view()
                placed += k
        finally:
            torch.set_num_threads(threads)
        return steps

    def plan(
        self, landscape: Landscape, weather: Weather, budget: int, seed: int = 0, existing_breaks=None
    ) -> np.ndarray:
        steps = self.rollout(landscape, weather, budget, seed, existing_breaks)
        return np.concatenate([s.cells for s in steps]).astype(np.int64)


def dqn_plan(
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int,
    checkpoint: str | Path | DQNPolicy | None = None,
    model_type: str = "auto",
    existing_breaks=None,
    cells_per_step: int | None = None,
) -> np.ndarray:
    """The baselines' signature for a trained policy: `checkpoint` is a path or a loaded `DQNPolicy`
    (None: the shipped one); `cells_per_step` overrides how many cells each Q map places."""
    if checkpoint is None:
        from fuelbreak.agents.shipped import shipped_policy_path

        checkpoint = shipped_policy_path()
    policy = checkpoint if isinstance(checkpoint, DQNPolicy) else DQNPolicy.load(checkpoint, model_type)
    if cells_per_step is not None:
        if isinstance(cells_per_step, bool) or not isinstance(cells_per_step, int) or cells_per_step < 1:
            raise ConfigError(f"dqn.cells_per_step must be an integer >= 1, got {cells_per_step!r}")
        policy = dataclasses.replace(policy, cells_per_step=cells_per_step)
    return policy.plan(landscape, weather, budget, seed, existing_breaks)
