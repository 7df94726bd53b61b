"""Benchmarks: each measures ours against a reference in one run, and prints the figures the README quotes.

`fuelbreak bench fire|env|train|scale` runs `fire`, `env`, `train` and `scale`; two studies run as
modules: `python -m fuelbreak.benchmarks.evaluate` (the baselines on the test tiles, with the
wall-clock of the whole evaluation) and `python -m fuelbreak.benchmarks.domirank_sigma` (how
DomiRank's sigma was chosen). `fuelbreak bench report` (`report`) runs every command behind the
README's and the docs' results tables and writes the tables again.
"""
