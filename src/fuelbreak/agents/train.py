"""The training loop: double DQN over a vector of FuelBreakEnvs, readable top to bottom (after CleanRL).

A run lives in its folder (`run.outdir`): the resolved `config.toml`, `metrics.jsonl` (one JSON
object per line, kind "train" or "val"), TensorBoard scalars in `tb/`, and `checkpoints/`: `last.pt`,
`best.pt` (chosen by validation reduction, not by training return), periodic `step_XXXXXXXX.pt`, and
the replay memory in `replay.npz`. Every file is written atomically, and `metrics.jsonl` is appended
to line by line. `train(cfg, resume=True)` continues a run from `last.pt`: weights, optimiser,
counters, random states, replay and the episodes in progress are restored, so it goes on as if it
had never stopped. A kill at any point leaves a run that resumes so: the replay records the step of
its checkpoint and the one saved before stays until the new checkpoint is written (the older pair
wins, `paired_replay`), and a last line of the metrics log cut short is dropped with a warning.

The first Ctrl-C (or SIGTERM) finishes the current step, saves a checkpoint and returns; a second
one stops at once. A loop iteration acts, sends the fires to the configured executor, takes the
gradient steps due while they burn, then collects them (step_async, step_wait). A gradient step's
loss goes backward on the main thread while the next step's targets are computed on a helper
thread (`Learner`), so the cores work at the same time.
"""

from __future__ import annotations

import json
import signal
import time
from collections import deque
from pathlib import Path

import numpy as np
import psutil
import torch

from fuelbreak import __version__
from fuelbreak.agents.checkpoint import (
    Checkpoint,
    capture_rng_state,
    check_channels,
    load_checkpoint,
    make_payload,
    restore_rng_state,
    save_checkpoint,
    warm_start,
)
from fuelbreak.agents.config import TrainConfig, config_from_dict, write_config
from fuelbreak.agents.demonstrations import DEMO_SEED, DemoCache, DemoSpec, demo_plans
from fuelbreak.agents.dqn import (
    linear_epsilon,
    select_cells,
)
from fuelbreak.agents.environments import env_kwargs, make_vector_env, resolve_device, weather_of
from fuelbreak.agents.episode_replay import EpisodeReplay, drop_previous_replay, paired_replay
from fuelbreak.agents.learner import Learner, make_replay
from fuelbreak.agents.networks import build_model
from fuelbreak.agents.run_files import MetricsLog, RunFiles, State, step_of
from fuelbreak.agents.shipped import sha256_of, shipped_policy_path
from fuelbreak.agents.validation import (
    run_episode,
    validate,
    validate_random,
    validation_episodes,
)
from fuelbreak.atomic import atomic_write_text, remove_stale_temporaries
from fuelbreak.env.fuelbreak_env import FuelBreakEnv
from fuelbreak.env.observation import BASE_CHANNELS, CHANNELS
from fuelbreak.errors import CheckpointError, ClusterError, ConfigError
from fuelbreak.parallel.vector_env import FuelBreakVectorEnv
from fuelbreak.provenance import machine_record


def obs_channels(cfg: TrainConfig) -> list[str]:
    """The observation channels `cfg` trains on: all of them with `env.planner_channels`, else the base ones."""
    return list(CHANNELS if cfg.env.planner_channels else BASE_CHANNELS)


# ---------------------------------------------------------------------------------------- demonstrations
def init_path(init: str) -> Path:
    """The file `dqn.init` names: "shipped" is the shipped policy, anything else a checkpoint or policy path."""
    return shipped_policy_path() if init == "shipped" else Path(init)


def demo_specs(env: FuelBreakEnv, cfg: TrainConfig) -> list[DemoSpec]:
    """The demonstration episodes: those `reset(seed=DEMO_SEED + i)` draws, with the teacher's settings."""
    d = cfg.dqn
    specs = []
    for i in range(d.demonstrations):
        env.reset_task(seed=DEMO_SEED + i)  # draws the episode (tile, scenario, ignitions); burns nothing
        options = tuple(sorted(d.demo_options.items()))
        specs.append(
            DemoSpec(i, env.landscape, env.scenario, env.budget, d.demo_method, options, DEMO_SEED + i,
                     env.episode_objective)  # fmt: skip
        )
    return specs


