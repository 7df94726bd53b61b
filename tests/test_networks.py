"""Q-networks: shapes on any tile size, reproducible init, masked selection, dueling centring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fuelbreak.agents.networks import (
    MODELS,
    DuelingQNet,
    build_model,
    check_hparams,
    masked_argmax,
    masked_max,
    masked_topk,
    model_defaults,
)
from fuelbreak.errors import ConfigError

C = 12


@pytest.mark.parametrize("model_type", sorted(MODELS))
@pytest.mark.parametrize(("batch", "h", "w"), [(2, 50, 50), (3, 37, 61), (1, 9, 5)])
def test_output_is_one_q_per_cell(model_type, batch, h, w):
    torch.manual_seed(0)
    model = build_model(model_type, C)
    obs = torch.randn(batch, C, h, w)
    mask = torch.rand(batch, h, w) > 0.3
    with torch.no_grad():
        q = model(obs)
        q_masked = model(obs, mask)
    assert q.shape == (batch, h, w)
    assert q_masked.shape == (batch, h, w)
    assert torch.isfinite(q).all()


@pytest.mark.parametrize("model_type", sorted(MODELS))
def test_gradients_reach_every_parameter(model_type):
    torch.manual_seed(0)
    model = build_model(model_type, C)
    model(torch.randn(2, C, 12, 10)).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []


@pytest.mark.parametrize("model_type", sorted(MODELS))
def test_init_is_reproducible_under_manual_seed(model_type):
    torch.manual_seed(7)
    a = build_model(model_type, C)
    torch.manual_seed(7)
    b = build_model(model_type, C)
    torch.manual_seed(8)
    c = build_model(model_type, C)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("model_type", sorted(MODELS))
def test_hparams_rebuild_the_same_architecture(model_type):
    model = build_model(model_type, C, width=8, dilations=[1, 3])
    hp = dict(model.hparams)
    assert hp["in_channels"] == C and hp["width"] == 8 and hp["dilations"] == [1, 3]
    again = build_model(model_type, hp.pop("in_channels"), **hp)
    again.load_state_dict(model.state_dict())  # strict: same parameter names and shapes
    x = torch.randn(1, C, 11, 13)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_cell_value_sees_the_whole_tile_in_enhanced_net():
    """A change in one corner moves the Q of the opposite corner (global context)."""
    torch.manual_seed(0)
    model = build_model("enhanced", C)
    x = torch.randn(1, C, 50, 50)
    y = x.clone()
    y[0, :, 0, 0] += 5.0
    with torch.no_grad():
        assert model(x)[0, 49, 49] != model(y)[0, 49, 49]


def test_wrong_input_and_unknown_names_are_clear_errors():
    model = build_model("basic", C)
    with pytest.raises(ValueError, match=r"expects obs \(B, 12, H, W\)"):
        model(torch.randn(1, 11, 8, 8))
    with pytest.raises(ValueError, match="mask must be bool"):
        model(torch.randn(1, C, 8, 8), torch.ones(1, 8, 8))
    with pytest.raises(ConfigError, match="unknown model type 'resnet'"):
        build_model("resnet", C)
    with pytest.raises(ConfigError, match="no hyper-parameter 'depth'"):
        build_model("basic", C, depth=3)
    with pytest.raises(ConfigError, match="'width' must be int"):
        check_hparams("enhanced", {"width": 1.5})
    with pytest.raises(ConfigError, match="dilations"):
        build_model("dueling", C, dilations=[])
    assert model_defaults("basic") == {"width": 16, "dilations": [1, 2, 4, 1], "skip": False, "inputs": []}


def _random_masks(gen, batch, n, at_least):
    mask = torch.rand(batch, n, generator=gen) < torch.rand(batch, 1, generator=gen)
    for row in range(batch):  # guarantee enough legal cells in every row
        if mask[row].sum() < at_least:
            mask[row, torch.randperm(n, generator=gen)[:at_least]] = True
    return mask


def test_masked_helpers_never_select_an_illegal_cell():
    gen = torch.Generator().manual_seed(0)
    for trial in range(200):
        batch, n, k = 8, 30, 1 + trial % 4
        mask = _random_masks(gen, batch, n, k)
        q = torch.randn(batch, n, generator=gen) * 10
        q[~mask] += 1000.0  # illegal cells look best: they must still be ignored
        if trial % 5 == 0:
            q[mask] = float("-inf")  # even -inf legal cells beat illegal ones
        idx = masked_argmax(q, mask)
        assert mask.gather(1, idx[:, None]).all()
        values, top = masked_topk(q, mask, k)
        assert mask.gather(1, top).all()
        assert torch.equal(values, q.gather(1, top))
        assert all(len(set(r.tolist())) == k for r in top)
        best = masked_max(q, mask)
        assert torch.equal(best, q.gather(1, idx[:, None]).squeeze(1))
        expect = torch.where(mask, q, torch.tensor(float("-inf"))).max(dim=1).values
        finite = torch.isfinite(expect)
        assert torch.equal(best[finite], expect[finite])


def test_masked_argmax_on_maps_and_known_values():
    q = torch.tensor([[[1.0, 9.0], [3.0, 2.0]]])
    mask = torch.tensor([[[True, False], [True, True]]])
    assert masked_argmax(q, mask).tolist() == [2]
    assert masked_max(q, mask).tolist() == [3.0]
    values, idx = masked_topk(q, mask, 2)
    assert idx.tolist() == [[2, 3]] and values.tolist() == [[3.0, 2.0]]


def test_row_without_legal_cells_is_an_error():
    q = torch.zeros(3, 4)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    for fn in (masked_argmax, masked_max):
        with pytest.raises(ValueError, match=r"rows \[1\] have fewer than 1 legal cell"):
            fn(q, mask)
    with pytest.raises(ValueError, match="fewer than 5"):
        masked_topk(q, torch.ones(3, 4, dtype=torch.bool), 5)
    with pytest.raises(ValueError, match="must be bool"):
        masked_argmax(q, mask.float())
    with pytest.raises(ValueError, match="must both be"):
        masked_argmax(q, mask[:, :3])


def test_dueling_centres_the_advantage_over_legal_cells():
    torch.manual_seed(0)
    model = DuelingQNet(C)
    obs = torch.randn(2, C, 9, 7)
    mask = torch.rand(2, 9, 7) > 0.5
    with torch.no_grad():
        value, adv = model.streams(obs)
        q = model(obs, mask)
        q_all = model(obs)
    for b in range(2):
        legal = mask[b]
        # Q = V + A - mean(A over legal cells): the legal Qs average to V
        torch.testing.assert_close(q[b][legal].mean(), value[b], atol=1e-5, rtol=0)
        torch.testing.assert_close(q[b], value[b] + adv[b] - adv[b][legal].mean(), atol=1e-5, rtol=0)
        torch.testing.assert_close(q_all[b].mean(), value[b], atol=1e-5, rtol=0)
    # the mask only shifts each row: the order of cells, hence every masked argmax, is unchanged
    diff = q - q_all
    assert torch.allclose(diff, diff[:, :1, :1].expand_as(diff), atol=1e-5)


@pytest.mark.parametrize("model_type", ["basic", "enhanced", "dueling"])
def test_skip_adds_a_linear_path_from_each_cells_own_channels(model_type):
    """With skip, a cell's own channels reach its Q value through one 1x1 convolution."""
    torch.manual_seed(0)
    model = build_model(model_type, C, width=8, skip=True)
    plain = build_model(model_type, C, width=8)
    assert model.hparams["skip"] is True and plain.skip is None
    obs = torch.rand(2, C, 9, 11)
    with torch.no_grad():
        base = model(obs)
        model.skip.weight.zero_()
        model.skip.bias.zero_()
        no_skip = model(obs)
        model.skip.weight[0, 3] = 2.0
        shifted = model(obs)
    assert not torch.allclose(base, no_skip)
    torch.testing.assert_close(shifted - no_skip, 2.0 * obs[:, 3] - (2.0 * obs[:, 3]).mean((1, 2), keepdim=True) * (model_type == "dueling"))


