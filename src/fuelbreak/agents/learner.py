"""The learner: double-DQN gradient steps with one step always in flight (`Learner`), and the replay it learns from (`make_replay`)."""

from __future__ import annotations

import copy
import dataclasses
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from fuelbreak.agents.checkpoint import (
    Checkpoint,
)
from fuelbreak.agents.config import TrainConfig
from fuelbreak.agents.dqn import (
    soft_update,
    td_loss,
    td_targets,
)
from fuelbreak.agents.episode_replay import Batch, EpisodeReplay
from fuelbreak.agents.run_files import State
from fuelbreak.env.observation import CHANNEL_INDEX, PLAN_CHANNELS
from fuelbreak.errors import CheckpointError
from fuelbreak.parallel.vector_env import FuelBreakVectorEnv


class Learner:
    """The algorithm's state and its gradient step: online and target networks, optimiser, replay.

    A gradient step samples a replay batch, computes its double-DQN targets, takes one step on the
    loss (with DQfD's margin on demonstrations) and, every `target_update_interval` steps, moves the
    target network. The targets need whole Q maps but no gradients; the loss needs a few cells'
    values with gradients. So the two run side by side: `begin()` samples a batch and starts its
    targets on a helper thread (torch computes outside the GIL, on the core the fire workers leave
    mostly free); `finish()` waits for them, samples the next batch and starts its targets, and
    only then takes its own step, so that the next step's maps are computed while this step's loss
    goes backward. One step is always in flight, also from one loop iteration to the next (its
    batch is sampled before the iteration's transitions enter the replay) and across checkpoints
    (`in_flight`, `resume_in_flight`).

    So each step's targets are made with the weights from before the previous step: the online
    network's choices in them (double DQN's next cells, the margin's best-scoring cells) lag one
    gradient step, and so does the target network they read; the loss's own values (of the taken
    cells and the margin's chosen ones) come from the current weights. The helper reads a copy of
    the online weights (`chooser`), never the weights being updated, and a target-network update
    waits for the targets in flight, so the result does not depend on timing: the same seed gives
    the same weights.
    """

    def __init__(self, cfg: TrainConfig, model, replay: EpisodeReplay, state: State):
        self.cfg, self.d, self.k = cfg, cfg.dqn, cfg.env.cells_per_step
        self.model = model
        self.target = copy.deepcopy(model)
        self.chooser = copy.deepcopy(model)  # the weights the helper's targets are made with
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.dqn.lr, eps=cfg.dqn.adam_eps)
        self.replay = replay
        self.state = state
        self.losses: deque = deque(maxlen=100)
        self._helper = ThreadPoolExecutor(1, thread_name_prefix="fuelbreak-targets")
        self._begun = None  # (batch, future of its targets): the step in flight

    def can_step(self) -> bool:
        """Whether the replay holds a batch's worth of transitions."""
        return len(self.replay) >= self.d.batch_size

    @property
    def in_flight(self) -> bool:
        """Whether a batch's targets are being computed (`begin` called, `finish` not yet)."""
        return self._begun is not None

    def begin(self) -> None:
        """Sample a batch and start computing its targets, with the current weights, on the helper."""
        if self._begun is not None:
            raise RuntimeError("Learner.begin() called twice without finish()")
        self._submit(self._sample())

    def finish(self, then_begin: bool = True) -> float:
        """The gradient step on the batch in flight, once its targets are ready; its loss.

        With `then_begin`, the next step's batch is sampled and its targets started before this
        step's loss is computed, with the weights from before this step.
        """
        if self._begun is None:
            raise RuntimeError("Learner.finish() called without begin()")
        d, state = self.d, self.state
        batch, future = self._begun
        self._begun = None
        following = self._sample() if then_begin else None  # main-thread work while the helper computes
        targets = future.result()
        if following is not None:
            self._submit(following)
        loss, td = td_loss(
            self.model, self.target, batch, self.k, d.double, d.huber, d.demo_margin, d.demo_weight, targets
        )
        self.opt.zero_grad()
        loss.backward()
        if d.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), d.grad_clip)
        self.opt.step()
        if d.prioritized:
            self.replay.update_priorities(batch.indices, td.numpy())
        state.grad_steps += 1
        if state.grad_steps % d.target_update_interval == 0:
            if self._begun is not None:  # the helper reads the target network: let it finish first
                self._begun[1].result()
            soft_update(self.target, self.model, d.tau)
        value = loss.item()
        self.losses.append(value)
        return value

    def step(self) -> float:
        """One whole gradient step alone (targets from the current weights); returns its loss."""
        self.begin()
        return self.finish(then_begin=False)

    def _sample(self) -> Batch:
        d = self.d
        progress_frac = min(1.0, self.state.env_steps / self.cfg.run.total_env_steps)
        return self.replay.sample(
            d.batch_size, d.per_beta_start + (d.per_beta_end - d.per_beta_start) * progress_frac
        )

    def _submit(self, batch: Batch) -> None:
        """Start `batch`'s targets on the helper, with a copy of the current weights."""
        with torch.no_grad():
            for c, m in zip(self.chooser.parameters(), self.model.parameters(), strict=True):
                c.copy_(m)
        self._start(batch)

    def _start(self, batch: Batch) -> None:
        d = self.d
        args = (self.chooser, self.target, batch, self.k, d.double, d.demo_margin, d.demo_weight)
        self._begun = (batch, self._helper.submit(td_targets, *args))

    def in_flight_state(self) -> dict | None:
        """The step in flight, for a checkpoint.

        Its batch and the weights its targets are made with (its targets are computed again on resume: the
        same values).
        """
        if self._begun is None:
            return None
        batch = self._begun[0]
        fields = {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}
        return {
            "batch": {k: None if v is None else torch.as_tensor(v) for k, v in fields.items()},
            "chooser": self.chooser.state_dict(),
        }

    def resume_in_flight(self, saved: dict | None) -> None:
        """Start again the step a checkpoint had in flight (`in_flight_state`), if any."""
        if saved is None:
            return
        fields = {}
        for name, value in saved["batch"].items():
            if value is None:
                fields[name] = None
            elif name in ("obs", "next_obs"):  # `Batch` holds these as channels-last tensors
                fields[name] = value.contiguous(memory_format=torch.channels_last)
            else:  # and the rest as numpy arrays
                fields[name] = value.numpy()
        batch = Batch(**fields)
        self.chooser.load_state_dict(saved["chooser"])
        self._start(batch)

    def close(self) -> None:
        """End the helper thread.

        If a step is in flight, it ends after the targets it is computing, which are dropped: an error in
        them does not hide the one that stopped the run.
        """
        self._begun = None
        self._helper.shutdown(wait=True)

    def mean_loss(self) -> float | None:
        """Mean loss of the last (up to 100) gradient steps, or None before the first."""
        return float(np.mean(self.losses)) if self.losses else None

    def restore(self, ckpt: Checkpoint) -> None:
        """Weights, optimiser and the step in flight from a training checkpoint.

        A checkpoint that does not fit this run's network or holds a malformed step is a CheckpointError
        naming it.
        """
        try:
            self.model.load_state_dict(ckpt["model_state"])
            self.target.load_state_dict(ckpt["target_state"])
            self.opt.load_state_dict(ckpt["optimizer_state"])
            self.resume_in_flight(ckpt["extra"].get("in_flight"))
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
            raise CheckpointError(f"checkpoint {ckpt.path} cannot resume this run: {exc}") from exc


def make_replay(cfg: TrainConfig, venv: FuelBreakVectorEnv) -> EpisodeReplay:
    """The replay memory for `cfg`, allocated up front (`dqn.buffer_size` transitions)."""
    steps_per_episode = venv.envs[0].budget // cfg.env.cells_per_step
    return EpisodeReplay(
        capacity=max(1, cfg.dqn.buffer_size // steps_per_episode),
        obs_shape=venv.single_observation_space.shape,
        steps=steps_per_episode,
        cells_per_step=cfg.env.cells_per_step,
        breaks_channel=CHANNEL_INDEX["breaks"],
        burnable_channel=CHANNEL_INDEX["burnable"],
        gamma=cfg.dqn.gamma,
        n_step=cfg.dqn.n_step,
        prioritized=cfg.dqn.prioritized,
        alpha=cfg.dqn.per_alpha,
        seed=cfg.run.seed,
        plan_channels=PLAN_CHANNELS,
    )
