"""Load params.yaml and check it against the schema before any work is done."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


class ParamsError(ValueError):
    """A bad value in params.yaml; the message names the key, the value and what is allowed."""


def schema() -> dict:
    return json.loads(resources.files("dupstudy").joinpath("schema/params.schema.json").read_text())


def load(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: no such params file (run from the project root, or pass --params)")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    validate(params, source=str(path))
    return params


def validate(params: Any, source: str = "params") -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    if errors:
        raise ParamsError("\n".join(f"{source}: {_describe(e)}" for e in errors))
    _check_semantics(params, source)


def _describe(error) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    allowed = _allowed(error)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known))
        return f"{key}: unknown key(s) {', '.join(extra)}; allowed keys: {', '.join(known)}"
    if error.validator == "required":
        return f"{key}: {error.message}"
    return f"{key}: value {error.instance!r} is not allowed; {allowed}"


def _allowed(error) -> str:
    s = error.schema
    if "enum" in s:
        return "allowed: " + ", ".join(repr(v) for v in s["enum"])
    parts = []
    if "type" in s:
        parts.append(f"type {s['type']}")
    for k, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if k in s:
            parts.append(f"{word} {s[k]}")
    if s.get("uniqueItems"):
        parts.append("no repeated items")
    if "minItems" in s:
        parts.append(f"at least {s['minItems']} item(s)")
    return "expected " + ", ".join(parts) if parts else error.message


def _check_semantics(p: dict, source: str) -> None:
    """Rules a JSON schema cannot say."""
    if p["dataset"]["name"] == "folder" and not p["dataset"].get("folder"):
        raise ParamsError(f"{source}: dataset.folder: must name a directory or .tar.gz when dataset.name is 'folder'")
    if p["variants"]["protocol"] == "fixed" and max(p["grid"]["rates"]) >= 1:
        raise ParamsError(f"{source}: grid.rates: the fixed protocol needs every rate < 1 (r*N of N slots are copies)")
    from .runs import check_grid

    if why := check_grid(p):
        raise ParamsError(f"{source}: {why}")


def rate_tag(rate: float) -> str:
    """The one spelling of a rate in paths and wildcards (Snakemake and DVC alike)."""
    return str(rate)
