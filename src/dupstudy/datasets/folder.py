"""Images in a tree, given as a directory or a .tar.gz of one: <root>/<split>/<class>/<file>, or
(layout 'collection' or 'auto', see layout.py) any tree at all, as one collection.

Splits are `train` and `test`; anything else is listed in `rejected`, as is every file that
cannot be decoded, so one bad file never stops a run. A tar archive is streamed, never
extracted. A lone top-level folder (e.g. `cifar10-jpg/`) is looked through.

Memory stays bounded whatever the input holds: a first pass reads only image headers to choose
the common size, a second decodes in small batches straight into the preallocated array, and
every file, image and the dataset as a whole has a cap (below); what passes a cap is rejected.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BadInput
from . import layout as layouts
from .download import iter_tar_members, mib
from .images import Unusable, decode_image, scan_image
from .layout import SPLIT_PATTERN, SPLITS, Entry
from .prepared import MANIFEST_COLUMNS, Prepared

# Engineering limits, not study settings: together they keep loading any input under about
# 1 GiB of memory (tests/test_reliability_memory.py measures it).
MAX_FILE_BYTES = 64 << 20      # bytes read from one file or archive member: no usable image is larger
MAX_DATASET_BYTES = 384 << 20  # the decoded dataset, N x H x W x 3 bytes, which is held in memory whole
MAX_FILES = 200_000            # files or archive members listed: each costs about 2 KiB to keep track of
HELD_BYTES = 64 << 20          # archive members' bytes kept from the first pass for the second, which
#                                then need not stream the archive again (tar headers cost as much as decoding)
BATCH_FILES = 128              # files per batch sent to a worker: few round trips, and small batches
BATCH_BYTES = 16 << 20         # file bytes plus decoded pixels per batch (one file at least)
IN_FLIGHT_BYTES = 32 << 20     # the same, summed over the batches sent and not yet back (one batch at least)


class NoImages(BadInput, ValueError):
    """The folder or archive holds no image the tool can use."""


def load_folder(folder: str | os.PathLike, workers: int = 2, progress: bool = True, layout: str = "split") -> Prepared:
    """Decode every image under `folder` (a directory or a tar archive) into a Prepared set; `layout`
    is 'split' (<split>/<class>/<file>, what the study needs), 'collection' or 'auto' (layout.py)."""
    path = Path(folder)
    if not (path.is_dir() or path.is_file()):
        raise NoImages(f"dataset folder {path} does not exist (a directory or a .tar.gz is expected)")
    rejected: list[tuple[str, str]] = []
    held = _Held()
    with _runner(workers, progress) as run:
        top, chosen, entries, size = _plan(path, run, held, rejected, layout)
        images, decoded = _decode_all(path, held, entries, size, run, rejected)
    if not decoded:
        raise _no_images(path, rejected, chosen)
    good = [entries[row] for row in decoded]
    meta = list(decoded.values())
    classes = sorted({e.cls for e in good})
    index = {c: i for i, c in enumerate(classes)}
    manifest = pd.DataFrame({
        "id": np.arange(len(good), dtype=np.int64),
        "split": [e.split for e in good],
        "label": np.array([index[e.cls] for e in good], dtype=np.int64),
        "source": [e.rel for e in good],
        "width": [m["width"] for m in meta],   # before resizing, after EXIF orientation
        "height": [m["height"] for m in meta],
        "format": [m["format"] for m in meta],
        "file_size": [m["file_size"] for m in meta],
        "file_sha256": [m["file_sha256"] for m in meta],
        "pixel_md5": [m["pixel_md5"] for m in meta],
    })[MANIFEST_COLUMNS]
    resized = sum((m["width"], m["height"]) != size for m in meta)
    return Prepared(
        name="folder", classes=classes, images=images, labels=manifest["label"].to_numpy(),
        manifest=manifest,
        rejected=pd.DataFrame(sorted(rejected), columns=["source", "reason"]),
        source={"name": "folder", "folder": str(folder), "top": top, "layout": chosen, "size": [size[1], size[0]],
                "resized": int(resized)})


def _plan(path: Path, run, held: _Held, rejected: list, want: str
          ) -> tuple[str, str, list[Entry], tuple[int, int]]:
    """The first pass: list the files and read their headers. Returns the lone top folder looked
    through ('' if none), the layout, the entries to decode, and the (width, height) to decode them to."""
    headers = dict(run(_scan_batch, _payloads(_each_file(path, rejected), held), desc="scan images"))
    top = _lone_top(list(headers))
    rels = {name: _utf8(_below(name, top)) for name in headers}
    usable = [rel for name, rel in rels.items() if not isinstance(headers[name], str)]
    chosen = layouts.detect(usable, want, path)
    if chosen == "collection" and top:  # a collection's paths are as listed: no split folders to look for
        top = ""
        rels = {name: _utf8(name) for name in headers}
        usable = [rel for name, rel in rels.items() if not isinstance(headers[name], str)]
    rejected[:] = [(_below(name, top), why) for name, why in rejected]
    entries = layouts.entries(rels, chosen, rejected)
    rejected += [(e.rel, headers[e.name]) for e in entries if isinstance(headers[e.name], str)]
    entries = [e for e in entries if not isinstance(headers[e.name], str)]
    if not entries:
        raise _no_images(path, rejected, chosen, usable)
    size = _common_size(headers[e.name] for e in entries)
    return top, chosen, _within_budget(entries, *size, rejected), size


def _no_images(path: Path, rejected: list, layout: str, usable: list[str] = ()) -> NoImages:
    if layout == "collection":
        return NoImages(f"{path}: no files found" if not rejected else
                        f"{path}: no usable images ({len(rejected)} rejected, e.g. {sorted(rejected)[:3]})")
    if usable:  # images, but none where the study needs them: say which layout that is
        return NoImages(f"{path}: {len(usable)} images, none at {SPLIT_PATTERN} with split train or test "
                        f"(e.g. {sorted(usable)[0]!r}); training needs labelled splits, <root>/train/<class>/<file> "
                        f"and <root>/test/<class>/<file>: arrange the images so, or find duplicates in a folder "
                        f"of any layout with `dupstudy dedup {path}`")
    if not rejected:
        return NoImages(f"{path}: no files found; expected images at {SPLIT_PATTERN} with split train or test")
    return NoImages(f"{path}: no usable images under {SPLIT_PATTERN} "
                    f"({len(rejected)} rejected, e.g. {sorted(rejected)[:3]})")


def find_files(folder: str | os.PathLike, top: str, rels: set[str]) -> Iterator[tuple[str, str, str | bytes]]:
    """(rel, name, content) for each file of `rels` (manifest sources) under `folder`, found by the
    rules load_folder follows (the same member of an archive, links kept inside the folder):
    `name` spells the path below the data root as the file system does, `content` is the path to
    read (a directory) or the member's bytes (an archive)."""
    for name, where in _each_file(Path(folder), []):
        below = _below(name, top)
        if _utf8(below) in rels:
            yield _utf8(below), below, where() if callable(where) else where


