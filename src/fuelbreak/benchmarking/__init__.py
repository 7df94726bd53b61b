"""Benchmarks shared by `benchmarks/` scripts and `fuelbreak bench`: each measures ours against a reference in one run."""
