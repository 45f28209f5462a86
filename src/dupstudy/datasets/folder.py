"""Images in a tree <root>/<split>/<class>/<file>, given as a directory or a .tar.gz of one.

Splits are `train` and `test`; anything else is listed in `rejected`, as is every file that
cannot be decoded, so one bad file never stops a run. A tar archive is read in memory and
never extracted. A lone top-level folder (e.g. `cifar10-jpg/`) is looked through.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BadInput
from ..outdir import MARKER
from .download import iter_tar_files
from .prepared import MANIFEST_COLUMNS, Prepared, pixel_md5

SPLITS = ("train", "test")
MAX_PIXELS = 50_000_000  # larger images are refused as possible decompression bombs


class NoImages(BadInput, ValueError):
    """The folder or archive holds no image the tool can use."""


@dataclass(frozen=True)
class Entry:
    rel: str            # "<split>/<class>/<file>", relative to the data root
    split: str
    cls: str
    item: str | bytes   # a file path (directory source) or the file's bytes (tar source)


def load_folder(folder: str | os.PathLike, workers: int = 2, progress: bool = True) -> Prepared:
    """Decode every image under `folder` (a directory or a tar archive) into a Prepared set."""
    path = Path(folder)
    rejected: list[tuple[str, str]] = []
    if path.is_dir():
        files = _list_dir(path, rejected)
    elif path.is_file():
        files = _list_tar(path, rejected)
    else:
        raise NoImages(f"dataset folder {path} does not exist (a directory or a .tar.gz is expected)")
    top = _lone_top(list(files))
    rejected = [(name.removeprefix(top), why) for name, why in rejected]  # names relative to the data root
    entries = _layout({name.removeprefix(top): item for name, item in files.items()}, rejected)
    classes = sorted({e.cls for e in entries})
    results = _decode_all([e.item for e in entries], workers, progress)

    good = [(e, r) for e, r in zip(entries, results) if "error" not in r]
    rejected += [(e.rel, r["error"]) for e, r in zip(entries, results) if "error" in r]
    if not good:
        raise NoImages(f"{path}: no usable images under <split>/<class>/<file> "
                         f"({len(rejected)} rejected, e.g. {rejected[:3]})")
    # Most common size wins; ties go to the larger image, then to the smaller (w, h).
    sizes = Counter((r["width"], r["height"]) for _, r in good)
    width, height = min(sizes, key=lambda s: (-sizes[s], -s[0] * s[1], s))
    images = np.stack([_fit(r["image"], width, height) for _, r in good])
    index = {c: i for i, c in enumerate(classes)}
    manifest = pd.DataFrame({
        "id": np.arange(len(good), dtype=np.int64),
        "split": [e.split for e, _ in good],
        "label": np.array([index[e.cls] for e, _ in good], dtype=np.int64),
        "source": [e.rel for e, _ in good],
        "width": [r["width"] for _, r in good],   # before resizing, after EXIF orientation
        "height": [r["height"] for _, r in good],
        "format": [r["format"] for _, r in good],
        "file_size": [r["file_size"] for _, r in good],
        "file_sha256": [r["file_sha256"] for _, r in good],
        "pixel_md5": [pixel_md5(im) for im in images],
    })[MANIFEST_COLUMNS]
    return Prepared(
        name="folder", classes=classes, images=images, labels=manifest["label"].to_numpy(),
        manifest=manifest,
        rejected=pd.DataFrame(sorted(rejected), columns=["source", "reason"]),
        source={"name": "folder", "folder": str(folder), "top": top.rstrip("/"),
                "size": [height, width], "resized": int(sum(n for s, n in sizes.items() if s != (width, height)))})


# --- listing -------------------------------------------------------------------------------

def _list_dir(root: Path, rejected: list) -> dict[str, str]:
    """Relative posix name -> path of every file; workers read the bytes themselves."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            # os.walk does not follow them (no loops, nothing outside the root): say so.
            rel = _utf8(Path(dirpath, name).relative_to(root).as_posix())
            rejected.append((rel + "/", "symbolic link to a folder (not followed)"))
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = _utf8(Path(full).relative_to(root).as_posix())
            if os.path.isfile(full):
                files[rel] = full
            else:
                rejected.append((rel, _not_a_file(full)))
    return files


def _not_a_file(path: str) -> str:
    try:
        os.stat(path)
    except OSError as err:  # a broken link or a symlink loop (ELOOP)
        return f"not a regular file (link that cannot be followed: {err.strerror})"
    return "not a regular file (broken link or special file)"


