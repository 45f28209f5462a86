"""Atomic writes: a stage's output either appears whole or not at all.

Every writer goes through a temporary sibling path and is renamed into place at the
end, so a run killed mid-write never leaves a file that a rerun would trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def _clean_stale(path: Path) -> None:
    """Remove temporary siblings of `path` left by a writer that was killed (SIGKILL, power loss).

    Safe because an output has one writer at a time: one job per output within a run, and one
    run per working tree (the project run lock, runlock.py).
    """
    for stale in path.parent.glob(_glob_escape(_tmp_prefix(path)) + "*"):
        _remove(stale)


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _tmp_sibling(path: Path, is_dir: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(path)
    prefix = _tmp_prefix(path)
    # mkstemp/mkdtemp create private (0600/0700) paths; outputs get the usual permissions.
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
        os.chmod(tmp, 0o777 & ~_umask())
        return tmp
    fd, name = tempfile.mkstemp(prefix=prefix, dir=path.parent, suffix=path.suffix)
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to `path`, on error remove it.

    Temporary paths are hidden siblings (`.<name>.tmp-*`) that no stage reads; the next write of
    the same output removes any left by a killed run. A folder (is_dir) gets the tool's marker
    and replaces only a folder the tool made, or an empty one (outdir.check_replaceable): any
    other existing path is refused before anything is written."""
    if is_dir:
        with atomic_dirs(path) as (tmp,):
            yield tmp
        return
    path = Path(path)
    tmp = _tmp_sibling(path, is_dir=False)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_dirs(*paths: str | os.PathLike) -> Iterator[tuple[Path, ...]]:
    """Write several output folders that are committed together or not at all.

    Each folder is checked first (outdir.check_replaceable), then written in a temporary sibling.
    At the end the old folders are moved aside, the new ones renamed in, and the old ones removed;
    if a rename fails, the ones already made are undone and the old folders put back."""
    from . import outdir

    paths = tuple(Path(p) for p in paths)
    for p in paths:
        outdir.check_replaceable(p)
    tmps: list[Path] = []
    try:
        for p in paths:
            tmps.append(_tmp_sibling(p, is_dir=True))
        yield tuple(tmps)
        for p, tmp in zip(paths, tmps):
            outdir.mark(tmp)
            outdir.check_replaceable(p)  # again: the folder may have changed while we worked
        _swap_in(paths, tmps)
    except BaseException:
        for tmp in tmps:
            _remove(tmp)
        raise


def _swap_in(paths: tuple[Path, ...], tmps: list[Path]) -> None:
    moved: list[tuple[Path, Path]] = []     # (path, where its old folder waits)
    placed: list[Path] = []
    try:
        for p in paths:
            if p.exists():
                # One rename moves the old folder aside, so a kill never leaves it half deleted.
                old = Path(tempfile.mkdtemp(prefix=_tmp_prefix(p) + "old-", dir=p.parent))
                os.replace(p, old)
                moved.append((p, old))
        for p, tmp in zip(paths, tmps):
            os.replace(tmp, p)
            placed.append(p)
    except BaseException:
        for p, tmp in zip(placed, tmps):
            os.replace(p, tmp)
        for p, old in moved:
            os.replace(old, p)
        raise
    for _, old in moved:
        _remove(old)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)


def read_npy(path: str | os.PathLike) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def write_table(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame as parquet or CSV, chosen by the suffix."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)


def json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
