"""Double DQN over per-cell Q maps, for actions that place `k` cells at once.

The network scores every cell; an action is the set A of k legal cells placed in one step, valued
as the sum of its cells' scores, Q(s, A) = sum_{c in A} q(s, c), so the best action is the k best
legal cells and one network output serves any k. The target is double DQN's: the online network
picks the next action (top-k legal cells of s'), the target network values it:

    y = G_n + gamma^m * sum_{c in A'} q_target(s', c),   A' = top-k legal cells of q_online(s')

Illegal cells are masked out of every choice, in acting and in the target (DESIGN.md pitfall);
the dueling head combines value and advantage before any mask is applied.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fuelbreak.agents.episode_replay import Batch
from fuelbreak.agents.networks import masked_topk


def select_cells(
    model: nn.Module, obs: np.ndarray, masks: np.ndarray, k: int, epsilon: float, rng: np.random.Generator
) -> np.ndarray:
    """(n_envs, k) cells: the k best legal cells by Q, each swapped for a random legal one with prob. epsilon."""
    device = model_device(model)
    with torch.no_grad():
        q = model(torch.as_tensor(obs, dtype=torch.float32, device=device))
    mask_t = torch.as_tensor(masks, dtype=torch.bool, device=device)
    cells = masked_topk(q.flatten(1), mask_t, k)[1].cpu().numpy().astype(np.int64)
    if epsilon > 0:
        for i in range(len(cells)):
            explore = rng.random(k) < epsilon
            if explore.any():
                legal = np.setdiff1d(np.flatnonzero(masks[i]), cells[i][~explore])
                cells[i][explore] = rng.choice(legal, size=int(explore.sum()), replace=False)
    return cells


def model_device(model: nn.Module) -> torch.device:
    """The device a model's parameters live on (where its inputs must go)."""
    return next(model.parameters()).device


