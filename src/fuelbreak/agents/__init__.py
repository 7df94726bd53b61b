"""Agents: per-cell Q-networks, n-step replay, checkpoints and the training configuration."""

from fuelbreak.agents.checkpoint import (
    FORMAT_VERSION,
    Checkpoint,
    capture_rng_state,
    check_channels,
    load_checkpoint,
    make_payload,
    model_from_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from fuelbreak.agents.config import TrainConfig, apply_overrides, load_config, write_config
from fuelbreak.agents.networks import (
    MODELS,
    BasicQNet,
    DuelingQNet,
    EnhancedQNet,
    QNet,
    build_model,
    masked_argmax,
    masked_max,
    masked_topk,
)
from fuelbreak.agents.replay import Batch, PrioritizedReplayBuffer, ReplayBuffer

__all__ = [
    "FORMAT_VERSION",
    "MODELS",
    "BasicQNet",
    "Batch",
    "Checkpoint",
    "DuelingQNet",
    "EnhancedQNet",
    "PrioritizedReplayBuffer",
    "QNet",
    "ReplayBuffer",
    "TrainConfig",
    "apply_overrides",
    "build_model",
    "capture_rng_state",
    "check_channels",
    "load_checkpoint",
    "load_config",
    "make_payload",
    "masked_argmax",
    "masked_max",
    "masked_topk",
    "model_from_checkpoint",
    "restore_rng_state",
    "save_checkpoint",
    "write_config",
]
