"""EpisodeReplay: n-step returns, episode ends, cuts, ring wraparound, sampling, persistence."""

import json

import numpy as np
import pytest
import torch

from fuelbreak.agents.episode_replay import EpisodeReplay
from fuelbreak.errors import ConfigError

C, H, W = 3, 4, 4  # channel 0: burnable, channel 2: breaks
BURN, BREAKS = 0, 2


def obs_with(breaks_cells=(), burnable=None):
    o = np.zeros((C, H, W), dtype=np.float32)
    o[BURN] = 1.0 if burnable is None else burnable
    o[1] = 0.25
    o[BREAKS].flat[list(breaks_cells)] = 1.0
    return o


def make(capacity=4, steps=3, k=1, **kw):
    return EpisodeReplay(capacity, (C, H, W), steps, k, BREAKS, BURN, **kw)


def play(rep, stream, rewards, terminated=True, start=0):
    """One episode placing cells start, start+1, ... with the given rewards."""
    rep.start(stream, obs_with())
    placed = []
    for t, r in enumerate(rewards):
        placed.append(start + t)
        last = t == len(rewards) - 1
        rep.add(stream, [start + t], r, obs_with(placed), terminated and last)


def by_step(rep, batch):
    """Map transition step t -> (return, discount) from a sampled batch."""
    out = {}
    for j, idx in enumerate(batch.indices):
        out[int(idx) % rep.steps] = (float(batch.returns[j]), float(batch.discounts[j]))
    return out


def test_n_step_returns_and_no_bootstrap_past_the_end():
    rep = make(steps=3, gamma=0.5, n_step=2)
    play(rep, 0, [1.0, 2.0, 4.0])
    got = by_step(rep, rep.sample(200))
    assert got[0] == pytest.approx((1.0 + 0.5 * 2.0, 0.25))  # bootstraps on s2 with gamma^2
    assert got[1] == pytest.approx((2.0 + 0.5 * 4.0, 0.0))  # reaches the end: no bootstrap
    assert got[2] == pytest.approx((4.0, 0.0))


def test_a_cut_episode_bootstraps_on_its_last_known_state():
    rep = make(steps=3, gamma=0.5, n_step=3)
    rep.start(0, obs_with())
    rep.add(0, [0], 1.0, obs_with([0]), False)
    rep.add(0, [1], 2.0, obs_with([0, 1]), False)
    rep.cut(0)  # the third step's simulation failed: it is not stored
    rep.add(0, [2], 9.0, obs_with([0, 1, 2]), True)  # ignored: the stream has no open episode
    assert len(rep) == 2
    b = rep.sample(100)
    got = by_step(rep, b)
    assert got[0] == pytest.approx((1.0 + 0.5 * 2.0, 0.25))
    assert got[1] == pytest.approx((2.0, 0.5))


def test_observations_and_masks_are_rebuilt_exactly():
    rep = make(steps=2, gamma=1.0, n_step=1)
    burnable = np.ones((H, W))
    burnable[0, 0] = 0
    rep.start(0, obs_with(burnable=burnable))
    rep.add(0, [5], 1.0, obs_with([5], burnable), False)
    rep.add(0, [6], 1.0, obs_with([5, 6], burnable), True)
    b = rep.sample(50)
    for j, idx in enumerate(b.indices):
        t = int(idx) % rep.steps
        placed = [5, 6][:t]
        assert np.array_equal(b.obs[j], obs_with(placed, burnable))
        nxt = [5, 6][: t + 1]
        assert np.array_equal(b.next_obs[j], obs_with(nxt, burnable))
        legal = burnable.ravel().astype(bool)
        legal[nxt] = False
        assert np.array_equal(b.next_mask[j], legal)
        assert b.actions[j].tolist() == [[5], [6]][t]


def test_the_ring_overwrites_the_oldest_episode_and_memory_is_fixed():
    rep = make(capacity=2, steps=2)
    nbytes = rep.nbytes()
    for e in range(5):
        play(rep, 0, [float(e), float(e)])
    assert len(rep) == 4 and rep.nbytes() == nbytes
    assert set(np.unique(rep.rewards)) == {3.0, 4.0}


def test_an_episode_overwritten_while_open_is_dropped_quietly():
    rep = make(capacity=1, steps=3)
    rep.start(0, obs_with())
    rep.add(0, [0], 1.0, obs_with([0]), False)
    rep.start(1, obs_with())  # takes the only slot
    rep.add(0, [1], 1.0, obs_with([0, 1]), False)  # stream 0 lost its slot: ignored
    assert rep.open_length(0) is None and rep.open_length(1) == 0


