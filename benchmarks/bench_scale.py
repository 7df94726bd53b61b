"""Scaling: tasks/s and efficiency against 1 worker, process pool and Ray, evaluation tiles and env steps.

    python benchmarks/bench_scale.py [--workers 1 2 4 8] [--scale-seconds 10] [--ray-address HOST:PORT] [--json]

Same as `fuelbreak bench scale`.
"""

import sys

from fuelbreak.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "scale", *sys.argv[1:]]))