# --- listing -------------------------------------------------------------------------------

def _each_file(path: Path, rejected: list) -> Iterator[tuple[str, str | Callable[[], bytes]]]:
    """(name, where) of each file, once per name as shown in tables: `where` is the path to read
    (a directory), or a function that returns the member's bytes until the next one (an archive)."""
    if path.is_dir():
        yield from _list_dir(path, rejected).items()
    else:
        yield from _archive_files(path, rejected)


def _list_dir(root: Path, rejected: list) -> dict[str, str]:
    """Relative posix name -> path to read, of every file that stays inside `root`."""
    files: dict[str, str] = {}
    shown: set[str] = set()
    inside = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            # os.walk does not follow them (no loops, nothing outside the root): say so.
            rel = _utf8(Path(dirpath, name).relative_to(root).as_posix())
            rejected.append((rel + "/", "symbolic link to a folder (not followed)"))
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = Path(full).relative_to(root).as_posix()
            if len(files) + len(rejected) >= MAX_FILES:
                rejected.append((_utf8(rel), f"more than {MAX_FILES:,} files: this one and the rest were not read"))
                return files
            problem = _duplicate_name(rel, shown) or _outside(full, inside)
            if problem:
                rejected.append((_utf8(rel), problem))
            elif os.path.isfile(full):
                files[rel] = os.path.realpath(full) if os.path.islink(full) else full
            else:
                rejected.append((_utf8(rel), _not_a_file(full)))
    return files


def _outside(path: str, root: str) -> str | None:
    """Why a symbolic link must not be followed: it leads out of the root (to /etc/passwd, say)."""
    if not os.path.islink(path):
        return None
    target = os.path.realpath(path)
    if os.path.commonpath([target, root]) != root:
        return "symbolic link to a file outside the folder (not followed)"
    return None


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


