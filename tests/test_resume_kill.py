"""Resume that survives a kill at any point (issue 27, item 4).

A tiny training run is killed with SIGKILL at many points, chosen by what it is doing rather than
by a clock: before and after each file it renames into place (checkpoints, the replay, best.pt,
the config), in the middle of an append to the metrics log (leaving a torn last line), and before
gradient steps. Each killed run is then resumed (or, when it died before its first checkpoint,
started again) as the supervisor does, and must end exactly where an uninterrupted run ends: the
same weights, the same validation log, no temporary file left behind.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import fuelbreak.agents.train as train_mod
from fuelbreak.agents.checkpoint import load_checkpoint
from fuelbreak.agents.episode_replay import (
    EpisodeReplay,
    paired_replay,
    previous_replay,
    saved_step,
)
from fuelbreak.agents.train import MetricsLog, RunFiles, train
from fuelbreak.errors import CheckpointError, InputError
from fuelbreak.jsonlog import read_jsonl
from tests.test_train import tiny

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="kills a forked copy of the test process"
)

# No demonstrations (the teacher is not what is tested); 36 steps of 2 environments, a checkpoint
# every 12, validation every 12: three checkpoints, four validations.
KILL_CFG = ("dqn.demonstrations=0", "dqn.pretrain_steps=0", "run.total_env_steps=36")
KINDS = ("before_replace", "after_replace", "torn_metrics", "grad_step")


def instrument(kind: str, kill_at: int | None, counts: dict) -> None:
    """Count the run's events of `kind` (in this process); with `kill_at`, SIGKILL this process at
    that event (for torn_metrics: after writing half of the line)."""

    def hit() -> bool:
        counts[kind] = counts.get(kind, 0) + 1
        return counts[kind] == kill_at

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if kind in ("before_replace", "after_replace"):
        real = os.replace

        def replace(src, dst, *a, **k):
            if kind == "before_replace" and hit():
                die()
            real(src, dst, *a, **k)
            if kind == "after_replace" and hit():
                die()

        os.replace = replace
    elif kind == "torn_metrics":
        real_write = MetricsLog.write

        def write(self, record):
            if hit():
                line = json.dumps(record) + "\n"
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(line[: len(line) // 2])
                die()
            real_write(self, record)

        MetricsLog.write = write
    else:
        real_finish = train_mod.Learner.finish

        def finish(self, *a, **k):
            if hit():
                die()
            return real_finish(self, *a, **k)

        train_mod.Learner.finish = finish


def _killed_run(cfg, kind: str, kill_at: int) -> None:  # runs in the forked child
    instrument(kind, kill_at, {})
    train(cfg, progress=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, and how many events of each kind it has (counted while it runs)."""
    tmp = tmp_path_factory.mktemp("reference")
    counts: dict = {}
    saved = os.replace, MetricsLog.write, train_mod.Learner.finish
    try:
        for kind in KINDS:
            if kind != "before_replace":  # after_replace counts the same renames
                instrument(kind, None, counts)
        train(tiny(tmp, "whole", *KILL_CFG), progress=False)
    finally:
        os.replace, MetricsLog.write, train_mod.Learner.finish = saved
    counts["before_replace"] = counts["after_replace"]
    root = tmp / "whole"
    return {
        "counts": counts,
        "weights": load_checkpoint(root / "checkpoints/last.pt")["model_state"],
        "vals": [r for r in read_jsonl(root / "metrics.jsonl") if r["kind"] == "val"],
        "train_steps": [r["env_steps"] for r in read_jsonl(root / "metrics.jsonl") if r["kind"] == "train"],
    }


