"""Write the deduplicated image folder: kept training images and every test image, as hard
links (default), symbolic links or copies of the original files. The originals are never
touched; from an archive the files are copied out of it.

Files are found by the rules the image-folder source used to load them (the same archive member
when several share a name, no link out of the folder, names that are not UTF-8 spelled as on
disk), and each exported file must have the bytes that were analysed (its sha256 in the manifest)."""

from __future__ import annotations

import hashlib
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
    """Fill the new folder `tmp`. Returns counts of the train and test files exported, and the files
    that could not be (with why)."""
    from ..datasets.folder import find_files

    if mode not in MODES:
        raise ValueError(f"unknown export mode {mode!r}; allowed: {', '.join(MODES)}")
    ids = np.concatenate([np.asarray(kept_train_ids, np.int64), prepared.split_ids("test")])
    rows = prepared.manifest.iloc[ids]
    sha = dict(zip(rows["source"], rows["file_sha256"]))
    split = dict(zip(rows["source"], rows["split"]))
    failed: list[tuple[str, str]] = []
    found: set[str] = set()
    done: set[str] = set()
    for rel, name, content in find_files(prepared.source["folder"], prepared.source.get("top", ""), set(sha)):
        found.add(rel)
        dst = tmp / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        problem = _write(content, dst) if isinstance(content, bytes) else _place(Path(content), dst, mode)
        problem = problem or _changed(dst, sha[rel])
        if problem:
            failed.append((rel, problem))
            dst.unlink(missing_ok=True)
        else:
            done.add(rel)
    failed += [(rel, "not found in the source (moved or deleted since it was analysed)")
               for rel in sha if rel not in found]
    n_train = sum(split[rel] == "train" for rel in done)
    return {"train": n_train, "test": len(done) - n_train, "failed": sorted(failed)}


def _write(data: bytes, dst: Path) -> str | None:
    try:
        dst.write_bytes(data)
    except OSError as err:
        return f"{type(err).__name__}: {err.strerror or err}"
    return None


def _place(src: Path, dst: Path, mode: str) -> str | None:
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
        return f"{type(err).__name__}: {err.strerror or err}"
    return None


def _changed(path: Path, sha256: str) -> str | None:
    """Why the exported file is not the one analysed, or None when its bytes match."""
    with open(path, "rb") as f:
        if hashlib.file_digest(f, "sha256").hexdigest() != sha256:
            return "changed since it was analysed (sha256 differs); not exported"
    return None
