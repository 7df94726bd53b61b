"""Agents: per-cell Q-networks, episode replay, double DQN, checkpoints, configuration and the training loop."""

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
from fuelbreak.agents.episode_replay import Batch, EpisodeReplay
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

__all__ = [
    "FORMAT_VERSION",
    "MODELS",
    "BasicQNet",
    "Batch",
    "Checkpoint",
    "DuelingQNet",
    "EnhancedQNet",
    "QNet",
    "EpisodeReplay",
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
