"""Bounded memory on hostile input (issue 12): whatever a folder or archive holds, loading it stays
under 1 GiB for all its processes together, what passes a cap is rejected with the cap in its
reason, and the good images in the same input still load. The measured loads run in a fresh
process (tests/reliability_tiny.py::load_measured); the caps themselves are checked in-process
with smaller values."""

from __future__ import annotations

import gzip
import io
import tarfile

import numpy as np
import pytest
from image_helpers import flat_png
from PIL import Image
from reliability_tiny import load_measured

from dupstudy.datasets import folder
from dupstudy.datasets.folder import load_folder

GIB = 1 << 30
MIB = 1 << 20


def _noise(seed: int, size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


GOOD = {"train/cat/a.png": _noise(1), "train/dog/b.png": _noise(2), "test/cat/c.png": _noise(3)}


def _tar_gz(path, members: dict[str, bytes | int]) -> None:
    """A .tar.gz of `members`: name -> bytes, or a number of zero bytes (whole MiB). The zeros are
    written as one small gzip member per MiB (gzip readers join members into one stream), so a
    GiB of them is built in milliseconds and is never in memory."""
    zeros = gzip.compress(bytes(MIB), 9)
    with open(path, "wb") as f:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = content if isinstance(content, int) else len(content)
            f.write(gzip.compress(info.tobuf(tarfile.USTAR_FORMAT)))
            if isinstance(content, int):
                f.writelines(zeros for _ in range(content // MIB))
            else:
                f.write(gzip.compress(content + bytes(-len(content) % tarfile.BLOCKSIZE)))
        f.write(gzip.compress(bytes(2 * tarfile.BLOCKSIZE)))  # end of archive


@pytest.mark.slow
def test_gzip_bomb_is_rejected_within_bounded_memory(tmp_path):
    """A 1 MiB .tar.gz holding a member of 1 GiB of zeros, and three of 60 MiB (under the cap, so
    read, and together past what is kept between the passes): the bomb is refused from its header,
    the others are not images, the good ones load."""
    archive = tmp_path / "bomb.tar.gz"
    _tar_gz(archive, {**{f"data/{k}": v for k, v in GOOD.items()}, "data/train/cat/bomb.png": GIB,
                      **{f"data/train/dog/zeros{i}.png": 60 * MIB for i in range(3)}})
    assert archive.stat().st_size < 2 * MIB
    got = load_measured(archive)
    assert got["sources"] == ["train/cat/a.png", "train/dog/b.png", "test/cat/c.png"]
    assert got["rejected"] == {
        "train/cat/bomb.png": "member expands to 1,073,741,824 bytes, past the 64 MiB cap",
        **{f"train/dog/zeros{i}.png": "not an image Pillow can read" for i in range(3)}}
    assert got["peak"] < GIB, got


@pytest.mark.slow
def test_large_canvases_are_rejected_within_bounded_memory(tmp_path):
    """Three 7000x7000 PNGs of a few hundred KB (49 M pixels each; 4.7 GB before the caps) and a
    sparse 1 GiB file are rejected; two images of exactly the pixel cap (RGB and 16-bit grey, the
    costliest to convert) are decoded and resized with the small ones."""
    root = tmp_path / "photos"
    canvas = flat_png(7000, 7000, 8, 2)
    files = {**GOOD, **{f"train/cat/canvas{i}.png": canvas for i in range(3)},
             "train/cat/at_cap_rgb.png": flat_png(4096, 4096, 8, 2),
             "train/dog/at_cap_grey16.png": flat_png(4096, 4096, 16, 0)}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    with open(root / "train/dog/huge.png", "wb") as f:
        f.truncate(GIB)  # sparse: no disk space, but 1 GiB to read
    got = load_measured(root)
    assert got["sources"] == ["train/cat/a.png", "train/cat/at_cap_rgb.png", "train/dog/at_cap_grey16.png",
                              "train/dog/b.png", "test/cat/c.png"]
    assert got["shape"] == [5, 8, 8, 3]
    for i in range(3):
        why = got["rejected"][f"train/cat/canvas{i}.png"]
        assert why == ("image too large: Image size (49000000 pixels) exceeds limit of 16777216 pixels, "
                       "could be decompression bomb DOS attack.")
    assert got["rejected"]["train/dog/huge.png"] == "file of 1,073,741,824 bytes, past the 64 MiB cap"
    assert len(got["rejected"]) == 4
    assert got["peak"] < GIB, got


def _tree(root, files: dict[str, bytes]):
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_decoded_dataset_past_its_cap_keeps_the_first_images(tmp_path, monkeypatch):
    monkeypatch.setattr(folder, "MAX_DATASET_BYTES", 2 * 8 * 8 * 3)  # room for two 8x8 RGB images
    p = load_folder(_tree(tmp_path, GOOD), workers=1, progress=False)
    assert list(p.manifest["source"]) == ["train/cat/a.png", "train/dog/b.png"]
    assert dict(zip(p.rejected["source"], p.rejected["reason"])) == {
        "test/cat/c.png": "not loaded: 3 images of 8x8 pass the 384 bytes cap on the decoded dataset; "
                          "the first 2 (train first, then by class and name) were kept"}


@pytest.mark.parametrize("kind", ["directory", "archive"])
def test_files_past_the_listing_cap_are_not_read(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(folder, "MAX_FILES", 2)
    root = _tree(tmp_path / "data", GOOD)
    source = root
    if kind == "archive":
        source = tmp_path / "data.tar"
        with tarfile.open(source, "w") as tar:
            for name in sorted(GOOD):
                tar.add(root / name, arcname=name)
    p = load_folder(source, workers=1, progress=False)
    assert len(p.manifest) == 2
    ((name, why),) = zip(p.rejected["source"], p.rejected["reason"])
    assert why in ("more than 2 files: this one and the rest were not read",
                   "archive holds more than 2 members: this one and the rest were not read")


def test_file_past_the_byte_cap_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(folder, "MAX_FILE_BYTES", 1000)
    big = _noise(4, size=32)
    assert len(big) > 1000 > len(GOOD["train/cat/a.png"])
    p = load_folder(_tree(tmp_path, {**GOOD, "train/cat/big.png": big}), workers=1, progress=False)
    assert dict(zip(p.rejected["source"], p.rejected["reason"])) == {
        "train/cat/big.png": f"file of {len(big):,} bytes, past the 1,000 bytes cap"}
