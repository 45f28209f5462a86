"""Name the images by path in every table a person reads.

Ids are rows of the prepared dataset: they shift when a file is added to the folder, and mean
nothing to someone looking for the file. Each table keeps its id columns (the pipeline reads them)
and gets the manifest's `source` (for a folder, the path below the folder given) beside them:
pairs and conflicts path_a, path_b; groups path; leakage test_path, train_path. images.csv maps
every id to its path, split, label and class.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

IMAGE_COLUMNS = ["id", "path", "split", "label", "class"]
PATH_OF = {"pairs": {"a": "path_a", "b": "path_b"}, "conflicts": {"a": "path_a", "b": "path_b"},
           "groups": {"id": "path"}, "leakage": {"test_id": "test_path", "train_id": "train_path"}}


def images_table(manifest: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """One row per image: id, path, split, label, class (manifest sorted by id, ids 0..N-1)."""
    labels = manifest["label"].to_numpy(np.int64)
    names = np.asarray(classes, dtype=object)
    return pd.DataFrame({"id": manifest["id"].to_numpy(np.int64), "path": manifest["source"].astype(str).to_numpy(),
                         "split": manifest["split"].to_numpy(), "label": labels,
                         "class": names[labels] if len(labels) else []}, columns=IMAGE_COLUMNS)


def with_paths(table: pd.DataFrame, ids: dict[str, str], paths: np.ndarray) -> pd.DataFrame:
    """`table` with, right after its last id column, one path column per id column (ids -> names)."""
    out = table.copy()
    at = max(out.columns.get_loc(c) for c in ids) + 1
    for k, (id_col, path_col) in enumerate(ids.items()):
        out.insert(at + k, path_col, paths[out[id_col].to_numpy(np.int64)] if len(out) else pd.Series(dtype=object))
    return out


def name_files(tables: dict[str, pd.DataFrame], manifest: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The tables named in PATH_OF, each with its path columns."""
    paths = manifest["source"].astype(str).to_numpy(dtype=object)
    return {name: with_paths(t, PATH_OF[name], paths) if name in PATH_OF else t for name, t in tables.items()}