def _duplicate_name(name: str, shown: set[str]) -> str | None:
    """Two files whose names show the same in tables (`a/b.png` and `./a/b.png` in an archive, or a
    name with the bytes \\xe9 and one spelled with a backslash) would be one row: the first is kept."""
    if _utf8(name) in shown:
        return "another file has the same name (as shown here); the first one is used"
    shown.add(_utf8(name))
    return None


def _archive_files(archive: Path, rejected: list) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name, read) of each safe regular member, named without `.` and empty path parts; members
    refused, and later members with the name of an earlier one, go to `rejected`."""
    refused: list[tuple[str, str]] = []
    shown: set[str] = set()
    try:
        for member, read in iter_tar_members(archive, refused, max_bytes=MAX_FILE_BYTES, max_members=MAX_FILES):
            name = _clean(member)
            problem = _duplicate_name(name, shown)
            if problem:
                rejected.append((_utf8(name), f"{problem} (member {_utf8(member)!r})"))
            else:
                yield name, read
    finally:
        rejected += [(_utf8(name if name.startswith("/") else _clean(name)), why) for name, why in refused]


def _clean(name: str) -> str:
    return "/".join(p for p in name.split("/") if p not in ("", "."))


def _lone_top(names: list[str]) -> str:
    """'<top>' (as shown) when every file sits under one folder that holds the splits, else ''."""
    tops = {n.split("/", 1)[0] for n in names if not n.startswith(".")}
    if len(tops) != 1:
        return ""
    top = tops.pop()
    inner = [n.split("/")[1] for n in names if n.startswith(top + "/") and n.count("/") >= 2]
    return _utf8(top) if top not in SPLITS and any(s in SPLITS for s in inner) else ""


def _below(name: str, top: str) -> str:
    """`name` relative to the data root: without the lone top folder (`top`, as shown), if any."""
    head, _, rest = name.partition("/")
    return rest if top and rest and _utf8(head) == top else name


# --- sizes ---------------------------------------------------------------------------------

def _common_size(sizes: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """The most common (width, height); ties go to the larger image, then to the smaller (w, h)."""
    counts = Counter(sizes)
    return min(counts, key=lambda s: (-counts[s], -s[0] * s[1], s))


def _within_budget(entries: list[Entry], width: int, height: int, rejected: list) -> list[Entry]:
    """The first entries whose decoded pixels fit MAX_DATASET_BYTES; the rest are rejected."""
    fit = MAX_DATASET_BYTES // (width * height * 3)
    why = (f"not loaded: {len(entries):,} images of {width}x{height} pass the {mib(MAX_DATASET_BYTES)} cap "
           f"on the decoded dataset; the first {fit:,} (train first, then by class and name) were kept")
    rejected += [(e.rel, why) for e in entries[fit:]]
    return entries[:fit]


# --- the two passes ------------------------------------------------------------------------

class _Held:
    """Archive members' bytes read by the first pass, kept for the second while all of them fit
    HELD_BYTES; past that none are kept, and the second pass streams the archive again."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.size, self.whole = 0, True

    def add(self, name: str, data: bytes) -> None:
        self.size += len(data)
        if self.size > HELD_BYTES:
            self.files.clear()
            self.whole = False
        elif self.whole:
            self.files[name] = data


def _payloads(files: Iterable[tuple[str, str | Callable[[], bytes]]], held: _Held | None = None
              ) -> Iterator[tuple[str, str | bytes]]:
    """(key, path or bytes): archive members are read here (and kept in `held`), files on disk by the workers."""
    for key, where in files:
        if callable(where):
            where = where()
            if held is not None:
                held.add(key, where)
        yield key, where


