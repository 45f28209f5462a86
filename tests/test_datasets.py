"""Dataset sources: digits, the image-folder source (directory and .tar.gz), dispatch."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dupstudy.datasets import load_source
from dupstudy.datasets.digits import load_digits
from dupstudy.datasets.folder import load_folder
from dupstudy.datasets.prepared import load

# --- digits --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return load_digits(test_fraction=0.2, split_seed=0)


def test_digits_counts_and_pixels(digits):
    from sklearn.datasets import load_digits as sk

    assert digits.images.shape == (1797, 8, 8, 1) and digits.images.dtype == np.uint8
    assert digits.labels.dtype == np.int64 and digits.classes == [str(i) for i in range(10)]
    expected = np.floor(sk().images * 255 / 16 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(digits.images[..., 0], expected)
    assert digits.images.max() == 255 and digits.images.min() == 0
    assert digits.manifest["source"].iloc[17] == "digits:17"
    assert digits.manifest["split"].value_counts().to_dict() == {"train": 1437, "test": 360}


def test_digits_split_stratified_and_deterministic(digits):
    m = digits.manifest
    per_class = m.groupby("label")["split"].apply(lambda s: (s == "test").mean())
    assert (per_class.sub(0.2).abs() < 0.01).all()
    again = load_digits(test_fraction=0.2, split_seed=0)
    assert list(again.manifest["split"]) == list(m["split"])
    other = load_digits(test_fraction=0.2, split_seed=1)
    assert list(other.manifest["split"]) != list(m["split"])


def test_prepared_round_trip(digits, tmp_path):
    digits.save(tmp_path / "prepared")
    back = load(tmp_path / "prepared")
    np.testing.assert_array_equal(back.images, digits.images)
    np.testing.assert_array_equal(back.labels, digits.labels)
    pd.testing.assert_frame_equal(back.manifest, digits.manifest, check_dtype=False)
    assert back.classes == digits.classes and back.name == "digits"
    np.testing.assert_array_equal(back.split_ids("test"), digits.split_ids("test"))


# --- dispatch ------------------------------------------------------------------------------

def test_train_share_keeps_a_fixed_share_of_each_class_and_every_test_image(digits):
    half = load_source({"name": "digits", "test_fraction": 0.2, "split_seed": 0, "train_share": 0.5})
    train = digits.manifest[digits.manifest["split"] == "train"]
    kept = half.manifest[half.manifest["split"] == "train"]
    assert kept["label"].value_counts().sort_index().tolist() == [
        int(round(n / 2)) for n in train["label"].value_counts().sort_index()]
    assert (half.manifest["split"] == "test").sum() == (digits.manifest["split"] == "test").sum()
    assert list(half.manifest["id"]) == list(range(len(half.images)))
    assert set(kept["source"]) <= set(train["source"])
    assert half.source["train_share"] == 0.5 and half.source["train_before_share"] == len(train)
    again = load_source({"name": "digits", "test_fraction": 0.2, "split_seed": 0, "train_share": 0.5})
    assert list(again.manifest["source"]) == list(half.manifest["source"])



def test_load_source_dispatch():
    p = load_source({"name": "digits", "test_fraction": 0.25, "split_seed": 3})
    assert p.name == "digits" and (p.manifest["split"] == "test").sum() == 450
    with pytest.raises(ValueError, match="digits, cifar10, cifar100, folder"):
        load_source({"name": "mnist"})
    with pytest.raises(ValueError, match="dataset.folder"):
        load_source({"name": "folder", "folder": None})


@pytest.mark.slow
def test_package_does_not_import_torch():
    code = ("import sys, dupstudy.datasets as d, dupstudy.datasets.folder, dupstudy.datasets.cifar;"
            "d.load_source({'name': 'digits'}); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- image folder --------------------------------------------------------------------------

W, H = 10, 8  # the common size; odd-sized images are resized to it
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _exif_rotated_jpeg() -> bytes:
    """Stored 20x10 (left red, right blue), EXIF orientation 6: shown 10 wide, 20 high."""
    img = Image.new("RGB", (20, 10), RED)
    img.paste(BLUE, (10, 0, 20, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(img, "JPEG", quality=95, exif=exif.tobytes())


def _palette_with_transparency() -> bytes:
    img = Image.new("P", (W, H), 0)
    img.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    img.paste(1, (0, 4, W, H))  # bottom half green, top half index 0 = transparent
    return _save(img, "PNG", transparency=0)


def _bomb() -> bytes:
    return _save(Image.new("1", (8000, 6400)), "PNG")  # 51.2M pixels, a few KB on disk


GOOD = {  # name -> (bytes, expected colour of the decoded top-left pixel or None)
    "train/cat/a_red.png": (lambda: _save(Image.new("RGB", (W, H), RED), "PNG"), RED),
    "train/cat/b_green.jpg": (lambda: _save(Image.new("RGB", (W, H), GREEN), "JPEG", quality=95), GREEN),
    "train/cat/c_cmyk.jpg": (lambda: _save(Image.new("CMYK", (W, H), (0, 255, 255, 0)), "JPEG", quality=95), RED),
    "train/cat/d_grey16.png": (lambda: _save(Image.fromarray(np.full((H, W), 200 * 257, np.uint16)), "PNG"),
                               (200, 200, 200)),
    "train/dog/a_palette.png": (_palette_with_transparency, WHITE),
    "train/dog/b_rgba.png": (lambda: _save(Image.new("RGBA", (W, H), (0, 0, 255, 0)), "PNG"), WHITE),
    "train/dog/c_rotated.jpg": (_exif_rotated_jpeg, RED),
    "test/cat/a_grey.png": (lambda: _save(Image.new("L", (W, H), 90), "PNG"), (90, 90, 90)),
    "test/dog/a_big.png": (lambda: _save(Image.new("RGB", (3 * W, 3 * H), BLUE), "PNG"), BLUE),
}
BAD = {  # name -> (bytes, words expected in the reason)
    "train/cat/empty.jpg": (lambda: b"", "empty"),
    "train/cat/noise.jpg": (lambda: np.random.default_rng(0).bytes(500), "not an image"),
    "train/dog/truncated.jpg": (lambda: _save(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")[:400],
                                "truncated"),
    "test/dog/bomb.png": (_bomb, "decompression bomb"),
    "val/cat/x.png": (lambda: _save(Image.new("RGB", (W, H)), "PNG"), None),  # reported once, as "val/"
    "train/notes.txt": (lambda: b"hello", "not at <split>/<class>/<file>"),
    "train/cat/.DS_Store": (lambda: b"\0\0", "hidden"),
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """<tmp>/mydata/{train,test,val}/<class>/<file> with good and bad files."""
    root = tmp_path_factory.mktemp("folder") / "mydata"
    for name, (make, _) in {**GOOD, **BAD}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make())
    return root


@pytest.fixture(scope="module")
def from_dir(tree):
    return load_folder(tree, workers=2, progress=False)  # exercises the process pool


def test_folder_good_and_rejected(from_dir):
    p = from_dir
    assert p.classes == ["cat", "dog"]
    assert p.images.shape == (len(GOOD), H, W, 3) and p.images.dtype == np.uint8
    # Sorted by split (train first), class, file name; ids follow that order.
    expected_order = sorted(GOOD, key=lambda n: (n.split("/")[0] != "train", n))
    assert list(p.manifest["source"]) == expected_order
    assert list(p.labels) == [["cat", "dog"].index(n.split("/")[1]) for n in expected_order]
    assert p.manifest["split"].value_counts().to_dict() == {"train": 7, "test": 2}

    reasons = dict(zip(p.rejected["source"], p.rejected["reason"]))
    for name, (_, words) in BAD.items():
        if words:
            assert words in reasons[name], (name, reasons[name])
    assert "only 'train' and 'test'" in reasons["val/"] and "(1 file)" in reasons["val/"]
    assert len(p.rejected) == len(BAD)  # val/ counts once; its one file is not double counted


def test_folder_decoded_pixels(from_dir):
    p = from_dir
    row = {s: i for i, s in enumerate(p.manifest["source"])}
    for name, (_, colour) in GOOD.items():
        img = p.images[row[name]].astype(int)
        assert np.abs(img[0, 0] - colour).max() <= 6, (name, img[0, 0])
    palette = p.images[row["train/dog/a_palette.png"]]
    assert tuple(palette[-1, 0]) == GREEN  # the opaque half stays green


def test_folder_exif_rotation_and_sizes(from_dir):
    m = from_dir.manifest.set_index("source")
    rotated = m.loc["train/dog/c_rotated.jpg"]
    assert (rotated["width"], rotated["height"]) == (10, 20)  # EXIF applied before resizing
    img = from_dir.images[rotated["id"]].astype(int)
    assert img[0, :, 0].min() > 200 and img[-1, :, 2].min() > 200  # red on top, blue below
    assert (m.loc["test/dog/a_big.png", "width"], m.loc["test/dog/a_big.png", "height"]) == (3 * W, 3 * H)
    assert m.loc["train/cat/c_cmyk.jpg", "format"] == "JPEG" and m.loc["train/cat/a_red.png", "format"] == "PNG"
    assert from_dir.source["size"] == [H, W] and from_dir.source["resized"] == 2


def test_folder_file_checksums(from_dir, tree):
    import hashlib

    m = from_dir.manifest.set_index("source")
    data = (tree / "train/cat/a_red.png").read_bytes()
    assert m.loc["train/cat/a_red.png", "file_sha256"] == hashlib.sha256(data).hexdigest()
    assert m.loc["train/cat/a_red.png", "file_size"] == len(data)


def test_folder_tar_matches_directory(from_dir, tree, tmp_path):
    archive = tmp_path / "mydata.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="mydata")
        evil = tarfile.TarInfo("../evil.png")
        evil.size = 3
        tar.addfile(evil, io.BytesIO(b"abc"))
        link = tarfile.TarInfo("mydata/train/cat/link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    p = load_folder(archive, workers=1, progress=False)
    np.testing.assert_array_equal(p.images, from_dir.images)
    pd.testing.assert_frame_equal(p.manifest, from_dir.manifest)
    assert p.classes == from_dir.classes
    extra = p.rejected[~p.rejected["source"].isin(from_dir.rejected["source"])]
    assert dict(zip(extra["source"], extra["reason"])) == {
        "../evil.png": "unsafe path in archive (absolute or contains '..')",
        "train/cat/link.png": "not a regular file (symlink)",
    }
    pd.testing.assert_frame_equal(p.rejected[p.rejected["source"].isin(from_dir.rejected["source"])]
                                  .reset_index(drop=True), from_dir.rejected)


def test_folder_round_trip_and_dispatch(tree, tmp_path):
    p = load_source({"name": "folder", "folder": str(tree)})
    p.save(tmp_path / "prepared")
    back = load(tmp_path / "prepared")
    np.testing.assert_array_equal(back.images, p.images)
    assert len(back.rejected) == len(p.rejected)


def test_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "train" / "cat").mkdir(parents=True)
    (tmp_path / "train" / "cat" / "x.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="no usable images"):
        load_folder(tmp_path, workers=1, progress=False)
    with pytest.raises(ValueError, match="does not exist"):
        load_folder(tmp_path / "missing", progress=False)
