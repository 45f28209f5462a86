"""`dupstudy dedup PATH --out DIR` on a plain image folder, outside the pipeline."""

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from image_helpers import smooth
from PIL import Image

from dupstudy.outdir import MARKER

BIN = Path(sys.executable).parent


@pytest.mark.slow
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
    proc = subprocess.run([str(BIN / "dupstudy"), "dedup", str(root), "--out", str(out)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert "7 train images -> 6 kept" in proc.stdout
    assert "1 test images with a duplicate in train" in proc.stdout and "1 files rejected" in proc.stdout
    pairs = pd.read_parquet(out / "pairs.parquet")
    assert set(pairs["kind"]) == {"flip_rot", "exact_pixels"}
    assert len(np.load(out / "kept_train_ids.npy")) == 6
    assert pd.read_csv(out / "rejected.csv")["source"].tolist() == ["train/cat/broken.jpg"]
    # every table names both files by path, and images.csv maps each id to its file
    assert sorted(zip(pairs["path_a"], pairs["path_b"])) == [("train/cat/1.png", "test/cat/leaked.bmp"),
                                                              ("train/dog/0.png", "train/dog/0_flipped.png")]
    leak = pd.read_parquet(out / "leakage.parquet")
    assert leak[["test_path", "train_path"]].values.tolist() == [["test/cat/leaked.bmp", "train/cat/1.png"]]
    groups = pd.read_parquet(out / "groups.parquet")
    assert sorted(groups["path"]) == ["train/dog/0.png", "train/dog/0_flipped.png"]
    images = pd.read_csv(out / "images.csv")
    assert list(images.columns) == ["id", "path", "split", "label", "class", "flat"] and len(images) == 9
    assert images.set_index("path").loc["test/cat/leaked.bmp", ["split", "class"]].tolist() == ["test", "cat"]
    sample = pd.read_csv(out / "review_sample.csv")
    assert sorted(sample["path_a"]) == sorted(pairs["path_a"])

    no_flip = subprocess.run([str(BIN / "dupstudy"), "dedup", str(root), "--out", str(tmp_path / "o2"),
                              "--no-dihedral"], capture_output=True, text=True)
    assert "7 train images -> 7 kept" in no_flip.stdout


@pytest.mark.slow
def test_dedup_cli_names_a_missing_folder(tmp_path):
    proc = subprocess.run([str(BIN / "dupstudy"), "dedup", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "nope: no such folder" in proc.stderr


@pytest.mark.slow
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

    archive = tmp_path / "images.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="images")
    exp = tmp_path / "export-tar"
    proc = subprocess.run([str(BIN / "dupstudy"), "dedup", str(archive), "--out", str(tmp_path / "o2"),
                           "--export", str(exp)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (exp / "train/a/other.png").read_bytes() == (root / "train/a/other.png").read_bytes()
    assert len([p for p in exp.rglob("*") if p.is_file() and p.name != MARKER]) == 3


@pytest.mark.slow
def test_dedup_cli_on_a_flat_folder_and_its_archive(tmp_path):
    """Images straight in the folder (and one level down): one collection, from a folder and a .tar.gz."""
    rng = np.random.default_rng(5)
    root = tmp_path / "photos"
    (root / "album").mkdir(parents=True)
    ims = [smooth(rng) for _ in range(4)]
    for i, im in enumerate(ims):
        Image.fromarray(im).save(root / f"img{i}.png")
    Image.fromarray(ims[0]).save(root / "copy_of_0.bmp")                    # same pixels
    Image.fromarray(ims[1][:, ::-1]).save(root / "album/flipped_1.png")     # a mirrored copy, one level down
    archive = tmp_path / "photos.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="photos")
    for source, prefix in ((root, ""), (archive, "photos/")):
        out = tmp_path / f"out-{source.name}"
        stdout = _dedup(source, out, "--export", str(tmp_path / f"exp-{source.name}"))
        assert "layout: one collection" in stdout and "6 train images -> 4 kept; 0 test images" in stdout
        assert json.loads((out / "summary.json").read_text())["layout"] == "collection"
        pairs = pd.read_parquet(out / "pairs.parquet")
        assert sorted(pairs["kind"]) == ["exact_pixels", "flip_rot"] and set(pairs["scope"]) == {"train"}
        assert pd.read_parquet(out / "leakage.parquet").empty and pd.read_parquet(out / "conflicts.parquet").empty
        exported = sorted(p.relative_to(tmp_path / f"exp-{source.name}").as_posix()
                          for p in (tmp_path / f"exp-{source.name}").rglob("*.*") if p.name != MARKER)
        assert len(exported) == 4 and f"{prefix}img2.png" in exported


@pytest.mark.slow
def test_dedup_cli_on_a_mixed_tree_names_a_file_and_the_choices(tmp_path):
    rng = np.random.default_rng(6)
    root = tmp_path / "images"
    for name in ("train/cat/a.png", "test/cat/b.png", "loose.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth(rng)).save(root / name)
    proc = subprocess.run([str(BIN / "dupstudy"), "dedup", str(root), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "mixed layout" in proc.stderr and "'loose.png'" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and not (tmp_path / "o").exists()
    assert "1 train images -> 1 kept; 0 test images" in _dedup(root, tmp_path / "o", "--layout", "split")
    assert "3 train images -> 3 kept" in _dedup(root, tmp_path / "o", "--layout", "collection")


@pytest.mark.slow
def test_decisions_by_path_hold_when_a_new_file_shifts_the_ids(tmp_path):
    """Decisions name files by path: after a file that sorts first is added (every id moves up by
    one) the same decisions land on the same pairs of files. A file by id is still read, with a
    note, and comes back as decisions.csv keyed by path."""
    rng = np.random.default_rng(7)
    root = tmp_path / "images"
    root.mkdir()
    ims = [smooth(rng) for _ in range(4)]
    for i, im in enumerate(ims):
        Image.fromarray(im).save(root / f"m{i}.png")
    Image.fromarray(ims[0]).save(root / "m0_copy.bmp")                                     # exact pixels
    Image.fromarray(ims[1]).save(root / "m1_near.jpg", quality=90)                         # 2 bits away

    _dedup(root, tmp_path / "run1")
    ids = dict(pd.read_csv(tmp_path / "run1/images.csv")[["path", "id"]].values)
    found = pd.read_parquet(tmp_path / "run1/pairs.parquet")
    assert sorted(zip(found["path_a"], found["path_b"])) == [("m0.png", "m0_copy.bmp"), ("m1.png", "m1_near.jpg")]
    # an older decisions file, by id: read, with a note, and written back by path
    by_id = tmp_path / "by_id.csv"
    by_id.write_text(f"a,b,decision\n{ids['m0.png']},{ids['m0_copy.bmp']},keep_both\n"
                     f"{ids['m2.png']},{ids['m3.png']},duplicate\n")
    stdout = _dedup(root, tmp_path / "run2", "--decisions", str(by_id))
    assert "note: 2 decisions name images by id" in stdout
    by_path = tmp_path / "decisions.csv"
    by_path.write_text((tmp_path / "run2/decisions.csv").read_text())
    assert by_path.read_text() == "a,b,decision\nm0.png,m0_copy.bmp,keep_both\nm2.png,m3.png,duplicate\n"

    Image.fromarray(smooth(rng)).save(root / "a_new.png")  # sorts before every decided file
    stdout = _dedup(root, tmp_path / "run3", "--decisions", str(by_path))
    assert "note:" not in stdout and "1 pairs kept apart, 1 added" in stdout
    new_ids = dict(pd.read_csv(tmp_path / "run3/images.csv")[["path", "id"]].values)
    assert all(new_ids[p] == ids[p] + 1 for p in ids)
    pairs = pd.read_parquet(tmp_path / "run3/pairs.parquet")
    kinds = {(a, b): k for a, b, k in zip(pairs["path_a"], pairs["path_b"], pairs["kind"])}
    assert kinds == {("m1.png", "m1_near.jpg"): "near", ("m2.png", "m3.png"): "manual"}
    groups = pd.read_parquet(tmp_path / "run3/groups.parquet")
    assert sorted(groups["path"]) == ["m1.png", "m1_near.jpg", "m2.png", "m3.png"]
    path_of = pd.read_csv(tmp_path / "run3/images.csv").set_index("id")["path"]
    kept = set(path_of.loc[np.load(tmp_path / "run3/kept_train_ids.npy")])
    assert {"m0.png", "m0_copy.bmp", "a_new.png"} <= kept and len(kept) == 5


@pytest.mark.slow
def test_plain_colour_files_are_flat_pairs_and_only_their_exact_copies_are_removed(tmp_path):
    rng = np.random.default_rng(8)
    root = tmp_path / "images"
    root.mkdir()
    for name, rgb in {"red.png": (200, 30, 30), "blue.png": (20, 40, 220), "white.png": (255, 255, 255),
                      "black.gif": (0, 0, 0)}.items():
        Image.new("RGB", (32, 32), rgb).save(root / name)
    Image.new("RGB", (32, 32), (200, 30, 30)).save(root / "red.jpg", quality=95)  # re-encoded, same pixels
    (root / "red_copy.png").write_bytes((root / "red.png").read_bytes())            # the same file
    for i in range(3):
        Image.fromarray(smooth(rng)).save(root / f"photo{i}.png")
    stdout = _dedup(root, tmp_path / "out")
    assert "9 train images -> 7 kept" in stdout  # the two copies of red go, no other plain image
    pairs = pd.read_parquet(tmp_path / "out/pairs.parquet")
    kinds = {(a, b): k for a, b, k in zip(pairs["path_a"], pairs["path_b"], pairs["kind"])}
    assert kinds.pop(("red.png", "red_copy.png")) == "exact_file"
    assert kinds.pop(("red.jpg", "red.png")) == kinds.pop(("red.jpg", "red_copy.png")) == "exact_pixels"
    plain = {"black.gif", "blue.png", "red.jpg", "red.png", "red_copy.png", "white.png"}
    assert set(kinds.values()) == {"flat"} and {p for pair in kinds for p in pair} == plain
    images = pd.read_csv(tmp_path / "out/images.csv")
    assert set(images.loc[images["flat"], "path"]) == plain
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["n_flat_images"] == 6 and summary["pairs_by_kind"]["flat"] == len(kinds)


STUDY_STACK = ("torch", "torchvision", "snakemake", "dvc", "matplotlib", "seaborn", "sklearn", "jinja2")
WITHOUT_STUDY = f"""
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {STUDY_STACK!r}:
            raise ImportError("not installed: " + name)
sys.meta_path.insert(0, Hide())
from dupstudy.cli import main
main(sys.argv[1:])
"""


@pytest.mark.slow
def test_dedup_runs_without_the_study_stack(tmp_path):
    """pip install dupstudy (no extra) has no PyTorch, Snakemake, DVC, matplotlib or scikit-learn:
    dedup runs all the same, and --semantic names the extra it needs."""
    rng = np.random.default_rng(9)
    root = tmp_path / "images"
    root.mkdir()
    for i in range(3):
        Image.fromarray(smooth(rng)).save(root / f"{i}.png")
    (root / "copy.png").write_bytes((root / "0.png").read_bytes())
    run = [sys.executable, "-c", WITHOUT_STUDY, "dedup", str(root)]
    proc = subprocess.run(run + ["--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "4 train images -> 3 kept" in proc.stdout
    proc = subprocess.run(run + ["--out", str(tmp_path / "o2"), "--semantic"], capture_output=True, text=True)
    assert proc.returncode == 2 and "pip install 'dupstudy[semantic]'" in proc.stderr, proc.stderr


def _dedup(root, out, *args):
    proc = subprocess.run([str(BIN / "dupstudy"), "dedup", str(root), "--out", str(out), *args],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _files(folder: Path) -> dict[bytes, bytes]:
    """Relative name (bytes, as on disk) -> content of every file under `folder` (the tool's marker aside)."""
    return {os.fsencode(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.name != MARKER}


def _png(rng) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(smooth(rng)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.slow
def test_links_out_of_the_folder_are_refused_and_never_exported(tmp_path):
    """A link to a file outside the root (an image elsewhere, /etc/passwd) is listed in rejected.csv
    and neither read nor exported; a link to a file inside the root is followed."""
    rng = np.random.default_rng(2)
    root = tmp_path / "images"
    for name in ("train/cat/a.png", "train/dog/b.png", "test/cat/c.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(_png(rng))
    (tmp_path / "elsewhere.png").write_bytes(_png(rng))
    os.symlink(tmp_path / "elsewhere.png", root / "train/cat/outside.png")
    os.symlink("/etc/passwd", root / "train/dog/passwd.png")
    os.symlink("../../../images/train/dog/b.png", root / "test/cat/inside.png")  # up and back into the root

    stdout = _dedup(root, tmp_path / "out", "--export", str(tmp_path / "exp"), "--export-mode", "copy")
    assert "exported 2 train and 2 test images" in stdout and "not exported" not in stdout
    rejected = pd.read_csv(tmp_path / "out/rejected.csv")
    why = "symbolic link to a file outside the folder (not followed)"
    assert dict(zip(rejected["source"], rejected["reason"])) == {"train/cat/outside.png": why,
                                                                 "train/dog/passwd.png": why}
    exported = _files(tmp_path / "exp")
    assert sorted(exported) == [b"test/cat/c.png", b"test/cat/inside.png", b"train/cat/a.png", b"train/dog/b.png"]
    assert exported[b"test/cat/inside.png"] == (root / "train/dog/b.png").read_bytes()


@pytest.mark.slow
def test_export_keeps_names_that_are_not_utf8(tmp_path):
    """Files named with bytes that are not UTF-8 (shown with \\xNN escapes in the tables, see
    tests/test_reliability_images.py) are exported under their own names, from a folder and from
    an archive of it."""
    rng = np.random.default_rng(3)
    root = tmp_path / "images"
    names = [b"train/a/caf\xe9.png", b"train/b/\xff\xfe.png", b"test/a/ok.png"]
    for name in names:
        path = Path(os.fsdecode(bytes(root) + b"/" + name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_png(rng))
    archive = tmp_path / "images.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="images")
    for source in (root, archive):
        exp = tmp_path / f"export-{source.name}"
        stdout = _dedup(source, tmp_path / f"out-{source.name}", "--export", str(exp), "--export-mode", "copy")
        assert "exported 2 train and 1 test images" in stdout and "not exported" not in stdout
        assert _files(exp) == _files(root)
    assert pd.read_csv(tmp_path / "out-images/rejected.csv").empty


def test_export_refuses_a_file_changed_since_it_was_analysed(tmp_path):
    from dupstudy.datasets.folder import load_folder
    from dupstudy.dedup.export import export_folder

    rng = np.random.default_rng(4)
    for name in ("train/a/x.png", "train/a/y.png", "test/a/z.png"):
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(_png(rng))
    p = load_folder(tmp_path / "in", workers=1, progress=False)
    (tmp_path / "in/train/a/y.png").write_bytes(_png(rng))
    (tmp_path / "in/test/a/z.png").unlink()
    done = export_folder(p, p.split_ids("train"), tmp_path / "exp", mode="link")
    assert (done["train"], done["test"]) == (1, 0)
    assert done["failed"] == [("test/a/z.png", "not found in the source (moved or deleted since it was analysed)"),
                              ("train/a/y.png", "changed since it was analysed (sha256 differs); not exported")]
    assert sorted(_files(tmp_path / "exp")) == [b"train/a/x.png"]
