"""Named study presets: complete params files in presets/<name>.yaml.

A preset is put in force by copying its text into params.yaml, the one file Snakemake and DVC
read, so both see the same values and each reruns only the stages whose declared keys changed.
The names are the files' names; a preset's first line, a comment "# NAME: what it is", is its
one-line description.
params.yaml is only replaced when it is byte-identical to some preset (nothing a user wrote is
lost) or when the caller forces it, in which case the old file is kept as params.yaml.bak.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .params import ParamsError, validate

DIR = "presets"


class PresetError(ValueError):
    """A preset that does not exist or is not valid, or a params.yaml that would be lost."""


@dataclass(frozen=True)
class Preset:
    name: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text()

    @property
    def description(self) -> str:
        first = self.text.split("\n", 1)[0]
        text = first.lstrip("#").strip() if first.startswith("#") else ""
        return text.removeprefix(f"{self.name}:").strip()  # "# NAME: what it is" reads well in params.yaml

    def values(self) -> dict:
        """The preset's values, validated against the params schema."""
        try:
            values = yaml.safe_load(self.text)
        except yaml.YAMLError as err:
            raise PresetError(f"{self.path}: not valid YAML: {err}") from None
        try:
            validate(values, source=str(self.path))
        except ParamsError as err:
            raise PresetError(str(err)) from None
        return values


def folder(root: str | Path = ".") -> Path:
    """presets/ of the project at `root`; else that of the checkout this package runs from (an
    editable install), so `dupstudy --help` lists them from any folder."""
    here = Path(root) / DIR
    if here.is_dir():
        return here
    checkout = Path(__file__).resolve().parents[2] / DIR
    return checkout if checkout.is_dir() else here


def available(root: str | Path = ".") -> list[Preset]:
    d = folder(root)
    return [Preset(p.stem, p) for p in sorted(d.glob("*.yaml"))] if d.is_dir() else []


def get(name: str, root: str | Path = ".") -> Preset:
    presets = {p.name: p for p in available(root)}
    if name not in presets:
        known = ", ".join(presets) or f"none: no {DIR}/ folder in {Path(root).resolve()}"
        raise PresetError(f"no preset named {name!r}; presets: {known}")
    return presets[name]


def matching(params_file: str | Path, root: str | Path = ".") -> Preset | None:
    """The preset whose text params_file holds, byte for byte; None if it holds none."""
    path = Path(params_file)
    if not path.is_file():
        return None
    text = path.read_text()
    return next((p for p in available(root) if p.text == text), None)


def differences(ours: Any, theirs: Any, prefix: str = "") -> list[str]:
    """'key: ours -> theirs' for every leaf where two params trees differ."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = []
        for key in list(ours) + [k for k in theirs if k not in ours]:
            sub = f"{prefix}.{key}" if prefix else str(key)
            if key not in theirs:
                out.append(f"{sub}: {ours[key]!r} -> (absent)")
            elif key not in ours:
                out.append(f"{sub}: (absent) -> {theirs[key]!r}")
            else:
                out += differences(ours[key], theirs[key], sub)
        return out
    return [] if ours == theirs else [f"{prefix or '(top level)'}: {ours!r} -> {theirs!r}"]


def _closest(values: Any, root) -> tuple[Preset | None, list[str]]:
    best: tuple[Preset | None, list[str]] = (None, [])
    for p in available(root):
        try:
            diff = differences(yaml.safe_load(p.text), values)
        except yaml.YAMLError:
            continue
        if best[0] is None or len(diff) < len(best[1]):
            best = (p, diff)
    return best


def edits(params_file: str | Path, root: str | Path = ".") -> str:
    """What params_file holds beyond every preset, in words (its edits a switch would lose)."""
    path = Path(params_file)
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return f"{path} is not valid YAML"
    closest, diff = _closest(values, root)
    if closest is None:
        return f"{path} matches no preset"
    if not diff:
        return f"{path} has the values of preset {closest.name} but not its text (comments or layout differ)"
    shown = diff[:12] + ([f"... and {len(diff) - 12} more"] if len(diff) > 12 else [])
    return (f"{path} differs from preset {closest.name} (the closest) at {len(diff)} key(s), preset -> yours:\n  "
            + "\n  ".join(shown))


def apply(name: str, params_file: str | Path = "params.yaml", *, force: bool = False,
          root: str | Path = ".") -> Path | None:
    """Write preset `name` into params_file. Refuses (PresetError) to replace a file that matches no
    preset unless force, which keeps it as <params_file>.bak; returns that backup's path, if any."""
    from .io import atomic_path

    preset = get(name, root)
    preset.values()  # refuse an invalid preset before touching params.yaml
    target = Path(params_file)
    backup = None
    if target.exists() and matching(target, root) is None:
        if not force:
            raise PresetError(f"{edits(target, root)}\nparams.yaml holds edits that no preset has, so it was left "
                              f"as it is. Keep them as a preset (cp {target} {DIR}/NAME.yaml, with a first comment "
                              f"line describing it) or pass --force (the old file is kept as {target}.bak).")
        backup = target.with_name(target.name + ".bak")
        with atomic_path(backup) as tmp:
            tmp.write_bytes(target.read_bytes())
    with atomic_path(target) as tmp:
        tmp.write_text(preset.text)
    return backup
