"""Dataset sources behind one interface: each returns a Prepared dataset.

Sources are imported only when asked for, so importing this package stays cheap
(and never pulls in torch).
"""

from __future__ import annotations

from ..errors import BadInput


class DatasetError(BadInput, ValueError):
    """dataset: names no source the tool has, or lacks what that source needs."""


NAMES = ("digits", "cifar10", "cifar100", "folder")


def load_source(settings: dict):
    """Load the dataset that params["dataset"] names; returns a prepared.Prepared, keeping only
    `train_share` of its training images when that is below 1. Keys left out take the schema's defaults."""
    from ..params import section_defaults

    settings = section_defaults("dataset", settings)
    data = _load(settings)
    share = settings["train_share"]
    if share < 1:
        from .prepared import train_subset

        data = train_subset(data, share, seed=settings["split_seed"])
    return data


def _load(settings: dict):
    name = settings.get("name")
    if name == "digits":
        from .digits import load_digits

        return load_digits(test_fraction=settings["test_fraction"], split_seed=settings["split_seed"])
    if name in ("cifar10", "cifar100"):
        from .cifar import load_cifar

        return load_cifar(name, download_dir=settings["download_dir"],
                          url=settings.get("url"), md5=settings.get("md5"), fallback=settings["folder"])
    if name == "folder":
        if not settings["folder"]:
            raise DatasetError("dataset.folder: must name a directory or .tar.gz when dataset.name is 'folder'")
        from .folder import load_folder

        return load_folder(settings["folder"])
    raise DatasetError(f"unknown dataset name {name!r}; allowed: {', '.join(NAMES)}")
