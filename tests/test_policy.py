"""A Q-network as a planner (`fuelbreak.agents.policy`): fast inference and selection change nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fuelbreak.agents.networks import build_model, masked_topk
from fuelbreak.agents.policy import DQNPolicy, best_legal
from fuelbreak.env.observation import CHANNELS


@pytest.mark.parametrize("model_type", ["basic", "enhanced", "dueling"])
def test_q_map_gives_the_networks_own_values(model_type):
    torch.manual_seed(0)
    model = build_model(model_type, len(CHANNELS), width=8).eval()
    policy = DQNPolicy(model, cells_per_step=1)
    obs = np.random.default_rng(0).random((len(CHANNELS), 20, 20)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.as_tensor(obs[None]))[0].numpy()
    got = policy.q_map(obs)
    assert got.shape == (20, 20)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(policy.q_map(obs), got)  # the same call, the same values


@pytest.mark.parametrize("k", [1, 3, 7])
def test_best_legal_takes_the_best_legal_cells_best_first(k):
    rng = np.random.default_rng(k)
    for _ in range(20):
        q = rng.normal(size=(9, 9)).astype(np.float32)
        q.flat[rng.integers(81, size=5)] = 5.0  # ties among the best
        legal = rng.random((9, 9)) < 0.6
        cells = best_legal(q, legal, k)
        want = masked_topk(torch.as_tensor(q.reshape(1, -1)), torch.as_tensor(legal.reshape(1, -1)), k)[0][0]
        assert legal.ravel()[cells].all() and len(set(cells.tolist())) == k
        np.testing.assert_array_equal(q.ravel()[cells], want.numpy())  # the same values, best first
        scores = q.ravel()[cells]
        for a, b, ca, cb in zip(scores[:-1], scores[1:], cells[:-1], cells[1:], strict=True):
            assert a > b or (a == b and ca < cb)


def test_plan_q_gives_q_maps_values_along_a_plan():
    from fuelbreak.env.observation import CHANNEL_INDEX, PLAN_CHANNELS

    torch.manual_seed(0)
    policy = DQNPolicy(build_model("basic", len(CHANNELS), width=8, skip=True).eval(), cells_per_step=1)
    rng = np.random.default_rng(2)
    static = rng.random((len(CHANNELS), 16, 16)).astype(np.float32)
    q_of = policy.plan_q(static)
    for _ in range(3):
        obs = static.copy()
        obs[[*PLAN_CHANNELS, CHANNEL_INDEX["breaks"]]] = rng.random((3, 16, 16))
        np.testing.assert_allclose(q_of(obs), policy.q_map(obs), rtol=1e-5, atol=1e-5)


def test_plan_q_of_a_network_that_reads_no_plan_channel_is_q_map():
    torch.manual_seed(0)
    model = build_model("basic", len(CHANNELS), width=8, skip=True, inputs=["burnable", "slope"]).eval()
    policy = DQNPolicy(model, cells_per_step=1)
    obs = np.random.default_rng(3).random((len(CHANNELS), 10, 10)).astype(np.float32)
    np.testing.assert_array_equal(policy.plan_q(obs)(obs), policy.q_map(obs))


def test_a_copy_of_a_policy_reuses_the_graphs_traced_for_its_weights_and_only_those():
    """A policy sent to a worker arrives without its traced graphs; a copy with the same weights
    takes them from the process's cache (same values), one with other weights traces its own."""
    import pickle

    import fuelbreak.agents.policy as policy_module

    torch.manual_seed(0)
    policy = DQNPolicy(build_model("basic", len(CHANNELS), width=8).eval(), cells_per_step=1)
    obs = np.random.default_rng(0).random((len(CHANNELS), 12, 12)).astype(np.float32)
    want = policy.q_map(obs)
    copy = pickle.loads(pickle.dumps(policy))
    assert not copy._frozen  # nothing traced travels with it
    np.testing.assert_array_equal(copy.q_map(obs), want)
    assert copy._frozen[(1, *obs.shape)] is policy._frozen[(1, *obs.shape)]
    other = pickle.loads(pickle.dumps(policy))
    with torch.no_grad():
        next(other.model.parameters()).add_(0.5)  # other weights, before anything is traced
    assert not np.allclose(other.q_map(obs), want)
    assert other._frozen[(1, *obs.shape)] is not policy._frozen[(1, *obs.shape)]
    assert len(policy_module._TRACED) <= policy_module.TRACED_KEPT
