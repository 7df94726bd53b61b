"""A command's outputs written as a set: staged beside the target, moved into place together, locked.

Every command that writes files opens one `output_set` before its long work, so a bad output path
fails at once (not after an hour of planning), writes its files into the set's staging folder, and
the set moves them into place only when the command succeeded:

    with output_set(Path(args.outdir), flag="--outdir", owned=("*.png",)) as out:
        ...                                   # long work; a failure or Ctrl-C here leaves the target as it was
        plot(..., out.path("overlay.png"))    # write into the staging folder
    # here every file is in place

* The staging folder lies beside the target (`.NAME.stage-XXXX`), on the same file system, so each
  move is an `os.replace`. While the files are moved, Ctrl-C and SIGTERM are held back (and acted
  on right after), so an interrupt never leaves half a set.
* `owned` names (glob patterns) files the set is responsible for: an old one the new set does not
  write is removed at commit (a dataset's tile 499 when the new dataset has 10 tiles; last run's
  `_cells.geojson` when this run writes none), so the target never mixes two runs.
* A lock file beside the target (`.NAME.lock`, an flock, so a killed run's lock is free again; the
  file is removed when released) stops a second run that writes the same target: it fails at once
  with `OutputBusyError` (exit code 8) naming the target and the process that holds it.
* A failed or interrupted run removes its staging folder and any folder it created, and leaves a
  note (`take_notes`) that says what was kept, which the CLI prints on Ctrl-C. With
  `keep_partial=True` (`data fetch`) the staging folder has a fixed name and is kept, so a rerun
  resumes from what it holds.

Problems with the target itself (a read-only folder, a file where a folder goes, a folder where a
file goes, a full disk while staging) are `OutputError`s (exit code 7) naming the flag and the path.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from fuelbreak.errors import OutputBusyError, OutputError

_notes: list[str] = []


def add_note(text: str) -> None:
    """A line the CLI prints if the command is interrupted (what was kept, how to resume)."""
    _notes.append(text)


def take_notes() -> list[str]:
    """The notes left by sets and commands since the last call (and forget them)."""
    out = list(_notes)
    _notes.clear()
    return out


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold back SIGINT and SIGTERM in this block (delivered when it ends); a no-op off the main thread."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class OutputSet:
    """The files of one command's output; see the module docstring. Use `output_set` to open one."""

    def __init__(
        self,
        target: Path,
        *,
        folder: bool,
        flag: str,
        files: Iterable[str] = (),
        owned: Iterable[str] = (),
        keep_partial: bool = False,
    ):
        self.target = Path(target)
        self.folder = folder
        self.flag = flag
        # where the files go: the target folder, or the folder of a file / file prefix
        self.dest = self.target if folder else self.target.parent
        self.files = list(files)
        self.owned = list(owned)
        self.keep_partial = keep_partial
        name = self.target.name or "output"
        self.lock_path = self.target.parent / f".{name}.lock"
        self.partial_path = self.target.parent / f".{name}.partial"
        self.stage: Path | None = None
        self._lock = None
        self._created: list[Path] = []
        self.committed: list[Path] = []
        self.done = False

    # ------------------------------------------------------------------ opening

    def _error(self, path: Path, what: str, exc: BaseException | None = None) -> OutputError:
        detail = f": {exc.strerror or exc}" if isinstance(exc, OSError) else (f": {exc}" if exc else "")
        return OutputError(f"{self.flag} {self.target}: {what} {path}{detail}")

    def _make_parents(self, folder: Path) -> None:
        missing = []
        p = folder
        while not p.exists() and p != p.parent:
            missing.append(p)
            p = p.parent
        if p.exists() and not p.is_dir():
            raise self._error(p, "cannot create a folder under", NotADirectoryError(20, "it is a file"))
        for q in reversed(missing):
            try:
                q.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise self._error(q, "cannot create folder", exc) from None
            self._created.append(q)

    def open(self) -> OutputSet:
        """Lock the target and make the staging folder; returns self.

        Raises:
            OutputError: the target is of the wrong kind (file or folder) or cannot be written.
            OutputBusyError: another run holds the target's lock.
        """
        if self.folder and self.target.exists() and not self.target.is_dir():
            raise OutputError(f"{self.flag} {self.target} is a file; it must be a folder (or not exist yet)")
        if not self.folder and self.target.is_dir() and self.target.name in self.files:
            raise OutputError(f"{self.flag} {self.target} is a folder; it must name a file")
        for name in self.files:
            if (self.dest / name).is_dir():
                raise OutputError(f"{self.flag} {self.target}: {self.dest / name} is a folder where a file goes")
        try:
            self._make_parents(self.target.parent)
            if not os.access(self.target.parent, os.W_OK | os.X_OK):
                raise PermissionError(13, "Permission denied")
            holder = _lock(self.lock_path)
            if isinstance(holder, str):
                raise OutputBusyError(
                    f"{self.flag} {self.target}: another fuelbreak run is writing it (lock {self.lock_path} is "
                    f"held{' by process ' + holder if holder else ''}); wait for that run to finish, or choose "
                    "another output"
                )
            self._lock = holder
            if self.keep_partial:
                self.partial_path.mkdir(exist_ok=True)
                self.stage = self.partial_path
            else:
                self.stage = Path(tempfile.mkdtemp(prefix=f".{self.target.name or 'output'}.stage-", dir=self.target.parent))
        except OutputError:
            self.release()
            self._undo_parents()
            raise
        except OSError as exc:
            self.release()
            self._undo_parents()
            raise self._error(Path(exc.filename or self.target.parent), "cannot write in", exc) from None
        return self

    # ------------------------------------------------------------------ writing

    def path(self, name: str) -> Path:
        """The staging path of file `name` (it will be `dest/name`)."""
        if Path(name).name != name or name in ("", ".", ".."):
            raise OutputError(f"{self.flag}: output file name {name!r} must be a plain file name")
        if name not in self.files:
            self.files.append(name)
        return self.stage / name

    def final(self, name: str) -> Path:
        """Where file `name` goes when the set is committed."""
        return self.dest / name

    # ------------------------------------------------------------------ commit / abort

    def _stale(self, written: set[str]) -> list[Path]:
        if not self.owned or not self.dest.is_dir():
            return []
        return [
            p
            for p in self.dest.iterdir()
            if p.name not in written and p.is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in self.owned)
        ]

    def commit(self) -> list[Path]:
        """Move every staged file into place (signals held back meanwhile); remove stale owned files."""
        staged = sorted(p for p in self.stage.iterdir() if not p.name.startswith("."))
        subdirs = [p for p in staged if p.is_dir()]
        if subdirs:
            raise OutputError(f"{self.flag} {self.target}: staged a folder {subdirs[0].name}; only files are moved")
        names = {p.name for p in staged}
        with _signals_held():
            try:
                if staged or self.dest.exists():  # an empty set makes no folder
                    self._make_parents(self.dest)
                for p in staged:
                    final = self.dest / p.name
                    if final.is_dir():
                        raise OutputError(f"{self.flag} {self.target}: {final} is a folder where a file goes")
                    os.replace(p, final)
                    self.committed.append(final)
                for p in self._stale(names):
                    p.unlink()
                shutil.rmtree(self.stage, ignore_errors=True)
                self.done = True
            except OSError as exc:
                raise self._error(Path(exc.filename or self.dest), "cannot write", exc) from None
        self._created = []
        return self.committed

    def abort(self, interrupted: bool) -> None:
        """Drop the staged files (or keep them, with keep_partial) and any folder this set created."""
        if self.done:  # the interrupt came as the set was moved into place: it is whole
            if interrupted:
                add_note(f"{self.flag} {self.target}: written completely before the interrupt")
            return
        if self.stage is not None and not self.keep_partial:
            shutil.rmtree(self.stage, ignore_errors=True)
        if self.keep_partial and self.stage is not None:
            held = [p.name for p in self.stage.iterdir()] if self.stage.is_dir() else []
            if not held:
                shutil.rmtree(self.stage, ignore_errors=True)
            elif interrupted:
                add_note(
                    f"kept what was done so far in {self.stage} ({len(held)} files); rerun the same command to resume"
                )
        self.release()  # the lock file goes before the folders made for it
        self._undo_parents()
        if interrupted:
            there = self.target.exists() if self.folder else any((self.dest / n).exists() for n in self.files)
            state = "left as it was" if there else "not written"
            add_note(f"{self.flag} {self.target}: {state} (the new outputs were discarded, none is half written)")

    def _undo_parents(self) -> None:
        for q in reversed(self._created):
            with contextlib.suppress(OSError):
                q.rmdir()
        self._created = []

    def release(self) -> None:
        """Release the target's lock, if held."""
        if self._lock is not None:
            _unlock(self._lock, self.lock_path)
            self._lock = None


