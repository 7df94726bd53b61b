"""A training run's folder and counters: its files (`RunFiles`), its metrics log (`MetricsLog`, JSON lines and TensorBoard), and the counters every checkpoint saves (`State`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fuelbreak.atomic import atomic_write_text
from fuelbreak.jsonlog import read_jsonl


@dataclass
class RunFiles:
    """The paths of a training run's files under its output folder `root`."""
    root: Path

    @property
    def config(self) -> Path:
        """The run's configuration, config.toml."""
        return self.root / "config.toml"

    @property
    def metrics(self) -> Path:
        """The run's JSON-lines log, metrics.jsonl."""
        return self.root / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        """The folder of the run's checkpoints."""
        return self.root / "checkpoints"

    @property
    def last(self) -> Path:
        """The latest checkpoint, written periodically (what a resume reads)."""
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        """The checkpoint of the best validation reduction so far."""
        return self.checkpoints / "best.pt"

    @property
    def replay(self) -> Path:
        """The replay memory saved with `last`."""
        return self.checkpoints / "replay.npz"


class MetricsLog:
    """Appends one JSON object per line to metrics.jsonl and mirrors the numbers to TensorBoard."""

    def __init__(self, files: RunFiles, tensorboard: bool = True):
        self.path = files.metrics
        self.lines = 0  # lines this run's log holds (after `truncate_after`, plus those written since)
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(files.root / "tb"))

    def write(self, record: dict) -> None:
        """Append `record` as one JSON line, and its numbers to TensorBoard under its `kind` at its `env_steps`."""
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        self.lines += 1
        if self.writer is not None:
            step = record["env_steps"]
            for key, value in record.items():
                if isinstance(value, int | float) and not isinstance(value, bool) and key != "env_steps":
                    self.writer.add_scalar(f"{record['kind']}/{key}", value, step)
            self.writer.flush()

    def truncate_after(self, env_steps: int, lines: int | None = None) -> None:
        """On resume: drop lines logged after the checkpoint, which the resumed run will log again.

        All but the first `lines` (the checkpoint's count), or, for a checkpoint that has no count, those of
        later env steps. A torn last line (a kill during an append) goes with a warning.
        """
        if not self.path.exists():
            self.lines = 0
            return
        records = read_jsonl(self.path, "metrics log")
        if lines is not None:
            kept = records[:lines]
        else:
            kept = [r for r in records if r.get("env_steps", 0) <= env_steps]
        self.lines = len(kept)
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def close(self) -> None:
        """Close the TensorBoard writer, if any."""
        if self.writer is not None:
            self.writer.close()


@dataclass
class State:
    """Counters of a run; saved in every checkpoint."""

    env_steps: int = 0
    grad_steps: int = 0
    episodes: int = 0
    failures: int = 0
    best_val: float = -np.inf
    val_random: float | None = None
    next_val: int = 0
    last_val: int = -1  # env_steps of the last validation
    next_ckpt: int = 0
    next_log: int = 0
    log_lines: int | None = None  # metrics.jsonl lines written before this state was saved (None: not kept)
    pretrain_steps: int = 0  # gradient steps taken on demonstrations before acting (within grad_steps)
    episode_index: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The counters as plain data for a checkpoint (an infinite `best_val` as None)."""
        d = dict(self.__dict__)
        d["best_val"] = float(self.best_val) if np.isfinite(self.best_val) else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> State:
        """The state `to_dict` wrote."""
        d = dict(d)
        d["best_val"] = -np.inf if d.get("best_val") is None else float(d["best_val"])
        return cls(**d)


def step_of(state: State) -> dict:
    """The counters that name a training step: a checkpoint's, and its replay's (`paired_replay`)."""
    return {"env_steps": state.env_steps, "grad_steps": state.grad_steps, "episodes": state.episodes}