def test_sampling_is_seeded_and_prioritized_sampling_follows_priorities():
    a, b = make(seed=3), make(seed=3)
    for rep in (a, b):
        for e in range(4):
            play(rep, 0, [1.0, 1.0, 1.0], start=e)
    assert np.array_equal(a.sample(16).indices, b.sample(16).indices)
    p = make(prioritized=True, alpha=1.0, seed=0)
    play(p, 0, [1.0, 1.0, 1.0])
    p.update_priorities(np.array([0, 1, 2]), np.array([100.0, 1.0, 1.0]), eps=0.0)
    counts = np.bincount(p.sample(2000).indices, minlength=3)
    assert counts[0] > 20 * max(counts[1], counts[2], 1) / 2
    w = p.sample(50).weights
    assert w.max() == pytest.approx(1.0) and (w > 0).all()


def test_save_and_load_round_trip(tmp_path):
    rep = make(seed=1)
    play(rep, 0, [1.0, 2.0, 3.0])
    rep.start(1, obs_with())
    rep.add(1, [9], 0.5, obs_with([9]), False)
    rep.save(tmp_path / "replay.npz")
    other = make(seed=99)
    other.load(tmp_path / "replay.npz")
    assert len(other) == len(rep) and other.open_length(1) == 1
    mine, theirs = rep.sample(8), other.sample(8)
    assert np.array_equal(theirs.indices, mine.indices)  # generator state restored too
    assert torch.equal(theirs.obs, mine.obs) and torch.equal(theirs.next_obs, mine.next_obs)
    assert theirs.obs.abs().sum() > 0  # the observations themselves came back, not zeros
    with pytest.raises(ConfigError, match="shape"):
        make(capacity=8).load(tmp_path / "replay.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="bad.npz"):
        make().load(tmp_path / "bad.npz")
    # a replay of the version that kept first observations channels-first is refused, not misread
    with np.load(tmp_path / "replay.npz") as data:
        arrays = {name: data[name] for name in data.files}
    meta = json.loads(str(arrays["meta"]))
    del meta["layout"]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "old.npz", **arrays)
    with pytest.raises(ConfigError, match="older fuelbreak"):
        make().load(tmp_path / "old.npz")


def test_errors():
    with pytest.raises(ConfigError):
        make(capacity=0)
    with pytest.raises(ConfigError, match="empty"):
        make().sample(1)
    rep = make(steps=1)
    rep.start(0, obs_with())
    rep.add(0, [0], 1.0, obs_with([0]), False)
    with pytest.raises(ConfigError, match="longer"):
        rep.add(0, [1], 1.0, obs_with([0, 1]), False)


def test_demonstrations_keep_their_slots_while_the_ring_turns():
    rep = make(capacity=4, steps=1)
    for d in range(2):
        rep.start(-1, obs_with(), demo=True)
        rep.add(-1, [d], 5.0, obs_with([d]), True)
    for _ in range(10):
        rep.start(0, obs_with())
        rep.add(0, [3], 1.0, obs_with([3]), True)
    assert rep.demo[:2].all() and not rep.demo[2:].any()
    assert rep.rewards[:2, 0].tolist() == [5.0, 5.0]
    b = rep.sample(200)
    assert b.demo.any() and not b.demo.all()
    with pytest.raises(ConfigError, match="first"):
        rep.start(-1, obs_with(), demo=True)


def test_plan_channels_are_stored_per_step_and_rebuilt_exactly(tmp_path):
    """Channels that follow the plan (here channel 1) are kept for every step, not taken from the first."""
    rep = make(capacity=3, steps=3, plan_channels=(1,), seed=2)
    rep.start(0, obs_with())
    seen = [obs_with()]
    for t in range(3):
        nxt = obs_with(range(t + 1))
        nxt[1] = np.arange(H * W).reshape(H, W) / 16 * (t + 1) / 4  # exact in float16
        rep.add(0, [t], 1.0, nxt, t == 2)
        seen.append(nxt)
    batch = rep.sample(30)
    for j, idx in enumerate(batch.indices):
        t = int(idx) % rep.steps
        np.testing.assert_array_equal(batch.obs[j], seen[t])
        np.testing.assert_array_equal(batch.next_obs[j], seen[min(t + rep.n_step, 3)])
    rep.save(tmp_path / "r.npz")
    other = make(capacity=3, steps=3, plan_channels=(1,), seed=2)
    other.load(tmp_path / "r.npz")
    np.testing.assert_array_equal(other.plan_obs, rep.plan_obs)
    with pytest.raises(ConfigError, match="shape"):
        make(capacity=3, steps=3, seed=2).load(tmp_path / "r.npz")  # saved with plan channels, loaded without