def _utf8(name: str) -> str:
    """File names that are not valid UTF-8 (bytes decoded with surrogateescape) with the bad bytes
    written as \\xNN, so tables and JSON can hold them; the file itself is still read by its path."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _list_tar(archive: Path, rejected: list) -> dict[str, bytes]:
    """Relative posix name -> bytes of every safe regular member; the rest go to `rejected`."""
    refused: list[tuple[str, str]] = []
    files = {_clean(name): data for name, data in iter_tar_files(archive, refused)}
    rejected += [(_utf8(name) if name.startswith("/") else _clean(name), why) for name, why in refused]
    return files


def _clean(name: str) -> str:
    return _utf8("/".join(p for p in name.split("/") if p not in ("", ".")))


def _lone_top(names: list[str]) -> str:
    """'<top>/' when every file sits under one folder that holds the splits, else ''."""
    tops = {n.split("/", 1)[0] for n in names if not n.startswith(".")}
    if len(tops) != 1:
        return ""
    top = tops.pop()
    inner = [n.split("/")[1] for n in names if n.startswith(top + "/") and n.count("/") >= 2]
    return top + "/" if top not in SPLITS and any(s in SPLITS for s in inner) else ""


def _layout(files: dict[str, str | bytes], rejected: list) -> list[Entry]:
    """Keep files at <train|test>/<class>/<file>, sorted by split, class, file name."""
    entries, other_splits = [], Counter()
    for rel, item in files.items():
        parts = rel.split("/")
        if rel == MARKER:  # a folder this tool exported: its marker is not data
            continue
        if any(p.startswith(".") for p in parts):
            rejected.append((rel, "hidden file or folder"))
        elif len(parts) != 3:
            rejected.append((rel, "not at <split>/<class>/<file>"))
        elif parts[0] not in SPLITS:
            other_splits[parts[0]] += 1
        else:
            entries.append(Entry(rel, parts[0], parts[1], item))
    for split, n in sorted(other_splits.items()):
        why = f"split folder {split!r} ignored ({n} file{'s' * (n != 1)}): only 'train' and 'test' are allowed"
        rejected.append((f"{split}/", why))
    return sorted(entries, key=lambda e: (SPLITS.index(e.split), e.cls, e.rel))


# --- decoding ------------------------------------------------------------------------------

def _decode_all(items: list, workers: int, progress: bool) -> list[dict]:
    from tqdm import tqdm

    bar = {"total": len(items), "desc": "decode images", "unit": "img", "disable": not progress}
    if workers > 1 and len(items) > 1:
        from concurrent.futures import ProcessPoolExecutor

        chunk = max(1, min(256, len(items) // (8 * workers)))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(tqdm(pool.map(_decode_item, items, chunksize=chunk), **bar))  # keeps order
    return [_decode_item(item) for item in tqdm(items, **bar)]


def _decode_item(item: str | bytes) -> dict:
    if isinstance(item, bytes):
        return decode_image(item)
    try:
        return decode_image(Path(item).read_bytes())
    except OSError as err:
        return {"error": f"cannot read file: {err}"}


def decode_image(data: bytes) -> dict:
    """File bytes -> {"image": uint8 (H, W, 3), width, height, format, file_size, file_sha256},
    or {"error": reason}. Never raises for bad input."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        return {"error": "empty file (0 bytes)"}
    info = {"file_size": len(data), "file_sha256": hashlib.sha256(data).hexdigest()}
    try:
        with _strict_pil(), Image.open(io.BytesIO(data)) as im:
            fmt = im.format
            if im.width * im.height > MAX_PIXELS:
                return {"error": f"too many pixels ({im.width}x{im.height} > {MAX_PIXELS:,}): "
                                 f"possible decompression bomb"}
            im.load()  # decode now, so truncated files fail here
            rgb = to_rgb(ImageOps.exif_transpose(im))
    except Image.DecompressionBombError as err:
        return {"error": f"possible decompression bomb: {err}"}
    except UnidentifiedImageError:
        return {"error": "not an image Pillow can read"}
    except Exception as err:  # truncated, corrupt, unsupported: record and go on
        return {"error": f"corrupt or truncated image: {type(err).__name__}: {err}"}
    return {**info, "image": np.asarray(rgb, dtype=np.uint8), "width": rgb.width, "height": rgb.height,
            "format": fmt or ""}


@contextlib.contextmanager
def _strict_pil():
    """Make truncated files fail even if some other code told Pillow to accept them."""
    from PIL import Image, ImageFile

    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check size ourselves
            yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved


def to_rgb(im):
    """Any Pillow mode -> 8-bit RGB; transparency is composited on white."""
    from PIL import Image

    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grey (PNG opens as I;16 or I): scale 0..65535 to 0..255; convert() would clip.
        grey = np.clip(np.rint(np.asarray(im, dtype=np.float64) / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if "transparency" in im.info or im.mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))
