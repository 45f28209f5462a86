"""Output folders the tool owns, and the rules that keep it from touching any other folder.

Every output folder the tool writes holds a marker file, MARKER. A folder may be replaced only
if it holds the marker (the tool made it) or is empty; any other existing path, and any output
that is, contains or sits inside one of the run's inputs, is refused before any work starts.
Nothing the user made is ever moved, overwritten or deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import BadInput, Busy

MARKER = ".dupstudy-output"
MARKER_TEXT = "This folder was written by dupstudy; a later run may replace it. Delete this file to protect it.\n"


class UnsafeOutput(BadInput):
    """An output path that the tool must not replace."""


class OutputBusy(Busy):
    """Another process is writing the same output folder."""


def check_replaceable(path: str | os.PathLike, what: str = "output folder") -> None:
    """Refuse (UnsafeOutput) unless `path` does not exist, is an empty folder, or holds MARKER."""
    path = Path(path)
    if path.is_symlink():
        raise UnsafeOutput(f"{what} {path} is a symbolic link; give a new folder name (nothing was touched)")
    if not path.exists():
        return
    if not path.is_dir():
        raise UnsafeOutput(f"{what} {path} exists and is not a folder; give a new folder name (nothing was touched)")
    if (path / MARKER).is_file():
        return
    if any(path.iterdir()):
        raise UnsafeOutput(f"{what} {path} already holds files that dupstudy did not write (no {MARKER} in it); "
                           f"give a new or empty folder (nothing was touched)")


def check_apart(output: str | os.PathLike, inputs: dict[str, str | os.PathLike], what: str = "output folder") -> None:
    """Refuse an output that is an input, lies inside one, or contains one (after resolving links)."""
    out = Path(output).resolve()
    for name, given in inputs.items():
        src = Path(given).resolve()
        if out == src:
            raise UnsafeOutput(f"{what} {output} is the {name} itself; give a folder outside it (nothing was touched)")
        if src in out.parents:
            raise UnsafeOutput(f"{what} {output} is inside the {name} {given}; give a folder outside it "
                               f"(nothing was touched)")
        if out in src.parents:
            raise UnsafeOutput(f"{what} {output} contains the {name} {given}; give a folder outside it "
                               f"(nothing was touched)")


def mark(folder: Path) -> None:
    (folder / MARKER).write_text(MARKER_TEXT)


@contextlib.contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on the output folder `path` or raise OutputBusy.

    The lock is a hidden sibling file, removed when the holder is done; the kernel drops the lock
    itself when the holder exits, however it exits."""
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.parent / f".{path.name}.lock"
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputBusy(f"{path} is being written by another dupstudy run; wait for it to finish "
                             f"or choose another folder") from None
        if _same_file(fd, lock):
            break
        os.close(fd)  # the previous holder removed that file as we locked it: take the new one
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