def add_demonstrations(
    replay: EpisodeReplay, cfg: TrainConfig, executor=None, stopped=lambda: False, progress: bool = False
) -> int:
    """Episodes placed by the teacher, put in the replay before learning starts.

    The plans are cached (missing ones computed on `executor`) and put in the replay observation by
    observation, as the agent would have seen them.
    """
    env = FuelBreakEnv(**env_kwargs(cfg, "train"))
    k = cfg.env.cells_per_step
    specs = demo_specs(env, cfg)
    plans = demo_plans(specs, DemoCache(cfg.dqn.demo_cache or None), executor, progress, stopped)
    stream = -1  # demonstrations use their own stream id
    for i, cells in enumerate(plans):
        if stopped():
            return i
        obs, info = env.reset(seed=DEMO_SEED + i)
        replay.start(stream, obs, demo=True)
        for j in range(0, env.budget, k):
            obs, reward, done, _, info = env.step(cells[j : j + k])
            replay.add(stream, cells[j : j + k], reward * cfg.dqn.reward_scale, obs, done)
    return len(plans)


# ---------------------------------------------------------------------------------------- state
def save_training_checkpoint(
    path: Path, model, target, opt, cfg, state: State, rng, replay, pending: dict | None = None
) -> None:
    """A checkpoint a run resumes from; `pending`: the gradient step in flight (`Learner.in_flight_state`)."""
    counters = step_of(state)
    payload = make_payload(
        model=model,
        target=target,
        optimizer=opt,
        obs_channels=obs_channels(cfg),
        counters=counters,
        config=cfg.to_dict(),
        rng_state=capture_rng_state({"learner": rng, "replay": replay.rng}),
        extra={"state": state.to_dict(), **({"in_flight": pending} if pending is not None else {})},
    )
    save_checkpoint(path, payload)


