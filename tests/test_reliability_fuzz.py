"""Fuzzed images (issue 12): random and mutated files of every format Pillow both writes and reads
here, some with headers rewritten to claim huge sizes. Each file is decoded or listed as rejected
with a reason, never a crash, and the whole run stays in bounded memory: the property runs in a
fresh process whose peak RSS is read back (run `check_fuzzed_folder()` directly to debug it)."""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import sys
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from reliability_tiny import env

from dupstudy.datasets.folder import load_folder
from dupstudy.datasets.images import MAX_PIXELS


def _formats() -> dict[str, tuple[str, str]]:
    """Format -> (mode it writes, file extension), for each format Pillow writes and reads here."""
    Image.init()
    ext: dict[str, str] = {}
    for e, fmt in Image.registered_extensions().items():
        ext.setdefault(fmt, e)
    found = {}
    for fmt in sorted(set(Image.SAVE) & set(Image.OPEN)):
        for mode in ("RGB", "L", "1"):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)  # formats Pillow will drop are still read
                    Image.new(mode, (4, 4)).save(io.BytesIO(), fmt)
            except Exception:  # noqa: BLE001 - no encoder here, or not for this mode: any error Pillow has
                continue
            found[fmt] = (mode, ext.get(fmt, ".img"))
            break
    return found


FORMATS = _formats()


# --- header rewrites that claim another size ------------------------------------------------

def _fixed(offset: int, layout: str, height_first: bool = False, minus: int = 0):
    """A claim for formats that store the size at a fixed offset, packed as `layout` (PCX stores
    the last column and row: `minus` 1)."""
    top = 65535 if layout.endswith("H") else 2**31 - 1
    end = offset + struct.calcsize(layout)

    def claim(data: bytes, w: int, h: int) -> bytes:
        dims = [min(d, top) - minus for d in ((h, w) if height_first else (w, h))]
        return data[:offset] + struct.pack(layout, *dims) + data[end:]
    return claim


def _png(data: bytes, w: int, h: int) -> bytes:
    ihdr = struct.pack(">II", w, h) + data[24:29]
    return data[:16] + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + data[33:]


def _jpeg(data: bytes, w: int, h: int) -> bytes:
    sof = re.search(rb"\xff[\xc0-\xc3\xc5-\xc7\xc9-\xcb\xcd-\xcf]", data)
    if not sof:
        return data
    at = sof.start() + 5
    return data[:at] + struct.pack(">HH", min(h, 65535), min(w, 65535)) + data[at + 4:]


def _tiff(data: bytes, w: int, h: int) -> bytes:
    order = "<" if data[:2] == b"II" else ">"
    out = bytearray(data)
    ifd = struct.unpack_from(order + "I", data, 4)[0]
    for i in range(struct.unpack_from(order + "H", data, ifd)[0]):
        at = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from(order + "HH", data, at)
        if tag in (256, 257):  # ImageWidth, ImageLength: a SHORT (3) or a LONG
            value = min(w if tag == 256 else h, 65535 if kind == 3 else 2**32 - 1)
            struct.pack_into(order + ("H" if kind == 3 else "I"), out, at + 8, value)
    return bytes(out)


def _webp(data: bytes, w: int, h: int) -> bytes:
    kind = data[12:16]
    if kind == b"VP8X":
        return data[:24] + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little") + data[30:]
    if kind == b"VP8 ":
        return data[:26] + struct.pack("<HH", min(w, 16383), min(h, 16383)) + data[30:]
    if kind == b"VP8L":
        bits = struct.unpack_from("<I", data, 21)[0] & ~((1 << 28) - 1)
        return data[:21] + struct.pack("<I", bits | (min(w, 16384) - 1) | (min(h, 16384) - 1) << 14) + data[25:]
    return data


def _ppm(data: bytes, w: int, h: int) -> bytes:
    return re.sub(rb"^(P\d\s+)\d+\s+\d+", lambda m: m.group(1) + b"%d %d" % (w, h), data, count=1)


CLAIMS = {
    "PNG": _png, "JPEG": _jpeg, "TIFF": _tiff, "WEBP": _webp, "PPM": _ppm,
    "BMP": _fixed(18, "<ii"), "DIB": _fixed(4, "<ii"), "GIF": _fixed(6, "<HH"), "TGA": _fixed(12, "<HH"),
    "QOI": _fixed(4, ">II"), "DDS": _fixed(12, "<II", height_first=True), "SGI": _fixed(6, ">HH"),
    "PCX": _fixed(8, "<HH", minus=1),
}


# --- the property --------------------------------------------------------------------------

@st.composite
def fuzzed_file(draw) -> tuple[str, bytes]:
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode, ext = FORMATS[fmt]
    w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    pixels = np.random.default_rng(draw(st.integers(0, 2**16))).integers(0, 256, (h, w, 3), np.uint8)
    buf = io.BytesIO()
    try:
        Image.fromarray(pixels).convert(mode).save(buf, fmt)
    except Exception:  # noqa: BLE001 - a size this format cannot hold: random bytes instead
        buf = io.BytesIO(draw(st.binary(max_size=256)))
    data = buf.getvalue()
    mutation = draw(st.sampled_from(["none", "truncate", "flip", "claim", "claim", "random"]))
    if mutation == "truncate":
        data = data[:draw(st.integers(0, max(0, len(data) - 1)))]
    elif mutation == "flip" and data:
        out = bytearray(data)
        bits = st.tuples(st.integers(0, len(data) - 1), st.integers(0, 7))
        for at, bit in draw(st.lists(bits, min_size=1, max_size=8)):
            out[at] ^= 1 << bit
        data = bytes(out)
    elif mutation == "claim" and fmt in CLAIMS:
        big = st.sampled_from([1, 3000, 4096, 5000, 16383, 65535, 1 << 20])
        try:
            data = CLAIMS[fmt](data, draw(big), draw(big))
        except (struct.error, IndexError, ValueError):  # a header laid out otherwise: keep the file as is
            pass
    elif mutation == "random":
        data = draw(st.binary(max_size=2048))
    return ext, data


ANCHOR = "train/a/anchor.png"  # one good image, so that a folder of rejects still loads


@settings(max_examples=120, deadline=None, database=None, print_blob=True)
@given(st.lists(fuzzed_file(), min_size=1, max_size=4))
def check_fuzzed_folder(files):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = {ANCHOR}
        (root / "train/a").mkdir(parents=True)
        Image.new("RGB", (8, 8), (1, 2, 3)).save(root / ANCHOR)
        for i, (ext, data) in enumerate(files):
            name = f"train/a/f{i}{ext}"
            (root / name).write_bytes(data)
            names.add(name)
        p = load_folder(root, workers=1, progress=False)
    kept, rejected = list(p.manifest["source"]), list(p.rejected["source"])
    assert sorted(kept + rejected) == sorted(names) and ANCHOR in kept
    assert all(isinstance(why, str) and len(why) > 10 for why in p.rejected["reason"])
    assert (p.manifest["width"] * p.manifest["height"] <= MAX_PIXELS).all()
    assert len(p.images) == len(kept)


@pytest.mark.slow
def test_fuzzed_images_are_decoded_or_rejected_in_bounded_memory():
    code = ("import json, reliability_tiny as r, test_reliability_fuzz as t; t.check_fuzzed_folder(); "
            "print(json.dumps(r.peak_rss_self()))")
    tests = str(Path(__file__).parent)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tests, env={**env(), "PYTHONPATH": tests},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    peak = json.loads(proc.stdout.splitlines()[-1])
    assert peak < 1 << 30, f"peak RSS {peak / 2**20:.0f} MiB"
