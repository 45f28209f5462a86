"""Any tree of images loads: <split>/<class>/<file> as before, anything else as one collection, a
mixed tree only with a layout chosen; the pipeline's folder source still needs labelled splits."""

import tarfile

import numpy as np
import pandas as pd
import pytest
from image_helpers import smooth
from PIL import Image

from dupstudy.datasets import load_source
from dupstudy.datasets.folder import NoImages, load_folder
from dupstudy.datasets.layout import ONE_CLASS, MixedLayout


def _tree(root, names, seed=0):
    rng = np.random.default_rng(seed)
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth(rng)).save(root / name)
    return root


def _load(path, layout="auto"):
    return load_folder(path, workers=1, progress=False, layout=layout)


def test_a_flat_folder_is_one_collection(tmp_path):
    root = _tree(tmp_path / "photos", ["b.png", "a.png", "c.jpg"])
    (root / "notes.txt").write_text("not an image")
    p = _load(root)
    assert p.source["layout"] == "collection"
    assert p.manifest["source"].tolist() == ["a.png", "b.png", "c.jpg"]
    assert set(p.manifest["split"]) == {"train"} and p.classes == [ONE_CLASS] and set(p.labels) == {0}
    assert p.rejected["source"].tolist() == ["notes.txt"] and "not an image" in p.rejected["reason"][0]


def test_any_nesting_is_one_collection_from_a_folder_and_an_archive(tmp_path):
    names = ["2019/summer/beach/x.png", "2019/y.png", "z.png", "test/only-two-levels.png"]
    root = _tree(tmp_path / "photos", names)
    (root / ".thumbs").mkdir()
    (root / ".thumbs/x.png").write_bytes((root / "z.png").read_bytes())
    p = _load(root)
    assert p.source["layout"] == "collection"
    assert sorted(p.manifest["source"]) == sorted(names)
    assert p.rejected["reason"].tolist() == ["hidden file or folder"]
    archive = tmp_path / "photos.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="photos")
    a = _load(archive)
    assert a.source["layout"] == "collection"
    # a collection's paths are as the archive lists them: its top folder is not looked through
    assert sorted(a.manifest["source"]) == sorted(f"photos/{n}" for n in names)
    np.testing.assert_array_equal(a.images, p.images)


def test_split_layout_keeps_its_labels_and_other_split_folders_are_rejected(tmp_path):
    root = _tree(tmp_path / "d", ["train/cat/a.png", "train/dog/b.png", "test/cat/c.png", "val/cat/v.png"])
    p = _load(root)
    assert p.source["layout"] == "split" and p.classes == ["cat", "dog"]
    assert p.manifest["split"].tolist() == ["train", "train", "test"]
    assert p.rejected["source"].tolist() == ["val/"]
    pd.testing.assert_frame_equal(p.manifest, _load(root, "split").manifest)


def test_a_mixed_tree_needs_a_layout_chosen(tmp_path):
    root = _tree(tmp_path / "d", ["train/cat/a.png", "test/cat/b.png", "stray.png", "train/cat/deeper/c.png"])
    with pytest.raises(MixedLayout) as err:
        _load(root)
    msg = str(err.value)
    assert "2 images at <split>/<class>/<file>" in msg and "2 elsewhere" in msg and "'stray.png'" in msg
    assert "--layout split" in msg and "--layout collection" in msg
    split = _load(root, "split")
    assert split.manifest["source"].tolist() == ["train/cat/a.png", "test/cat/b.png"]
    assert sorted(split.rejected["source"]) == ["stray.png", "train/cat/deeper/c.png"]
    whole = _load(root, "collection")
    assert len(whole.manifest) == 4 and set(whole.manifest["split"]) == {"train"}


def test_the_pipeline_source_names_the_layout_it_needs(tmp_path):
    root = _tree(tmp_path / "photos", ["a.png", "b.png"])
    with pytest.raises(NoImages) as err:
        load_source({"name": "folder", "folder": str(root)})
    msg = str(err.value)
    assert "2 images, none at <split>/<class>/<file>" in msg and "'a.png'" in msg
    assert "<root>/train/<class>/<file>" in msg and "dupstudy dedup" in msg
