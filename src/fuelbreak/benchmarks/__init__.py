"""Benchmarks: each measures ours against a reference in one run, and prints the figures the README quotes.

`fuelbreak bench fire|env|train|scale|flammap` runs `fire`, `env`, `train`, `scale` (with
`landscape_size`) and `flammap`; one study runs as a module: `python -m
fuelbreak.benchmarks.domirank_sigma` (how DomiRank's sigma was chosen). `fuelbreak bench report`
(`report`) runs every command behind the README's and the docs' results tables (the evaluations among
them) and writes the tables again. Benchmarks never import the command line: they sit below it.
"""
