"""`fuelbreak policy`: the policy that ships with the package; export a trained checkpoint as one."""

from __future__ import annotations

import argparse
import json
import re


def register(sub) -> None:
    """Add `fuelbreak policy` and its actions (info, export, demos) to the subparsers `sub`."""
    p = sub.add_parser(
        "policy",
        help="the shipped policy: show its record, or export a trained checkpoint as a policy",
        description="`info` prints how the shipped policy was made; `export CKPT` writes a checkpoint's "
        "weights (only), its config and a record, by default into the package as the shipped policy.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    info = actions.add_parser("info", help="the shipped policy's record (config, seed, validation, digest)")
    info.set_defaults(func=run_info)
    exp = actions.add_parser("export", help="write a checkpoint's policy (weights only) and its record")
    exp.add_argument("ckpt", help="a training checkpoint, e.g. runs/default/checkpoints/best.pt")
    exp.add_argument(
        "--out", help="folder to write NAME.pt/.toml/.json into (default: the package's policies/)"
    )
    exp.add_argument("--name", default="default", help="file name stem (default: default)")
    exp.set_defaults(func=run_export)
    demos = actions.add_parser(
        "demos",
        help="make a config's teacher demonstrations and write them where the package ships them",
    )
    demos.add_argument("--config", metavar="NAME_OR_FILE", help="a packaged configuration or TOML (default: default)")
    demos.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, as for train")
    demos.add_argument("--out", help="folder for the plans (default: the package's policies/demonstrations/)")
    demos.set_defaults(func=run_demos)


def run_info(args: argparse.Namespace) -> int:
    """Run `fuelbreak policy info`: print the shipped policy's path and record; returns 0."""
    from fuelbreak.agents.shipped import shipped_policy_path, shipped_record

    print(f"shipped policy: {shipped_policy_path()}")
    print(json.dumps(shipped_record(), indent=2))
    return 0


# A policy's name is a file stem: letters, digits, '.', '_' and '-', not starting with '.' (no path).
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


def run_export(args: argparse.Namespace) -> int:
    """Run `fuelbreak policy export`: write a checkpoint's policy (weights, config, record, log) as one set; returns 0.

    Raises:
        ConfigError: --name is not a plain file name.
        CheckpointError: the checkpoint cannot be loaded.
    """
    from pathlib import Path

    from fuelbreak.agents.checkpoint import load_checkpoint
    from fuelbreak.agents.shipped import export_policy, policies_dir
    from fuelbreak.errors import ConfigError
    from fuelbreak.outputs import output_set

    if not NAME.fullmatch(args.name):
        raise ConfigError(
            f"--name {args.name!r} is not a plain file name: use letters, digits, '.', '_' and '-' (no folders, "
            "not starting with '.'); choose the folder with --out"
        )
    load_checkpoint(args.ckpt)  # a bad checkpoint is refused before anything is staged
    out_dir = Path(args.out) if args.out is not None else policies_dir()
    files = [f"{args.name}{ext}" for ext in (".pt", ".toml", ".json", ".metrics.jsonl")]
    # The four files are one set: an old NAME.metrics.jsonl this export does not write goes too.
    with output_set(out_dir, flag="--out", owned=files) as out:
        record = export_policy(args.ckpt, out.stage, args.name)
    print(
        f"wrote the {record['model_type']} policy {out_dir / (args.name + '.pt')} "
        f"(weights {record['weights_sha256'][:12]})"
    )
    return 0


def run_demos(args: argparse.Namespace) -> int:
    """Run `fuelbreak policy demos`: compute the config's demonstration plans and cache them in --out; returns 0."""
    from fuelbreak.agents.config import load_config
    from fuelbreak.agents.demonstrations import DemoCache, demo_plans, shipped_cache_dir
    from fuelbreak.agents.train import demo_specs, env_kwargs
    from fuelbreak.env.fuelbreak_env import FuelBreakEnv
    from fuelbreak.parallel import make_executor

    cfg = load_config(args.config, args.overrides)
    out = DemoCache(args.out or shipped_cache_dir(), read_only=())
    specs = demo_specs(FuelBreakEnv(**env_kwargs(cfg, "train")), cfg)
    with make_executor("process", workers=2) as executor:
        plans = demo_plans(specs, DemoCache(cfg.dqn.demo_cache or None), executor, progress=True)
    for spec, cells in zip(specs, plans, strict=True):
        out.put(spec, cells)
    print(f"wrote {len(plans)} {cfg.dqn.demo_method} demonstrations into {out.folder}")
    return 0
