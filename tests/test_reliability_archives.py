"""Hostile and broken archives (gaps left by test_download.py and test_datasets.py): device files,
FIFOs, hard links and absolute paths in a tar; truncated archives. A clear error or a listed
rejection, nothing written outside the target (archives are read in memory, never extracted),
no partial output that looks complete."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile

import numpy as np
import pytest
from PIL import Image
from reliability_tiny import leftovers, stage, write_params
from test_download import fake_cifar10

from dupstudy.datasets.cifar import read_cifar_archive
from dupstudy.datasets.download import CorruptArchiveError, UnsafeArchiveError
from dupstudy.datasets.folder import load_folder


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


def test_members_with_one_path_are_read_once_and_exported_as_analysed(tmp_path):
    """`a/b.png`, `./a/b.png` and `a//b.png` extract to one file: the first member is analysed and
    exported, the later ones are listed; a `./`-prefixed member on its own is used like any other."""
    from dupstudy.dedup.export import export_folder

    red, blue, green = _png((255, 0, 0)), _png((0, 0, 255)), _png((0, 255, 0))
    archive = tmp_path / "data.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in [("data/train/cat/a.png", red), ("./data/train/cat/a.png", blue),
                           ("data//train/cat/a.png", green), ("./data/train/dog/b.png", blue),
                           ("./data/test/cat/c.png", green)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    p = load_folder(archive, workers=1, progress=False)
    assert list(p.manifest["source"]) == ["train/cat/a.png", "train/dog/b.png", "test/cat/c.png"]
    assert tuple(p.images[0, 0, 0]) == (255, 0, 0)
    why = "another file has the same name (as shown here); the first one is used"
    assert list(zip(p.rejected["source"], p.rejected["reason"])) == [
        ("train/cat/a.png", f"{why} (member './data/train/cat/a.png')"),
        ("train/cat/a.png", f"{why} (member 'data//train/cat/a.png')")]

    done = export_folder(p, p.split_ids("train"), tmp_path / "exp")
    assert (done["train"], done["test"], done["failed"]) == (2, 1, [])
    exported = {f.relative_to(tmp_path / "exp").as_posix(): f.read_bytes() for f in (tmp_path / "exp").rglob("*.png")}
    assert exported == {"train/cat/a.png": red, "train/dog/b.png": blue, "test/cat/c.png": green}


@pytest.mark.parametrize("kind", ["pax", "long name"])
def test_oversized_extended_header_is_refused_before_it_is_read(tmp_path, kind):
    """tarfile reads a pax header or a GNU long name whole into memory: past 1 MiB the archive is
    refused (a real one holds a path and a few fields)."""
    archive = tmp_path / "data.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT if kind == "pax" else tarfile.GNU_FORMAT) as tar:
        data = _png((255, 0, 0))
        info = tarfile.TarInfo("data/train/cat/" + ("a" * (2 << 20) if kind == "long name" else "a") + ".png")
        info.size = len(data)
        if kind == "pax":
            info.pax_headers = {"comment": "x" * (2 << 20)}
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(UnsafeArchiveError, match=r"refusing the archive: extended header of 2,0\d\d,\d\d\d bytes, "
                                                 r"past the 1 MiB cap"):
        load_folder(archive, workers=1, progress=False)


def _gnu_tar() -> bool:
    tar = shutil.which("tar")
    return bool(tar) and "GNU tar" in subprocess.run([tar, "--version"], capture_output=True, text=True).stdout


@pytest.mark.skipif(not _gnu_tar(), reason="needs GNU tar to write sparse members")
@pytest.mark.parametrize("fmt", ["gnu", "pax"])
def test_sparse_member_is_refused(tmp_path, fmt):
    """tarfile collects a sparse member's block map in a list as long as the archive says: refused."""
    sparse = tmp_path / "data/train/cat/s.png"
    sparse.parent.mkdir(parents=True)
    with open(sparse, "wb") as f:
        f.truncate(1 << 20)
        f.seek(1 << 19)
        f.write(b"x")
    subprocess.run(["tar", "--sparse", f"--format={fmt}", "-czf", "data.tar.gz", "data"], cwd=tmp_path, check=True)
    with pytest.raises(UnsafeArchiveError, match="refusing the archive: GNU sparse member"):
        load_folder(tmp_path / "data.tar.gz", workers=1, progress=False)
