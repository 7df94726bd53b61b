"""Experience replay with n-step returns built from per-environment streams, uniform or prioritized.

The learner pushes one step per environment per call (`push(env_index, ...)`); each environment
keeps a short stream of pending steps from which n-step transitions are emitted:

    return    R = r_t + g r_{t+1} + ... + g^(m-1) r_{t+m-1}     (m = n, or fewer at an episode end)
    discount  g^m to bootstrap from the observation after step t+m-1, or 0 if the episode terminated

An episode that is truncated (or cut by an invalid step, e.g. a failed simulation) bootstraps from
its last real observation and never from the next episode. A step flagged `invalid` is never stored.

Memory: observations dominate (12 x 50 x 50 float32 is 120 KB), so each observation is stored once,
as float16 by default, in a preallocated pool of slots shared by the transitions that refer to it
(the next observation of one step is the observation of the following one). A transition costs
about one observation: 67.9 KB for 12 x 50 x 50 in float16 (60 KB a slot, its packed action mask,
and an eighth more slots than transitions for episodes' final observations), against 240 KB for
obs + next_obs in float32. Nothing grows after construction; when the pool or the ring is full the
oldest transitions are evicted.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

_FLOAT16_MAX = float(np.finfo(np.float16).max)


@dataclass
class Batch:
    """A sampled batch, ready for the learner (torch tensors on the CPU).

    `next_action_mask` is the mask stored for the bootstrap observation; where `discounts` is 0
    (terminated) it is not used and may have no legal cell, so mask those rows before a masked max,
    e.g. `next_action_mask | (discounts == 0)[:, None]`.
    """

    obs: torch.Tensor  # (B, C, H, W) float32
    action_mask: torch.Tensor  # (B, H*W) bool, legal cells of obs
    actions: torch.Tensor  # (B, k) int64 cell indices
    returns: torch.Tensor  # (B,) float32 discounted n-step reward sums
    discounts: torch.Tensor  # (B,) float32 gamma^m, or 0 where the episode terminated
    next_obs: torch.Tensor  # (B, C, H, W) float32
    next_action_mask: torch.Tensor  # (B, H*W) bool
    weights: torch.Tensor  # (B,) float32 importance weights (ones for uniform sampling)
    indices: np.ndarray  # (B,) int64 buffer positions, for update_priorities


@dataclass
class _Step:
    slot: int
    actions: np.ndarray
    reward: float


class _Stream:
    """The pending steps of one environment's current episode, oldest first."""

    def __init__(self) -> None:
        self.pending: deque[_Step] = deque()
        self.last_slot: int | None = None  # slot of the latest next observation


