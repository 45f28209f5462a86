"""CIFAR-10 / CIFAR-100 from the official binary archives (no pickle is ever loaded).

Record layout (https://www.cs.toronto.edu/~kriz/cifar.html, "Binary version"):
  CIFAR-10   <1 x label><3072 x pixel>              data_batch_1..5.bin, test_batch.bin
  CIFAR-100  <1 x coarse label><1 x fine label><3072 x pixel>   train.bin, test.bin
The 3072 pixel bytes are 1024 red, then 1024 green, then 1024 blue, each 32x32 row-major.

When the archive cannot be downloaded (no network) and a fallback folder or .tar.gz of images in
the <split>/<class>/<file> layout is given (dataset.folder), that is read instead, once its
classes are checked to be the dataset's. The prepared data's source info says which one was
used, with its sha256, so the report can name it.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from ..errors import BadInput
from .download import DownloadError, download, iter_tar_files, sha256sum
from .prepared import Prepared, from_arrays

PIXELS = 3 * 32 * 32
# With a fallback at hand a download that cannot start gives up fast instead of waiting out
# a network that is not there (the timeout bounds the connect and every read).
FALLBACK_TIMEOUT_S = 10.0
FALLBACK_RETRIES = 1


@dataclass(frozen=True)
class CifarSpec:
    url: str
    md5: str
    train: tuple[str, ...]   # member file names, in the official order
    test: tuple[str, ...]
    names: str               # text file with one class name per line
    label_bytes: int         # bytes before the pixels in each record
    label_index: int         # which of those bytes is the label we use
    n_classes: int
    classes: tuple[str, ...] = ()  # the class names in label order, where short enough to list here


SPECS = {
    "cifar10": CifarSpec(
        url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        md5="c32a1d4ab5d03f1284b67883e8d87530",
        train=tuple(f"data_batch_{i}.bin" for i in range(1, 6)), test=("test_batch.bin",),
        names="batches.meta.txt", label_bytes=1, label_index=0, n_classes=10,
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")),
    "cifar100": CifarSpec(
        url="https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
        md5="03b5dce01913d631647c71ecec9e9cb8",
        train=("train.bin",), test=("test.bin",),
        names="fine_label_names.txt", label_bytes=2, label_index=1, n_classes=100),  # fine labels
}


class ArchiveError(BadInput, ValueError):
    """The archive does not have the expected members or record layout."""


def load_cifar(name: str, download_dir: str | os.PathLike = "data/raw", url: str | None = None,
               md5: str | None = None, progress: bool = True, fallback: str | os.PathLike | None = None) -> Prepared:
    """Download (or reuse) the verified binary archive for `name` and parse it; if it cannot be
    downloaded and `fallback` (a folder or .tar.gz of images, <split>/<class>/<file>) is given,
    read that instead."""
    spec = _spec(name)
    url = url or spec.url
    md5 = md5 or spec.md5
    archive = Path(download_dir) / Path(urlparse(url).path).name
    try:
        if fallback:
            download(url, archive, md5, retries=FALLBACK_RETRIES, timeout=FALLBACK_TIMEOUT_S, progress=progress)
        else:
            download(url, archive, md5, retries=3, progress=progress)
    except DownloadError as err:
        if not fallback:
            raise
        print(f"{name}: the official archive could not be downloaded ({err}); reading dataset.folder "
              f"{fallback} instead", file=sys.stderr)
        return read_fallback(fallback, name, why=f"download failed: {err}", progress=progress)
    return read_cifar_archive(archive, name, source={"name": name, "origin": "official archive", "url": url,
                                                     "md5": md5, "archive": str(archive),
                                                     "sha256": sha256sum(archive)})


def read_fallback(folder: str | os.PathLike, name: str, why: str = "", progress: bool = True) -> Prepared:
    """A folder or .tar.gz of CIFAR images in the <split>/<class>/<file> layout, as `name`, once its
    classes are checked to be the dataset's (labels follow the sorted class names, which is the
    official label order of CIFAR-10 and of CIFAR-100's fine labels)."""
    from .folder import load_folder

    spec = _spec(name)
    path = Path(folder)
    if not path.exists():
        raise FileNotFoundError(f"{name}: fallback dataset.folder {path} does not exist (a relative path is relative "
                                f"to the project root){'; ' + why if why else ''}")
    data = load_folder(path, progress=progress)
    expected = list(spec.classes) or None
    if (expected and data.classes != expected) or len(data.classes) != spec.n_classes:
        raise ArchiveError(f"{path}: its classes are not {name}'s: found {len(data.classes)} "
                           f"({', '.join(data.classes[:12])}{', ...' if len(data.classes) > 12 else ''}), expected "
                           + (', '.join(expected) if expected else f"{spec.n_classes}")
                           + "; set dataset.folder to a copy of the dataset in <split>/<class>/<file> layout")
    data.name = name
    data.source = {**data.source, "name": name, "origin": "folder (fallback)", "folder": str(folder),
                   **_checksum(path, data), "why": why}
    return data


