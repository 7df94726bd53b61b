"""Replay memory that stores an episode's observation once and each step as what changed in it.

Within an episode only the plan-following channels change (the break mask, and the burn probability
and downstream area of the observation fires through the breaks), so an observation is the
episode's first observation with those written in. Storing the first one (rounded to float16,
kept in float32 so that a batch needs no conversion: 160 KB an episode), one bit per cell per step
for the breaks and the `plan_channels` per step (float16) makes a step of a 16 x 50 x 50 tile cost
about 10 KB instead of 320 KB for an (obs, next_obs) float32 pair, so tens of thousands of
transitions fit in a few hundred megabytes, memory is allocated once, and it never grows.
Sampling builds a batch from these arrays by indexing, without rebuilding anything else.

Transitions are n-step: the return of up to n rewards, then a bootstrap on the state reached, with
discount gamma^m for the m steps actually taken. An episode that ended (budget spent) does not
bootstrap past its end; one that was cut short (a failed simulation) bootstraps on its last known
state; a step whose simulation failed is never stored, as there is no honest reward for it.
Sampling is uniform, or proportional to priorities (Schaul et al. 2016) with importance weights.

A saved memory records the training step it belongs to (`save(path, step)`), so that a resume can
pair it with its checkpoint: `save_generation` keeps the previous file until the checkpoint of the
new one is written, and `paired_replay` finds, after a kill at any point, the file of the
checkpoint's step (the older pair wins) or says that there is none.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fuelbreak.errors import CheckpointError, ConfigError

# How `save` lays out the arrays: first observations channels-last (H, W, C).
LAYOUT = "first_obs_hwc"


@dataclass
class Batch:
    """A batch of transitions sampled from the replay: shapes and units are in the field comments."""
    obs: torch.Tensor  # (B, C, H, W) float32, channels-last in memory (what the networks read)
    actions: np.ndarray  # (B, k) int64
    returns: np.ndarray  # (B,) n-step discounted return
    next_obs: torch.Tensor  # (B, C, H, W) float32, channels-last
    next_mask: np.ndarray  # (B, H*W) bool: legal cells of next_obs
    discounts: np.ndarray  # (B,) gamma^m, 0 where the episode ended within the n steps
    weights: np.ndarray  # (B,) importance weights (1 when uniform)
    indices: np.ndarray  # (B,) transition ids, for update_priorities
    demo: np.ndarray | None = None  # (B,) bool: the transition is a demonstration
    legal: np.ndarray | None = None  # (B, H*W) bool: legal cells of obs


class EpisodeReplay:
    """Ring buffer of `capacity` episodes of at most `steps` steps of `cells_per_step` cells each."""

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, int, int],
        steps: int,
        cells_per_step: int,
        breaks_channel: int,
        burnable_channel: int,
        gamma: float = 0.99,
        n_step: int = 5,
        prioritized: bool = False,
        alpha: float = 0.6,
        seed: int = 0,
        plan_channels: tuple[int, ...] = (),
    ):
        if capacity < 1 or steps < 1 or cells_per_step < 1 or n_step < 1:
            raise ConfigError("replay capacity, steps, cells_per_step and n_step must be positive")
        if not 0.0 <= gamma <= 1.0:
            raise ConfigError(f"gamma must be in [0, 1], got {gamma}")
        c, h, w = obs_shape
        self.capacity, self.steps, self.k = capacity, steps, cells_per_step
        self.obs_shape, self.n_cells = obs_shape, h * w
        self.breaks_channel, self.burnable_channel = breaks_channel, burnable_channel
        self.plan_channels = list(plan_channels)
        self.gamma, self.n_step = gamma, n_step
        self.prioritized, self.alpha = prioritized, alpha
        self.rng = np.random.default_rng(seed)
        packed = (self.n_cells + 7) // 8
        # Allocated and touched now (np.full, not lazy np.zeros), so memory is taken once, up front,
        # and a growing resident size during training would mean a leak, not a filling buffer.
        # First observations are kept channels-last (H, W, C), the layout the networks convolve in,
        # so that a batch needs no transposition; rounded to float16 (as saved) but held in float32,
        # which batches are gathered from without conversion (converting every sampled observation
        # was a visible share of a gradient step in a profile). A torch view shares the memory.
        self.first_obs = np.full((capacity, h, w, c), 0, dtype=np.float32)
        self._first_obs_t = torch.from_numpy(self.first_obs)
        self.breaks = np.full((capacity, steps + 1, packed), 0, dtype=np.uint8)
        self.plan_obs = np.full((capacity, steps + 1, len(self.plan_channels), h, w), 0, dtype=np.float16)
        self.actions = np.zeros((capacity, steps, cells_per_step), dtype=np.int32)
        self.rewards = np.zeros((capacity, steps), dtype=np.float32)
        self.length = np.zeros(capacity, dtype=np.int32)  # steps stored
        self.ended = np.zeros(capacity, dtype=bool)  # terminated at `length` (no bootstrap past it)
        self.priority = np.zeros((capacity, steps), dtype=np.float64)
        self.demo = np.zeros(capacity, dtype=bool)
        self.max_priority = 1.0
        self.demo_slots = 0  # demonstrations fill the first slots and are never overwritten
        self.next_slot = 0
        self.episodes_stored = 0
        self._open: dict[int, int] = {}  # stream id -> slot of its episode in progress

    # ------------------------------------------------------------------------------------ writing
    def start(self, stream: int, obs: np.ndarray, demo: bool = False) -> None:
        """Begin a new episode for `stream` (an env index) from its first observation.

        Demonstrations (DQfD, Hester et al. 2018) must come before any other episode; they keep
        their slots for good, and the ring of ordinary episodes turns over the remaining slots.
        """
        if demo:
            if self.episodes_stored > self.demo_slots or self.demo_slots >= self.capacity - 1:
                raise ConfigError("demonstrations must be added first and leave room for other episodes")
            self.demo_slots += 1
        slot = self.next_slot
        self.next_slot = self.next_slot + 1 if self.next_slot + 1 < self.capacity else self.demo_slots
        self.episodes_stored = min(self.episodes_stored + 1, self.capacity)
        for s, open_slot in list(self._open.items()):
            if open_slot == slot:  # the ring caught up with an episode still being written
                del self._open[s]
        self._open[stream] = slot
        self.first_obs[slot] = np.moveaxis(obs, 0, -1).astype(np.float16)
        self.breaks[slot] = 0
        self.breaks[slot, 0] = self._pack(obs[self.breaks_channel])
        self.plan_obs[slot, 0] = obs[self.plan_channels]
        self.length[slot] = 0
        self.ended[slot] = False
        self.demo[slot] = demo
        self.priority[slot] = 0.0

    def add(self, stream: int, action, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        """Record one step of `stream`'s episode (`next_obs` is the observation after the step)."""
        slot = self._open.get(stream)
        if slot is None:
            return  # its episode was overwritten by the ring: drop the rest of it
        t = int(self.length[slot])
        if t >= self.steps:
            raise ConfigError(f"episode longer than the replay's {self.steps} steps")
        self.actions[slot, t] = np.asarray(action).reshape(-1)
        self.rewards[slot, t] = reward
        self.breaks[slot, t + 1] = self._pack(next_obs[self.breaks_channel])
        self.plan_obs[slot, t + 1] = next_obs[self.plan_channels]
        self.length[slot] = t + 1
        self.priority[slot, t] = self.max_priority
        if terminated:
            self.ended[slot] = True
            del self._open[stream]

    def cut(self, stream: int) -> None:
        """The stream's episode stops here without ending (a failed simulation): keep what it has."""
        self._open.pop(stream, None)

    # ------------------------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return int(self.length.sum())

    def sample(self, batch_size: int, beta: float = 0.4) -> Batch:
        """Sample `batch_size` transitions, by priority (with importance weights to the power `beta`) or uniformly.

        Raises:
            ConfigError: the replay is empty.
        """
        n = len(self)
        if n == 0:
            raise ConfigError("cannot sample from an empty replay")
        flat_len = (np.arange(self.steps)[None, :] < self.length[:, None]).ravel()
        if self.prioritized:
            p = self.priority.ravel() ** self.alpha * flat_len
            p = p / p.sum()
            ids = self.rng.choice(p.size, size=batch_size, p=p)
            weights = (n * p[ids]) ** (-beta)
            weights = weights / weights.max()
        else:
            valid = np.flatnonzero(flat_len)
            ids = valid[self.rng.integers(len(valid), size=batch_size)]
            weights = np.ones(batch_size)
        slots, ts = np.divmod(ids, self.steps)
        returns = np.zeros(batch_size)
        discounts = np.zeros(batch_size)
        boot_t = np.zeros(batch_size, dtype=np.int64)
        for b, (slot, t) in enumerate(zip(slots, ts, strict=True)):
            m = min(self.n_step, int(self.length[slot]) - t)
            r = self.rewards[slot, t : t + m]
            returns[b] = float(np.sum(r * self.gamma ** np.arange(m)))
            boot_t[b] = t + m
            finished = self.ended[slot] and t + m == self.length[slot]
            discounts[b] = 0.0 if finished else self.gamma**m
        return Batch(
            obs=self._obs(slots, ts),
            actions=self.actions[slots, ts].astype(np.int64),
            returns=returns.astype(np.float32),
            next_obs=self._obs(slots, boot_t),
            next_mask=self._legal(slots, boot_t),
            discounts=discounts.astype(np.float32),
            weights=weights.astype(np.float32),
            indices=ids,
            demo=self.demo[slots],
            legal=self._legal(slots, ts),
        )

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray, eps: float = 1e-4) -> None:
        """Set the priorities of the transitions `indices` to their absolute TD errors plus `eps`."""
        pr = np.abs(np.asarray(td_errors, dtype=np.float64)) + eps
        self.priority.ravel()[indices] = pr
        self.max_priority = max(self.max_priority, float(pr.max()))

    # ------------------------------------------------------------------------------- persistence
    _ARRAYS = ("first_obs", "breaks", "plan_obs", "actions", "rewards", "length", "ended", "priority", "demo")

    def save(self, path, step: dict | None = None) -> None:
        """Write the memory to an .npz file, atomically; no pickled objects (load with allow_pickle=False).

        `step` (plain ints, e.g. a checkpoint's counters) names the training step the memory belongs to.
        """
        from fuelbreak.atomic import atomic_write

        atomic_write(path, lambda fh: self._write(fh, step))

    def _write(self, fh, step: dict | None) -> None:
        meta = {
            "next_slot": self.next_slot,
            "demo_slots": self.demo_slots,
            "episodes_stored": self.episodes_stored,
            "max_priority": self.max_priority,
            "open": {str(k): v for k, v in self._open.items()},
            "rng": json.dumps(self.rng.bit_generator.state),
            "shape": [self.capacity, *self.obs_shape, self.steps, self.k, *self.plan_channels],
            "layout": LAYOUT,
            "step": None if step is None else {k: int(v) for k, v in step.items()},
        }
        arrays = {name: getattr(self, name) for name in self._ARRAYS}
        arrays["first_obs"] = self.first_obs.astype(np.float16)  # exact: the values are float16's
        np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)

    def load(self, path) -> None:
        """Restore a memory saved by `save` into this (identically shaped) one."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("layout") != LAYOUT:
                    raise ConfigError(
                        f"replay {path} was written by an older fuelbreak (first observations channels-first); "
                        "this version cannot resume from it: start a new run"
                    )
                if meta["shape"] != [self.capacity, *self.obs_shape, self.steps, self.k, *self.plan_channels]:
                    raise ConfigError(f"replay {path} has shape {meta['shape']}, this run needs another")
                for name in self._ARRAYS:
                    getattr(self, name)[...] = data[name]
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"replay file {path} is unreadable or corrupt: {exc}") from exc
        self.next_slot, self.episodes_stored = int(meta["next_slot"]), int(meta["episodes_stored"])
        self.demo_slots = int(meta["demo_slots"])
        self.max_priority = float(meta["max_priority"])
        self._open = {int(k): int(v) for k, v in meta["open"].items()}
        self.rng.bit_generator.state = json.loads(meta["rng"])

    def save_generation(self, path, step: dict) -> None:
        """Save for the checkpoint of `step`, which the caller writes next.

        The file saved before is kept as `previous_replay(path)` until `drop_previous_replay` (after that
        checkpoint), so that a kill before the checkpoint is written leaves the older pair whole.
        """
        from fuelbreak.atomic import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                self._write(fh, step)
            if path.exists():  # the new file is complete: now the old one steps aside
                os.replace(path, previous_replay(path))

    def open_length(self, stream: int) -> int | None:
        """Steps stored so far of the stream's episode in progress (None: none in progress)."""
        slot = self._open.get(stream)
        return None if slot is None else int(self.length[slot])

    def nbytes(self) -> int:
        """Bytes the replay's arrays take in memory."""
        arrays = (self.first_obs, self.breaks, self.plan_obs, self.actions, self.rewards, self.priority)
        return sum(a.nbytes for a in arrays)

    # ------------------------------------------------------------------------------------ helpers
    def _pack(self, mask: np.ndarray) -> np.ndarray:
        return np.packbits(np.asarray(mask).reshape(-1) > 0.5)

    def _unpack(self, slots: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return np.unpackbits(self.breaks[slots, ts], axis=-1, count=self.n_cells).astype(bool)

    def _obs(self, slots: np.ndarray, ts: np.ndarray) -> torch.Tensor:
        """Observations (B, C, H, W) float32 at steps `ts` of episodes `slots`, channels-last in memory."""
        obs = self._first_obs_t.index_select(0, torch.from_numpy(slots))  # (B, H, W, C)
        breaks = self._unpack(slots, ts).reshape(len(slots), *self.obs_shape[1:])
        obs[..., self.breaks_channel] = torch.from_numpy(breaks)
        if self.plan_channels:
            plan = torch.from_numpy(self.plan_obs[slots, ts]).float().permute(0, 2, 3, 1)
            obs[..., self.plan_channels] = plan
        return obs.permute(0, 3, 1, 2)

    def _legal(self, slots: np.ndarray, ts: np.ndarray) -> np.ndarray:
        burnable = self.first_obs[slots, :, :, self.burnable_channel].reshape(len(slots), -1) > 0.5
        return burnable & ~self._unpack(slots, ts)


# ------------------------------------------------------------------------------- pairing with checkpoints
def previous_replay(path) -> Path:
    """Where `save_generation` keeps the file saved before, until its successor's checkpoint exists."""
    path = Path(path)
    return path.with_name(f"{path.stem}.previous{path.suffix}")


def saved_step(path) -> dict | None:
    """The step a saved memory belongs to (None: saved without one, by an older fuelbreak)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"replay file {path} is unreadable or corrupt: {exc}") from exc
    return meta.get("step")


def drop_previous_replay(path) -> None:
    """The checkpoint of the newest memory is written: the one before is no longer needed."""
    previous_replay(path).unlink(missing_ok=True)


def paired_replay(path, step: dict) -> Path:
    """The memory saved for the checkpoint of `step`.

    `path`, or the file `save_generation` kept before it when a kill came between a memory and its checkpoint
    (the older pair wins; the newer memory is dropped). Afterwards `path` holds it. A CheckpointError when
    neither belongs to `step`.
    """
    path, previous = Path(path), previous_replay(path)
    want = {k: int(v) for k, v in step.items()}
    found = {}
    for candidate in (path, previous):
        if candidate.is_file():
            found[candidate] = saved_step(candidate)
    if found.get(path) is None and path in found and previous not in found:
        warnings.warn(
            f"replay {path} records no training step (written by an older fuelbreak): resuming with it "
            "unchecked",
            stacklevel=2,
        )
        return path
    for candidate, got in found.items():
        if got is not None and {k: got.get(k) for k in want} == want:
            if candidate == previous:
                warnings.warn(
                    f"{path} was saved after the checkpoint of step {want}, which a stop interrupted: "
                    f"resuming from that checkpoint with the replay saved with it ({previous.name})",
                    stacklevel=2,
                )
                os.replace(previous, path)
            else:
                previous.unlink(missing_ok=True)
            return path
    steps = ", ".join(f"{c.name} at {s}" for c, s in found.items()) or "none"
    raise CheckpointError(
        f"no replay memory in {path.parent} belongs to the checkpoint of step {want} (found: {steps}); "
        "the run cannot resume exactly from it: start a new run (another --outdir)"
    )