def _lock(path: Path) -> int | str:
    """Take the lock file `path` (flock, so a dead holder's lock is free).

    Its descriptor, or the text of the holder's process id when another process (or another set in this one)
    holds it.
    """
    import fcntl

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with contextlib.suppress(OSError):
                holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            return holder if holder.isdigit() else ""
        try:  # the holder before us may have unlinked the file between our open and our flock
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        os.close(fd)


def _unlock(fd: int, path: Path) -> None:
    """Remove the lock file while still holding it (so nobody locks a file about to vanish), then free it."""
    with contextlib.suppress(OSError):
        os.unlink(path)
    with contextlib.suppress(OSError):
        os.close(fd)


def _in_stage(exc: BaseException, stage: Path | None) -> bool:
    name = getattr(exc, "filename", None)
    if stage is None or not name:
        return False
    try:
        return Path(os.path.abspath(name)).is_relative_to(os.path.abspath(stage))
    except (TypeError, ValueError):
        return False


@contextlib.contextmanager
def output_set(
    target: str | os.PathLike,
    *,
    folder: bool = True,
    flag: str = "--out",
    files: Iterable[str] = (),
    owned: Iterable[str] = (),
    keep_partial: bool = False,
) -> Iterator[OutputSet]:
    """Open an `OutputSet` on `target` (a folder, or with folder=False a file or prefix whose folder receives `files`).

    Commit when the block succeeds, abort when it raises. See the module docstring.
    """
    out = OutputSet(
        Path(target), folder=folder, flag=flag, files=files, owned=owned, keep_partial=keep_partial
    ).open()
    try:
        try:
            yield out
        except OSError as exc:
            if _in_stage(exc, out.stage):
                raise OutputError(f"{flag} {target}: cannot write {exc.filename}: {exc.strerror or exc}") from None
            raise
        out.commit()
    except KeyboardInterrupt:
        out.abort(interrupted=True)
        raise
    except BaseException:
        out.abort(interrupted=False)
        raise
    finally:
        out.release()
