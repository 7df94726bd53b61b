"""Replay: exact n-step returns from per-env streams, episode ends, invalid steps, memory, sampling."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from fuelbreak.agents.replay import PrioritizedReplayBuffer, ReplayBuffer, SumTree

SHAPE = (2, 3, 4)  # C, H, W
N = 12
ALL = np.ones(N, dtype=bool)


def ob(tag: float) -> np.ndarray:
    """An observation that carries its identity in every cell."""
    return np.full(SHAPE, tag, dtype=np.float32)


def run_episode(buf, env, tags, rewards, end="terminated", actions=None):
    """Push the steps tags[0] -> tags[1] -> ... with the given rewards; the last step ends as `end`."""
    for i, r in enumerate(rewards):
        last = i == len(rewards) - 1
        a = actions[i] if actions is not None else i % N
        buf.push(
            env,
            ob(tags[i]),
            ALL,
            a,
            r,
            ob(tags[i + 1]),
            ALL,
            terminated=last and end == "terminated",
            truncated=last and end == "truncated",
        )


def table(buf, draws=400):
    """Every stored transition, keyed by the identity of its observation."""
    b = buf.sample(draws)
    out = {}
    for i in range(draws):
        key = float(b.obs[i, 0, 0, 0])
        row = (
            float(b.returns[i]),
            float(b.discounts[i]),
            float(b.next_obs[i, 0, 0, 0]),
            b.actions[i].tolist(),
        )
        assert out.setdefault(key, row) == row
    return out


def test_n_step_returns_on_a_terminated_episode():
    buf = ReplayBuffer(100, SHAPE, n_step=3, gamma=0.5, seed=0)
    run_episode(buf, 0, [0, 1, 2, 3, 4], [1.0, 2.0, 4.0, 8.0])
    assert len(buf) == 4
    assert table(buf) == {
        0.0: (1 + 0.5 * 2 + 0.25 * 4, 0.125, 3.0, [0]),  # full 3-step return, bootstraps from s3
        1.0: (2 + 0.5 * 4 + 0.25 * 8, 0.0, 4.0, [1]),  # the episode ends: no bootstrap
        2.0: (4 + 0.5 * 8, 0.0, 4.0, [2]),
        3.0: (8.0, 0.0, 4.0, [3]),
    }


def test_truncated_episode_bootstraps_from_its_last_observation_only():
    buf = ReplayBuffer(100, SHAPE, n_step=3, gamma=0.5, seed=0)
    run_episode(buf, 0, [0, 1, 2, 3, 4], [1.0, 2.0, 4.0, 8.0], end="truncated")
    run_episode(buf, 0, [10, 11, 12], [100.0, 200.0])  # the next episode on the same env
    t = table(buf)
    assert t[1.0] == (6.0, 0.125, 4.0, [1])
    assert t[2.0] == (8.0, 0.25, 4.0, [2])
    assert t[3.0] == (8.0, 0.5, 4.0, [3])
    assert t[10.0] == (200.0, 0.0, 12.0, [0])
    assert t[11.0] == (200.0, 0.0, 12.0, [1])


def test_streams_of_several_envs_never_mix():
    buf = ReplayBuffer(100, SHAPE, n_envs=2, n_step=2, gamma=1.0, seed=0)
    # interleave env 0 (tags 0..3, rewards 1) and env 1 (tags 20..23, rewards 10)
    for i in range(3):
        for env, base, r in ((0, 0, 1.0), (1, 20, 10.0)):
            done = i == 2
            buf.push(env, ob(base + i), ALL, i, r, ob(base + i + 1), ALL, terminated=done)
    t = table(buf)
    assert t[0.0] == (2.0, 1.0, 2.0, [0]) and t[2.0] == (1.0, 0.0, 3.0, [2])
    assert t[20.0] == (20.0, 1.0, 22.0, [0]) and t[22.0] == (10.0, 0.0, 23.0, [2])
    assert len(buf) == 6


def test_invalid_step_is_never_stored_and_cuts_the_stream():
    buf = ReplayBuffer(100, SHAPE, n_step=3, gamma=0.5, seed=0)
    buf.push(0, ob(0), ALL, 0, 1.0, ob(1), ALL, terminated=False)
    buf.push(0, ob(1), ALL, 1, 2.0, ob(2), ALL, terminated=False)
    assert buf.push(0, ob(2), ALL, 2, 999.0, ob(3), ALL, terminated=False, invalid=True) == 2
    buf.push(0, ob(50), ALL, 3, 4.0, ob(51), ALL, terminated=True)  # a fresh episode may follow
    t = table(buf)
    assert set(t) == {0.0, 1.0, 50.0}
    assert t[0.0] == (2.0, 0.25, 2.0, [0])  # bootstraps from the last valid observation
    assert t[1.0] == (2.0, 0.5, 2.0, [1])
    assert all(row[0] < 999 for row in t.values())


def test_a_broken_stream_is_an_error():
    buf = ReplayBuffer(10, SHAPE, n_step=2)
    buf.push(0, ob(0), ALL, 0, 1.0, ob(1), ALL, terminated=False)
    with pytest.raises(ValueError, match="does not continue its stream"):
        buf.push(0, ob(7), ALL, 0, 1.0, ob(8), ALL, terminated=False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(action=N), "outside"),
        (dict(action=[1, 2]), "must have 1 cell"),
        (dict(action_mask=np.arange(N) != 3, action=3), "forbids"),
        (dict(next_action_mask=np.zeros(N, dtype=bool)), "no legal cell"),
        (dict(obs=ob(1e5)), "float16 range"),
        (dict(obs=np.zeros((2, 3, 5), np.float32)), "shape"),
        (dict(next_obs=ob(np.nan)), "NaN"),
        (dict(reward=float("inf")), "not finite"),
        (dict(env_index=2), "env_index 2"),
        (dict(action_mask=np.ones(N, dtype=np.uint8)), "must be bool"),
    ],
)
def test_bad_steps_are_refused(kwargs, match):
    buf = ReplayBuffer(10, SHAPE, n_envs=2)
    step = dict(
        env_index=0, obs=ob(0), action_mask=ALL, action=0, reward=1.0, next_obs=ob(1), next_action_mask=ALL
    )
    step.update(kwargs)
    with pytest.raises(ValueError, match=match):
        buf.push(**step, terminated=False)
    assert len(buf) == 0


def test_capacity_wraparound_keeps_the_newest_and_frees_slots():
    buf = ReplayBuffer(5, SHAPE, n_step=1, gamma=0.9, seed=0)
    run_episode(buf, 0, list(range(13)), [float(i) for i in range(12)], end="truncated")
    assert len(buf) == 5
    assert sorted(table(buf)) == [7.0, 8.0, 9.0, 10.0, 11.0]
    # six observations (7..12) are still referenced; every other slot is free again
    assert len(buf._free) == buf.obs_slots - 6


def test_obs_pool_pressure_evicts_oldest_and_keeps_every_transition_consistent():
    """With a tiny observation pool and many short episodes, transitions stay whole and exact."""
    gamma = 0.5
    buf = ReplayBuffer(40, SHAPE, n_envs=3, n_step=3, gamma=gamma, obs_slots=25, obs_dtype="float32", seed=1)
    rng = np.random.default_rng(0)
    tag = [0, 100000, 200000]
    for _ in range(400):
        env = int(rng.integers(3))
        end = rng.random()
        t = tag[env]
        terminated, truncated = bool(end < 0.1), bool(end > 0.95)
        buf.push(env, ob(t), ALL, t % N, 1.0, ob(t + 1), ALL, terminated=terminated, truncated=truncated)
        tag[env] = (t // 100 + 1) * 100 if terminated or truncated else t + 1  # a new episode's tags
    assert 0 < len(buf) < 40  # the small pool, not the ring, limited the buffer
    b = buf.sample(200)
    for i in range(200):
        o, nxt, disc, ret = (
            float(b.obs[i, 0, 0, 0]),
            float(b.next_obs[i, 0, 0, 0]),
            float(b.discounts[i]),
            float(b.returns[i]),
        )
        m = int(round(nxt - o))  # steps from obs to the bootstrap observation
        assert 1 <= m <= 3
        assert ret == pytest.approx(sum(gamma**j for j in range(m)))
        assert disc in (0.0, pytest.approx(gamma**m))
        assert b.actions[i].tolist() == [int(o) % N]
    refs = buf._refs.sum()
    pending = sum(len(s.pending) + (s.last_slot is not None) for s in buf._streams)
    assert refs == 2 * len(buf) + pending
    assert len(buf._free) == int((buf._refs == 0).sum())


def test_several_cells_per_step_are_stored_as_arrays():
    buf = ReplayBuffer(10, SHAPE, cells_per_step=3, seed=0)
    run_episode(buf, 0, [0, 1, 2], [1.0, 1.0], actions=[[0, 5, 7], np.array([1, 2, 3])])
    b = buf.sample(50)
    assert b.actions.shape == (50, 3) and b.actions.dtype == torch.int64
    assert {tuple(a) for a in b.actions.tolist()} == {(0, 5, 7), (1, 2, 3)}


def test_batch_types_and_masks():
    buf = ReplayBuffer(10, SHAPE, seed=0)
    mask = np.arange(N) % 2 == 0
    buf.push(0, ob(0.5), mask, 4, 1.0, ob(0.25), ~mask, terminated=False)
    b = buf.sample(4)
    assert b.obs.dtype == torch.float32 and b.obs.shape == (4, *SHAPE)
    assert torch.all(b.obs == 0.5) and torch.all(b.next_obs == 0.25)
    assert torch.equal(b.action_mask[0], torch.from_numpy(mask))
    assert torch.equal(b.next_action_mask[0], torch.from_numpy(~mask))
    assert torch.all(b.weights == 1.0)


def test_memory_is_preallocated_and_about_one_float16_observation_per_transition():
    buf = ReplayBuffer(1000, (12, 50, 50), n_envs=4, n_step=3)
    obs_bytes = 12 * 50 * 50 * 2
    assert obs_bytes < buf.bytes_per_transition < 1.2 * obs_bytes
    before = buf.nbytes
    rng = np.random.default_rng(0)
    o = rng.random((12, 50, 50), dtype=np.float32)
    mask = np.ones(2500, dtype=bool)
    for i in range(30):
        nxt = rng.random((12, 50, 50), dtype=np.float32)
        buf.push(0, o, mask, i, 0.0, nxt, mask, terminated=False)
        o = nxt
    assert buf.nbytes == before


def test_seeded_sampling_is_reproducible():
    def filled(seed):
        buf = ReplayBuffer(50, SHAPE, n_step=2, seed=seed)
        run_episode(buf, 0, list(range(31)), [1.0] * 30)
        return buf

    a, b, c = filled(3), filled(3), filled(4)
    ia, ib, ic = a.sample(16).indices, b.sample(16).indices, c.sample(16).indices
    assert np.array_equal(ia, ib) and not np.array_equal(ia, ic)


def test_sampling_an_empty_buffer_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(10, SHAPE).sample(4)


def test_sum_tree_finds_the_leaf_holding_each_value():
    tree = SumTree(5)
    tree.set(np.arange(5), np.array([1.0, 0.0, 3.0, 2.0, 4.0]))
    assert tree.total == 10.0
    found = tree.find(np.array([0.0, 0.99, 1.0, 3.99, 4.0, 5.99, 6.0, 9.99]))
    assert found.tolist() == [0, 0, 2, 2, 3, 3, 4, 4]
    tree.set(np.array([4]), np.array([0.0]))
    assert tree.total == 6.0 and tree.find(np.array([5.9999999])).tolist() == [3]


def test_prioritized_sampling_follows_priorities_and_weights_correct_for_it():
    buf = PrioritizedReplayBuffer(8, SHAPE, alpha=1.0, eps=1e-9, seed=0)
    run_episode(buf, 0, [0, 1, 2, 3, 4], [0.0] * 4)
    b = buf.sample(4)
    assert torch.allclose(b.weights, torch.ones(4))  # new transitions share the max priority
    order = np.argsort([float(x) for x in table(buf)])  # positions 0..3 hold tags 0..3
    assert order.tolist() == [0, 1, 2, 3]
    buf.update_priorities(np.arange(4), np.array([1.0, 0.0, 3.0, 6.0]))
    counts = np.zeros(4)
    for _ in range(100):
        b = buf.sample(100, beta=1.0)
        counts += np.bincount(b.indices, minlength=4)
        p = np.array([1.0, 1e-9, 3.0, 6.0])[b.indices]
        np.testing.assert_allclose(b.weights.numpy(), (1e-9 / p), rtol=1e-4)
    freq = counts / counts.sum()
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.3, 0.6], atol=0.015)


def test_prioritized_eviction_removes_priority():
    buf = PrioritizedReplayBuffer(3, SHAPE, alpha=1.0, seed=0)
    run_episode(buf, 0, [0, 1, 2, 3], [0.0] * 3)
    buf.update_priorities(np.arange(3), np.array([100.0, 1.0, 1.0]))
    run_episode(buf, 0, [3, 4], [0.0])  # continues the stream? no: a new episode starts at 3
    assert len(buf) == 3
    assert 0.0 not in table(buf)  # the high-priority oldest transition is gone


def test_state_dict_round_trip_resumes_streams_and_sampling(tmp_path):
    def start():
        buf = PrioritizedReplayBuffer(20, SHAPE, n_envs=2, n_step=3, gamma=0.5, seed=5)
        run_episode(buf, 0, [0, 1, 2, 3, 4], [1.0, 2.0, 3.0, 4.0])
        buf.push(1, ob(100), ALL, 0, 1.0, ob(101), ALL, terminated=False)  # pending mid-stream
        buf.push(1, ob(101), ALL, 1, 2.0, ob(102), ALL, terminated=False)
        buf.update_priorities(np.arange(4), np.array([0.5, 1.0, 2.0, 4.0]))
        buf.sample(3)
        return buf

    a = start()
    f = io.BytesIO()
    torch.save(a.state_dict(), f)
    f.seek(0)
    state = torch.load(f, weights_only=True)
    b = PrioritizedReplayBuffer(20, SHAPE, n_envs=2, n_step=3, gamma=0.5, seed=99)
    b.load_state_dict(state)
    for buf in (a, b):
        buf.push(1, ob(102), ALL, 2, 4.0, ob(103), ALL, terminated=True)
    sa, sb = a.sample(32), b.sample(32)
    assert np.array_equal(sa.indices, sb.indices)
    for name in ("obs", "returns", "discounts", "next_obs", "weights", "actions"):
        assert torch.equal(getattr(sa, name), getattr(sb, name))
    assert table(b)[100.0] == (1.0 + 0.5 * 2.0 + 0.25 * 4.0, 0.0, 103.0, [0])
    with pytest.raises(ValueError, match="replay state is for"):
        ReplayBuffer(20, SHAPE).load_state_dict(state)
