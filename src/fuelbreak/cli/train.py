"""`fuelbreak train`: deep Q-learning of break placement, with checkpoints, resume and supervision."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from fuelbreak import __version__
from fuelbreak.cli.common import count_int, positive_float, seed_int

# Flags that are shorthands for config overrides: flag attribute -> config key
SHORTHANDS = {
    "outdir": "run.outdir",
    "seed": "run.seed",
    "model_type": "model.type",
    "total_steps": "run.total_env_steps",
    "executor": "run.executor",
    "ray_address": "run.ray_address",
    "n_envs": "run.n_envs",
    "data": "env.data_dir",
    "weather": "weather.preset",
}


def register(sub) -> None:
    """Add `fuelbreak train` to the subparsers `sub`."""
    p = sub.add_parser(
        "train",
        help="train a Q-network to place breaks (default: synthetic tiles, 50x50, budget 5 %%, wind scenarios)",
        description="Train with the packaged default config (or --config), overridden by KEY=VALUE arguments "
        "such as dqn.lr=1e-4 or model.hparams.width=32. Writes config.toml, metrics.jsonl, TensorBoard "
        "scalars and checkpoints/ into the run folder.",
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. dqn.lr=1e-4")
    p.add_argument(
        "--config",
        metavar="NAME_OR_FILE",
        help="a packaged configuration (default, long) or a TOML file (default: default)",
    )
    p.add_argument("--outdir", help="run folder (default runs/default)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    p.add_argument("--supervise", action="store_true", help="restart a failed run from its last checkpoint")
    p.add_argument("--max-restarts", type=count_int(0), default=3, help="with --supervise: restarts before giving up")
    p.add_argument("--seed", type=seed_int)
    p.add_argument("--model-type", choices=["basic", "enhanced", "dueling"])
    p.add_argument("--total-steps", type=count_int(1), help="environment steps to train for")
    p.add_argument(
        "--executor",
        choices=["serial", "process", "ray"],
        help="where fires run (process: worker lanes that keep each episode's fires; ray: a cluster)",
    )
    p.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="with --executor ray: the Ray cluster to join (default: RAY_ADDRESS, else a private local Ray)",
    )
    p.add_argument("--n-envs", type=count_int(1), help="environments stepped together")
    p.add_argument("--data", help="a dataset folder from `fuelbreak data` (default: synthetic tiles)")
    p.add_argument(
        "--weather",
        metavar="NAME|FILE",
        help="weather.preset: a preset (default, seed, dry-windy, broad) or a .csv/.toml scenario file",
    )
    p.add_argument("--max-seconds", type=positive_float, help="stop (with a checkpoint) after this long")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> list[str]:
    out = list(args.overrides)
    for attr, key in SHORTHANDS.items():
        value = getattr(args, attr)
        if value is not None:
            out.append(f"{key}={value}")
    return out


def run(args: argparse.Namespace) -> int:
    """Run `fuelbreak train` (a new run, --resume or --supervise) and print the run's summary; returns 0."""
    from fuelbreak.agents.config import apply_overrides, load_config
    from fuelbreak.agents.train import load_run_config, train

    if args.supervise:
        return supervise(args)
    if args.resume:
        cfg = apply_overrides(load_run_config(args.resume), [*_overrides(args), f"run.outdir={args.resume}"])
    else:
        cfg = load_config(args.config, _overrides(args))
    from fuelbreak.outputs import add_note

    if cfg.dqn.init and not args.resume:  # a missing or corrupt file stops before the run folder is made
        from fuelbreak.agents.checkpoint import load_checkpoint
        from fuelbreak.agents.train import init_path

        load_checkpoint(init_path(cfg.dqn.init))
    record_weather(cfg)
    last = Path(cfg.run.outdir) / "checkpoints" / "last.pt"
    # Said if a second Ctrl-C stops training at once (the first one saves a checkpoint and returns).
    add_note(f"the run folder {cfg.run.outdir} keeps its last checkpoint ({last}, if one was saved); "
             f"resume with: fuelbreak train --resume {cfg.run.outdir}")  # fmt: skip
    summary = train(cfg, resume=bool(args.resume), progress=not args.quiet, max_seconds=args.max_seconds)
    print(json.dumps(summary, indent=2))
    if summary.get("stopped_early") and args.max_seconds is None:
        print(
            f"training stopped before run.total_env_steps with a checkpoint in {last}; "
            f"resume with: fuelbreak train --resume {cfg.run.outdir}",
            file=sys.stderr,
        )
    return 0


def record_weather(cfg) -> Path:
    """Write RUN/weather.json: the weather the run trains under, resolved (a scenario file may change later)."""
    from fuelbreak.atomic import atomic_write_text

    out = Path(cfg.run.outdir)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "fuelbreak_version": __version__,
        "preset": cfg.weather.preset,
        "weather": cfg.weather.to_weather().to_dict(),
    }
    return atomic_write_text(out / "weather.json", json.dumps(record, indent=1) + "\n")


def supervise(args: argparse.Namespace) -> int:
    """Run training in a child process; when it fails, resume it from its last checkpoint, backing off."""
    from fuelbreak.agents.config import load_config

    outdir = Path(args.resume) if args.resume else Path(load_config(args.config, _overrides(args)).run.outdir)
    child_args = _drop_flag([a for a in sys.argv[1:] if a != "--supervise"], "--max-restarts")
    fresh = [sys.executable, "-m", "fuelbreak", *child_args]
    resume = [
        sys.executable,
        "-m",
        "fuelbreak",
        "train",
        "--resume",
        str(outdir),
        *(["--quiet"] if args.quiet else []),
    ]
    for attempt in range(args.max_restarts + 1):
        cmd = resume if (outdir / "checkpoints" / "last.pt").exists() else fresh
        print(f"supervisor: attempt {attempt + 1}: fuelbreak {' '.join(cmd[3:])}", flush=True)
        rc = subprocess.call(cmd)
        if rc in (0, 130):  # done, or interrupted by the user: do not fight them
            return rc
        wait = min(2.0**attempt, 60.0)
        print(
            f"supervisor: training exited with code {rc}; resuming from the last checkpoint in {wait:g} s",
            flush=True,
        )
        time.sleep(wait)
    print(f"supervisor: giving up after {args.max_restarts} restarts", file=sys.stderr)
    return 5


def _drop_flag(argv: list[str], flag: str) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == flag:
            skip = True
            continue
        if a.startswith(flag + "="):
            continue
        out.append(a)
    return out
