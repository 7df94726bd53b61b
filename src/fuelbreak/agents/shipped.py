"""The policy that ships inside the package: the default configuration's trained weights, and their record.

`fuelbreak plan --method dqn`, `fuelbreak evaluate` and `fuelbreak visualize` plan with it when no
`--ckpt` is given. It lives in `fuelbreak/policies/`:

    default.pt     weights only (`kind = "policy"`, see `fuelbreak.agents.checkpoint`)
    default.toml   the resolved configuration it was trained with
    default.json   how it was made: the commands, seed, training summary, validation score, machine,
                   and the SHA-256 of the weights
    default.metrics.jsonl  the training run's metrics log (for the training-summary figure)

It is made by `fuelbreak train` with the packaged default configuration (same seed, same kind of
machine: same weights), then `fuelbreak policy export runs/default/checkpoints/best.pt`.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import torch

from fuelbreak.agents.checkpoint import load_checkpoint, policy_payload, save_checkpoint
from fuelbreak.agents.config import config_from_dict, dumps_toml
from fuelbreak.atomic import atomic_write_text
from fuelbreak.errors import CheckpointError
from fuelbreak.provenance import machine_record

SHIPPED_NAME = "default"


def policies_dir() -> Path:
    """The package folder that holds the shipped policies."""
    return Path(str(resources.files("fuelbreak") / "policies"))


def shipped_policy_path(name: str = SHIPPED_NAME) -> Path:
    """The shipped policy's weights; a missing file is a CheckpointError saying how to get it back."""
    path = policies_dir() / f"{name}.pt"
    if not path.is_file():
        raise CheckpointError(
            f"the shipped policy {path} is missing: reinstall fuelbreak, or give a checkpoint with --ckpt "
            "(make one with `fuelbreak train`)"
        )
    return path


def shipped_record(name: str = SHIPPED_NAME) -> dict:
    """The record of how the shipped policy was made (its default.json)."""
    path = policies_dir() / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"the shipped policy's record {path} is missing or unreadable: {exc}") from None


def sha256_of(path: str | Path) -> str:
    """The SHA-256 hex digest of the file at `path`, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_digest(state: dict) -> str:
    """A digest of a state_dict's tensors (names, shapes, bytes): equal digests, equal weights."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def export_policy(ckpt_path: str | Path, out_dir: str | Path | None = None, name: str = SHIPPED_NAME) -> dict:
    """Write a training checkpoint's policy (weights only), its config and its record; return the record."""
    ckpt_path = Path(ckpt_path)
    ckpt = load_checkpoint(ckpt_path)
    out = Path(out_dir) if out_dir is not None else policies_dir()
    out.mkdir(parents=True, exist_ok=True)
    payload = policy_payload(ckpt)
    weights = out / f"{name}.pt"
    save_checkpoint(weights, payload)
    cfg = config_from_dict(dict(ckpt["config"]), source=f"checkpoint {ckpt_path}")
    atomic_write_text(out / f"{name}.toml", dumps_toml(cfg.to_dict()))
    run = ckpt_path.resolve().parent.parent
    summary = {}
    if (run / "summary.json").is_file():
        summary = json.loads((run / "summary.json").read_text())
    if (run / "metrics.jsonl").is_file():  # the training curves, for `fuelbreak visualize`
        atomic_write_text(out / f"{name}.metrics.jsonl", (run / "metrics.jsonl").read_text())
    record = {
        "name": name,
        "made_by": [
            f"fuelbreak train --outdir {cfg.run.outdir}  (with the config in {name}.toml)",
            f"fuelbreak policy export {ckpt_path}",
        ],
        "seed": cfg.run.seed,
        "model_type": ckpt.model_type,
        "model_hparams": dict(ckpt["model_hparams"]),
        "counters": ckpt.counters,
        "best_val_reduction": ckpt.data.get("extra", {}).get("state", {}).get("best_val"),
        "training_summary": summary,
        "weights_sha256": weights_digest(ckpt["model_state"]),
        "torch": torch.__version__,
        # where the weights were trained (bit for bit on the same CPU model, torch version and threads)
        "trained_on": summary.get("machine"),
        "exported_on": machine_record(),
    }
    atomic_write_text(out / f"{name}.json", json.dumps(record, indent=2) + "\n")
    return record