class ReplayBuffer:
    """Uniform replay of n-step transitions; see the module docstring for the stream rules."""

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, int, int],
        *,
        n_envs: int = 1,
        n_step: int = 1,
        gamma: float = 0.99,
        cells_per_step: int = 1,
        obs_dtype: str = "float16",
        obs_slots: int | None = None,
        seed: int = 0,
    ) -> None:
        if capacity < 1 or n_envs < 1 or n_step < 1 or cells_per_step < 1:
            raise ValueError("replay capacity, n_envs, n_step and cells_per_step must all be >= 1")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"replay gamma must be in [0, 1], got {gamma}")
        if len(obs_shape) != 3:
            raise ValueError(f"replay obs_shape must be (C, H, W), got {obs_shape}")
        if obs_dtype not in ("float16", "float32"):
            raise ValueError(f"replay obs_dtype must be 'float16' or 'float32', got {obs_dtype!r}")
        self.capacity = int(capacity)
        self.obs_shape = tuple(int(x) for x in obs_shape)
        self.n_cells = self.obs_shape[1] * self.obs_shape[2]
        self.n_envs, self.n_step, self.gamma = int(n_envs), int(n_step), float(gamma)
        self.cells_per_step = int(cells_per_step)
        self.obs_dtype = np.dtype(obs_dtype)
        # Distinct observations alive: one per transition, one final observation per episode in the
        # buffer (an eighth of capacity covers episodes of 8 steps or more) and the pending streams.
        floor = self.n_envs * (self.n_step + 2) + 2
        self.obs_slots = int(obs_slots) if obs_slots else self.capacity + self.capacity // 8 + floor
        if self.obs_slots < floor:
            raise ValueError(f"replay obs_slots must be >= {floor} for {n_envs} envs and n_step {n_step}")
        self._obs = np.zeros((self.obs_slots, *self.obs_shape), dtype=self.obs_dtype)
        self._masks = np.zeros((self.obs_slots, (self.n_cells + 7) // 8), dtype=np.uint8)
        self._refs = np.zeros(self.obs_slots, dtype=np.int32)
        self._free = list(range(self.obs_slots - 1, -1, -1))
        self._t_obs = np.zeros(self.capacity, dtype=np.int32)
        self._t_next = np.zeros(self.capacity, dtype=np.int32)
        self._t_actions = np.zeros((self.capacity, self.cells_per_step), dtype=np.int32)
        self._t_return = np.zeros(self.capacity, dtype=np.float32)
        self._t_discount = np.zeros(self.capacity, dtype=np.float32)
        self._head = 0
        self._size = 0
        self._streams = [_Stream() for _ in range(self.n_envs)]
        self.rng = np.random.default_rng(seed)

    # ------------------------------------------------------------------ sizes

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Bytes preallocated for the whole buffer."""
        arrays = (self._obs, self._masks, self._refs, self._t_obs, self._t_next, self._t_actions)
        return sum(a.nbytes for a in arrays) + self._t_return.nbytes + self._t_discount.nbytes

    @property
    def bytes_per_transition(self) -> float:
        return self.nbytes / self.capacity

    # ------------------------------------------------------------------ pushing

    def push(
        self,
        env_index: int,
        obs: np.ndarray,
        action_mask: np.ndarray,
        action,
        reward: float,
        next_obs: np.ndarray,
        next_action_mask: np.ndarray,
        terminated: bool,
        truncated: bool = False,
        invalid: bool = False,
    ) -> int:
        """Add one step of environment `env_index`; returns how many transitions it completed.

        `obs` must continue the environment's stream (equal the previous step's `next_obs`) unless
        the previous step ended the episode. `invalid` drops the step and ends the stream there.
        """
        if not 0 <= env_index < self.n_envs:
            raise ValueError(f"replay env_index {env_index} is outside [0, {self.n_envs})")
        stream = self._streams[env_index]
        if invalid:
            return self._finish(stream, terminated=False)
        actions = self._check_actions(action, action_mask)
        next_mask = self._check_mask(next_action_mask, "next_action_mask")
        if not terminated and not next_mask.any():
            raise ValueError(
                f"replay env {env_index}: next_action_mask has no legal cell but the step did not terminate"
            )
        if not np.isfinite(reward):
            raise ValueError(f"replay env {env_index}: reward {reward} is not finite")
        obs_c = self._convert(obs, "obs")
        next_c = self._convert(next_obs, "next_obs")
        packed = np.packbits(self._check_mask(action_mask, "action_mask"))
        if stream.last_slot is None:
            slot = self._store(obs_c, packed)
        elif np.array_equal(self._obs[stream.last_slot], obs_c) and np.array_equal(
            self._masks[stream.last_slot], packed
        ):
            slot = stream.last_slot
        else:
            raise ValueError(
                f"replay env {env_index}: obs does not continue its stream; flag the previous step "
                "terminated, truncated or invalid"
            )
        self._incref(slot)
        stream.pending.append(_Step(slot, actions, float(reward)))
        next_slot = self._store(next_c, np.packbits(next_mask))
        self._incref(next_slot)
        if stream.last_slot is not None:
            self._decref(stream.last_slot)
        stream.last_slot = next_slot
        if terminated or truncated:
            return self._finish(stream, terminated=bool(terminated))
        if len(stream.pending) == self.n_step:
            self._emit_oldest(stream, terminated=False)
            return 1
        return 0

    def _finish(self, stream: _Stream, terminated: bool) -> int:
        """Emit every pending step (the episode ends here) and release the stream."""
        count = 0
        while stream.pending:
            self._emit_oldest(stream, terminated)
            count += 1
        if stream.last_slot is not None:
            self._decref(stream.last_slot)
            stream.last_slot = None
        return count

    def _emit_oldest(self, stream: _Stream, terminated: bool) -> None:
        rewards = np.array([s.reward for s in stream.pending], dtype=np.float64)
        m = len(rewards)
        ret = float(np.sum(rewards * self.gamma ** np.arange(m)))
        discount = 0.0 if terminated else self.gamma**m
        step = stream.pending[0]
        self._add_transition(step.slot, stream.last_slot, step.actions, ret, discount)
        stream.pending.popleft()
        self._decref(step.slot)

    def _add_transition(
        self, slot: int, next_slot: int, actions: np.ndarray, ret: float, disc: float
    ) -> None:
        if self._size == self.capacity:
            self._evict_oldest()
        pos = self._head
        self._incref(slot)
        self._incref(next_slot)
        self._t_obs[pos], self._t_next[pos] = slot, next_slot
        self._t_actions[pos] = actions
        self._t_return[pos], self._t_discount[pos] = ret, disc
        self._head = (pos + 1) % self.capacity
        self._size += 1
        self._on_add(pos)

    def _evict_oldest(self) -> None:
        pos = (self._head - self._size) % self.capacity
        self._decref(int(self._t_obs[pos]))
        self._decref(int(self._t_next[pos]))
        self._size -= 1
        self._on_evict(pos)

    def _on_add(self, pos: int) -> None:
        """Hook for the prioritized buffer."""

    def _on_evict(self, pos: int) -> None:
        """Hook for the prioritized buffer."""

    # ------------------------------------------------------------------ observation slots

    def _store(self, obs: np.ndarray, packed_mask: np.ndarray) -> int:
        while not self._free:
            if self._size == 0:
                raise RuntimeError("replay observation pool exhausted by pending streams; raise obs_slots")
            self._evict_oldest()
        slot = self._free.pop()
        self._obs[slot] = obs
        self._masks[slot] = packed_mask
        return slot

    def _incref(self, slot: int) -> None:
        self._refs[slot] += 1

    def _decref(self, slot: int) -> None:
        self._refs[slot] -= 1
        if self._refs[slot] == 0:
            self._free.append(slot)

    # ------------------------------------------------------------------ validation

    def _convert(self, obs: np.ndarray, name: str) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.shape != self.obs_shape:
            raise ValueError(f"replay {name} has shape {obs.shape}, expected {self.obs_shape}")
        if not np.all(np.isfinite(obs)):
            raise ValueError(f"replay {name} has NaN or infinite values")
        if self.obs_dtype == np.float16 and np.abs(obs).max() > _FLOAT16_MAX:
            raise ValueError(
                f"replay {name} has values beyond float16 range (|x| > {_FLOAT16_MAX:g}); "
                "normalise the observation channels or use obs_dtype='float32'"
            )
        return obs.astype(self.obs_dtype, copy=False)

    def _check_mask(self, mask: np.ndarray, name: str) -> np.ndarray:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_ or mask.size != self.n_cells:
            raise ValueError(
                f"replay {name} must be bool with {self.n_cells} cells, got {mask.dtype} {mask.shape}"
            )
        return mask.reshape(-1)

    def _check_actions(self, action, action_mask: np.ndarray) -> np.ndarray:
        actions = np.asarray(action, dtype=np.int64).reshape(-1)
        if actions.size != self.cells_per_step:
            raise ValueError(f"replay action {action!r} must have {self.cells_per_step} cell(s)")
        if np.any(actions < 0) or np.any(actions >= self.n_cells):
            raise ValueError(f"replay action {actions.tolist()} is outside [0, {self.n_cells})")
        if not np.all(self._check_mask(action_mask, "action_mask")[actions]):
            raise ValueError(f"replay action {actions.tolist()} includes a cell the action mask forbids")
        return actions.astype(np.int32)

    # ------------------------------------------------------------------ sampling

    def sample(self, batch_size: int) -> Batch:
        """Draw `batch_size` transitions uniformly, with replacement."""
        self._check_can_sample(batch_size)
        idx = (self._head - self._size + self.rng.integers(0, self._size, size=batch_size)) % self.capacity
        return self._gather(idx.astype(np.int64), np.ones(batch_size, dtype=np.float32))

    def _check_can_sample(self, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"replay batch_size must be >= 1, got {batch_size}")
        if self._size == 0:
            raise ValueError("replay buffer is empty; push transitions before sampling")

    def _gather(self, idx: np.ndarray, weights: np.ndarray) -> Batch:
        slots, nexts = self._t_obs[idx], self._t_next[idx]

        def masks(s: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.unpackbits(self._masks[s], axis=1, count=self.n_cells).astype(bool))

        return Batch(
            obs=torch.from_numpy(self._obs[slots]).float(),
            action_mask=masks(slots),
            actions=torch.from_numpy(self._t_actions[idx].astype(np.int64)),
            returns=torch.from_numpy(self._t_return[idx].copy()),
            discounts=torch.from_numpy(self._t_discount[idx].copy()),
            next_obs=torch.from_numpy(self._obs[nexts]).float(),
            next_action_mask=masks(nexts),
            weights=torch.from_numpy(weights.astype(np.float32)),
            indices=idx,
        )

    # ------------------------------------------------------------------ saving

    def state_dict(self) -> dict:
        """Everything needed to resume, as tensors, lists and strings (loads with weights_only)."""
        streams = [
            {
                "slots": [s.slot for s in st.pending],
                "actions": [s.actions.tolist() for s in st.pending],
                "rewards": [s.reward for s in st.pending],
                "last_slot": -1 if st.last_slot is None else st.last_slot,
            }
            for st in self._streams
        ]
        return {
            "kind": type(self).__name__,
            "settings": self._settings(),
            "obs": torch.from_numpy(self._obs.copy()),
            "masks": torch.from_numpy(self._masks.copy()),
            "refs": torch.from_numpy(self._refs.copy()),
            "free": list(self._free),
            "t_obs": torch.from_numpy(self._t_obs.copy()),
            "t_next": torch.from_numpy(self._t_next.copy()),
            "t_actions": torch.from_numpy(self._t_actions.copy()),
            "t_return": torch.from_numpy(self._t_return.copy()),
            "t_discount": torch.from_numpy(self._t_discount.copy()),
            "head": self._head,
            "size": self._size,
            "streams": streams,
            "rng": json.dumps(self.rng.bit_generator.state),
        }

    def _settings(self) -> dict:
        return {
            "capacity": self.capacity,
            "obs_shape": list(self.obs_shape),
            "n_envs": self.n_envs,
            "n_step": self.n_step,
            "gamma": self.gamma,
            "cells_per_step": self.cells_per_step,
            "obs_dtype": self.obs_dtype.name,
            "obs_slots": self.obs_slots,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a `state_dict`; the buffer must have been built with the same settings."""
        if state.get("kind") != type(self).__name__ or state.get("settings") != self._settings():
            raise ValueError(
                f"replay state is for {state.get('kind')} {state.get('settings')}, "
                f"not {type(self).__name__} {self._settings()}"
            )
        self._obs[...] = state["obs"].numpy()
        self._masks[...] = state["masks"].numpy()
        self._refs[...] = state["refs"].numpy()
        self._free = [int(x) for x in state["free"]]
        for name in ("t_obs", "t_next", "t_actions", "t_return", "t_discount"):
            getattr(self, f"_{name}")[...] = state[name].numpy()
        self._head, self._size = int(state["head"]), int(state["size"])
        self._streams = []
        for st in state["streams"]:
            stream = _Stream()
            for slot, act, rew in zip(st["slots"], st["actions"], st["rewards"], strict=True):
                stream.pending.append(_Step(int(slot), np.asarray(act, dtype=np.int32), float(rew)))
            stream.last_slot = None if st["last_slot"] < 0 else int(st["last_slot"])
            self._streams.append(stream)
        self.rng.bit_generator.state = json.loads(state["rng"])


class SumTree:
    """Binary sum tree over `capacity` leaves: O(log n) updates and proportional draws, vectorised."""

    def __init__(self, capacity: int) -> None:
        self.leaves = 1 << max(0, int(capacity - 1).bit_length())
        self.tree = np.zeros(2 * self.leaves, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def get(self, idx: np.ndarray) -> np.ndarray:
        return self.tree[self.leaves + np.asarray(idx)]

    def set(self, idx: np.ndarray, values: np.ndarray) -> None:
        node = self.leaves + np.asarray(idx, dtype=np.int64).reshape(-1)
        self.tree[node] = np.asarray(values, dtype=np.float64).reshape(-1)
        node = np.unique(node[node > 1] // 2)
        while node.size:
            self.tree[node] = self.tree[2 * node] + self.tree[2 * node + 1]
            node = np.unique(node[node > 1] // 2)

    def find(self, values: np.ndarray) -> np.ndarray:
        """Leaf index for each value in [0, total): the leaf whose cumulative span holds it."""
        values = np.asarray(values, dtype=np.float64).copy()
        node = np.ones(values.shape, dtype=np.int64)
        while node[0] < self.leaves:
            left = self.tree[2 * node]
            right_ok = self.tree[2 * node + 1] > 0
            go_right = (values >= left) & right_ok
            values = np.where(go_right, values - left, values)
            node = 2 * node + go_right
        return node - self.leaves


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016): P(i) ~ p_i^alpha, weights (N P(i))^-beta.

    New transitions get the largest priority seen so far, so each is likely to be replayed once.
    The learner passes |TD error| to `update_priorities`; `eps` keeps every priority positive.
    """

    def __init__(self, *args, alpha: float = 0.6, eps: float = 1e-6, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if alpha < 0 or eps <= 0:
            raise ValueError(f"prioritized replay needs alpha >= 0 and eps > 0, got {alpha}, {eps}")
        self.alpha, self.eps = float(alpha), float(eps)
        self.tree = SumTree(self.capacity)
        self.max_priority = 1.0

    def _on_add(self, pos: int) -> None:
        self.tree.set(np.array([pos]), np.array([self.max_priority**self.alpha]))

    def _on_evict(self, pos: int) -> None:
        self.tree.set(np.array([pos]), np.array([0.0]))

    def sample(self, batch_size: int, beta: float = 0.4) -> Batch:
        """Stratified proportional draw; weights are normalised so the largest possible is 1."""
        self._check_can_sample(batch_size)
        total = self.tree.total
        bounds = (np.arange(batch_size) + self.rng.random(batch_size)) * (total / batch_size)
        idx = self.tree.find(np.minimum(bounds, np.nextafter(total, 0)))
        probs = self.tree.get(idx) / total
        live = self.tree.get(self._live_positions())
        min_prob = live[live > 0].min() / total
        weights = (probs / min_prob) ** (-beta)
        return self._gather(idx, weights)

    def _live_positions(self) -> np.ndarray:
        return (self._head - self._size + np.arange(self._size)) % self.capacity

    def update_priorities(self, indices: np.ndarray, priorities) -> None:
        """Set the priorities (e.g. |TD error|) of sampled transitions."""
        if isinstance(priorities, torch.Tensor):
            priorities = priorities.detach().cpu().numpy()
        p = np.abs(np.asarray(priorities, dtype=np.float64).reshape(-1)) + self.eps
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if p.shape != idx.shape or not np.all(np.isfinite(p)):
            raise ValueError("update_priorities needs one finite priority per index")
        live = np.zeros(self.capacity, dtype=bool)
        live[self._live_positions()] = True
        keep = live[idx]  # a transition evicted since it was sampled keeps no priority
        self.tree.set(idx[keep], p[keep] ** self.alpha)
        self.max_priority = max(self.max_priority, float(p.max()))

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["priorities"] = torch.from_numpy(self.tree.get(np.arange(self.capacity)))
        state["max_priority"] = self.max_priority
        return state

    def _settings(self) -> dict:
        return {**super()._settings(), "alpha": self.alpha, "eps": self.eps}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.tree.set(np.arange(self.capacity), state["priorities"].numpy())
        self.max_priority = float(state["max_priority"])
