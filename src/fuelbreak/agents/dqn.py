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


def td_loss(
    online: nn.Module,
    target: nn.Module,
    batch: Batch,
    k: int,
    double: bool = True,
    huber: bool = True,
    demo_margin: float = 0.0,
    demo_weight: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Importance-weighted Huber (or squared) loss of the n-step double-DQN target; also the TD errors.

    With `demo_weight` > 0, demonstration transitions add DQfD's large-margin loss (Hester et al.
    2018), max_A [Q(s, A) + l(A_E, A)] - Q(s, A_E), with l = `demo_margin` for every cell of A not
    in the demonstrated A_E: it pulls the demonstrated cells above all others, which rewards alone
    would teach far more slowly.
    """
    device = model_device(online)
    on = functools.partial(torch.as_tensor, device=device)
    obs = on(batch.obs)
    next_obs = on(batch.next_obs)
    actions = on(batch.actions)
    next_mask = on(batch.next_mask)
    q_all = online(obs).flatten(1)
    q_sa = q_all.gather(1, actions).sum(dim=1)
    with torch.no_grad():
        q_next_target = target(next_obs).flatten(1)
        has_next = next_mask.sum(dim=1) >= k  # a terminal state may have no k legal cells left
        safe_mask = torch.where(has_next[:, None], next_mask, torch.ones_like(next_mask))
        chooser = online(next_obs).flatten(1) if double else q_next_target
        next_cells = masked_topk(chooser, safe_mask, k)[1]
        bootstrap = q_next_target.gather(1, next_cells).sum(dim=1) * has_next
        y = on(batch.returns) + on(batch.discounts) * bootstrap
    td = q_sa - y
    per_sample = (
        F.smooth_l1_loss(q_sa, y, reduction="none") if huber else F.mse_loss(q_sa, y, reduction="none")
    )
    loss = (on(batch.weights) * per_sample).mean()
    if demo_weight > 0 and batch.demo is not None and batch.demo.any():
        rows = on(np.flatnonzero(batch.demo))
        margin = torch.full_like(q_all[rows], demo_margin).scatter(1, actions[rows], 0.0)
        scores = q_all[rows] + margin
        if batch.legal is not None:
            scores = scores.masked_fill(~on(batch.legal[batch.demo]), float("-inf"))
        best = scores.topk(k, dim=1).values.sum(dim=1)
        loss = loss + demo_weight * (best - q_sa[rows]).mean()
    return loss, td.detach().cpu()


def soft_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target <- tau * online + (1 - tau) * target (tau = 1: copy)."""
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            t.mul_(1.0 - tau).add_(o, alpha=tau)
