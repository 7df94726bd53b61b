"""The DQN learner and training loop: learning on a fixed problem, masks, checkpoints, exact resume, stops."""

import copy
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import fuelbreak
import fuelbreak.agents.shipped
from fuelbreak.agents.checkpoint import Checkpoint, load_checkpoint, policy_payload
from fuelbreak.agents.config import load_config
from fuelbreak.agents.dqn import select_cells, soft_update, td_loss, td_targets
from fuelbreak.agents.episode_replay import Batch
from fuelbreak.agents.networks import build_model
from fuelbreak.agents.train import Learner, State, train
from fuelbreak.errors import CheckpointError, ConfigError

TINY = [
    "env.tile_size=16",
    "env.synthetic_tiles=12",
    "env.budget_fraction=0.06",  # 15 cells: 3 steps of 5
    "env.cells_per_step=5",
    "env.n_ignitions=4",
    "env.bp_fires=8",
    "model.hparams.width=8",
    "dqn.batch_size=8",
    "dqn.buffer_size=300",
    "dqn.learning_starts=6",
    "dqn.train_freq=2",
    "dqn.target_update_interval=5",
    "dqn.epsilon_decay_steps=40",
    "dqn.demonstrations=2",
    "dqn.demo_method=tree_greedy",  # a fast teacher: the tests check the loop, not the teacher
    "dqn.pretrain_steps=4",
    "run.n_envs=2",
    "run.executor=serial",
    "run.validation_interval=12",
    "run.validation_episodes=2",
    "run.validation_fires=8",
    "run.checkpoint_interval=12",
    "run.torch_threads=1",
    "run.time_limit_s=0",
]


def tiny(tmp_path, name="run", *extra):
    return load_config(
        None,
        [*TINY, f"run.outdir={tmp_path / name}", f"dqn.demo_cache={tmp_path / 'demos'}", "dqn.demo_options.n_fires=8", *extra],
    )


