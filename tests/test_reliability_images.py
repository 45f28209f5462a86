"""A messy real-world folder: every bad case of issue 6 built here, run through the ingest stage
and the dedup engine. Each input is kept, rejected with its reason, or found as a duplicate.

tests/test_datasets.py checks decoded pixels of the tricky-but-valid formats (CMYK, 16-bit,
palette with transparency, EXIF rotation); here the point is that nothing stops the run and
the counts add up.
"""

from __future__ import annotations

import io
import os
import struct
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from image_helpers import flat_png
from PIL import Image
from reliability_tiny import stage, write_params

from dupstudy.datasets import prepared
from dupstudy.datasets.folder import load_folder
from dupstudy.dedup import find_duplicates

NON_UTF8 = os.fsdecode(b"train/dog/caf\xe9.png")  # Latin-1 name, not valid UTF-8


def _save(img, fmt, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(Image.new("RGB", (16, 8), (200, 10, 10)), "JPEG", quality=95, exif=exif.tobytes())


def _palette_transparent() -> bytes:
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    img.paste(1, (0, 4, 8, 8))
    return _save(img, "PNG", transparency=0)


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _icon_holding(png: bytes) -> bytes:
    """An .ico whose directory says 16x16 and whose one image is `png`, whatever its size."""
    return struct.pack("<HHHBBBBHHII", 0, 1, 1, 16, 16, 0, 0, 1, 32, len(png), 22) + png


def _noise(seed, fmt="PNG", size=(8, 8)) -> bytes:
    return _save(Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size[::-1], 3), np.uint8)), fmt)


_jpeg = _save(Image.effect_noise((64, 64), 60).convert("RGB"), "JPEG", quality=90)
_png = _noise(99, size=(64, 64))

