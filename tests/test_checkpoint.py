"""Checkpoints: exact round trip, atomic writes, and files that are refused with a clear error."""

from __future__ import annotations

import copy
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from fuelbreak.agents.checkpoint import (
    capture_rng_state,
    check_channels,
    load_checkpoint,
    make_payload,
    model_from_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from fuelbreak.agents.config import TrainConfig
from fuelbreak.agents.networks import build_model
from fuelbreak.errors import CheckpointError

CHANNELS = ["dem", "slp", "fbfm", "burn_prob"]


def training_state(model_type="basic", seed=0, **hparams):
    torch.manual_seed(seed)
    model = build_model(model_type, len(CHANNELS), **hparams)
    target = copy.deepcopy(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):  # give the optimiser some state
        opt.zero_grad()
        model(torch.randn(2, len(CHANNELS), 7, 9)).square().mean().backward()
        opt.step()
    return model, target, opt


def payload_for(model, target, opt, env_steps=100, generators=None):
    return make_payload(
        model=model,
        target=target,
        optimizer=opt,
        obs_channels=CHANNELS,
        counters={"env_steps": env_steps, "grad_steps": 25, "episodes": 4},
        config=TrainConfig().to_dict(),
        rng_state=capture_rng_state(generators),
        extra={"best_reduction": 0.25},
    )


@pytest.mark.parametrize(
    ("model_type", "hparams"),
    [
        ("basic", {"width": 8}),
        ("enhanced", {"width": 8, "dilations": [1, 2]}),
        ("dueling", {"head_width": 8}),
    ],
)
def test_round_trip_rebuilds_the_model_and_optimiser(tmp_path, model_type, hparams):
    model, target, opt = training_state(model_type, **hparams)
    with torch.no_grad():
        for p in target.parameters():
            p.add_(0.5)  # the target differs from the online net
    path = save_checkpoint(tmp_path / "ckpt" / "last.pt", payload_for(model, target, opt))
    ckpt = load_checkpoint(path, expected_model_type=model_type)
    assert ckpt.model_type == model_type and ckpt.obs_channels == CHANNELS
    assert ckpt.counters == {"env_steps": 100, "grad_steps": 25, "episodes": 4}
    assert ckpt["config"] == TrainConfig().to_dict() and ckpt["extra"] == {"best_reduction": 0.25}

    x = torch.randn(3, len(CHANNELS), 11, 6)
    loaded, loaded_target = model_from_checkpoint(ckpt), model_from_checkpoint(ckpt, "target")
    assert type(loaded) is type(model) and loaded.hparams == model.hparams
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
        assert torch.equal(loaded_target(x), target(x))

    opt2 = torch.optim.Adam(loaded.parameters(), lr=1e-3)
    opt2.load_state_dict(ckpt["optimizer_state"])
    for m, o in ((model, opt), (loaded, opt2)):  # one more identical step on each
        o.zero_grad()
        m(x).square().mean().backward()
        o.step()
    for a, b in zip(model.parameters(), loaded.parameters(), strict=True):
        assert torch.equal(a, b)


def test_rng_states_are_restored_so_the_next_numbers_match(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    gen = np.random.default_rng(4)
    model, target, opt = training_state()
    save_checkpoint(tmp_path / "a.pt", payload_for(model, target, opt, generators={"env": gen}))

    def draw():
        return (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist(), gen.random(3).tolist())

    first = draw()
    draw()  # move every generator on
    restore_rng_state(load_checkpoint(tmp_path / "a.pt")["rng_state"], {"env": gen})
    assert draw() == first
    with pytest.raises(CheckpointError, match="no generator 'other'"):
        restore_rng_state(load_checkpoint(tmp_path / "a.pt")["rng_state"], {"other": gen})


def _save_two_versions_with_crash(tmp_path, monkeypatch, crash):
    model, target, opt = training_state()
    path = save_checkpoint(tmp_path / "last.pt", payload_for(model, target, opt, env_steps=1))
    crash(monkeypatch)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(path, payload_for(model, target, opt, env_steps=2))
    monkeypatch.undo()
    return path


def test_crash_at_replace_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    def crash(mp):
        def boom(*args, **kwargs):
            raise OSError("simulated crash before rename")

        mp.setattr(os, "replace", boom)

    path = _save_two_versions_with_crash(tmp_path, monkeypatch, crash)
    assert load_checkpoint(path).counters["env_steps"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temp file left behind


def test_crash_mid_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    real_save = torch.save

    def crash(mp):
        def half_write(obj, f, *args, **kwargs):
            real_save(obj, f, *args, **kwargs)
            f.seek(f.tell() // 2)
            f.truncate()
            raise OSError("simulated crash mid-write")

        mp.setattr(torch, "save", half_write)

    path = _save_two_versions_with_crash(tmp_path, monkeypatch, crash)
    assert load_checkpoint(path).counters["env_steps"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


EXECUTED = []


def _side_effect():
    EXECUTED.append(True)
    return "ran"


class Payload:
    """An arbitrary object; unpickling it would call _side_effect."""

    def __reduce__(self):
        return (_side_effect, ())


def test_a_file_with_a_pickled_object_is_refused_without_running_it(tmp_path):
    model, target, opt = training_state()
    payload = payload_for(model, target, opt)
    payload["extra"] = {"gift": Payload()}
    path = tmp_path / "evil.pt"
    torch.save(payload, path)  # written by hand: save_checkpoint would refuse it
    with pytest.raises(CheckpointError, match=r"evil\.pt was refused: it holds a pickled object"):
        load_checkpoint(path)
    assert EXECUTED == []


def test_save_refuses_what_load_would_refuse(tmp_path):
    model, target, opt = training_state()
    payload = payload_for(model, target, opt)
    payload["config"]["run"]["outdir"] = Path("runs/x")
    with pytest.raises(CheckpointError, match=r"config\.run\.outdir is a pathlib.*PosixPath"):
        save_checkpoint(tmp_path / "x.pt", payload)
    payload["config"]["run"]["outdir"] = "runs/x"
    payload["extra"] = {"array": np.zeros(3)}
    with pytest.raises(CheckpointError, match=r"extra\.array is a numpy\.ndarray"):
        save_checkpoint(tmp_path / "x.pt", payload)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("damage", ["truncate", "empty", *(f"garbage{seed}" for seed in range(40))])
def test_a_corrupt_file_is_refused(tmp_path, damage):
    """Any damage is a CheckpointError naming the file; random bytes reach many unpickler paths."""
    model, target, opt = training_state()
    path = save_checkpoint(tmp_path / "c.pt", payload_for(model, target, opt))
    data = path.read_bytes()
    if damage.startswith("garbage"):
        content = np.random.default_rng(int(damage[7:])).bytes(500)
    else:
        content = {"truncate": data[: len(data) // 2], "empty": b""}[damage]
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"c\.pt (is corrupt or truncated|was refused)"):
        load_checkpoint(path)


def test_missing_file_and_missing_keys(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    model, target, opt = training_state()
    payload = payload_for(model, target, opt)
    del payload["optimizer_state"], payload["rng_state"]
    torch.save(payload, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match=r"partial\.pt is missing optimizer_state, rng_state"):
        load_checkpoint(tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="is missing optimizer_state"):
        save_checkpoint(tmp_path / "p2.pt", payload)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="holds a list"):
        load_checkpoint(tmp_path / "list.pt")


def test_model_type_mismatch_names_both(tmp_path):
    model, target, opt = training_state("basic")
    path = save_checkpoint(tmp_path / "basic.pt", payload_for(model, target, opt))
    with pytest.raises(CheckpointError, match=r"basic\.pt holds a 'basic' model, but model type 'dueling'"):
        load_checkpoint(path, expected_model_type="dueling")


def test_newer_format_and_bad_weights_are_refused(tmp_path):
    model, target, opt = training_state("basic")
    payload = payload_for(model, target, opt)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(tmp_path / "new.pt")
    payload = payload_for(model, target, opt)
    payload["model_hparams"]["width"] = 4  # weights no longer fit the architecture
    path = save_checkpoint(tmp_path / "w.pt", payload)
    with pytest.raises(CheckpointError, match=r"w\.pt: cannot rebuild its 'basic' model"):
        model_from_checkpoint(load_checkpoint(path))


def test_channel_mismatch_is_explained(tmp_path):
    model, target, opt = training_state()
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "k.pt", payload_for(model, target, opt)))
    check_channels(ckpt, list(CHANNELS))
    with pytest.raises(
        CheckpointError, match=r"checkpoint only: \['burn_prob'\]; environment only: \['cc'\]"
    ):
        check_channels(ckpt, ["dem", "slp", "fbfm", "cc"])
    with pytest.raises(CheckpointError, match="same channels in another order"):
        check_channels(ckpt, list(reversed(CHANNELS)))