# ---------------------------------------------------------------------------------------- the run
class Run:
    """One training run: its environments, learner, counters and files, and the loop that drives them.

    `train()` builds it, calls `start()` (fresh: random baseline, demonstrations, pretraining) or
    `resume()`, then `loop()`; `save_last()` is what a stop or a lost cluster leaves behind.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        files: RunFiles,
        venv: FuelBreakVectorEnv,
        stop: dict,
        progress: bool,
        init: Checkpoint | None = None,
    ):
        self.cfg, self.files, self.venv, self.stop, self.progress = cfg, files, venv, stop, progress
        self.k, self.n_envs = cfg.env.cells_per_step, cfg.run.n_envs
        self.rng = np.random.default_rng(cfg.run.seed)
        # validation plays its episodes on one environment a core (`validate`)
        val_kwargs = {**env_kwargs(cfg, "val"), "n_ignitions": cfg.run.validation_fires}
        cores = min(cfg.run.validation_episodes, psutil.cpu_count(logical=False) or 1)
        self.val_envs = [FuelBreakEnv(**val_kwargs) for _ in range(max(1, cores))]
        device = resolve_device(cfg.run.device)
        model = build_model(cfg.model.type, len(obs_channels(cfg)), **cfg.model.hparams)
        self.init_sha256 = None
        if init is not None:  # `dqn.init`, on a fresh run (a resumed one takes its weights from last.pt)
            warm_start(model, init, obs_channels(cfg))
            self.init_sha256 = sha256_of(init.path)
        model = model.to(device)
        self.state = State(episode_index=[0] * self.n_envs)
        self.replay = make_replay(cfg, venv)
        self.steps_per_episode = self.replay.steps
        self.learner = Learner(cfg, model, self.replay, self.state)
        self.val_eps = validation_episodes(self.val_envs[0], cfg.run.validation_episodes)
        self.log = MetricsLog(files)

    @property
    def model(self):
        """The online Q-network."""
        return self.learner.model

    # -- before the loop -----------------------------------------------------------------------
    def resume(self) -> None:
        """Weights, optimiser, counters, random states and replay from `last.pt`."""
        ckpt = load_checkpoint(self.files.last, expected_model_type=self.cfg.model.type)
        check_channels(ckpt, obs_channels(self.cfg))  # a run resumes on the channels it started with
        self.learner.restore(ckpt)
        self.state = self.learner.state = State.from_dict(ckpt["extra"]["state"])
        self.replay.load(paired_replay(self.files.replay, ckpt.counters))
        restore_rng_state(ckpt["rng_state"], {"learner": self.rng, "replay": self.replay.rng})
        self.log.truncate_after(self.state.env_steps, self.state.log_lines)

    def start(self, t_launch: float) -> None:
        """A fresh run: the random baseline on validation, the teacher's demonstrations, pretraining."""
        cfg, state = self.cfg, self.state
        self.log.truncate_after(-1)  # lines of an earlier start that was stopped before any checkpoint
        state.next_ckpt = cfg.run.checkpoint_interval
        state.val_random = validate_random(self.val_envs[0], self.val_eps, self.k, cfg.run.seed)
        if cfg.dqn.demonstrations:
            stopped = lambda: self.stop["requested"]  # noqa: E731
            add_demonstrations(self.replay, cfg, self.venv.executor, stopped=stopped, progress=self.progress)
            if cfg.dqn.pretrain_steps:
                self.pretrain(cfg.dqn.pretrain_steps, t_launch)

    def pretrain(self, steps: int, t_launch: float) -> None:
        """DQfD: gradient steps on the demonstrations alone, before acting."""
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=steps, desc="pretraining on demonstrations", unit="step")
        learner = self.learner
        for i in range(steps):
            if self.stop["requested"]:
                break
            if not learner.in_flight:
                learner.begin()
            learner.finish()  # the next step's targets are computed while this one's loss goes backward
            if bar is not None:
                bar.update(1)
            if (i + 1) % 100 == 0 or i + 1 == steps:
                self.log.write({"kind": "pretrain", "env_steps": 0, "grad_steps": self.state.grad_steps,
                                "loss": self.learner.mean_loss(), "elapsed_s": time.monotonic() - t_launch})  # fmt: skip
        if bar is not None:
            bar.close()
        self.state.pretrain_steps = self.state.grad_steps

    # -- the loop ------------------------------------------------------------------------------
    def loop(self, t_launch: float, max_seconds: float | None, max_loop_seconds: float | None) -> None:
        """Act, learn while the fires burn, record; log, validate and checkpoint as they fall due."""
        cfg, d, state, venv, replay = self.cfg, self.cfg.dqn, self.state, self.venv, self.replay
        obs, info = venv.reset(seed=cfg.run.seed, episode_index=state.episode_index)
        for i in range(self.n_envs):
            if replay.open_length(i) != 0:  # an episode cut mid-way by the stop is replayed from its start
                replay.cut(i)
                replay.start(i, obs[i])
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(
                total=cfg.run.total_env_steps, initial=state.env_steps, unit="step", dynamic_ncols=True
            )
        self.returns, self.burned = deque(maxlen=50), deque(maxlen=50)
        self.episode_return = np.zeros(self.n_envs)
        self.t_start, self.steps_at_start = time.monotonic(), state.env_steps  # throughput: the loop alone
        try:
            while state.env_steps < cfg.run.total_env_steps and not self.stop["requested"]:
                if max_seconds is not None and time.monotonic() - t_launch > max_seconds:
                    break
                if max_loop_seconds is not None and time.monotonic() - self.t_start > max_loop_seconds:
                    break
                # 1. the gradient steps due: the first one's targets start on a helper thread
                due = state.pretrain_steps + (state.env_steps - d.learning_starts) // d.train_freq
                todo = max(0, due - state.grad_steps) if self.learner.can_step() else 0
                if todo and not self.learner.in_flight:
                    self.learner.begin()
                # 2. act: epsilon-greedy over legal cells (the weights of the last finished step);
                # the fires burn on the executor while the targets are computed
                epsilon = linear_epsilon(
                    state.env_steps, d.epsilon_start, d.epsilon_end, d.epsilon_decay_steps
                )
                actions = select_cells(self.model, obs, info["action_mask"], self.k, epsilon, self.rng)
                venv.step_async(actions)
                # 3. learn while the fires burn: each step's loss beside the next one's targets
                for _ in range(todo):
                    self.learner.finish()
                next_obs, rewards, terminated, truncated, info = venv.step_wait()
                # 4. record what happened
                self.record(actions, next_obs, rewards, terminated, truncated, info)
                obs = next_obs
                # 5. log, validate, checkpoint
                if bar is not None:
                    bar.update(self.n_envs)
                if state.env_steps >= state.next_log or state.env_steps >= cfg.run.total_env_steps:
                    self.log_progress(epsilon, t_launch, bar)
                if state.env_steps >= state.next_val:
                    self.validate_and_keep_best()
                self.checkpoint_when_due()
            if state.env_steps >= cfg.run.total_env_steps and state.last_val != state.env_steps:
                self.validate_and_keep_best()  # the final weights compete for best.pt too
        finally:
            if bar is not None:
                bar.close()

    def record(self, actions, next_obs, rewards, terminated, truncated, info) -> None:
        """Put a vector step into the replay and count finished episodes."""
        state, replay, d = self.state, self.replay, self.cfg.dqn
        state.env_steps += self.n_envs
        for i in range(self.n_envs):
            if info["sim_failed"][i]:  # no honest reward: keep the episode's earlier steps only
                replay.cut(i)
                state.failures += 1
            else:
                final = info["final_obs"][i] if (terminated[i] or truncated[i]) else next_obs[i]
                replay.add(i, actions[i], rewards[i] * d.reward_scale, final, bool(terminated[i]))
                self.episode_return[i] += rewards[i]
            if terminated[i] or truncated[i]:
                if terminated[i]:
                    self.returns.append(self.episode_return[i])
                    self.burned.append(info["final_info"][i]["burned_after"] / self.venv.envs[i].n_cells)
                    state.episodes += 1
                self.episode_return[i] = 0.0
                replay.start(i, next_obs[i])

    def log_progress(self, epsilon: float, t_launch: float, bar) -> None:
        """A "train" line of metrics.jsonl (CleanRL's names: steps_per_s, loss) and the progress bar."""
        state = self.state
        state.next_log = state.env_steps + 100
        record = {
            "kind": "train",
            "env_steps": state.env_steps,
            "episodes": state.episodes,
            "grad_steps": state.grad_steps,
            "epsilon": epsilon,
            "loss": self.learner.mean_loss(),
            "mean_return": float(np.mean(self.returns)) if self.returns else None,
            "mean_burned_fraction": float(np.mean(self.burned)) if self.burned else None,
            "steps_per_s": (state.env_steps - self.steps_at_start)
            / max(time.monotonic() - self.t_start, 1e-9),
            "elapsed_s": time.monotonic() - t_launch,
            "failures": state.failures,
            "rss_mb": psutil.Process().memory_info().rss / 2**20,
        }
        self.log.write(record)
        if bar is not None:
            bar.set_postfix(
                ep=state.episodes,
                sps=f"{record['steps_per_s']:.0f}",
                ret=f"{record['mean_return'] or 0:.4f}",
                burned=f"{record['mean_burned_fraction'] or 0:.3f}",
                eps=f"{epsilon:.2f}",
                loss=f"{record['loss'] or 0:.3g}",
                val=f"{state.best_val:.3f}" if np.isfinite(state.best_val) else "-",
            )

    # -- validation and checkpoints ------------------------------------------------------------
    def validate_and_keep_best(self) -> None:
        """Score the greedy policy on the fixed validation episodes; the best so far is best.pt."""
        state = self.state
        state.last_val = state.env_steps
        state.next_val = state.env_steps + self.cfg.run.validation_interval
        score = validate(self.model, self.val_envs, self.val_eps, self.k)
        best = score > state.best_val
        if best:
            state.best_val = score
        self.log.write({"kind": "val", "env_steps": state.env_steps, "val_reduction": score,
                        "val_reduction_random": state.val_random, "best": best})  # fmt: skip
        if best:
            self._save(self.files.best)

    def checkpoint_when_due(self) -> None:
        """A periodic checkpoint, at an episode boundary when possible, so that a resume replays no partial episode."""
        state = self.state
        aligned = all(len(env.placed) == 0 for env in self.venv.envs)
        overdue = state.env_steps >= state.next_ckpt + 2 * self.steps_per_episode * self.n_envs
        if state.env_steps >= state.next_ckpt and (aligned or overdue):
            state.next_ckpt = state.env_steps + self.cfg.run.checkpoint_interval
            self.save_last(periodic=state.env_steps > 0)

    def save_last(self, periodic: bool = False) -> None:
        """last.pt and the replay (and with `periodic`, a step_XXXXXXXX.pt beside them)."""
        self.state.episode_index = list(self.venv.episode_index)
        self.replay.save_generation(self.files.replay, step_of(self.state))  # the previous one stays...
        self._save(self.files.last, resumable=True)
        drop_previous_replay(self.files.replay)  # ...until the checkpoint of this one is written
        if periodic:
            self._save(self.files.checkpoints / f"step_{self.state.env_steps:08d}.pt", resumable=True)

    def _save(self, path: Path, resumable: bool = False) -> None:
        """A checkpoint; `resumable` ones (last.pt and the periodic ones) hold the step in flight."""
        lr = self.learner
        self.state.log_lines = self.log.lines
        pending = lr.in_flight_state() if resumable else None
        save_training_checkpoint(
            path, lr.model, lr.target, lr.opt, self.cfg, self.state, self.rng, self.replay, pending
        )

    def summary(self, t_launch: float) -> dict:
        """The run's summary: counters, best validation, failures, seconds since `t_launch` and peak memory (MiB)."""
        state = self.state
        return {
            "fuelbreak_version": __version__,
            "outdir": str(self.files.root),
            "env_steps": state.env_steps,
            "episodes": state.episodes,
            "grad_steps": state.grad_steps,
            "best_val_reduction": state.best_val if np.isfinite(state.best_val) else None,
            "val_reduction_random": state.val_random,
            "failures": state.failures,
            "stopped_early": bool(self.stop["requested"]) or state.env_steps < self.cfg.run.total_env_steps,
            "seconds": time.monotonic() - t_launch,
            "peak_rss_mb": psutil.Process().memory_info().rss / 2**20,
            "machine": machine_record(torch.get_num_threads()),
            **({"init_sha256": self.init_sha256} if self.init_sha256 else {}),
        }


