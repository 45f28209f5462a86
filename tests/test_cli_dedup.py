"""`dupstudy dedup PATH --out DIR` on a plain image folder, outside the pipeline."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from image_helpers import smooth

from dupstudy.outdir import MARKER

BIN = Path(sys.executable).parent


def test_dedup_cli_on_a_folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    originals = [smooth(rng) for _ in range(6)]
    for i, im in enumerate(originals):
        d = root / "train" / ("cat" if i % 2 else "dog")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(d / f"{i}.png")
    Image.fromarray(originals[0][:, ::-1]).save(root / "train/dog/0_flipped.png")   # flip copy in train
    (root / "test/cat").mkdir(parents=True)
    Image.fromarray(originals[1]).save(root / "test/cat/leaked.bmp")               # same pixels, other format
    Image.fromarray(smooth(rng)).save(root / "test/cat/new.png")
    (root / "train/cat/broken.jpg").write_bytes(b"not an image")

    out = tmp_path / "out"
    proc = subprocess.run([str(BIN / "dupstudy"), "dedup", str(root), "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "7 train images -> 6 kept" in proc.stdout
    assert "1 test images with a duplicate in train" in proc.stdout and "1 files rejected" in proc.stdout
    pairs = pd.read_parquet(out / "pairs.parquet")
    assert set(pairs["kind"]) == {"flip_rot", "exact_pixels"}
    assert len(np.load(out / "kept_train_ids.npy")) == 6
    assert pd.read_csv(out / "rejected.csv")["source"].tolist() == ["train/cat/broken.jpg"]

    no_flip = subprocess.run([str(BIN / "dupstudy"), "dedup", str(root), "--out", str(tmp_path / "o2"),
                              "--no-dihedral"], capture_output=True, text=True)
    assert "7 train images -> 7 kept" in no_flip.stdout


def test_dedup_cli_names_a_missing_folder(tmp_path):
    proc = subprocess.run([str(BIN / "dupstudy"), "dedup", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "nope: no such folder" in proc.stderr


def test_export_writes_the_deduplicated_folder_and_leaves_originals(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "images"
    (root / "train/a").mkdir(parents=True)
    (root / "test/a").mkdir(parents=True)
    im = smooth(rng)
    Image.fromarray(im).save(root / "train/a/big.png")
    Image.fromarray(im).save(root / "train/a/same.bmp")      # same pixels: one of the two is dropped
    Image.fromarray(smooth(rng)).save(root / "train/a/other.png")
    Image.fromarray(smooth(rng)).save(root / "test/a/t.png")
    before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    for mode in ("link", "copy", "symlink"):
        exp = tmp_path / f"export-{mode}"
        proc = subprocess.run([str(BIN / "dupstudy"), "dedup", str(root), "--out", str(tmp_path / "o"),
                               "--export", str(exp), "--export-mode", mode], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert f"exported 2 train and 1 test images to {exp} ({mode})" in proc.stdout
        assert (exp / MARKER).is_file()  # a folder the tool made, which a later run may replace
        got = sorted(p.relative_to(exp).as_posix() for p in exp.rglob("*") if p.is_file() and p.name != MARKER)
        assert len(got) == 3 and "train/a/other.png" in got and "test/a/t.png" in got
        assert (exp / "train/a/other.png").read_bytes() == (root / "train/a/other.png").read_bytes()
        assert (exp / "train/a/other.png").is_symlink() == (mode == "symlink")
    after = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert before == after  # nothing deleted or moved

    import tarfile

    archive = tmp_path / "images.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="images")
    exp = tmp_path / "export-tar"
    proc = subprocess.run([str(BIN / "dupstudy"), "dedup", str(archive), "--out", str(tmp_path / "o2"),
                           "--export", str(exp)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (exp / "train/a/other.png").read_bytes() == (root / "train/a/other.png").read_bytes()
    assert len([p for p in exp.rglob("*") if p.is_file() and p.name != MARKER]) == 3
