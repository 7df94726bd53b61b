"""Fire engines side by side: `mtt` (ours) against pyretechnics' level set, same tiles and ignitions.

    python benchmarks/bench_fire.py            # prints the Markdown tables the README quotes
    python benchmarks/bench_fire.py --json     # the same figures as JSON

Same as `fuelbreak bench fire`.
"""

import sys

from fuelbreak.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "fire", *sys.argv[1:]]))
