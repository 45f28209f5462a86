"""CIFAR-10 without a network: when the official archive cannot be downloaded, dataset.folder (a
folder or .tar.gz of images in the same class layout) is read instead, its classes checked, and
the prepared data names the source and its sha256, which the report shows."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dupstudy.datasets import load_source
from dupstudy.datasets.cifar import SPECS, ArchiveError
from dupstudy.datasets.download import DownloadError
from dupstudy.datasets.prepared import load

CLASSES = list(SPECS["cifar10"].classes)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: the connection is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/cifar-10-binary.tar.gz"


def image_tar(path: Path, classes: list[str], per_split=(2, 1)) -> Path:
    """<top>/{train,test}/<class>/NNNN.png, like ../shared/data/cifar10-jpg.tar.gz."""
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tar:
        for split, n in zip(("train", "test"), per_split):
            for cls in classes:
                for i in range(n):
                    buf = io.BytesIO()
                    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, format="PNG")
                    info = tarfile.TarInfo(f"cifar10-png/{split}/{cls}/{i:04d}.png")
                    info.size = buf.tell()
                    buf.seek(0)
                    tar.addfile(info, buf)
    return path


def test_unreachable_archive_falls_back_to_the_folder(tmp_path):
    tar = image_tar(tmp_path / "cifar10-png.tar.gz", CLASSES)
    data = load_source({"name": "cifar10", "download_dir": str(tmp_path / "raw"), "url": closed_port_url(),
                        "folder": str(tar)})
    assert data.name == "cifar10" and data.classes == CLASSES
    assert len(data.split_ids("train")) == 20 and len(data.split_ids("test")) == 10
    src = data.source
    assert src["origin"] == "folder (fallback)" and src["folder"] == str(tar)
    assert src["sha256"] == hashlib.sha256(tar.read_bytes()).hexdigest()
    assert "download failed" in src["why"] and "127.0.0.1" in src["why"]
    data.save(tmp_path / "prepared")
    assert load(tmp_path / "prepared").source["sha256"] == src["sha256"]  # in meta.json for the report


def test_a_folder_fallback_is_checksummed_by_its_files(tmp_path):
    tar = image_tar(tmp_path / "c.tar.gz", CLASSES)
    with tarfile.open(tar) as t:
        t.extractall(tmp_path / "tree", filter="data")
    first = load_source({"name": "cifar10", "url": closed_port_url(), "download_dir": str(tmp_path / "raw"),
                         "folder": str(tmp_path / "tree")})
    assert len(first.source["sha256"]) == 64 and "sorted" in first.source["sha256_of"]
    again = load_source({"name": "cifar10", "url": closed_port_url(), "download_dir": str(tmp_path / "raw"),
                         "folder": str(tmp_path / "tree")})
    assert again.source["sha256"] == first.source["sha256"]


def test_a_fallback_with_other_classes_is_refused(tmp_path):
    tar = image_tar(tmp_path / "pets.tar.gz", ["cat", "dog"])
    with pytest.raises(ArchiveError, match=r"not cifar10's: found 2 \(cat, dog\), expected airplane"):
        load_source({"name": "cifar10", "download_dir": str(tmp_path / "raw"), "url": closed_port_url(),
                     "folder": str(tar)})


def test_a_missing_fallback_names_both_problems(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.tar\.gz does not exist.*download failed"):
        load_source({"name": "cifar10", "download_dir": str(tmp_path / "raw"), "url": closed_port_url(),
                     "folder": str(tmp_path / "nowhere.tar.gz")})


def test_without_a_fallback_the_download_error_stands(tmp_path):
    with pytest.raises(DownloadError, match="127.0.0.1"):
        load_source({"name": "cifar10", "download_dir": str(tmp_path / "raw"), "url": closed_port_url()})


def test_the_report_names_the_source_and_its_checksum(tmp_path):
    from dupstudy.report import build_report

    tar = image_tar(tmp_path / "cifar10-png.tar.gz", CLASSES)
    data = load_source({"name": "cifar10", "download_dir": str(tmp_path / "raw"), "url": closed_port_url(),
                        "folder": str(tar)})
    data.save(tmp_path / "prepared")
    out = tmp_path / "report/index.html"
    build_report(out, tmp_path / "report/figures", params={}, summary_csv=None, curves_csv=None, per_class_csv=None,
                 gaussian_dir=None, dedup_dir=None, prepared_meta=tmp_path / "prepared/meta.json", provenance={})
    html = out.read_text()
    sha = hashlib.sha256(tar.read_bytes()).hexdigest()
    assert f"Source: folder (fallback) {tar}, sha256 {sha}" in html  # the overview
    assert "dataset_source.sha256" in html  # the provenance table
