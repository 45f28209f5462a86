"""Which layout an image folder has, and each file's split and class under it.

Two layouts:
* split: <split>/<class>/<file> with split train or test: labels from the class folders, and
  the study's train/test leakage and label conflicts. The pipeline's only layout (it trains
  classifiers); files elsewhere are rejected with the reason.
* collection: any other tree, flat or nested however deep: every image is one collection, all in
  split train, all of one class (ONE_CLASS); `dupstudy dedup` finds the duplicates within it.

Asked for 'auto' (`dupstudy dedup`), the usable images decide: all of them at
<train|test>/<class>/<file> (other split folders, such as val/, count as that layout and are
rejected as before) is split; none of them there is a collection; some there and some elsewhere is
neither, and a BadInput names a file that is elsewhere and the two ways on (--layout split or
--layout collection), since guessing would either drop images or silently skip the leakage check.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..errors import BadInput
from ..outdir import MARKER

SPLITS = ("train", "test")
LAYOUTS = ("auto", "split", "collection")
ONE_CLASS = "-"  # the one class of a collection: it has no labels
SPLIT_PATTERN = "<split>/<class>/<file>"


class MixedLayout(BadInput, ValueError):
    """Some images follow <split>/<class>/<file> and others do not, and no layout was chosen."""


@dataclass(frozen=True, slots=True)
class Entry:
    rel: str    # the path below the data root, undecodable bytes written as \xNN
    name: str   # the file's name as listed (top folder included), as the file system spells it
    split: str
    cls: str


def _hidden(parts: list[str]) -> bool:
    return any(p.startswith(".") for p in parts)


def _in_split_layout(parts: list[str]) -> bool:
    return len(parts) == 3 and parts[0] in SPLITS


def detect(rels: list[str], want: str, where) -> str:
    """'split' or 'collection' for the usable images at `rels` (paths below the data root), as
    `want` ('auto', 'split' or 'collection') asks; `where` names the input in the error."""
    if want not in LAYOUTS:
        raise ValueError(f"unknown layout {want!r}; allowed: {', '.join(LAYOUTS)}")
    if want != "auto":
        return want
    parts = [r.split("/") for r in rels if r != MARKER and not _hidden(r.split("/"))]
    inside = sum(_in_split_layout(p) for p in parts)
    if not inside:
        return "collection"
    elsewhere = sorted("/".join(p) for p in parts if len(p) != 3)
    if not elsewhere:
        return "split"
    raise MixedLayout(
        f"{where}: mixed layout: {inside} images at {SPLIT_PATTERN} (split train or test) and {len(elsewhere)} "
        f"elsewhere, e.g. {elsewhere[0]!r}; pass --layout split to use only the first (the others are listed "
        f"in rejected.csv), or --layout collection to search all of them as one collection")


def entries(rels: dict[str, str], layout: str, rejected: list) -> list[Entry]:
    """The files to load (name -> path below the root), sorted by split, class, path; the rest go to
    `rejected` with the reason."""
    out, other_splits = [], Counter()
    for name, rel in rels.items():
        parts = rel.split("/")
        if rel == MARKER:  # a folder this tool exported: its marker is not data
            continue
        if _hidden(parts):
            rejected.append((rel, "hidden file or folder"))
        elif layout == "collection":
            out.append(Entry(rel, name, "train", ONE_CLASS))
        elif len(parts) != 3:
            rejected.append((rel, f"not at {SPLIT_PATTERN}"))
        elif parts[0] not in SPLITS:
            other_splits[parts[0]] += 1
        else:
            out.append(Entry(rel, name, parts[0], parts[1]))
    for split, n in sorted(other_splits.items()):
        why = f"split folder {split!r} ignored ({n} file{'s' * (n != 1)}): only 'train' and 'test' are allowed"
        rejected.append((f"{split}/", why))
    return sorted(out, key=lambda e: (SPLITS.index(e.split), e.cls, e.rel))


def describe(layout: str) -> str:
    """One line on what the layout means for the results."""
    if layout == "split":
        return f"layout {SPLIT_PATTERN}: labels from the class folders, train/test leakage and label conflicts checked"
    return ("layout: one collection: every image searched against every other; no labels, so no train/test "
            "leakage or label conflicts")
