"""Atomic file writes: a crash or a kill mid-write leaves the previous file intact, never half a file.

Everything fuelbreak writes (tiles, manifests, plans, images, configs, checkpoints, replay) goes
through here: the data goes to a temporary file in the same folder, is flushed to disk, and then
replaces the target in one `os.replace`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the OS allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds it replaces `path` atomically.

    For writers that need a file name (rasterio, torch.save, np.savez); the temporary file is
    removed if the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        _fsync_file(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; give them the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike, write: Callable) -> Path:
    """Write a file through `write(binary file object)`, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        write(fh)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (`atomic_write`); returns the path."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` as UTF-8, atomically (`atomic_write`); returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temporaries(folder: str | os.PathLike, names: tuple[str, ...] = ("*",)) -> list[Path]:
    """Remove the temporary files `atomic_path` left in `folder` for the files `names` (glob patterns).

    Such files (`.NAME.XXXX.tmp`) remain when a process is killed mid-write; they are removed only where no
    other process is writing those files.

    Only where no other process is writing those files. Returns what was removed.
    """
    removed = []
    for tmp in (t for name in names for t in Path(folder).glob(f".{name}.*.tmp")):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed
