"""Write the deduplicated image folder: kept training images and every test image, as hard
links (default), symbolic links or copies of the original files. The originals are never
touched; from an archive the files are copied out of it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from ..io import atomic_path

MODES = ("link", "symlink", "copy")


def export_folder(prepared, kept_train_ids: np.ndarray, out_dir: str | Path, mode: str = "link") -> dict:
    """Write the folder atomically; see export_into."""
    with atomic_path(out_dir, is_dir=True) as tmp:
        return export_into(prepared, kept_train_ids, tmp, mode)


def export_into(prepared, kept_train_ids: np.ndarray, tmp: Path, mode: str = "link") -> dict:
    """Fill the new folder `tmp`. Returns counts: exported train/test files and files that could
    not be exported (with why)."""
    if mode not in MODES:
        raise ValueError(f"unknown export mode {mode!r}; allowed: {', '.join(MODES)}")
    source = Path(prepared.source["folder"])
    top = prepared.source.get("top", "")
    ids = np.concatenate([np.asarray(kept_train_ids, np.int64), prepared.split_ids("test")])
    rels = prepared.manifest["source"].to_numpy()[ids].tolist()
    failed: list[tuple[str, str]] = []
    if source.is_dir():
        for rel in rels:
            _place(source / top / rel, tmp / rel, mode, failed, rel)
    else:  # an archive: copy each wanted member's bytes out
        from ..datasets.download import iter_tar_files

        wanted = {f"{top}/{rel}" if top else rel: rel for rel in rels}
        found = set()
        for name, data in iter_tar_files(source, refused=[]):
            rel = wanted.get(name)
            if rel is not None:
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_bytes(data)
                found.add(rel)
        failed += [(rel, "not found in the archive") for rel in rels if rel not in found]
    n_train = len(kept_train_ids)
    return {"train": n_train, "test": len(ids) - n_train, "failed": failed}


def _place(src: Path, dst: Path, mode: str, failed: list, rel: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        if mode == "symlink":
            os.symlink(src.resolve(), dst)
        elif mode == "copy":
            shutil.copy2(src, dst)
        else:
            try:
                os.link(src, dst)
            except OSError:  # another file system: fall back to a copy
                shutil.copy2(src, dst)
    except OSError as err:
        failed.append((rel, f"{type(err).__name__}: {err.strerror or err}"))
