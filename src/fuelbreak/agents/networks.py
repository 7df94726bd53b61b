"""Q-networks that give one Q value per cell, and action selection that never picks an illegal cell.

Every network is fully convolutional, so one model serves any tile size: `forward(obs (B, C, H, W),
mask=None) -> (B, H, W)`. A model records the arguments it was built with in `model.hparams`
(plain ints, floats, bools and lists) so that a checkpoint can rebuild it with `build_model`.

Widths are chosen for a 2-core CPU (torch.set_num_threads(2), 12 x 50 x 50 input, batch 32, one
double-DQN step = online forward and backward on obs, online and target forwards on next_obs, Adam):
the default `basic` net (width 16) does about 15-20 steps per second, `enhanced` and `dueling` (width
16, four residual blocks) about 5. Width 16 suits oneDNN's AVX-512 blocking: width 24 ran 4 times
slower than 16, not 2.25 times. Layers are kept channels-last, which oneDNN runs faster on the CPU.

Masking follows the DESIGN pitfall: networks return Q for every cell and the helpers below mask
illegal cells out of argmax, top-k and max; the dueling head combines value and advantage first
(advantage centred over legal cells) and leaves masking to the helpers.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fuelbreak.env.observation import CHANNEL_INDEX, CHANNELS
from fuelbreak.errors import ConfigError

# ----------------------------------------------------------------------------- masked selection


def _flat_pair(q: Tensor, mask: Tensor, who: str) -> tuple[Tensor, Tensor]:
    """Flatten (B, H, W) to (B, N) and check that q and mask agree."""
    if q.ndim > 2:
        q = q.flatten(1)
    if mask.ndim > 2:
        mask = mask.flatten(1)
    if q.ndim != 2 or q.shape != mask.shape:
        raise ValueError(f"{who}: q {tuple(q.shape)} and mask {tuple(mask.shape)} must both be (B, N)")
    if mask.dtype != torch.bool:
        raise ValueError(f"{who}: mask must be bool, got {mask.dtype}")
    return q, mask


def _masked_scores(q: Tensor, mask: Tensor, k: int, who: str) -> Tensor:
    """Q with illegal cells at -inf and legal ones at least the lowest finite float, so they always win."""
    counts = mask.sum(dim=1)
    short = torch.nonzero(counts < k).flatten().tolist()
    if short:
        raise ValueError(f"{who}: rows {short[:10]} have fewer than {k} legal cell(s)")
    lowest = torch.finfo(q.dtype).min
    return torch.where(mask, q.clamp(min=lowest), torch.full_like(q, float("-inf")))


def masked_argmax(q: Tensor, mask: Tensor) -> Tensor:
    """Index (B,) of the best legal cell of each row; a row with no legal cell is an error."""
    q, mask = _flat_pair(q, mask, "masked_argmax")
    return _masked_scores(q, mask, 1, "masked_argmax").argmax(dim=1)


def masked_topk(q: Tensor, mask: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Values and indices (B, k) of the k best legal cells of each row, best first."""
    q, mask = _flat_pair(q, mask, "masked_topk")
    if k < 1:
        raise ValueError(f"masked_topk: k must be >= 1, got {k}")
    idx = _masked_scores(q, mask, k, "masked_topk").topk(k, dim=1).indices
    return q.gather(1, idx), idx


def masked_max(q: Tensor, mask: Tensor) -> Tensor:
    """Largest Q (B,) over the legal cells of each row (the value of that cell, as q gives it)."""
    q, mask = _flat_pair(q, mask, "masked_max")
    idx = _masked_scores(q, mask, 1, "masked_max").argmax(dim=1, keepdim=True)
    return q.gather(1, idx).squeeze(1)


# ----------------------------------------------------------------------------- building blocks