def train(
    cfg: TrainConfig,
    resume: bool = False,
    progress: bool = True,
    max_seconds: float | None = None,
    max_loop_seconds: float | None = None,
) -> dict:
    """Train (or resume) the run in `cfg.run.outdir`; return its summary (also in summary.json).

    The run stops, with a checkpoint, after `run.total_env_steps`, or after `max_seconds` (default
    `run.time_limit_s`) of wall time counted from the start, demonstrations included, or after
    `max_loop_seconds` of the training loop alone (for benchmarks).
    """
    t_launch = time.monotonic()
    if max_seconds is None and cfg.run.time_limit_s > 0:
        max_seconds = cfg.run.time_limit_s
    # the weights to start from, read before the run folder is made: a missing or corrupt file leaves nothing
    init = load_checkpoint(init_path(cfg.dqn.init)) if cfg.dqn.init and not resume else None
    files = RunFiles(Path(cfg.run.outdir))
    if resume and not files.last.exists():
        raise CheckpointError(f"cannot resume {files.root}: {files.last} does not exist")
    if not resume and files.last.exists():
        raise ConfigError(
            f"{files.root} already holds a run; use --resume to continue it, or another --outdir"
        )
    files.checkpoints.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(files.checkpoints)  # what a kill left half written
    remove_stale_temporaries(files.root, ("config.toml", "metrics.jsonl", "summary.json"))
    write_config(cfg, files.config)
    if cfg.run.torch_threads:
        torch.set_num_threads(cfg.run.torch_threads)
    torch.manual_seed(cfg.run.seed)

    venv = make_vector_env(cfg)
    stop = {"requested": False}

    def request_stop(signum, frame):
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True

    old_handlers = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    run = None
    looping = False
    try:
        run = Run(cfg, files, venv, stop, progress, init)
        if resume:
            run.resume()
        else:
            run.start(t_launch)
        looping = True
        run.loop(t_launch, max_seconds, max_loop_seconds)
        run.save_last()
    except ClusterError as exc:  # the fires' cluster went away: keep what was learned
        if not looping:
            raise
        run.save_last()
        raise ClusterError(
            f"{exc}; a checkpoint was saved: resume with fuelbreak train --resume {files.root}"
        ) from None
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        venv.close()
        if run is not None:
            run.learner.close()
            run.log.close()

    summary = run.summary(t_launch)
    atomic_write_text(files.root / "summary.json", json.dumps(summary, indent=2))
    return summary


def load_run_config(outdir: str | Path) -> TrainConfig:
    """The resolved config a run was started with (its config.toml)."""
    import tomllib

    path = Path(outdir) / "config.toml"
    if not path.is_file():
        raise ConfigError(f"{outdir} has no config.toml: not a fuelbreak training run")
    return config_from_dict(tomllib.loads(path.read_text()), source=str(path))


__all__ = [
    "Learner",
    "MetricsLog",
    "Run",
    "RunFiles",
    "State",
    "env_kwargs",
    "load_run_config",
    "make_replay",
    "make_vector_env",
    "resolve_device",
    "run_episode",
    "train",
    "validate",
    "validate_random",
    "validation_episodes",
    "weather_of",
]
