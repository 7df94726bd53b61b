"""A vector of `FuelBreakEnv`s whose fires run on an executor and which never blocks past its timeout.

The environments themselves (their state: tile, breaks, ignitions) live in this process; only the
pure fire tasks of `reset` and `step` go to the executor. So a worker that hangs, dies or raises
costs a task, not an environment: the executor kills and replaces the worker and retries the task;
when the retries are spent, that environment's episode is truncated, flagged in `info`
(`sim_failed`, `error`) with reward 0 and no observation made up, and a new episode starts. The
learner must not learn from a flagged transition. `close()` returns promptly, steps pending or not.

With `SerialExecutor` this is the synchronous vector env; with `ProcessExecutor` (or Ray) the
asynchronous one. A step's fire engine (about 190 KB on 50x50) goes to each worker once, as
`Shared` state keyed by the tile's content: a step task then carries only the breaks and ignitions,
and a worker that lacks the engine (a fresh or replaced one) gets it again.

On an executor that keeps affinity (`LaneExecutor`, or in process), environment i's tasks all run
in one process, and its episode's fires stay there between steps (`held_step`): a step updates
them through the new break instead of burning every fire again. The result is the same wherever
a task runs; a worker replaced mid-episode costs one step the full burn. On other executors (a
plain pool, Ray) every step burns the fires again.

Autoreset follows gymnasium's SAME_STEP mode: an episode that ends returns the new episode's first
observation, and the last one in `info["final_obs"]`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from fuelbreak.env.fuelbreak_env import FuelBreakEnv, Task
from fuelbreak.errors import ConfigError, SimulationError
from fuelbreak.parallel.cache import Shared, array_digest
from fuelbreak.parallel.local import SerialExecutor
from fuelbreak.parallel.outcome import Executor

# A new episode whose preparation fails is drawn again (another tile or scenario) this many times.
RESET_ATTEMPTS = 3


def run_task(fn, args):
    """The executor-side entry point: run one environment task (reset or step)."""
    return fn(*args)


class FuelBreakVectorEnv(VectorEnv):
    """`num_envs` environments stepped together; fires on `executor` (in-process by default).

    env_fns    callables that each build a FuelBreakEnv (all with the same spaces)
    executor   where fire tasks run; the vector env closes it on `close()` unless `own_executor=False`
    timeout    per-task limit in seconds passed to the executor (None: the executor's own)
    seed       base seed: environment i is reset with seed + i the first time
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        env_fns: Sequence[Callable[[], FuelBreakEnv]],
        executor: Executor | None = None,
        timeout: float | None = None,
        own_executor: bool = True,
    ):
        if not env_fns:
            raise ConfigError("a vector environment needs at least one environment")
        self.envs: list[FuelBreakEnv] = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        first = self.envs[0]
        for i, env in enumerate(self.envs[1:], start=1):
            if (
                env.observation_space != first.observation_space
                or env.action_space.shape != first.action_space.shape
            ):
                raise ConfigError(f"environment {i} has other spaces than environment 0")
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.executor = executor or SerialExecutor()
        self.own_executor = own_executor
        self.timeout = timeout
        self.failures = 0  # environment steps lost to failed tasks
        self._batch = None
        self._actions = None
        self._obs = [None] * self.num_envs
        self._base_seed: int | None = None
        self.episode_index = [0] * self.num_envs  # episodes started by each environment since reset(seed)
        self._engine_keys: dict[int, tuple] = {}  # id(engine) -> (engine, shared key), newest last
        self.held = bool(getattr(self.executor, "keeps_affinity", False))  # episodes' fires kept by workers
        self.closed = False

    # ----------------------------------------------------------------------------------------- reset
    def reset(
        self,
        *,
        seed: int | Sequence[int] | None = None,
        options: dict | None = None,
        episode_index: Sequence[int] | None = None,
    ):
        """Reset every environment.

        With an int seed, episode j of environment i is seeded from (seed, i, j) for the whole run, autoresets
        included, so a run resumed with the saved `episode_index` replays exactly the episodes it would have
        played.
        """
        if episode_index is not None:
            if not isinstance(seed, int | np.integer):
                raise ConfigError("reset with episode_index needs an int seed")
            if len(episode_index) != self.num_envs:
                raise ConfigError(f"episode_index needs one entry per environment ({self.num_envs})")
            self.episode_index = [int(j) for j in episode_index]
        else:
            self.episode_index = [0] * self.num_envs
        seeds = self._seeds(seed)
        results = self._run_resets(list(range(self.num_envs)), seeds, options)
        infos: list[dict] = []
        for i, (obs, info) in enumerate(results):
            self._obs[i] = obs
            infos.append(info)
        return np.stack(self._obs), self._stack_infos(infos)

    def _seeds(self, seed) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, int | np.integer):
            self._base_seed = int(seed)
            return [self._episode_seed(i) for i in range(self.num_envs)]
        if len(seed) != self.num_envs:
            raise ConfigError(f"reset needs one seed per environment ({self.num_envs}), got {len(seed)}")
        return list(seed)

    def _episode_seed(self, i: int) -> int | None:
        if self._base_seed is None:
            return None  # the environment's own generator goes on
        seq = np.random.SeedSequence([self._base_seed, i, self.episode_index[i]])
        return int(seq.generate_state(1)[0])

    def _run_resets(self, indices: list[int], seeds: list, options: dict | None) -> list[tuple]:
        """Reset environments `indices`; a failed preparation draws a new episode, a few times at most."""
        out: dict[int, tuple] = {}
        todo = {i: seeds[k] for k, i in enumerate(indices)}
        errors: dict[int, list[str]] = {i: [] for i in indices}
        for _attempt in range(RESET_ATTEMPTS):
            tasks = {i: self.envs[i].reset_task(seed=s, options=options, held=self.held) for i, s in todo.items()}
            outcomes = self._run(list(tasks.values()), list(tasks))
            failed = {}
            for (i, _), outcome in zip(tasks.items(), outcomes, strict=True):
                if outcome.ok:
                    out[i] = self.envs[i].complete_reset(outcome.value)
                else:
                    errors[i].append(outcome.error)
                    self.failures += 1
                    failed[i] = None  # next attempt: the environment's own generator picks a new episode
            if not failed:
                return [out[i] for i in indices]
            todo = failed
        worst = next(i for i in indices if i not in out)
        raise SimulationError(
            f"environment {worst} could not start an episode in {RESET_ATTEMPTS} tries: {'; '.join(errors[worst])}"
        )

    # ------------------------------------------------------------------------------------------ step
    def step_async(self, actions) -> None:
        """Send each environment's step with `actions` (one per environment) to the executor.

        Raises:
            ConfigError: a step is already in flight, or not one action per environment.
        """
        if self._batch is not None:
            raise ConfigError("step_async called twice without step_wait")
        actions = np.asarray(actions)
        if len(actions) != self.num_envs:
            raise ConfigError(f"step needs one action per environment ({self.num_envs}), got {len(actions)}")
        tasks = [env.step_task(a, held=self.held) for env, a in zip(self.envs, actions, strict=True)]
        self._actions = actions
        args = [(t.fn, self._share_engine(env, t.args)) for env, t in zip(self.envs, tasks, strict=True)]
        self._batch = self.executor.submit_batch(run_task, args, self.timeout, affinity=range(self.num_envs))

    def step_wait(self):
        """The results of the step in flight (Gymnasium's step tuple); finished episodes are reset.

        A failed simulation truncates its episode (info `sim_failed`, with its error).

        Raises:
            ConfigError: no step is in flight.
        """
        if self._batch is None:
            raise ConfigError("step_wait called without step_async")
        batch, self._batch = self._batch, None
        outcomes = self.executor.collect(batch)
        n = self.num_envs
        rewards = np.zeros(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        infos: list[dict] = [{} for _ in range(n)]
        final_obs: list = [None] * n
        to_reset: list[int] = []
        for i, (env, outcome) in enumerate(zip(self.envs, outcomes, strict=True)):
            if outcome.ok:
                obs, rewards[i], terminated[i], truncated[i], infos[i] = env.complete_step(outcome.value)
            else:
                env.abandon_step()
                self.failures += 1
                obs, truncated[i] = self._obs[i], True
                infos[i] = {"sim_failed": True, "error": outcome.error}
            infos[i].setdefault("sim_failed", False)
            self._obs[i] = obs
            if terminated[i] or truncated[i]:
                final_obs[i] = obs
                to_reset.append(i)
        if to_reset:
            for i in to_reset:
                self.episode_index[i] += 1
            seeds = [self._episode_seed(i) for i in to_reset]
            for i, (obs, info) in zip(to_reset, self._run_resets(to_reset, seeds, None), strict=True):
                self._obs[i] = obs
                infos[i]["final_info"] = {k: v for k, v in infos[i].items() if k != "action_mask"}
                infos[i]["action_mask"] = info["action_mask"]
        stacked = self._stack_infos(infos)
        stacked["final_obs"] = final_obs
        return np.stack(self._obs), rewards, terminated, truncated, stacked

    def step(self, actions):
        """`step_async` then `step_wait`."""
        self.step_async(actions)
        return self.step_wait()

    # --------------------------------------------------------------------------------------- helpers
    def _share_engine(self, env: FuelBreakEnv, args: tuple) -> tuple:
        """A step's arguments with the episode's fire engine as `Shared` state, sent once per worker.

        Its key names the content: the tile's layers, cell size, the scenario and the engine's kind,
        so environments on the same tile share one cached engine. In process, nothing changes.
        """
        if self.executor.kind == "serial":
            return args
        engine = env.tile_fire.engine
        entry = self._engine_keys.get(id(engine))
        if entry is None or entry[0] is not engine:
            land = env.landscape
            key = (
                "engine",
                env.engine_name,
                array_digest(*land.layers.values()),
                land.cell_size,
                env.scenario,
            )
            entry = self._engine_keys[id(engine)] = (engine, key)
            while len(self._engine_keys) > 4 * self.num_envs:
                self._engine_keys.pop(next(iter(self._engine_keys)))
        return tuple(Shared(entry[1], engine) if a is engine else a for a in args)

    def _run(self, tasks: list[Task], envs: list[int]):
        """Run tasks of environments `envs` (each where that environment's tasks run)."""
        return self.executor.run_batch(run_task, [(t.fn, t.args) for t in tasks], self.timeout, affinity=envs)

    @staticmethod
    def _stack_infos(infos: list[dict]) -> dict:
        """One dict of per-environment values: arrays where every environment has the key."""
        keys = {k for info in infos for k in info}
        out = {}
        for k in keys:
            values = [info.get(k) for info in infos]
            if all(v is not None for v in values) and k != "final_info":
                try:
                    out[k] = np.stack([np.asarray(v) for v in values])
                    continue
                except ValueError:
                    pass
            out[k] = values
        return out

    def close_extras(self, **kwargs) -> None:
        """Drop the step in flight and close the executor if the vector env made it."""
        if self._batch is not None:
            self._batch = None
        if self.own_executor:
            self.executor.close()

    def close(self, **kwargs) -> None:
        """Close the vector env once (later calls do nothing)."""
        if not self.closed:
            self.closed = True
            self.close_extras(**kwargs)
