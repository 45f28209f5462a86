"""Hostile and broken archives (gaps left by test_download.py and test_datasets.py): device files,
FIFOs, hard links and absolute paths in a tar; truncated archives. A clear error or a listed
rejection, nothing written outside the target (archives are read in memory, never extracted),
no partial output that looks complete."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from dupstudy.datasets.cifar import read_cifar_archive
from dupstudy.datasets.download import CorruptArchiveError, UnsafeArchiveError
from dupstudy.datasets.folder import load_folder
from reliability_tiny import leftovers, stage, write_params
from test_download import fake_cifar10


def _png(colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, "PNG")
    return buf.getvalue()


def _member(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3  # /dev/null's numbers
    return info


HOSTILE = {  # member -> reason
    "data/train/cat/char.png": (_member("data/train/cat/char.png", tarfile.CHRTYPE), "special file"),
    "data/train/cat/block.png": (_member("data/train/cat/block.png", tarfile.BLKTYPE), "special file"),
    "data/train/cat/fifo.png": (_member("data/train/cat/fifo.png", tarfile.FIFOTYPE), "special file"),
    "data/train/cat/hard.png": (_member("data/train/cat/hard.png", tarfile.LNKTYPE, "data/train/cat/a.png"),
                                "hard link"),
    "data/train/cat/soft.png": (_member("data/train/cat/soft.png", tarfile.SYMTYPE, "/etc/shadow"), "symlink"),
}


def _folder_archive(path, hostile=True):
    with tarfile.open(path, "w:gz") as tar:
        for name, colour in [("data/train/cat/a.png", (255, 0, 0)), ("data/train/dog/b.png", (0, 0, 255)),
                             ("data/test/cat/c.png", (0, 255, 0))]:
            data = _png(colour)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if hostile:
            for info, _ in HOSTILE.values():
                tar.addfile(info)
            for name in ("/tmp/escape/train/cat/x.png", "data/../../escape.png"):
                info = tarfile.TarInfo(name)
                info.size = 3
                tar.addfile(info, io.BytesIO(b"abc"))
    return path


def test_folder_archive_special_members_listed_nothing_extracted(tmp_path):
    archive = _folder_archive(tmp_path / "data.tar.gz")
    before = sorted(tmp_path.rglob("*"))
    p = load_folder(archive, workers=1, progress=False)
    assert sorted(tmp_path.rglob("*")) == before  # nothing extracted anywhere
    assert list(p.manifest["source"]) == ["train/cat/a.png", "train/dog/b.png", "test/cat/c.png"]
    reasons = dict(zip(p.rejected["source"], p.rejected["reason"]))
    for name, (_, words) in HOSTILE.items():
        assert words in reasons[name.removeprefix("data/")], (name, reasons)
    assert "absolute" in reasons["/tmp/escape/train/cat/x.png"]
    assert "'..'" in reasons["../../escape.png"]  # named relative to the data root, data/
    assert len(p.rejected) == len(HOSTILE) + 2


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE, tarfile.LNKTYPE])
def test_cifar_archive_with_special_member_refused(tmp_path, kind):
    data, _, _ = fake_cifar10(extra=[_member("cifar-10-batches-bin/odd.bin", kind, "cifar-10-batches-bin/x")])
    (tmp_path / "c.tar.gz").write_bytes(data)
    with pytest.raises(UnsafeArchiveError, match="refusing member 'cifar-10-batches-bin/odd.bin'"):
        read_cifar_archive(tmp_path / "c.tar.gz", "cifar10")


def test_truncated_cifar_archive_is_a_clear_error(tmp_path):
    data, _, _ = fake_cifar10(n=50)
    (tmp_path / "c.tar.gz").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CorruptArchiveError, match="truncated or corrupt archive"):
        read_cifar_archive(tmp_path / "c.tar.gz", "cifar10")


@pytest.mark.parametrize("cut", [0.5, 0.95])
def test_ingest_of_truncated_folder_archive_fails_and_writes_nothing(tmp_path, cut):
    archive = _folder_archive(tmp_path / "data.tar.gz", hostile=False)
    whole = archive.read_bytes()
    archive.write_bytes(whole[: int(len(whole) * cut)])
    write_params(tmp_path, {"dataset": {"name": "folder", "folder": str(archive)}})
    proc = stage("ingest", tmp_path, "--out", "data/prepared", check=False)
    assert proc.returncode != 0
    assert "truncated or corrupt archive" in proc.stderr
    assert not (tmp_path / "data" / "prepared").exists() and leftovers(tmp_path) == []


def test_ingest_of_whole_archive_works(tmp_path):
    archive = _folder_archive(tmp_path / "data.tar.gz", hostile=True)
    write_params(tmp_path, {"dataset": {"name": "folder", "folder": str(archive)}})
    proc = stage("ingest", tmp_path, "--out", "data/prepared")
    assert f"{len(HOSTILE) + 2} rejected" in proc.stdout
    assert np.load(tmp_path / "data" / "prepared" / "images.npy").shape == (3, 8, 8, 3)
