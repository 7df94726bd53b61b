"""Checkpoints: one file that rebuilds the model and resumes training, and that never runs code.

A checkpoint is a dict of plain data only (tensors, dicts, lists, tuples, str, int, float, bool,
None), saved with `torch.save` and loaded with `torch.load(weights_only=True)`, which refuses any
other pickled object: a checkpoint from the internet cannot run code. Writing is atomic: a temporary
file in the same folder, fsync, then `os.replace`, so a crash mid-write leaves the previous file.

Keys (FORMAT_VERSION 1):
    format_version  int
    model_type      "basic" | "enhanced" | "dueling"
    model_hparams   model.hparams (includes in_channels)
    obs_channels    list of observation channel names, in order
    model_state     online network state_dict
    target_state    target network state_dict
    optimizer_state optimiser state_dict
    counters        {"env_steps", "grad_steps", "episodes", ...} ints
    config          the resolved training config as a nested dict
    rng_state       `capture_rng_state()`: python, numpy, torch and named numpy Generators
    extra           optional dict of anything else plain (e.g. best validation score)

A policy file (`kind` = "policy", `export_policy`) keeps only what planning needs: the model's type,
hyper-parameters, channels and weights, with the config and counters it was trained with; it is a
few hundred KB and cannot resume training.
"""

from __future__ import annotations

import json
import pickle
import random
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fuelbreak.agents.networks import MODELS, QNet, build_model
from fuelbreak.atomic import atomic_write
from fuelbreak.errors import CheckpointError

FORMAT_VERSION = 1
REQUIRED_KEYS = (
    "format_version",
    "model_type",
    "model_hparams",
    "obs_channels",
    "model_state",
    "target_state",
    "optimizer_state",
    "counters",
    "config",
    "rng_state",
)

POLICY_KEYS = ("format_version", "model_type", "model_hparams", "obs_channels", "model_state", "counters", "config")

# ----------------------------------------------------------------------------- random states


def generator_state(rng: np.random.Generator) -> str:
    """A numpy Generator's state as a JSON string (its 128-bit integers do not fit a tensor)."""
    return json.dumps(rng.bit_generator.state)


def set_generator_state(rng: np.random.Generator, state: str) -> None:
    """Set `rng`'s bit generator state from the JSON text `capture_rng_state` wrote."""
    rng.bit_generator.state = json.loads(state)


def capture_rng_state(generators: Mapping[str, np.random.Generator] | None = None) -> dict:
    """Python, numpy (global), torch and the named numpy Generators, as plain data."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "generators": {k: generator_state(g) for k, g in (generators or {}).items()},
    }
    if torch.cuda.is_available():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict, generators: Mapping[str, np.random.Generator] | None = None) -> None:
    """Put back what `capture_rng_state` took; every named generator must be in the state."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        (
            npy["name"],
            npy["keys"].numpy().astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])
    saved = state.get("generators", {})
    for key, gen in (generators or {}).items():
        if key not in saved:
            raise CheckpointError(f"checkpoint random state has no generator {key!r}; it has {sorted(saved)}")
        set_generator_state(gen, saved[key])


# ----------------------------------------------------------------------------- payload


_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def check_plain(value, where: str = "checkpoint") -> None:
    """Raise CheckpointError naming the first entry that `weights_only` loading would refuse."""
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str | int):
                raise CheckpointError(
                    f"{where} has a key {k!r} of type {type(k).__name__}; keys must be str or int"
                )
            check_plain(v, f"{where}.{k}")
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_plain(v, f"{where}[{i}]")
        return
    raise CheckpointError(
        f"{where} is a {type(value).__module__}.{type(value).__name__}; a checkpoint holds only tensors, "
        "dicts, lists, tuples, str, int, float, bool and None"
    )


def make_payload(
    *,
    model: QNet,
    target: QNet,
    optimizer: torch.optim.Optimizer,
    obs_channels: list[str],
    counters: Mapping[str, int],
    config: Mapping,
    rng_state: dict,
    extra: Mapping | None = None,
) -> dict:
    """Assemble a checkpoint payload from the training state."""
    return {
        "format_version": FORMAT_VERSION,
        "model_type": model.model_type,
        "model_hparams": dict(model.hparams),
        "obs_channels": list(obs_channels),
        "model_state": model.state_dict(),
        "target_state": target.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "counters": {k: int(v) for k, v in counters.items()},
        "config": dict(config),
        "rng_state": rng_state,
        "extra": dict(extra or {}),
    }