def test_loss_falls_on_a_tiny_fixed_problem():
    torch.manual_seed(0)
    model = build_model("basic", 3, width=8)
    target = copy.deepcopy(model)
    rng = np.random.default_rng(0)
    obs = rng.random((16, 3, 6, 6)).astype(np.float32)
    actions = rng.integers(0, 36, (16, 2))
    batch = Batch(
        obs, actions, rng.random(16).astype(np.float32) * 3, obs, np.ones((16, 36), bool),
        np.zeros(16, np.float32), np.ones(16, np.float32), np.arange(16),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = td_loss(model, target, batch, k=2)[0].item()
    for _ in range(200):
        loss, _ = td_loss(model, target, batch, k=2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


class FixedBatches:
    """A replay that hands out given batches in turn (what `Learner` needs of one)."""

    def __init__(self, batches):
        self.batches, self.n = batches, 0

    def __len__(self):
        return 100

    def sample(self, batch_size, beta):
        self.n += 1
        return self.batches[self.n - 1]


def fixed_batches(n, k=2):
    rng = np.random.default_rng(3)
    out = []
    for _ in range(n):
        obs = rng.random((8, 3, 6, 6)).astype(np.float32)
        nxt = rng.random((8, 3, 6, 6)).astype(np.float32)
        legal = rng.random((8, 36)) < 0.8
        actions = np.stack([rng.choice(np.flatnonzero(m), k, replace=False) for m in legal])
        demo = np.arange(8) < 3  # three demonstrations: the margin loss's picks are lagged too
        out.append(Batch(obs, actions, rng.random(8).astype(np.float32), nxt, rng.random((8, 36)) < 0.8,
                         np.full(8, 0.9, np.float32), np.ones(8, np.float32), np.arange(8), demo, legal))  # fmt: skip
    return out


def test_the_learner_overlaps_each_loss_with_the_next_steps_targets_made_one_step_earlier(tmp_path):
    """finish() starts the next step's targets with the online and target weights from before
    this step (a copy: the update does not race with them; a target update waits for them)."""
    cfg = tiny(tmp_path, "learner", "dqn.target_update_interval=2", "env.cells_per_step=2")
    torch.manual_seed(0)
    model = build_model("basic", 3, width=8, skip=True)
    reference = copy.deepcopy(model)
    batches = fixed_batches(4)
    learner = Learner(cfg, model, FixedBatches(batches), State())
    learner.begin()
    for j in range(4):
        learner.finish(then_begin=j < 3)
    learner.close()
    assert learner.state.grad_steps == 4

    d = cfg.dqn
    online, target = reference, copy.deepcopy(reference)
    opt = torch.optim.Adam(online.parameters(), lr=d.lr, eps=d.adam_eps)
    targets = td_targets(online, target, batches[0], 2, d.double, d.demo_margin, d.demo_weight)
    for j, batch in enumerate(batches):
        # the next step's targets: from the online and target weights before this step
        following = (
            td_targets(
                copy.deepcopy(online), target, batches[j + 1], 2, d.double, d.demo_margin, d.demo_weight
            )
            if j + 1 < len(batches)
            else None
        )
        loss, _ = td_loss(online, target, batch, 2, d.double, d.huber, d.demo_margin, d.demo_weight, targets)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(online.parameters(), d.grad_clip)
        opt.step()
        if (j + 1) % 2 == 0:
            soft_update(target, online, d.tau)
        targets = following
    for a, b in zip(learner.model.parameters(), online.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(learner.target.parameters(), target.parameters(), strict=True):
        assert torch.equal(a, b)
    # and the lag is real: the same steps with targets from the current weights end elsewhere
    fresh = copy.deepcopy(reference)
    exact = Learner(cfg, fresh, FixedBatches(batches), State())
    for _ in range(4):
        exact.step()
    exact.close()
    assert not all(
        torch.equal(a, b) for a, b in zip(exact.model.parameters(), online.parameters(), strict=True)
    )


def test_learner_begin_and_finish_out_of_turn_are_errors(tmp_path):
    learner = Learner(
        tiny(tmp_path, "turns"),
        build_model("basic", 3, width=8),
        FixedBatches(fixed_batches(2, k=5)),
        State(),
    )
    with pytest.raises(RuntimeError, match="without begin"):
        learner.finish()
    learner.begin()
    with pytest.raises(RuntimeError, match="twice"):
        learner.begin()
    learner.close()


def test_a_checkpoint_with_a_malformed_step_in_flight_is_a_checkpoint_error(tmp_path):
    cfg = tiny(tmp_path, "bad")
    learner = Learner(cfg, build_model("basic", 3, width=8), FixedBatches(fixed_batches(2, k=5)), State())
    learner.begin()
    learner.finish()
    data = {
        "model_state": learner.model.state_dict(),
        "target_state": learner.target.state_dict(),
        "optimizer_state": learner.opt.state_dict(),
        "extra": {"in_flight": {**learner.in_flight_state(), "batch": {"obs": torch.zeros(1)}}},
    }
    learner.close()
    fresh = Learner(cfg, build_model("basic", 3, width=8), FixedBatches(fixed_batches(2, k=5)), State())
    with pytest.raises(CheckpointError, match="last.pt cannot resume"):
        fresh.restore(Checkpoint(tmp_path / "last.pt", data))
    fresh.close()


def test_acting_never_selects_an_illegal_cell():
    model = build_model("dueling", 3)
    rng = np.random.default_rng(1)
    for epsilon in (0.0, 0.5, 1.0):
        for _ in range(20):
            masks = rng.random((3, 64)) < 0.3
            masks[:, :5] = True
            cells = select_cells(model, rng.random((3, 3, 8, 8)).astype(np.float32), masks, 5, epsilon, rng)
            for m, c in zip(masks, cells, strict=True):
                assert m[c].all() and len(set(c.tolist())) == 5


@pytest.mark.slow
def test_training_writes_the_run_and_picks_best_by_validation(tmp_path):
    cfg = tiny(tmp_path, "run", "run.total_env_steps=36")
    summary = train(cfg, progress=False)
    root = tmp_path / "run"
    assert summary["env_steps"] == 36 and summary["grad_steps"] > 0
    assert json.loads((root / "summary.json").read_text())["fuelbreak_version"] == fuelbreak.__version__
    machine = json.loads((root / "summary.json").read_text())["machine"]
    assert machine["torch"] == torch.__version__ and machine["cpu"]["model"] and machine["torch_threads"] >= 1
    for name in (
        "config.toml",
        "metrics.jsonl",
        "summary.json",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
    ):
        assert (root / name).exists(), name
    assert list((root / "tb").iterdir())
    lines = [json.loads(x) for x in (root / "metrics.jsonl").read_text().splitlines()]
    vals = [x for x in lines if x["kind"] == "val"]
    assert vals and all(x["val_reduction_random"] is not None for x in vals)
    # every validation_interval (12) from the first step, and once more on the final weights
    assert [x["env_steps"] for x in vals] == [2, 14, 26, 36]
    best = max(vals, key=lambda x: x["val_reduction"])
    assert load_checkpoint(root / "checkpoints/best.pt").counters["env_steps"] == best["env_steps"]
    # last.pt holds the gradient step in flight (to resume exactly); best.pt and policies do not
    last = load_checkpoint(root / "checkpoints/last.pt")
    assert set(last["extra"]["in_flight"]) == {"batch", "chooser"}
    assert "in_flight" not in load_checkpoint(root / "checkpoints/best.pt")["extra"]
    assert "in_flight" not in policy_payload(last)["extra"]["source_extra"]
    with pytest.raises(ConfigError, match="--resume"):
        train(cfg, progress=False)


@pytest.mark.slow
def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    whole = train(tiny(tmp_path, "whole", "run.total_env_steps=48"), progress=False)
    train(tiny(tmp_path, "parts", "run.total_env_steps=24"), progress=False)
    resumed = train(tiny(tmp_path, "parts", "run.total_env_steps=48"), resume=True, progress=False)
    assert resumed["env_steps"] == whole["env_steps"] == 48
    assert resumed["grad_steps"] == whole["grad_steps"]
    a = load_checkpoint(tmp_path / "whole/checkpoints/last.pt")
    b = load_checkpoint(tmp_path / "parts/checkpoints/last.pt")
    for key, value in a["model_state"].items():
        assert torch.equal(value, b["model_state"][key]), key
    # the logs agree too: the resumed run logged the same validation scores
    vals = lambda run: [  # noqa: E731
        json.loads(x)["val_reduction"]
        for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        if '"val"' in x
    ]
    assert vals("whole") == pytest.approx(vals("parts"))


def test_a_run_started_from_a_checkpoint_begins_with_its_weights_and_zero_for_new_channels(tmp_path):
    old = train(tiny(tmp_path, "old", "run.total_env_steps=12"), progress=False)  # the 16 base channels
    assert old["env_steps"] == 12
    start = tmp_path / "old" / "checkpoints" / "last.pt"
    saved = load_checkpoint(start)["model_state"]
    extra = ["env.planner_channels=true", f"dqn.init={start}", "dqn.demonstrations=0", "dqn.learning_starts=1000"]
    summary = train(tiny(tmp_path, "warm", "run.total_env_steps=6", *extra), progress=False)
    assert summary["grad_steps"] == 0 and summary["init_sha256"] == fuelbreak.agents.shipped.sha256_of(start)
    warm = load_checkpoint(tmp_path / "warm" / "checkpoints" / "last.pt")
    assert len(warm.obs_channels) == 20
    for name, tensor in warm["model_state"].items():
        same = tensor[:, :16] if tensor.shape != saved[name].shape else tensor
        torch.testing.assert_close(same, saved[name], rtol=0, atol=0, msg=name)
        if tensor.shape != saved[name].shape:  # the input layers: the four planner channels start at zero
            assert tensor.shape[1] == 20 and (tensor[:, 16:] == 0).all(), name
    with pytest.raises(CheckpointError, match="hyper-parameters"):
        train(tiny(tmp_path, "wide", "run.total_env_steps=6", "model.hparams.width=4", *extra), progress=False)
    with pytest.raises(CheckpointError, match="does not exist"):
        train(tiny(tmp_path, "gone", "dqn.init=" + str(tmp_path / "none.pt")), progress=False)
    assert not (tmp_path / "gone").exists()  # refused before the run folder was made


def test_resume_without_a_checkpoint_is_an_error(tmp_path):
    with pytest.raises(CheckpointError, match="last.pt"):
        train(tiny(tmp_path, "none"), resume=True, progress=False)


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_stops_cleanly(tmp_path, monkeypatch):
    """Ctrl-C once the run has recorded 12 steps (a state, not a moment): the step in progress
    finishes, a checkpoint is saved and the run returns."""
    import fuelbreak.agents.train as train_mod

    record = train_mod.Run.record

    def record_then_interrupt(self, *args):
        record(self, *args)
        if self.state.env_steps == 12:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(train_mod.Run, "record", record_then_interrupt)
    cfg = tiny(tmp_path, "stop", "run.total_env_steps=100000")
    summary = train(cfg, progress=False)
    assert summary["stopped_early"] and summary["env_steps"] == 12
    ckpt = load_checkpoint(tmp_path / "stop/checkpoints/last.pt")
    assert ckpt.counters["env_steps"] == summary["env_steps"]


@pytest.mark.slow
def test_supervisor_resumes_a_killed_run(tmp_path):
    """The training process is killed with SIGKILL mid-run; the supervisor resumes it to the end."""
    import psutil

    out = tmp_path / "sup"
    args = [sys.executable, "-m", "fuelbreak", "train", "--supervise", "--quiet", "--outdir", str(out)]
    args += [*TINY, "run.total_env_steps=160", "run.checkpoint_interval=12"]
    sup = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoints/last.pt").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (out / "checkpoints/last.pt").exists()
        trainer = psutil.Process(sup.pid).children()[0]
        trainer.kill()
        output, _ = sup.communicate(timeout=240)
    finally:
        if sup.poll() is None:
            sup.kill()
    assert sup.returncode == 0, output
    assert "exited with code -9" in output and "resuming" in output
    assert json.loads((out / "summary.json").read_text())["env_steps"] == 160


def test_the_demonstration_margin_makes_the_demonstrated_cells_the_greedy_choice():
    torch.manual_seed(0)
    model = build_model("basic", 3, width=8)
    target = copy.deepcopy(model)
    rng = np.random.default_rng(0)
    obs = rng.random((8, 3, 6, 6)).astype(np.float32)
    demo_cells = np.stack([rng.choice(36, 2, replace=False) for _ in range(8)])
    obs[:, 0] = 0.0
    for i, cells in enumerate(demo_cells):
        obs[i, 0].flat[cells] = 1.0  # the demonstrator picks the cells a feature marks
    batch = Batch(
        obs, demo_cells, np.zeros(8, np.float32), obs, np.ones((8, 36), bool),
        np.zeros(8, np.float32), np.ones(8, np.float32), np.arange(8),
        demo=np.ones(8, bool), legal=np.ones((8, 36), bool),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss, _ = td_loss(model, target, batch, k=2, demo_margin=0.5, demo_weight=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    chosen = select_cells(model, obs, np.ones((8, 36), bool), 2, 0.0, rng)
    assert all(set(c) == set(d) for c, d in zip(chosen.tolist(), demo_cells.tolist(), strict=True))


def test_device_option_trains_on_the_cpu_and_refuses_a_missing_gpu(tmp_path, monkeypatch):
    from fuelbreak.agents.train import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="run.device = 'cuda'.*no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="run.device"):
        load_config(None, ["run.device=tpu"])
    cfg = tiny(tmp_path, "cpu", "run.device=cpu", "run.total_env_steps=12")
    summary = train(cfg, progress=False)
    assert summary["env_steps"] == 12 and summary["grad_steps"] > 0
    with pytest.raises(ConfigError, match="no CUDA device"):
        train(tiny(tmp_path, "cuda", "run.device=cuda", "run.total_env_steps=12"), progress=False)


def test_the_same_seed_gives_the_same_weights(tmp_path):
    """Training is deterministic on one machine: what makes the shipped policy reproducible."""
    a = train(tiny(tmp_path, "a", "run.total_env_steps=24"), progress=False)
    b = train(tiny(tmp_path, "b", "run.total_env_steps=24"), progress=False)
    wa = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["model_state"]
    wb = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["model_state"]
    assert a["grad_steps"] == b["grad_steps"] > 0
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name


class _WholeMaps(torch.nn.Module):
    """A network's whole maps with no reach: td_loss's reference path, on the same parameters."""

    reach = None

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, obs, mask=None):
        return self.model(obs, mask)

    def q_at(self, obs, cells):
        return self(obs).flatten(1).gather(1, cells)


@pytest.mark.parametrize(("k", "double", "demo_weight"), [(1, True, 1.0), (2, True, 1.0), (1, False, 1.0), (2, True, 0.0), (1, False, 0.0)])
def test_the_loss_from_windows_equals_the_loss_from_whole_maps(k, double, demo_weight):
    """A network with a finite reach takes its loss from windows around the cells that matter; the
    loss, its TD errors and its gradients must be the whole maps' (demonstrations, masks, ends)."""
    torch.manual_seed(0)
    model = build_model("basic", 5, width=6, skip=True)
    target = copy.deepcopy(model)
    for p in target.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    rng = np.random.default_rng(3)
    b, h, w = 10, 11, 14
    obs, next_obs = (rng.random((b, 5, h, w)).astype(np.float32) for _ in range(2))
    legal = rng.random((b, h * w)) < 0.7
    next_mask = rng.random((b, h * w)) < 0.6
    next_mask[0] = False  # an episode's end: no legal cell left
    actions = np.stack([rng.choice(np.flatnonzero(row), k, replace=False) for row in legal])
    discounts = np.where(rng.random(b) < 0.3, 0.0, 0.95).astype(np.float32)
    demo = np.arange(b) % 3 == 0
    batch = Batch(
        obs, actions, rng.random(b).astype(np.float32), next_obs, next_mask, discounts,
        rng.random(b).astype(np.float32) + 0.5, np.arange(b), demo=demo, legal=legal,
    )  # fmt: skip
    results = []
    for online, tgt in ((model, target), (_WholeMaps(model), _WholeMaps(target))):
        model.zero_grad()
        loss, td = td_loss(online, tgt, batch, k, double, demo_margin=0.3, demo_weight=demo_weight)
        loss.backward()
        results.append((loss.detach(), td, [p.grad.clone() for p in model.parameters()]))
    (loss, td, grads), (ref_loss, ref_td, ref_grads) = results
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(td, ref_td, rtol=1e-5, atol=1e-6)
    for g, ref in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, ref, rtol=1e-4, atol=1e-6)


def test_validation_on_one_thread_per_environment_scores_as_one_environment_in_turn(tmp_path):
    """`validate` plays every n-th episode on each of n environments, on its own thread: the scores
    (and so the choice of best.pt) must be those of one environment playing them all in turn."""
    from fuelbreak.agents.train import env_kwargs, obs_channels, validate, validation_episodes
    from fuelbreak.env.fuelbreak_env import FuelBreakEnv

    cfg = tiny(tmp_path)
    kwargs = {**env_kwargs(cfg, "val"), "n_ignitions": 8}
    torch.manual_seed(0)
    model = build_model("basic", len(obs_channels(cfg)), width=8, skip=True)
    episodes = validation_episodes(FuelBreakEnv(**kwargs), 5)
    alone = validate(model, [FuelBreakEnv(**kwargs)], episodes, 5)
    threads = validate(model, [FuelBreakEnv(**kwargs) for _ in range(3)], episodes, 5)
    assert threads == alone and 0 < alone < 1
    assert model.training  # validation leaves the model as it found it
