"""Which evaluation tiles a checkpoint was trained on, from the training configuration it records.

Training splits its tiles with `split_indices(n, env.split_seed)` over `env.synthetic_tiles`
synthetic tiles (or the tiles of `env.data_dir`). Synthetic tile i is the same landscape whatever
the dataset size, so evaluating a checkpoint trained on 32 tiles against the test split of 500
would score it on tiles it learned from. This module finds such tiles so the command can refuse.
"""

from __future__ import annotations

from pathlib import Path

from fuelbreak.landscape.dataset import split_indices


def trained_tiles(
    train_env: dict, data: str | None, tile_size: int, tiles_seed: int, n_eval_tiles: int
) -> set[int] | None:
    """Indices (in the evaluated dataset) of the checkpoint's training tiles; None when unknowable.

    `train_env` is the checkpoint's `config["env"]`; `data`, `tile_size`, `tiles_seed` and
    `n_eval_tiles` describe the evaluated dataset (data None: synthetic tiles).
    """
    need = ("split_seed", "synthetic_tiles", "tile_size", "synthetic_seed", "data_dir")
    if not all(k in train_env for k in need):
        return None
    train_data = train_env["data_dir"] or None
    if (train_data is None) != (data is None):
        return set()  # synthetic tiles on one side, real ones on the other: no tile in common
    if data is None:
        if (train_env["tile_size"], train_env["synthetic_seed"]) != (tile_size, tiles_seed):
            return set()  # other synthetic tiles altogether
        n_train = int(train_env["synthetic_tiles"])
    else:
        if Path(train_data).resolve() != Path(data).resolve():
            return set()  # another folder: taken to hold other tiles
        n_train = n_eval_tiles
    train = split_indices(n_train, int(train_env["split_seed"]))["train"]
    return {i for i in train if i < n_eval_tiles}