def greedy_cells(model: nn.Module, obs: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """The k best legal cells of one observation, best first."""
    return select_cells(model, obs[None], mask[None], k, 0.0, np.random.default_rng(0))[0]


def linear_epsilon(step: int, start: float, end: float, decay_steps: int) -> float:
    """Epsilon falling linearly from `start` to `end` over `decay_steps` environment steps."""
    if decay_steps <= 0:
        return end
    return end + (start - end) * max(0.0, 1.0 - step / decay_steps)


@dataclass
class Targets:
    """What a gradient step's loss needs from whole Q maps, computed without gradients (`td_targets`)."""

    y: torch.Tensor  # (B,) n-step double-DQN targets
    picked: torch.Tensor | None = None  # (D, k) the margin's best-scoring cells of the D demonstrations


def td_targets(
    online: nn.Module,
    target: nn.Module,
    batch: Batch,
    k: int,
    double: bool = True,
    demo_margin: float = 0.0,
    demo_weight: float = 0.0,
) -> Targets:
    """The TD targets of a batch (and, for a network with a finite reach, the cells the margin loss picks).

    Everything of a gradient step that needs whole Q maps, which need no gradients.

    y = G_n + gamma^m * sum_{c in A'} q_target(s', c), A' the k best legal cells of q_online(s')
    (of q_target(s') without `double`); a state with fewer than k legal cells left does not bootstrap.
    The online maps (of s', and of the demonstrations' s for the margin) come from one call.
    """
    device = model_device(online)
    on = functools.partial(torch.as_tensor, device=device)
    next_obs = on(batch.next_obs)
    next_mask = on(batch.next_mask)
    rows = _demo_rows(batch, demo_weight, device) if _local(online) else None
    with torch.no_grad():
        demo_map = None
        if double and rows is not None:
            maps = online(_cat_rows(on(batch.obs), rows, next_obs)).flatten(1)
            demo_map, chooser = maps[: len(rows)], maps[len(rows) :]
        else:
            chooser = (online if double else target)(next_obs).flatten(1)
        has_next = next_mask.sum(dim=1) >= k  # a terminal state may have no k legal cells left
        safe_mask = torch.where(has_next[:, None], next_mask, torch.ones_like(next_mask))
        next_cells = masked_topk(chooser, safe_mask, k)[1]
        q_next = target.q_at(next_obs, next_cells) if double else chooser.gather(1, next_cells)
        y = on(batch.returns) + on(batch.discounts) * q_next.sum(dim=1) * has_next
        picked = None
        if rows is not None:
            if demo_map is None:
                demo_map = online(_cat_rows(on(batch.obs), rows)).flatten(1)
            shown = on(batch.actions).index_select(0, rows)
            picked = _margin_scores(demo_map, batch, shown, demo_margin).topk(k, dim=1).indices
    return Targets(y, picked)


def td_loss(
    online: nn.Module,
    target: nn.Module,
    batch: Batch,
    k: int,
    double: bool = True,
    huber: bool = True,
    demo_margin: float = 0.0,
    demo_weight: float = 0.0,
    targets: Targets | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Importance-weighted Huber (or squared) loss of the n-step double-DQN target; also the TD errors.

    With `demo_weight` > 0, demonstration transitions add DQfD's large-margin loss (Hester et al.
    2018), max_A [Q(s, A) + l(A_E, A)] - Q(s, A_E), with l = `demo_margin` for every cell of A not
    in the demonstrated A_E: it pulls the demonstrated cells above all others, which rewards alone
    would teach far more slowly.

    `targets` (from `td_targets`, computed here when not given) hold what needs whole maps. The
    loss itself is made of a few values (Q of the taken actions and of the margin's best-scoring
    ones), which a network with a finite reach computes with `q_at` from the cells they depend on:
    the same loss and gradients as from whole maps (a max passes its gradient to the cells it
    picks), with a backward pass over those cells alone.
    """
    if targets is None:
        targets = td_targets(online, target, batch, k, double, demo_margin, demo_weight)
    device = model_device(online)
    on = functools.partial(torch.as_tensor, device=device)
    obs = on(batch.obs)
    actions = on(batch.actions)
    rows = _demo_rows(batch, demo_weight, device)
    local = _local(online)
    q_all = None if local else online(obs).flatten(1)  # whole maps with gradients: no cheaper way
    q_sa = (online.q_at(obs, actions) if local else q_all.gather(1, actions)).sum(dim=1)
    y = targets.y
    td = q_sa - y
    per_sample = (
        F.smooth_l1_loss(q_sa, y, reduction="none") if huber else F.mse_loss(q_sa, y, reduction="none")
    )
    loss = (on(batch.weights) * per_sample).mean()
    if rows is not None:
        shown = actions.index_select(0, rows)
        if local:  # the best-scoring cells were picked from whole maps; their values, from windows
            picked = targets.picked
            not_shown = ~(picked[:, :, None] == shown[:, None, :]).any(dim=2)
            best = online.q_at(_cat_rows(obs, rows), picked) + demo_margin * not_shown
        else:
            best = _margin_scores(q_all.index_select(0, rows), batch, shown, demo_margin).topk(k, dim=1).values
        best = best.sum(dim=1)
        loss = loss + demo_weight * (best - q_sa[rows]).mean()
    return loss, td.detach().cpu()


def _cat_rows(obs: torch.Tensor, rows: torch.Tensor, *more: torch.Tensor) -> torch.Tensor:
    """Rows `rows` of `obs` followed by the tensors `more`, channels-last in memory as the networks read them.

    index_select and cat of channels-last tensors return the default layout, which the network would copy
    again.
    """
    nhwc = [obs.permute(0, 2, 3, 1).index_select(0, rows), *(m.permute(0, 2, 3, 1) for m in more)]
    return torch.cat(nhwc).permute(0, 3, 1, 2)


def _local(model: nn.Module) -> bool:
    """Whether the network values a few cells from the cells they depend on (`reach`, `q_at`)."""
    return getattr(model, "reach", None) is not None


def _demo_rows(batch: Batch, demo_weight: float, device) -> torch.Tensor | None:
    """The batch rows the margin loss applies to (None: none)."""
    if demo_weight <= 0 or batch.demo is None or not batch.demo.any():
        return None
    return torch.as_tensor(np.flatnonzero(batch.demo), device=device)


def _margin_scores(q: torch.Tensor, batch: Batch, shown: torch.Tensor, margin: float) -> torch.Tensor:
    """Q (D, N) of the demonstrations' cells plus `margin` on every cell not in `shown` (D, k), the illegal cells at -inf.

    The margin loss's best action is their top k.
    """
    scores = q + torch.full_like(q, margin).scatter(1, shown, 0.0)
    if batch.legal is not None:
        legal = torch.as_tensor(batch.legal[batch.demo], device=q.device)
        scores = scores.masked_fill(~legal, float("-inf"))
    return scores


def soft_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """Target <- tau * online + (1 - tau) * target (tau = 1: copy)."""
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            t.mul_(1.0 - tau).add_(o, alpha=tau)