def _decode_all(path: Path, held: _Held, entries: list[Entry], size: tuple[int, int], run, rejected: list
                ) -> tuple[np.ndarray, dict[int, dict]]:
    """Decode `entries` into rows of one preallocated array; returns the array (rows of images that
    failed removed) and {row: metadata} of those that did not, in row order."""
    width, height = size
    images = np.empty((len(entries), height, width, 3), np.uint8)  # pages are taken as rows are filled
    rows = {e.name: row for row, e in enumerate(entries)}
    if held.whole and held.files:  # an archive read whole by the first pass
        wanted = ((rows[name], held.files.pop(name)) for name in list(rows))
    else:
        wanted = _payloads((rows[name], where) for name, where in _each_file(path, []) if name in rows)
    decoded: dict[int, dict] = {}
    seen = set()
    for row, result in run(functools.partial(_decode_batch, size), wanted, total=len(entries),
                           desc="decode images", out_bytes=width * height * 3):
        seen.add(row)
        if "error" in result:
            rejected.append((entries[row].rel, result["error"]))
        else:
            images[row] = result.pop("image")
            decoded[row] = result
    rejected += [(e.rel, "gone when it was decoded") for row, e in enumerate(entries) if row not in seen]
    keep = sorted(decoded)
    for new, old in enumerate(keep):  # move rows up over the failed ones, in place
        if new != old:
            images[new] = images[old]
    return images[:len(keep)], {row: decoded[row] for row in keep}


@contextlib.contextmanager
def _runner(workers: int, progress: bool):
    """A function that maps a batch function over (key, payload) items, in worker processes when
    `workers` > 1, and yields (key, result) in order."""
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        yield functools.partial(_run, pool, workers, progress)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _run(pool, workers: int, progress: bool, fn, items: Iterable, *, desc: str, total: int | None = None,
         out_bytes: int = 0) -> Iterator[tuple]:
    from tqdm import tqdm

    batches = _batches(items, out_bytes)
    if pool is not None:
        results = _bounded_map(pool, fn, batches, 2 * workers)
    else:
        results = (fn(batch) for batch, _ in batches)
    with tqdm(total=total, desc=desc, unit="img", disable=not progress) as bar:
        for batch in results:
            bar.update(len(batch))
            yield from batch


def _batches(items: Iterable[tuple], out_bytes: int) -> Iterator[tuple[list, int]]:
    """(batch, bytes): lists of at most BATCH_FILES items and BATCH_BYTES of file bytes (those
    read here) plus decoded pixels, with that sum."""
    batch, size = [], 0
    for key, payload in items:
        weight = out_bytes + (len(payload) if isinstance(payload, bytes) else 0)
        if batch and (len(batch) == BATCH_FILES or size + weight > BATCH_BYTES):
            yield batch, size
            batch, size = [], 0
        batch.append((key, payload))
        size += weight
    if batch:
        yield batch, size


def _bounded_map(pool, fn, batches: Iterable[tuple[list, int]], depth: int) -> Iterator:
    """pool.map that keeps at most `depth` batches and IN_FLIGHT_BYTES in flight (Executor.map
    submits them all at once, which would read a whole archive into memory)."""
    pending: deque = deque()
    held = 0
    for batch, size in batches:
        while pending and (len(pending) == depth or held + size > IN_FLIGHT_BYTES):
            future, done = pending.popleft()
            held -= done
            yield future.result()
        pending.append((pool.submit(fn, batch), size))
        held += size
    while pending:
        yield pending.popleft()[0].result()


def _scan_batch(batch: list) -> list:
    """[(key, (width, height)) or (key, why it cannot be used)]: a reason is a str."""
    return [(key, _scan_one(payload)) for key, payload in batch]


def _scan_one(payload: str | bytes) -> tuple[int, int] | str:
    try:
        return scan_image(_read(payload))
    except Unusable as err:
        return str(err)


def _decode_batch(size: tuple[int, int], batch: list) -> list:
    """[(key, decode_image's dict) or (key, {"error": why it cannot be used})]."""
    return [(key, _decode_one(payload, size)) for key, payload in batch]


def _decode_one(payload: str | bytes, size: tuple[int, int]) -> dict:
    try:
        return decode_image(_read(payload), size)
    except Unusable as err:
        return {"error": str(err)}


def _read(payload: str | bytes) -> bytes:
    """The file's bytes (the payload itself for an archive member), never more than MAX_FILE_BYTES."""
    if isinstance(payload, bytes):
        return payload
    try:
        with Path(payload).open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(MAX_FILE_BYTES + 1) if size <= MAX_FILE_BYTES else b""
    except OSError as err:
        raise Unusable(f"cannot read file: {err}") from None
    if size > MAX_FILE_BYTES or len(data) > MAX_FILE_BYTES:
        raise Unusable(f"file of {max(size, len(data)):,} bytes, past the {mib(MAX_FILE_BYTES)} cap")
    return data
