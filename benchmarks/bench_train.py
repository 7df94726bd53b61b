"""Training throughput and memory of the default configuration, on 500 synthetic tiles.

    python benchmarks/bench_train.py [--seconds 240] [--json]

Same as `fuelbreak bench train`.
"""

import sys

from fuelbreak.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "train", *sys.argv[1:]]))