KEPT = {  # valid, if unusual: decoded and kept
    "train/cat/plain.png": lambda: _noise(1),
    "train/cat/plain_copy.png": lambda: _noise(1),  # an exact duplicate of plain.png
    "train/cat/cmyk.jpg": lambda: _save(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=95),
    "train/cat/grey16.png": lambda: _save(Image.fromarray(np.full((8, 8), 40000, np.uint16)), "PNG"),
    "train/dog/palette_transparent.png": _palette_transparent,
    "train/dog/exif_rotated.jpg": _exif_rotated,
    "train/dog/one_pixel.png": lambda: _save(Image.new("RGB", (1, 1), (7, 7, 7)), "PNG"),
    "train/dog/animated.gif": _animated_gif,  # the first frame is used
    NON_UTF8: lambda: _noise(2),
    "test/cat/t1.png": lambda: _noise(3),
    "test/dog/t2.png": lambda: _noise(4),
}
REJECTED = {  # name -> words in its reason
    "train/cat/empty.jpg": (lambda: b"", "empty file"),
    "train/cat/truncated.jpg": (lambda: _jpeg[: len(_jpeg) // 2], "truncated"),
    "train/cat/truncated.png": (lambda: _png[: len(_png) // 2], "truncated"),
    "train/dog/random.jpg": (lambda: np.random.default_rng(5).bytes(2048), "not an image"),
    "train/dog/bomb.png": (lambda: flat_png(30000, 30000), "decompression bomb"),  # 900 M pixels, ~110 KB
    "train/dog/icon.ico": (lambda: _icon_holding(flat_png(5000, 5000)), "image too large"),  # 25 M pixels inside
    "train/dog/drawing.eps": (lambda: _save(Image.new("RGB", (8, 8)), "EPS"), "Ghostscript"),  # never run
}
LINKS = {  # made by _tree, name -> words in its reason
    "train/dog/loop_a.png": "Too many levels of symbolic links",
    "train/dog/loop_b.png": "Too many levels of symbolic links",
    "train/dog/up/": "symbolic link to a folder (not followed)",
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("messy") / "photos"
    for name, make in {**KEPT, **{k: v[0] for k, v in REJECTED.items()}}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make())
    os.symlink("loop_b.png", root / "train/dog/loop_a.png")
    os.symlink("loop_a.png", root / "train/dog/loop_b.png")
    os.symlink("..", root / "train/dog/up")  # a folder loop: train/dog/up/dog/up/...
    return root


def _printable(name: str) -> str:
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _check_counts(p: prepared.Prepared, n_inputs: int):
    kept, rejected = list(p.manifest["source"]), list(p.rejected["source"])
    assert sorted(kept) == sorted(_printable(n) for n in KEPT)
    reasons = dict(zip(p.rejected["source"], p.rejected["reason"]))
    for name, (_, words) in REJECTED.items():
        assert words in reasons[name], (name, reasons[name])
    assert len(kept) + len(rejected) == n_inputs and not set(kept) & set(rejected)

    # Every decoded training image is either kept after dedup or removed as a duplicate of a kept one.
    dd = find_duplicates(p, {"exact": True, "hash": "phash", "hash_size": 8, "threshold": 0, "dihedral": False,
                             "remove": True})
    train = set(p.split_ids("train").tolist())
    kept_ids = set(dd.kept_train_ids.tolist())
    g = dd.groups  # groups whose labels disagree are label noise, not copies: all their members stay
    removed = set(g.loc[~g["is_keeper"] & ~g["label_conflict"], "id"].tolist())
    assert kept_ids | removed == train and not kept_ids & removed
    ids = dict(zip(p.manifest["source"], p.manifest["id"]))
    assert {ids["train/cat/plain.png"], ids["train/cat/plain_copy.png"]} & removed  # one of the pair


def test_directory_every_input_accounted_for(tree):
    p = load_folder(tree, workers=2, progress=False)
    _check_counts(p, len(KEPT) + len(REJECTED) + len(LINKS))
    reasons = dict(zip(p.rejected["source"], p.rejected["reason"]))
    for name, words in LINKS.items():
        assert words in reasons[name], (name, reasons[name])
    assert p.manifest.set_index("source").loc["train/dog/animated.gif", "format"] == "GIF"
    assert (p.manifest.set_index("source").loc["train/dog/one_pixel.png", ["width", "height"]] == 1).all()


def test_archive_every_input_accounted_for(tree, tmp_path):
    """The same tree as a .tar.gz: links inside an archive are refused as members."""
    archive = tmp_path / "photos.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="photos")
    p = load_folder(archive, workers=1, progress=False)
    _check_counts(p, len(KEPT) + len(REJECTED) + len(LINKS))
    reasons = dict(zip(p.rejected["source"], p.rejected["reason"]))
    assert all("symlink" in reasons[n.rstrip("/")] for n in LINKS), reasons


def test_ingest_stage_completes_on_the_messy_folder(tree, tmp_path):
    """The real ingest process: it finishes, and rejected.csv lists every bad input with its reason
    (the non-UTF-8 name written with \\xNN escapes)."""
    write_params(tmp_path, {"dataset": {"name": "folder", "folder": str(tree)}})
    proc = stage("ingest", tmp_path, "--out", "data/prepared")
    assert f"{len(REJECTED) + len(LINKS)} rejected" in proc.stdout
    p = prepared.load(tmp_path / "data" / "prepared")
    assert len(p.images) == len(KEPT) and "train/dog/caf\\xe9.png" in set(p.manifest["source"])
    rejected = pd.read_csv(tmp_path / "data" / "prepared" / "rejected.csv")
    assert set(rejected["source"]) == set(REJECTED) | set(LINKS)
    assert rejected["reason"].str.len().min() > 10


def test_unreadable_file_is_rejected_with_its_reason(tmp_path, monkeypatch):
    """A file that cannot be read (permissions) is listed, not fatal. chmod 000 stops nobody when
    the tests run as root (as in CI containers), so there the read error is injected instead."""
    for name, make in [("train/a/ok.png", lambda: _noise(1)), ("train/a/locked.png", lambda: _noise(2))]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(make())
    locked = tmp_path / "train/a/locked.png"
    if os.geteuid() != 0:
        locked.chmod(0)
    else:
        real = Path.open

        def open_(self, *args, **kwargs):
            if self.name == "locked.png":
                raise PermissionError(13, "Permission denied", str(self))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", open_)
    try:
        p = load_folder(tmp_path, workers=1, progress=False)
    finally:
        locked.chmod(0o644)
    assert list(p.manifest["source"]) == ["train/a/ok.png"]
    assert dict(zip(p.rejected["source"], p.rejected["reason"])) == {
        "train/a/locked.png": f"cannot read file: [Errno 13] Permission denied: '{locked}'"}