class SqueezeExcite(nn.Module):
    """Channel gates from the whole tile's pooled features: cheap global context for every cell."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: Tensor) -> Tensor:
        """`x` (B, C, H, W) scaled channel by channel by a gate from its mean over the tile."""
        g = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * g[:, :, None, None]


class ResidualBlock(nn.Module):
    """Two dilated 3x3 convolutions with a squeeze-excitation gate and an identity skip."""

    def __init__(self, channels: int, dilation: int, se_reduction: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.se = SqueezeExcite(channels, se_reduction) if se_reduction > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """The block applied to `x` (B, C, H, W); the same shape."""
        return F.relu(x + self.se(self.conv2(F.relu(self.conv1(x)))))


class GlobalContext(nn.Module):
    """Mean- and max-pooled features of the whole tile, mapped and broadcast back to every cell."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(2 * channels, channels)

    def pooled(self, x: Tensor) -> Tensor:
        """Mean and max of `x` (B, C, H, W) over the tile, concatenated: (B, 2C)."""
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """`x` (B, C, H, W) with the tile's context features appended to every cell: (B, 2C, H, W)."""
        g = F.relu(self.fc(self.pooled(x)))
        return torch.cat([x, g[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], dim=1)


class ResidualTrunk(nn.Module):
    """Stem, then dilated residual blocks: the receptive field grows to cover a whole 50 x 50 tile."""

    def __init__(self, in_channels: int, width: int, dilations: Sequence[int], se_reduction: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1)
        self.blocks = nn.Sequential(*[ResidualBlock(width, int(d), se_reduction) for d in dilations])

    def forward(self, x: Tensor) -> Tensor:
        """The trunk's features (B, width, H, W) of `x` (B, in_channels, H, W)."""
        return self.blocks(F.relu(self.stem(x)))


# ----------------------------------------------------------------------------- Q-networks


class QNet(nn.Module):
    """Base: checks input shapes; subclasses compute `_q(obs, mask) -> (B, H, W)`."""

    model_type: str = ""
    #: Cells on each side of a cell that its Q value depends on (None: the whole tile, through
    #: pooled features); a network with a finite reach values a few cells from windows (`q_at`).
    reach: int | None = None

    def __init__(self, in_channels: int, inputs: Sequence[str] = ()) -> None:
        super().__init__()
        if in_channels < 1:
            raise ConfigError(f"model in_channels must be >= 1, got {in_channels}")
        self.in_channels = in_channels
        self.hparams: dict = {}
        self.inputs = _check_inputs(inputs, in_channels, self.model_type)
        index = [CHANNEL_INDEX[c] for c in self.inputs] if self.inputs else list(range(in_channels))
        self.register_buffer("_input_index", torch.tensor(index, dtype=torch.long), persistent=False)
        self.n_inputs = len(index)

    def forward(self, obs: Tensor, mask: Tensor | None = None) -> Tensor:
        """Q maps (B, H, W) of observations `obs` (B, C, H, W); `mask` (legal cells, bool) where the network uses it.

        Raises:
            ValueError: `obs` does not have the network's channels, or `mask` is not bool of one value per cell.
        """
        if obs.ndim != 4 or obs.shape[1] != self.in_channels:
            raise ValueError(
                f"{self.model_type} Q-network expects obs (B, {self.in_channels}, H, W), got {tuple(obs.shape)}"
            )
        if mask is not None:
            b, _, h, w = obs.shape
            if mask.dtype != torch.bool or mask.numel() != b * h * w:
                raise ValueError(f"mask must be bool (B, H, W) or (B, H*W) for obs {tuple(obs.shape)}")
            mask = mask.reshape(b, h, w)
        return self._q(self._inputs(obs), mask)  # only the channels named in `inputs`, if any

    def q_at(self, obs: Tensor, cells: Tensor) -> Tensor:
        """Q (B, k) of the cells `cells` (B, k, flat indices) of each observation (B, C, H, W).

        Here: the whole Q map, gathered. Networks with a finite `reach` compute only what those
        cells depend on (the same values to float rounding), far less than a map when k is small.
        """
        _check_cells(obs, cells)
        return self(obs).flatten(1).gather(1, cells)

    def _inputs(self, obs: Tensor) -> Tensor:
        """The channels the network reads, channels-last (what `_q` takes)."""
        if self.inputs:
            obs = obs.index_select(1, self._input_index)
        return obs.contiguous(memory_format=torch.channels_last)

    def _q(self, obs: Tensor, mask: Tensor | None) -> Tensor:
        first, skip = self.first_layers()
        return self.from_first(first(obs), skip(obs) if skip is not None else None, mask)

    def first_layers(self) -> tuple[nn.Conv2d, nn.Conv2d | None]:
        """The convolutions that read the input: the first layer and the linear `skip` path (or None)."""
        raise NotImplementedError

    def from_first(self, first: Tensor, skip: Tensor | None, mask: Tensor | None) -> Tensor:
        """Q (B, H, W) from the first layer's output (before its activation) and the skip path's."""
        raise NotImplementedError

    def _channels_last(self) -> None:
        """On the CPU, oneDNN convolutions ran 20-30 % faster in channels-last layout."""
        self.to(memory_format=torch.channels_last)


def _check_cells(obs: Tensor, cells: Tensor) -> None:
    if cells.ndim != 2 or cells.shape[0] != obs.shape[0]:
        raise ValueError(f"q_at: cells must be (B, k) for obs {tuple(obs.shape)}, got {tuple(cells.shape)}")


def _check_inputs(inputs: Sequence[str], in_channels: int, who: str) -> list[str]:
    """Names of the observation channels a network reads (empty: all of them), checked."""
    names = list(inputs)
    if not names:
        return []
    if in_channels != len(CHANNELS):
        raise ConfigError(
            f"{who} inputs name observation channels, so the model must take all {len(CHANNELS)}"
        )
    unknown = [c for c in names if not isinstance(c, str) or c not in CHANNEL_INDEX]
    if unknown or len(set(names)) != len(names):
        raise ConfigError(
            f"{who} inputs must be distinct observation channels ({', '.join(CHANNELS)}); got {names}"
        )
    return names


def _check_dilations(dilations: Sequence[int], who: str) -> list[int]:
    out = list(dilations)
    if not out or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in out):
        raise ConfigError(f"{who} dilations must be a non-empty list of integers >= 1, got {list(dilations)}")
    return out


