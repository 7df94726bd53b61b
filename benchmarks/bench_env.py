"""Environment steps per second: fuelbreak's sync and async vector envs and gymnasium's AsyncVectorEnv.

    python benchmarks/bench_env.py [--json]

Same as `fuelbreak bench env`.
"""

import sys

from fuelbreak.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "env", *sys.argv[1:]]))
