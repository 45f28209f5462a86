"""CIFAR binary archives: download with resume and md5, safe in-memory parsing.

A tiny fake archive with the official layout is served from 127.0.0.1; no internet needed.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from dupstudy.datasets.cifar import load_cifar, parse_records, read_cifar_archive
from dupstudy.datasets.download import ChecksumError, DownloadError, UnsafeArchiveError, download, iter_tar_files

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


# --- fake archives -------------------------------------------------------------------------

def _records(images: np.ndarray, *label_columns: np.ndarray) -> bytes:
    """The official record layout: label byte(s), then the pixels channel-first."""
    chw = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    labels = np.stack(label_columns, axis=1).astype(np.uint8)
    return np.concatenate([labels, chw], axis=1).tobytes()


def _tar_gz(members: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return buf.getvalue()


def fake_cifar10(n: int = 3, extra: list[tarfile.TarInfo] = ()):
    """Bytes of a cifar-10-binary.tar.gz with n records per batch, and what it holds."""
    rng = np.random.default_rng(0)
    top = "cifar-10-batches-bin/"
    members = {top + "batches.meta.txt": ("\n".join(CIFAR10_NAMES) + "\n\n").encode(),
               top + "readme.html": b"<html></html>"}
    expected = {"train": [], "test": []}
    for batch, split in [(f"data_batch_{i}.bin", "train") for i in range(1, 6)] + [("test_batch.bin", "test")]:
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, n)
        members[top + batch] = _records(images, labels)
        expected[split].append((images, labels))
    images = np.concatenate([im for s in ("train", "test") for im, _ in expected[s]])
    labels = np.concatenate([lab for s in ("train", "test") for _, lab in expected[s]])
    return _tar_gz(members, extra), images, labels


# --- a local HTTP server with Range support and a switch for broken transfers --------------

class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        state = self.server.state
        data = state["files"].get(self.path)
        if data is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        state["ranges"].append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng and state["honour_range"] else 0
        if start >= len(data) > 0 and rng:
            self.send_response(416)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if state["truncate_next"] > 0:  # promise everything, send a little, hang up
            state["truncate_next"] -= 1
            body = body[:state["truncate_at"]]
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = {"files": {}, "ranges": [], "honour_range": True, "truncate_next": 0, "truncate_at": 1000}
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state = httpd.state

    def url(name):
        return f"http://127.0.0.1:{httpd.server_address[1]}/{name}"

    state["url"] = url
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def archive(server):
    data, images, labels = fake_cifar10()
    server["files"]["/cifar-10-binary.tar.gz"] = data
    return {"url": server["url"]("cifar-10-binary.tar.gz"), "md5": hashlib.md5(data).hexdigest(),
            "data": data, "images": images, "labels": labels}


# --- tests ---------------------------------------------------------------------------------

def test_download_and_parse_cifar10(tmp_path, server, archive):
    p = load_cifar("cifar10", download_dir=tmp_path, url=archive["url"], md5=archive["md5"], progress=False)
    assert p.classes == CIFAR10_NAMES
    assert p.images.shape == (18, 32, 32, 3) and p.images.dtype == np.uint8
    np.testing.assert_array_equal(p.images, archive["images"])
    np.testing.assert_array_equal(p.labels, archive["labels"])
    assert list(p.manifest["split"]) == ["train"] * 15 + ["test"] * 3
    assert p.manifest["source"].iloc[0] == "cifar10:data_batch_1.bin:0"
    assert p.manifest["source"].iloc[-1] == "cifar10:test_batch.bin:2"
    assert (tmp_path / "cifar-10-binary.tar.gz").read_bytes() == archive["data"]
    assert not list(tmp_path.glob("*.part"))
    # A verified copy is reused without asking the server again.
    asked = len(server["ranges"])
    load_cifar("cifar10", download_dir=tmp_path, url=archive["url"], md5=archive["md5"], progress=False)
    assert len(server["ranges"]) == asked


def test_checksum_mismatch_leaves_nothing(tmp_path, archive):
    wrong = "0" * 32
    with pytest.raises(ChecksumError) as err:
        load_cifar("cifar10", download_dir=tmp_path, url=archive["url"], md5=wrong, progress=False)
    msg = str(err.value)
    assert "cifar-10-binary.tar.gz" in msg and wrong in msg and archive["md5"] in msg and "run again" in msg
    assert list(tmp_path.iterdir()) == []


def test_truncated_transfer_then_resume(tmp_path, server, archive):
    dest = tmp_path / "cifar-10-binary.tar.gz"
    server["truncate_next"] = 1
    with pytest.raises(DownloadError, match="ended early"):
        download(archive["url"], dest, archive["md5"], progress=False)
    part = tmp_path / "cifar-10-binary.tar.gz.part"
    assert part.stat().st_size == 1000 and not dest.exists()
    download(archive["url"], dest, archive["md5"], progress=False)
    assert server["ranges"][-1] == "bytes=1000-"
    assert dest.read_bytes() == archive["data"] and not part.exists()


def test_retries_resume_within_one_call(tmp_path, server, archive):
    server["truncate_next"], server["truncate_at"] = 2, 700
    dest = download(archive["url"], tmp_path / "a.tar.gz", archive["md5"], retries=2, progress=False)
    assert dest.read_bytes() == archive["data"]
    assert server["ranges"] == [None, "bytes=700-", "bytes=1400-"]


def test_server_ignoring_range_restarts(tmp_path, server, archive):
    server["honour_range"] = False
    (tmp_path / "a.tar.gz.part").write_bytes(b"garbage that is not the start of the file")
    dest = download(archive["url"], tmp_path / "a.tar.gz", archive["md5"], progress=False)
    assert dest.read_bytes() == archive["data"]


def test_corrupt_existing_file_is_fetched_again(tmp_path, archive):
    dest = tmp_path / "a.tar.gz"
    dest.write_bytes(b"not the archive")
    download(archive["url"], dest, archive["md5"], progress=False)
    assert dest.read_bytes() == archive["data"]


def test_unreachable_server_is_a_download_error(tmp_path, server):
    with pytest.raises(DownloadError, match="404"):
        download(server["url"]("missing.tar.gz"), tmp_path / "m.tar.gz", "0" * 32, progress=False)


@pytest.mark.parametrize("make", [
    lambda: tarfile.TarInfo("../evil.bin"),
    lambda: tarfile.TarInfo("/abs/evil.bin"),
    lambda: _link("cifar-10-batches-bin/link.bin", "/etc/passwd"),
])
def test_unsafe_member_refused(tmp_path, make):
    bad = make()
    if bad.isfile():
        bad.size = 4
    data, _, _ = fake_cifar10(extra=[bad])
    path = tmp_path / "bad.tar.gz"
    path.write_bytes(data)
    with pytest.raises(UnsafeArchiveError, match="refusing member"):
        read_cifar_archive(path, "cifar10")
    refused = []
    names = [name for name, _ in iter_tar_files(path, refused)]
    assert refused and refused[0][0] == bad.name and bad.name not in names


def _link(name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def test_cifar100_uses_fine_labels(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    coarse, fine = np.array([0, 1, 2, 3]), np.array([10, 20, 30, 99])
    top = "cifar-100-binary/"
    path = tmp_path / "cifar-100-binary.tar.gz"
    path.write_bytes(_tar_gz({
        top + "train.bin": _records(images[:3], coarse[:3], fine[:3]),
        top + "test.bin": _records(images[3:], coarse[3:], fine[3:]),
        top + "fine_label_names.txt": "\n".join(f"fine{i}" for i in range(100)).encode(),
        top + "coarse_label_names.txt": "\n".join(f"coarse{i}" for i in range(20)).encode(),
    }))
    p = read_cifar_archive(path, "cifar100")
    assert len(p.classes) == 100 and p.classes[99] == "fine99"
    np.testing.assert_array_equal(p.labels, fine)
    np.testing.assert_array_equal(p.images, images)
    assert list(p.manifest["split"]) == ["train"] * 3 + ["test"]


def test_bad_record_length_is_refused():
    with pytest.raises(ValueError, match="whole number"):
        parse_records(b"\0" * 3074, 1, 0)


def test_missing_member_named(tmp_path):
    path = tmp_path / "x.tar.gz"
    path.write_bytes(_tar_gz({"cifar-10-batches-bin/batches.meta.txt": b"a\n"}))
    with pytest.raises(ValueError, match="missing data_batch_1.bin"):
        read_cifar_archive(path, "cifar10")