def _check_width(width: int, who: str) -> int:
    if int(width) < 1:
        raise ConfigError(f"{who} width must be >= 1, got {width}")
    return int(width)


class BasicQNet(QNet):
    """A small stack of 3x3 convolutions (dilated to widen the view cheaply) and a 1x1 head.

    With `skip`, a 1x1 convolution of the input channels is added to the head's output (a "wide and
    deep" linear path): a cell's own channels, the downstream area above all, score it from the first
    gradient steps, and the convolutions learn the correction from its neighbourhood.
    """

    model_type = "basic"

    def __init__(
        self,
        in_channels: int,
        width: int = 16,
        dilations: Sequence[int] = (1, 2, 4, 1),
        skip: bool = False,
        inputs: Sequence[str] = (),
    ) -> None:
        super().__init__(in_channels, inputs)
        width = _check_width(width, "basic")
        dilations = _check_dilations(dilations, "basic")
        self.hparams = {
            "in_channels": in_channels,
            "width": width,
            "dilations": dilations,
            "skip": bool(skip),
        }
        if self.inputs:
            self.hparams["inputs"] = list(self.inputs)
        layers: list[nn.Module] = []
        c = self.n_inputs
        for d in dilations:
            layers += [nn.Conv2d(c, width, 3, padding=d, dilation=d), nn.ReLU(inplace=True)]
            c = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 1, 1)
        self.skip = nn.Conv2d(self.n_inputs, 1, 1) if skip else None
        self.reach = sum(dilations)  # a 3x3 convolution of dilation d sees d cells to each side
        self._channels_last()

    def first_layers(self) -> tuple[nn.Conv2d, nn.Conv2d | None]:
        """The layers linear in the input: the first convolution and the skip path (None without one), for `StaticSplit`."""
        return self.body[0], self.skip

    def from_first(self, first: Tensor, skip: Tensor | None, mask: Tensor | None) -> Tensor:
        """Q maps (B, H, W) from the first convolution's output and the skip path's (`first_layers`)."""
        q = self.head(self.body[1:](first))
        if skip is not None:
            q = q + skip
        return q.squeeze(1)

    def q_at(self, obs: Tensor, cells: Tensor) -> Tensor:
        """Q (B, k) of `cells` (B, k) from each cell's window of 2 `reach` + 1 cells alone.

        The window is cut from the input (zero beyond the tile's edge) and convolved without
        padding, each layer shrinking it by its dilation on each side until one cell is left; after
        each layer, positions beyond the tile are zeroed, as the map's zero padding makes them for
        the next layer. So a cell's Q is exactly its value in the map (to float rounding), from
        (2 reach + 1)^2 cells instead of the tile's (a 17 x 17 window for the default dilations:
        289 cells against 2,500 on a 50 x 50 tile).
        """
        _check_cells(obs, cells)
        b, _, h, w = obs.shape
        r = self.reach
        span = torch.arange(-r, r + 1, device=obs.device)
        flat = cells.reshape(-1)
        rows = (flat // w)[:, None] + span  # (N, S): the window's rows and columns, N = B k
        cols = (flat % w)[:, None] + span
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
        sample = torch.arange(b, device=obs.device).repeat_interleave(cells.shape[1])
        x = self._inputs(obs)
        # (N, S, S, C): advanced indices first, then the channels; as (N, C, S, S) it is channels-last
        x = x[sample[:, None, None], :, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]
        inside = inside[:, None].to(x.dtype)  # (N, 1, S, S)
        x = x.permute(0, 3, 1, 2) * inside
        centre = x[:, :, r : r + 1, r : r + 1]
        for conv in self.body[::2]:
            d = conv.dilation[0]
            x = F.relu(F.conv2d(x, conv.weight, conv.bias, dilation=conv.dilation))
            r -= d
            if r > 0:  # zero the window's positions beyond the tile, as the map's padding does
                inside = inside[:, :, d:-d, d:-d]
                x = x * inside
        q = self.head(x)
        if self.skip is not None:
            q = q + self.skip(centre)
        return q.reshape(cells.shape)


class EnhancedQNet(QNet):
    """Dilated residual blocks with squeeze-excitation, plus a pooled whole-tile context at every cell.

    The dilations (1, 2, 4, 8) give a receptive field of 61 cells, so a cell sees the fire paths
    across a 50 x 50 tile; the squeeze-excitation gates and the global context let its value depend
    on what the whole tile looks like (how much burns, where the intense fires run).
    """

    model_type = "enhanced"

    def __init__(
        self,
        in_channels: int,
        width: int = 16,
        dilations: Sequence[int] = (1, 2, 4, 8),
        se_reduction: int = 4,
        head_width: int = 32,
        skip: bool = False,
        inputs: Sequence[str] = (),
    ) -> None:
        super().__init__(in_channels, inputs)
        width = _check_width(width, self.model_type)
        head_width = _check_width(head_width, f"{self.model_type} head")
        dilations = _check_dilations(dilations, self.model_type)
        self.hparams = {
            "in_channels": in_channels,
            "width": width,
            "dilations": dilations,
            "se_reduction": int(se_reduction),
            "head_width": head_width,
            "skip": bool(skip),
        }
        if self.inputs:
            self.hparams["inputs"] = list(self.inputs)
        self.trunk = ResidualTrunk(self.n_inputs, width, dilations, int(se_reduction))
        self.context = GlobalContext(width)
        self.head = nn.Sequential(nn.Conv2d(2 * width, head_width, 1), nn.ReLU(), nn.Conv2d(head_width, 1, 1))
        self.skip = nn.Conv2d(self.n_inputs, 1, 1) if skip else None  # as in BasicQNet
        self._channels_last()

    def _per_cell(self, features: Tensor, skip: Tensor | None) -> Tensor:
        """The per-cell head on the trunk's features, plus the linear path from the input when `skip`."""
        q = self.head(self.context(features))
        if skip is not None:
            q = q + skip
        return q.squeeze(1)

    def first_layers(self) -> tuple[nn.Conv2d, nn.Conv2d | None]:
        """The layers linear in the input: the trunk's stem and the skip path (None without one), for `StaticSplit`."""
        return self.trunk.stem, self.skip

    def from_first(self, first: Tensor, skip: Tensor | None, mask: Tensor | None) -> Tensor:
        """Q maps (B, H, W) from the stem's output and the skip path's (`first_layers`)."""
        return self._per_cell(self.trunk.blocks(F.relu(first)), skip)


class DuelingQNet(EnhancedQNet):
    """A state value from the tile's pooled features plus a per-cell advantage: Q = V + A - mean(A).

    The enhanced trunk and context, with the per-cell head as the advantage stream and a value
    stream on the pooled features. With a mask, the mean of A is over the legal cells only (combine
    first; the helpers mask after), so V is the value of the average legal action. In a row without
    legal cells (a terminal state) A is left uncentred; no masked helper selects from such a row.
    """

    model_type = "dueling"

    def __init__(
        self,
        in_channels: int,
        width: int = 16,
        dilations: Sequence[int] = (1, 2, 4, 8),
        se_reduction: int = 4,
        head_width: int = 32,
        skip: bool = False,
        inputs: Sequence[str] = (),
    ) -> None:
        super().__init__(in_channels, width, dilations, se_reduction, head_width, skip, inputs)
        w, hw = self.hparams["width"], self.hparams["head_width"]
        self.value = nn.Sequential(nn.Linear(2 * w, hw), nn.ReLU(), nn.Linear(hw, 1))
        self._channels_last()

    def streams(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """The value (B,) and the raw advantage (B, H, W), before they are combined."""
        return self._streams(self.trunk.stem(obs), self.skip(obs) if self.skip is not None else None)

    def _streams(self, first: Tensor, skip: Tensor | None) -> tuple[Tensor, Tensor]:
        h = self.trunk.blocks(F.relu(first))
        value = self.value(self.context.pooled(h)).squeeze(1)
        return value, self._per_cell(h, skip)

    def from_first(self, first: Tensor, skip: Tensor | None, mask: Tensor | None) -> Tensor:
        """Q maps (B, H, W) from the stem's output and the skip path's: V + A - mean(A), the mean over `mask`'s cells."""
        value, adv = self._streams(first, skip)
        if mask is None:
            mean = adv.mean(dim=(1, 2))
        else:
            m = mask.to(adv.dtype)
            mean = (adv * m).sum(dim=(1, 2)) / m.sum(dim=(1, 2)).clamp(min=1.0)
        return value[:, None, None] + adv - mean[:, None, None]


class StaticSplit(nn.Module):
    """A Q-network with its input layers split into what a plan changes and what it does not.

    The first convolution and the skip path are linear in the input, so over a plan, where only a
    few channels follow the breaks, their response to the other channels is computed once
    (`static`) and each step convolves the `dynamic` channels alone: the same Q values to float
    rounding, at a fraction of the first layer's cost. `forward(x_dynamic, first_static,
    skip_static)` takes the dynamic channels in `dynamic` order.
    """

    def __init__(self, model: QNet, dynamic: Sequence[int]) -> None:
        super().__init__()
        self.model = model
        index = model._input_index.tolist()  # observation channel of each network input
        self.dynamic = [c for c in dynamic if c in index]  # observation channels the network reads
        where = torch.tensor([index.index(c) for c in self.dynamic], dtype=torch.long)
        keep = torch.ones(len(index), dtype=torch.bool)
        keep[where] = False
        self.register_buffer("_static_mask", keep.to(torch.float32)[None, :, None, None], persistent=False)
        first, skip = model.first_layers()
        # without dynamic channels there is nothing to convolve a step: callers use the network itself
        self.first = _conv_part(first, where) if self.dynamic else None
        self.skip = _conv_part(skip, where) if skip is not None and self.dynamic else None

    def static(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """The first layer's and the skip path's response (biases included) to the static channels."""
        x = obs.index_select(1, self.model._input_index) * self._static_mask
        first, skip = self.model.first_layers()
        skip_out = skip(x) if skip is not None else torch.zeros_like(x[:, :1])
        return first(x), skip_out

    def forward(self, x_dynamic: Tensor, first_static: Tensor, skip_static: Tensor) -> Tensor:
        """Q maps (B, H, W) from the dynamic channels and the static channels' precomputed first layers."""
        skip = skip_static + self.skip(x_dynamic) if self.skip is not None else None
        return self.model.from_first(first_static + self.first(x_dynamic), skip, None)


def _conv_part(conv: nn.Conv2d, channels: Tensor) -> nn.Conv2d:
    """The convolution restricted to some input channels, without bias."""
    part = nn.Conv2d(len(channels), conv.out_channels, conv.kernel_size, padding=conv.padding, dilation=conv.dilation, bias=False)  # fmt: skip
    with torch.no_grad():
        part.weight.copy_(conv.weight.index_select(1, channels.to(conv.weight.device)))
    return part


MODELS: dict[str, type[QNet]] = {"basic": BasicQNet, "enhanced": EnhancedQNet, "dueling": DuelingQNet}


def model_defaults(model_type: str) -> dict:
    """The default hyper-parameters of a model type (without in_channels)."""
    cls = _model_class(model_type)
    params = list(inspect.signature(cls.__init__).parameters.values())[2:]
    return {p.name: list(p.default) if isinstance(p.default, tuple) else p.default for p in params}


def _model_class(model_type: str) -> type[QNet]:
    if model_type not in MODELS:
        raise ConfigError(f"unknown model type {model_type!r}; choose one of {sorted(MODELS)}")
    return MODELS[model_type]


def check_hparams(model_type: str, hparams: dict) -> None:
    """Unknown names and wrongly typed values are errors that name the hyper-parameter."""
    defaults = model_defaults(model_type)
    for name, value in hparams.items():
        if name not in defaults:
            raise ConfigError(
                f"model {model_type!r} has no hyper-parameter {name!r}; it takes {sorted(defaults)}"
            )
        want = type(defaults[name])
        ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
        ok = ok or (want is float and isinstance(value, int) and not isinstance(value, bool))
        ok = ok or (want is list and isinstance(value, tuple))
        if not ok:
            raise ConfigError(
                f"model {model_type!r} hyper-parameter {name!r} must be {want.__name__}, got {value!r}"
            )


def build_model(model_type: str, in_channels: int, **hparams) -> QNet:
    """Build a Q-network by name; `model.hparams` then holds everything needed to build it again."""
    cls = _model_class(model_type)
    check_hparams(model_type, hparams)
    return cls(int(in_channels), **hparams)