@pytest.mark.parametrize("model_type", sorted(MODELS))
def test_inputs_restrict_the_network_to_the_named_channels(model_type):
    """With `inputs`, a network reads those observation channels only: the others change nothing."""
    from fuelbreak.env.observation import CHANNEL_INDEX, CHANNELS

    names = ["burnable", "burn_probability", "downstream_area", "breaks"]
    torch.manual_seed(0)
    model = build_model(model_type, len(CHANNELS), width=8, skip=True, inputs=names)
    assert model.hparams["inputs"] == names
    assert model.skip.in_channels == len(names)
    rebuilt = build_model(model_type, **model.hparams)
    rebuilt.load_state_dict(model.state_dict())
    obs = torch.rand(2, len(CHANNELS), 12, 10)
    other = obs.clone()
    unused = [i for c, i in CHANNEL_INDEX.items() if c not in names]
    other[:, unused] = torch.rand(2, len(unused), 12, 10)
    changed = obs.clone()
    changed[:, CHANNEL_INDEX["downstream_area"]] += 1.0
    with torch.no_grad():
        q = model(obs)
        torch.testing.assert_close(model(other), q)
        torch.testing.assert_close(rebuilt(obs), q)
        assert not torch.allclose(model(changed), q)
    assert "inputs" not in build_model(model_type, len(CHANNELS)).hparams  # all channels: as before