def spread(n: int, k: int) -> list[int]:
    """k event numbers spread over 1..n (all of them when n <= k)."""
    return sorted({int(x) for x in np.linspace(1, n, min(n, k)).round()})


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_a_run_killed_at_any_point_resumes_to_the_uninterrupted_result(kind, reference, tmp_path):
    n = reference["counts"][kind]
    assert n >= 3, reference["counts"]  # the run does have these events to be killed at
    points = spread(n, 6 if kind.endswith("replace") else 3)
    ctx = multiprocessing.get_context("fork")
    for kill_at in points:
        cfg = tiny(tmp_path, f"{kind}_{kill_at}", *KILL_CFG)
        child = ctx.Process(target=_killed_run, args=(cfg, kind, kill_at))
        child.start()
        child.join()
        assert child.exitcode == -signal.SIGKILL, (kind, kill_at, child.exitcode)
        files = RunFiles(Path(cfg.run.outdir))
        resume = files.last.exists()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            summary = train(cfg, resume=resume, progress=False)
        assert summary["env_steps"] == 36, (kind, kill_at)
        weights = load_checkpoint(files.last)["model_state"]
        for name, value in reference["weights"].items():
            assert torch.equal(value, weights[name]), (kind, kill_at, name)
        records = read_jsonl(files.metrics)
        assert [r for r in records if r["kind"] == "val"] == reference["vals"], (kind, kill_at)
        assert [r["env_steps"] for r in records if r["kind"] == "train"] == reference["train_steps"]
        assert not list(files.checkpoints.glob(".*.tmp")), (kind, kill_at)
        assert not previous_replay(files.replay).exists()
        if kind == "torn_metrics" and resume:
            assert any("cut short" in str(w.message) for w in caught)


# --------------------------------------------------------------------------- the pieces, one at a time
def small_replay() -> EpisodeReplay:
    replay = EpisodeReplay(4, (3, 4, 4), steps=2, cells_per_step=1, breaks_channel=2, burnable_channel=1)
    obs = np.zeros((3, 4, 4), dtype=np.float32)
    obs[1] = 1
    replay.start(0, obs)
    return replay


def test_a_replay_records_its_step_and_the_previous_one_stays_until_its_checkpoint(tmp_path):
    path = tmp_path / "replay.npz"
    replay = small_replay()
    replay.save_generation(path, {"env_steps": 12, "grad_steps": 3})
    assert saved_step(path) == {"env_steps": 12, "grad_steps": 3}
    assert not previous_replay(path).exists()
    replay.save_generation(path, {"env_steps": 24, "grad_steps": 9})
    assert saved_step(previous_replay(path)) == {"env_steps": 12, "grad_steps": 3}
    # a kill here: the checkpoint is still the one of step 12, whose replay wins
    with pytest.warns(UserWarning, match="interrupted"):
        assert paired_replay(path, {"env_steps": 12, "grad_steps": 3}) == path
    assert saved_step(path) == {"env_steps": 12, "grad_steps": 3} and not previous_replay(path).exists()
    # the replay now pairs with that checkpoint
    assert paired_replay(path, {"env_steps": 12, "grad_steps": 3}) == path


def test_a_replay_of_another_step_is_a_clear_error(tmp_path):
    path = tmp_path / "replay.npz"
    small_replay().save(path, {"env_steps": 24, "grad_steps": 9})
    with pytest.raises(CheckpointError, match=r"no replay memory .* belongs to the checkpoint of step"):
        paired_replay(path, {"env_steps": 12, "grad_steps": 3})
    small_replay().save(tmp_path / "old.npz")  # an older fuelbreak's file: no step, resumed unchecked
    with pytest.warns(UserWarning, match="records no training step"):
        assert paired_replay(tmp_path / "old.npz", {"env_steps": 12}) == tmp_path / "old.npz"


def test_a_torn_last_line_of_the_metrics_log_is_dropped_with_a_warning(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"kind": "train", "env_steps": 2}\n{"kind": "val", "env_steps": 4}\n{"kind": "tr')
    with pytest.warns(UserWarning, match=r"line 3\) was cut short"):
        records = read_jsonl(log)
    assert [r["env_steps"] for r in records] == [2, 4]
    metrics = MetricsLog(RunFiles(tmp_path), tensorboard=False)
    with pytest.warns(UserWarning, match="cut short"):
        metrics.truncate_after(2)
    assert log.read_text() == '{"kind": "train", "env_steps": 2}\n'
    # damage anywhere else is an error naming the file and the line
    log.write_text('{"kind": "train", "env_steps": 2}\n{"kind": \n{"kind": "val", "env_steps": 4}\n')
    with pytest.raises(InputError, match=r"metrics log .*metrics\.jsonl line 2 is not valid JSON"):
        metrics.truncate_after(2)