def _checksum(path: Path, data: Prepared) -> dict:
    if path.is_file():
        return {"sha256": sha256sum(path), "sha256_of": "the archive file"}
    # A folder has no one file to hash: hash the sorted list of its files' paths and sha256s.
    h = hashlib.sha256()
    for rel, digest in sorted(zip(data.manifest["source"], data.manifest["file_sha256"])):
        h.update(f"{rel}\t{digest}\n".encode())
    return {"sha256": h.hexdigest(), "sha256_of": "the sorted lines '<path>\\t<sha256 of the file>' of the images used"}


def read_cifar_archive(path: str | os.PathLike, name: str, source: dict | None = None) -> Prepared:
    """Parse a CIFAR binary .tar.gz in memory; refuses archives with unsafe members."""
    spec = _spec(name)
    wanted = set(spec.train + spec.test + (spec.names,))
    found: dict[str, bytes] = {}
    for member, data in iter_tar_files(path):  # raises on unsafe members
        base = member.rsplit("/", 1)[-1]
        if base in wanted:
            if base in found:
                raise ArchiveError(f"{path}: more than one member named {base}")
            found[base] = data
    missing = sorted(wanted - set(found))
    if missing:
        raise ArchiveError(f"{path}: not a {name} binary archive: missing {', '.join(missing)}")

    classes = [line.strip() for line in found[spec.names].decode("utf-8").splitlines() if line.strip()]
    parts = []
    for split, members in (("train", spec.train), ("test", spec.test)):
        for member in members:
            images, labels = parse_records(found[member], spec.label_bytes, spec.label_index, member)
            parts.append((split, member, images, labels))
    images = np.concatenate([p[2] for p in parts])
    labels = np.concatenate([p[3] for p in parts])
    if labels.size and labels.max() >= len(classes):
        raise ArchiveError(f"{path}: label {labels.max()} but only {len(classes)} names in {spec.names}")
    splits = np.concatenate([np.full(len(p[3]), p[0], dtype=object) for p in parts])
    sources = [f"{name}:{member}:{i}" for _, member, _, lab in parts for i in range(len(lab))]
    return from_arrays(name, classes, images, labels, splits, sources, fmt="cifar-binary",
                       source=source or {"name": name, "archive": str(path)})


def parse_records(data: bytes, label_bytes: int, label_index: int, member: str = "data"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-size records -> (uint8 images (N, 32, 32, 3), int64 labels (N,))."""
    size = label_bytes + PIXELS
    if len(data) % size:
        raise ArchiveError(f"{member}: {len(data)} bytes is not a whole number of {size}-byte records")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, size)
    labels = records[:, label_index].astype(np.int64)
    # Stored channel-first (CHW); the prepared format is HWC.
    images = records[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _spec(name: str) -> CifarSpec:
    if name not in SPECS:
        raise ValueError(f"unknown CIFAR variant {name!r}; allowed: {', '.join(SPECS)}")
    return SPECS[name]