def test_unknown_or_repeated_inputs_are_config_errors():
    from fuelbreak.env.observation import CHANNELS

    with pytest.raises(ConfigError, match="inputs must be distinct observation channels"):
        build_model("basic", len(CHANNELS), inputs=["burnable", "wind"])
    with pytest.raises(ConfigError, match="inputs must be distinct observation channels"):
        build_model("basic", len(CHANNELS), inputs=["breaks", "breaks"])
    with pytest.raises(ConfigError, match="must take all"):
        build_model("basic", C, inputs=["breaks"])
    with pytest.raises(ConfigError, match="'inputs' must be list"):
        build_model("basic", len(CHANNELS), inputs="breaks")


@pytest.mark.parametrize("model_type", ["basic", "enhanced", "dueling"])
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("inputs", [(), ("burnable", "intensity_east", "downstream_area", "breaks")])
def test_static_split_gives_the_networks_q_values(model_type, skip, inputs):
    """Over a plan only a few channels change: the split input layers must change nothing else."""
    from fuelbreak.agents.networks import StaticSplit
    from fuelbreak.env.observation import CHANNELS

    torch.manual_seed(0)
    model = build_model(model_type, len(CHANNELS), width=8, skip=skip, inputs=list(inputs)).eval()
    dynamic = [CHANNELS.index(c) for c in ("burn_probability", "downstream_area", "breaks")]
    split = StaticSplit(model, dynamic).eval()
    assert split.dynamic == [c for c in dynamic if not inputs or CHANNELS[c] in inputs]
    rng = np.random.default_rng(1)
    static = torch.as_tensor(rng.random((1, len(CHANNELS), 12, 12)), dtype=torch.float32)
    with torch.no_grad():
        first, skip_out = split.static(static)
        for _ in range(3):  # the plan moves on: new dynamic channels, the same static ones
            obs = static.clone()
            obs[:, dynamic] = torch.as_tensor(rng.random((1, 3, 12, 12)), dtype=torch.float32)
            got = split(obs[:, split.dynamic], first, skip_out)
            torch.testing.assert_close(got, model(obs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model_type", sorted(MODELS))
@pytest.mark.parametrize(("dilations", "skip", "inputs"), [((1, 2, 4, 1), True, ()), ((3, 1), False, ("burnable", "breaks"))])
def test_q_at_gives_the_maps_values_at_the_cells_edges_and_corners_included(model_type, dilations, skip, inputs):
    """`q_at` values a few cells from their windows alone (basic) or from the map (others): the same
    numbers as the whole map, on cells at the tile's corners and edges, where its padding matters."""
    from fuelbreak.env.observation import CHANNELS

    torch.manual_seed(0)
    hp = {"dilations": list(dilations)} if model_type == "basic" else {}
    model = build_model(model_type, len(CHANNELS), width=6, skip=skip, inputs=list(inputs), **hp)
    assert (model.reach is not None) == (model_type == "basic")
    if model_type == "basic":
        assert model.reach == sum(dilations)
    h, w = 13, 21
    obs = torch.randn(3, len(CHANNELS), h, w)
    cells = torch.tensor([[0, w - 1, h * w - 1], [(h - 1) * w, 6 * w + 10, 1], [w + 1, 2 * w, 5 * w + w - 2]])
    got = model.q_at(obs, cells)
    assert got.shape == (3, 3)
    torch.testing.assert_close(got, model(obs).flatten(1).gather(1, cells), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="cells must be"):
        model.q_at(obs, cells[:2])
