"""`python -m fuelbreak` runs the `fuelbreak` command."""

import sys

from fuelbreak.cli import main

sys.exit(main())