# ----------------------------------------------------------------------------- save / load


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Write atomically (`fuelbreak.atomic`): a crash mid-write leaves the previous file intact."""
    path = Path(path)
    _check_keys(payload, path)
    check_plain(payload, f"checkpoint {path}")
    return atomic_write(path, lambda fh: torch.save(payload, fh))


@dataclass
class Checkpoint:
    """A loaded checkpoint: its file and its payload (see the module docstring for the keys)."""

    path: Path
    data: dict

    def __getitem__(self, key: str):
        return self.data[key]

    @property
    def model_type(self) -> str:
        """The model type the checkpoint's network is ("basic", "enhanced" or "dueling")."""
        return self.data["model_type"]

    @property
    def obs_channels(self) -> list[str]:
        """The names of the observation channels the network reads, in order."""
        return list(self.data["obs_channels"])

    @property
    def counters(self) -> dict:
        """The training counters of the checkpoint (env steps, gradient steps, episodes), a copy."""
        return dict(self.data["counters"])


def load_checkpoint(path: str | Path, expected_model_type: str | None = None) -> Checkpoint:
    """Load without running code from the file; every problem is a CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():  # a foreign file's protocol warning adds nothing to the error
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _unpickling_error(path, exc) from exc
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        zipfile.BadZipFile,
        KeyError,  # garbage can reach the legacy unpickler's memo lookups
        IndexError,
        TypeError,
        AttributeError,
        UnicodeDecodeError,
    ) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {_first_line(exc)}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(data).__name__}, not a checkpoint dict")
    _check_keys(data, path)
    version = data["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version!r}; this fuelbreak reads up to {FORMAT_VERSION}"
        )
    if data["model_type"] not in MODELS:
        raise CheckpointError(f"checkpoint {path} has unknown model type {data['model_type']!r}")
    _check_finite(data, path)
    if expected_model_type is not None and data["model_type"] != expected_model_type:
        raise CheckpointError(
            f"checkpoint {path} holds a {data['model_type']!r} model, but model type "
            f"{expected_model_type!r} was asked for"
        )
    return Checkpoint(path, data)


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _unpickling_error(path: Path, exc: BaseException) -> CheckpointError:
    """The weights-only unpickler refuses both foreign objects and garbage; say which it was."""
    text = str(exc)
    match = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if match:
        return CheckpointError(
            f"checkpoint {path} was refused: it holds a pickled object ({match.group(1)}) that is not plain "
            "data, and loading it could run code"
        )
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    reason = detail.group(1).strip() if detail else _first_line(exc)
    return CheckpointError(f"checkpoint {path} is corrupt or truncated, or not a torch checkpoint ({reason})")


def _check_finite(data: Mapping, path: Path) -> None:
    """Weights that are NaN or infinite (a diverged run) would plan, evaluate and export garbage: refuse."""
    for key in ("model_state", "target_state"):
        state = data.get(key)
        if not isinstance(state, Mapping):
            continue
        for name, tensor in state.items():
            if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not torch.isfinite(tensor).all():
                bad = int((~torch.isfinite(tensor)).sum())
                raise CheckpointError(
                    f"checkpoint {path}: {key} tensor {name!r} has {bad} NaN or infinite value(s) (training "
                    "diverged?); use an earlier checkpoint, e.g. best.pt or a step_*.pt"
                )


def _check_keys(data: Mapping, path: Path) -> None:
    required = POLICY_KEYS if data.get("kind") == "policy" else REQUIRED_KEYS
    missing = [k for k in required if k not in data]
    if missing:
        raise CheckpointError(f"checkpoint {path} is missing {', '.join(missing)}")


def check_channels(ckpt: Checkpoint, channels: list[str], prefix: bool = False) -> None:
    """The environment's observation channels must be the checkpoint's, in the same order.

    With `prefix`, the checkpoint's may also be the first of them (a policy trained before later channels
    were appended reads those it knows: the policy slices its observation to them).

    Raises:
        CheckpointError: they differ.
    """
    saved = ckpt.obs_channels
    if prefix and saved and list(channels)[: len(saved)] == saved:
        return
    if list(channels) != saved:
        only_saved = [c for c in saved if c not in channels]
        only_env = [c for c in channels if c not in saved]
        detail = (
            f"checkpoint only: {only_saved}; environment only: {only_env}"
            if only_saved or only_env
            else "same channels in another order"
        )
        raise CheckpointError(
            f"checkpoint {ckpt.path} was trained on channels {saved}, the environment gives {list(channels)} "
            f"({detail})"
        )


def model_from_checkpoint(ckpt: Checkpoint, weights: str = "model") -> QNet:
    """Rebuild the network of the checkpoint's type and load its `model` or `target` weights."""
    if weights not in ("model", "target"):
        raise ValueError(f"weights must be 'model' or 'target', got {weights!r}")
    hparams = dict(ckpt["model_hparams"])
    try:
        in_channels = hparams.pop("in_channels")
        model = build_model(ckpt.model_type, in_channels, **hparams)
        model.load_state_dict(ckpt[f"{weights}_state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"checkpoint {ckpt.path}: cannot rebuild its {ckpt.model_type!r} model: {exc}"
        ) from exc
    if in_channels != len(ckpt.obs_channels):
        raise CheckpointError(
            f"checkpoint {ckpt.path}: model takes {in_channels} channels but {len(ckpt.obs_channels)} are named"
        )
    return model


def warm_start(model: QNet, ckpt: Checkpoint, channels: list[str]) -> None:
    """Start `model` from the checkpoint's weights; channels the checkpoint lacks start at zero weight.

    The checkpoint's channels must be the first of `channels` (`check_channels(prefix=True)`) and its
    network the model's type with the same hyper-parameters but its input count. The layers linear in
    the input (`QNet.first_layers`) take the checkpoint's weights for its channels and zero for the
    others, so the warm-started network scores every cell exactly as the checkpoint did until
    training moves the new weights.

    Raises:
        CheckpointError: the channels are not a prefix, or the network differs in type or shape.
    """
    check_channels(ckpt, channels, prefix=True)
    if ckpt.model_type != model.model_type:
        raise CheckpointError(
            f"checkpoint {ckpt.path} holds a {ckpt.model_type!r} model; the run's model type is {model.model_type!r}"
        )
    old = model_from_checkpoint(ckpt)
    mine = {k: v for k, v in model.hparams.items() if k != "in_channels"}
    theirs = {k: v for k, v in old.hparams.items() if k != "in_channels"}
    if mine != theirs:
        raise CheckpointError(
            f"checkpoint {ckpt.path} has model hyper-parameters {theirs}; the run's are {mine}"
        )
    grown = {id(layer.weight) for layer in model.first_layers() if layer is not None}
    saved = old.state_dict()
    state = {}
    for name, param in model.state_dict(keep_vars=True).items():
        start = saved[name]
        if start.shape != param.shape:
            if id(param) not in grown:  # only the input-linear layers may differ, and only in inputs
                raise CheckpointError(
                    f"checkpoint {ckpt.path}: weight {name!r} is {tuple(start.shape)}, the run's {tuple(param.shape)}"
                )
            extra = start.new_zeros((start.shape[0], param.shape[1] - start.shape[1], *start.shape[2:]))
            start = torch.cat([start, extra], 1)
        state[name] = start
    model.load_state_dict(state)


def policy_payload(ckpt: Checkpoint) -> dict:
    """The weights-only policy of a training checkpoint (no target, optimiser, random state or replay)."""
    payload = {key: ckpt[key] for key in POLICY_KEYS}
    payload["kind"] = "policy"
    # the training run's notes (its state, best score), not the gradient step it had in flight
    extra = {k: v for k, v in ckpt.data.get("extra", {}).items() if k != "in_flight"}
    payload["extra"] = {"source_extra": extra}
    return payload
