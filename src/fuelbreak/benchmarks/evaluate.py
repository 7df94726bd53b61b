"""The baselines on the default synthetic test tiles: the summary table the README quotes, and its cost.

    python -m fuelbreak.benchmarks.evaluate                  # 20 test tiles, budget 5 %, 200 fires per tile
    python -m fuelbreak.benchmarks.evaluate --ckpt runs/default/checkpoints/best.pt   # with the DQN
    python -m fuelbreak.benchmarks.evaluate --budget 0.02 0.05 0.1 --executor process --workers 2

Exactly `fuelbreak evaluate --max-tiles 20 --budget 0.05 --fires 200 --outdir bench_out/evaluate`
plus any flags given here (later flags win); it prints the Markdown summary, the command that
reproduces it, and the wall-clock time of the whole run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from fuelbreak.cli import evaluate as evaluate_cli
from fuelbreak.errors import FuelbreakError

DEFAULTS = ["--max-tiles", "20", "--budget", "0.05", "--fires", "200", "--outdir", "bench_out/evaluate"]


def main(argv: list[str]) -> int:
    """Run `fuelbreak evaluate` with the benchmark's defaults plus `argv`; print its time per tile.

    Returns the exit code (a FuelbreakError's, printed as one line).
    """
    parser = argparse.ArgumentParser(prog="fuelbreak")
    evaluate_cli.register(parser.add_subparsers(dest="command", required=True))
    full = ["evaluate", *DEFAULTS, *argv]
    args = parser.parse_args(full)
    t0 = time.perf_counter()
    try:
        code = args.func(args)
    except FuelbreakError as exc:
        print(f"fuelbreak.benchmarks.evaluate: error: {exc}", file=sys.stderr)
        return exc.exit_code
    seconds = time.perf_counter() - t0
    n = json.loads((Path(args.outdir) / "evaluation.json").read_text())["n_tiles"]
    print(f"\nReproduce: `fuelbreak {shlex.join(full)}`")
    print(
        f"Wall-clock: {seconds:.1f} s for {n} tiles ({seconds / n:.1f} s per tile), all methods and fires included"
    )
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
