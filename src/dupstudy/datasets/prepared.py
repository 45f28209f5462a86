"""The prepared dataset: the one format every stage after ingest reads.

A directory holding
  images.npy     uint8 (N, H, W, C), C = 1 (grey) or 3 (RGB), all splits together
  labels.npy     int64 (N,)
  manifest.parquet  one row per image: id (= row in images.npy), split ('train'/'test'),
                 label, source (where it came from), width, height (as stored in the source),
                 format, file_size, file_sha256 ('' when there is no file), pixel_md5
  meta.json      dataset name, class names, image shape, counts per split
  rejected.csv   inputs that could not be used: source, reason
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_path, read_json, read_npy

MANIFEST_COLUMNS = ["id", "split", "label", "source", "width", "height", "format", "file_size", "file_sha256",
                    "pixel_md5"]


@dataclass
class Prepared:
    name: str
    classes: list[str]
    images: np.ndarray
    labels: np.ndarray
    manifest: pd.DataFrame
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source", "reason"]))
    source: dict = field(default_factory=dict)

    def split_ids(self, split: str) -> np.ndarray:
        return self.manifest.loc[self.manifest["split"] == split, "id"].to_numpy(np.int64)

    def save(self, out_dir: str | Path) -> None:
        _check(self)
        with atomic_path(out_dir, is_dir=True) as tmp:
            np.save(tmp / "images.npy", self.images, allow_pickle=False)
            np.save(tmp / "labels.npy", self.labels.astype(np.int64), allow_pickle=False)
            self.manifest[MANIFEST_COLUMNS].to_parquet(tmp / "manifest.parquet", index=False)
            self.rejected.to_csv(tmp / "rejected.csv", index=False)
            meta = {
                "dataset": self.name,
                "classes": self.classes,
                "shape": list(self.images.shape[1:]),
                "counts": self.manifest["split"].value_counts().sort_index().to_dict(),
                "rejected": int(len(self.rejected)),
                "source": self.source,
            }
            import json

            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def load(path: str | Path, mmap: bool = False) -> Prepared:
    path = Path(path)
    meta = read_json(path / "meta.json")
    images = np.load(path / "images.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
    return Prepared(
        name=meta["dataset"],
        classes=meta["classes"],
        images=images,
        labels=read_npy(path / "labels.npy"),
        manifest=pd.read_parquet(path / "manifest.parquet"),
        rejected=pd.read_csv(path / "rejected.csv"),
        source=meta.get("source", {}),
    )


def pixel_md5(image: np.ndarray) -> str:
    """Checksum of decoded pixels plus shape: the same picture in PNG and BMP gets the same value."""
    h = hashlib.md5(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def from_arrays(name: str, classes: list[str], images: np.ndarray, labels: np.ndarray, splits: list[str] | np.ndarray,
                sources: list[str], fmt: str = "array", source: dict | None = None) -> Prepared:
    """Build a Prepared from in-memory arrays (sources without per-image files)."""
    if images.ndim == 3:
        images = images[..., None]
    n = len(images)
    manifest = pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "split": np.asarray(splits, dtype=object),
        "label": labels.astype(np.int64),
        "source": sources,
        "width": images.shape[2],
        "height": images.shape[1],
        "format": fmt,
        "file_size": 0,
        "file_sha256": "",
        "pixel_md5": [pixel_md5(im) for im in images],
    })
    return Prepared(name, classes, np.ascontiguousarray(images, dtype=np.uint8), labels.astype(np.int64), manifest,
                    source=source or {})


def train_subset(p: Prepared, share: float, seed: int = 0) -> Prepared:
    """Keep round(share * n) of each class's training images (drawn with `seed`) and every test
    image; ids are renumbered. The source info records the share."""
    train = p.manifest["split"].to_numpy() == "train"
    rng = np.random.default_rng(seed)
    keep = ~train
    for c in np.unique(p.labels[train]):
        ids = np.flatnonzero(train & (p.labels == c))
        keep[rng.choice(ids, size=int(round(share * len(ids))), replace=False)] = True
    idx = np.flatnonzero(keep)
    manifest = p.manifest.iloc[idx].reset_index(drop=True).assign(id=np.arange(len(idx), dtype=np.int64))
    source = {**p.source, "train_share": share, "train_before_share": int(train.sum())}
    return Prepared(p.name, p.classes, p.images[idx], p.labels[idx], manifest, p.rejected, source)


def _check(p: Prepared) -> None:
    n = len(p.images)
    if p.images.dtype != np.uint8 or p.images.ndim != 4 or p.images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be uint8 (N, H, W, 1|3), got {p.images.dtype} {p.images.shape}")
    if len(p.labels) != n or len(p.manifest) != n:
        raise ValueError(f"{n} images but {len(p.labels)} labels and {len(p.manifest)} manifest rows")
    if not set(p.manifest["split"]).issubset({"train", "test"}):
        raise ValueError(f"unknown split(s): {sorted(set(p.manifest['split']) - {'train', 'test'})}")
    if len(p.labels) and (p.labels.min() < 0 or p.labels.max() >= len(p.classes)):
        raise ValueError(f"labels outside 0..{len(p.classes) - 1}")
