"""Which evaluation tiles a checkpoint was trained on, from the training configuration it records.

Training splits its tiles with `dataset_split(dataset, env.split_seed)`: by index over
`env.synthetic_tiles` synthetic tiles, by spatial blocks over the tiles of a real dataset
(`env.data_dir`). Synthetic tile i is the same landscape whatever the dataset size, so evaluating a
checkpoint trained on 32 tiles against the test split of 500 would score it on tiles it learned from.
Real tiles are compared by footprint: an evaluated tile that shares ground with any training tile
(in whatever dataset folder it was cut, with whatever size or overlap) counts as trained on. This
module finds such tiles so the command can refuse.
"""

from __future__ import annotations

from pathlib import Path

from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from fuelbreak.landscape.dataset import MANIFEST, dataset_split, is_spatial, load_dataset, split_indices

Rect = tuple[float, float, float, float]


def _cell_rects(manifest: dict) -> list[Rect]:
    """Tile footprints in the source raster's cell frame (col, row), from the manifest's offsets."""
    h, w = manifest["size"]
    return [(c, r, c + w, r + h) for r, c in (t["offset"] for t in manifest["tiles"])]


def _overlapping(train: list[Rect], evaluated: list[Rect], tol: float) -> set[int]:
    """Indices of `evaluated` rectangles that share a positive area (beyond `tol`) with any of `train`."""
    out = set()
    for i, (l1, b1, r1, t1) in enumerate(evaluated):
        for l2, b2, r2, t2 in train:
            if min(r1, r2) - max(l1, l2) > tol and min(t1, t2) - max(b1, b2) > tol:
                out.add(i)
                break
    return out


def footprint_overlaps(train_ds, train_indices: list[int], eval_ds) -> set[int] | None:
    """Indices of `eval_ds` tiles whose footprint overlaps a training tile of `train_ds`; None when unknowable."""
    same = Path(train_ds.path).resolve() == Path(eval_ds.path).resolve()
    tm, em = train_ds.manifest, eval_ds.manifest
    if same and not em.get("crs"):
        return _overlapping([_cell_rects(tm)[i] for i in train_indices], _cell_rects(em), 0.01)
    if not (tm.get("crs") and em.get("crs")):
        return None
    train_fp, eval_fp = train_ds.footprints(), eval_ds.footprints()
    train_rects = [train_fp[i] for i in train_indices]
    if any(r is None for r in train_rects) or any(r is None for r in eval_fp):
        return None
    src, dst = CRS.from_user_input(tm["crs"]), CRS.from_user_input(em["crs"])
    if src != dst:
        train_rects = [transform_bounds(src, dst, *r, densify_pts=21) for r in train_rects]
    tol = 0.01 * float(em.get("cell_size") or 1.0)
    return _overlapping(train_rects, eval_fp, tol)


def trained_tiles(
    train_env: dict,
    data: str | None,
    tile_size: int,
    tiles_seed: int,
    n_eval_tiles: int,
    eval_dataset=None,
) -> set[int] | None:
    """Indices (in the evaluated dataset) of the checkpoint's training tiles; None when unknowable.

    `train_env` is the checkpoint's `config["env"]`; `data`, `tile_size`, `tiles_seed` and
    `n_eval_tiles` describe the evaluated dataset (data None: synthetic tiles). For real datasets
    the answer is by footprint (see `footprint_overlaps`), which needs the training dataset's
    folder (its manifest) to be readable; without it the answer is None.
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
        train = split_indices(int(train_env["synthetic_tiles"]), int(train_env["split_seed"]))["train"]
        return {i for i in train if i < n_eval_tiles}
    eval_ds = eval_dataset if eval_dataset is not None else load_dataset(data)
    same = Path(train_data).resolve() == Path(data).resolve()
    if not is_spatial(eval_ds.manifest):  # tiles without a place (e.g. synthetic ones on disk): by index
        if not same:
            return set()  # another folder: taken to hold other tiles
        return set(dataset_split(eval_ds, int(train_env["split_seed"]))["train"])
    if not same and not (Path(train_data) / MANIFEST).is_file():
        return None
    train_ds = eval_ds if same else load_dataset(train_data)
    if not is_spatial(train_ds.manifest):
        return set()
    train = dataset_split(train_ds, int(train_env["split_seed"]))["train"]
    seen = footprint_overlaps(train_ds, train, eval_ds)
    if seen is None and same:
        return set(train)
    return seen
