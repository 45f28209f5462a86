"""Load params.yaml and check it against the schema before any work is done."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

# A params file is a few KiB; refuse anything this large before the parser sees it.
MAX_BYTES = 1 << 20


class ParamsError(ValueError):
    """A bad value in params.yaml; the message names the key, the value and what is allowed."""


def schema() -> dict:
    return json.loads(resources.files("dupstudy").joinpath("schema/params.schema.json").read_text())


def load(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: no such params file (run from the project root, or pass --params)")
    params = with_defaults(read_yaml(path))
    validate(params, source=str(path))
    return params


def with_defaults(params: Any, node: dict | None = None) -> Any:
    """params with every key it leaves out that has a `default` in the schema filled in (a copy):
    the schema is the one home of the defaults, so the code reads params[key] and never guesses."""
    node = schema() if node is None else node
    if not isinstance(params, dict) or "properties" not in node:
        return params
    out = dict(params)
    for key, sub in node["properties"].items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if isinstance(out.get(key), dict):
            out[key] = with_defaults(out[key], sub)
    return out


def section_defaults(section: str, values: dict | None = None) -> dict:
    """`values` of one section (none: only its defaults) with the schema's defaults filled in: what
    `dupstudy dedup` runs with when no params file is given, and what callers of the library pass."""
    return with_defaults(values or {}, schema()["properties"][section])


def read_yaml(path: Path) -> Any:
    """The one reader of user YAML: size-capped, safe tags only, no aliases, bounded nesting."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise ParamsError(f"{path}: cannot read it ({err.strerror}); check the path and its permissions") from None
    if len(data) > MAX_BYTES:
        raise ParamsError(f"{path}: larger than {MAX_BYTES >> 20} MiB, too large for a params file; "
                          f"check that it is the right file")
    try:
        return yaml.load(data.decode("utf-8"), Loader=_ParamsLoader)
    except UnicodeDecodeError as err:
        raise ParamsError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ParamsError(f"{path}: not valid YAML: {where}{err.problem or err.context}; fix the YAML there") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None


class _ParamsLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (*name), so an alias bomb stops at its first alias, and
    nesting deeper than MAX_DEPTH, which would otherwise end in a RecursionError.

    Params need no aliases; refusing them is simpler and safer than counting expansions."""

    MAX_DEPTH = 32  # params.yaml nests four levels

    def __init__(self, stream):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._refuse(f"alias *{event.anchor} is not allowed in params: write the value out in full", event)
        if self.depth == self.MAX_DEPTH:
            self._refuse(f"nested more than {self.MAX_DEPTH} levels deep, too deep for params", event)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    @staticmethod
    def _refuse(problem: str, event) -> None:
        raise yaml.composer.ComposerError(None, None, problem, event.start_mark)


def validate(params: Any, source: str = "params") -> None:
    """Refuse params that, with the schema's defaults filled in, break the schema or a rule it cannot say."""
    params = with_defaults(params)
    errors = _errors(schema(), params, lambda path: ".".join(str(p) for p in path) or "(top level)")
    if errors:
        raise ParamsError("\n".join(f"{source}: {e}" for e in errors))
    _check_semantics(params, source)


def check_section(section: str, values: dict, name: Callable[[str], str]) -> None:
    """Check one section on its own against its part of the schema, e.g. command-line flags merged
    into the dedup settings; `name` turns a key into what the user typed (its flag)."""
    root = schema()
    part = {"$defs": root["$defs"], **root["properties"][section]}
    errors = _errors(part, values, lambda path: name(str(path[0])) if path else section)
    if errors:
        raise ParamsError("\n".join(errors))


def _errors(schema_: dict, instance: Any, key: Callable[[list], str]) -> list[str]:
    validator = _validator_class()(schema_)
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [_describe(e, key(list(e.absolute_path))) for e in errors]


@cache
def _validator_class():
    """Draft 2020-12 with stricter types: an integer is an int (not 6.0, not True) and a number is
    finite (NaN passes every bound, since each comparison with it is False; inf passes one-sided ones)."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine_many({"integer": _is_int, "number": _is_finite_number})
    return jsonschema.validators.extend(base, type_checker=checker)


def _is_int(checker, instance) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_finite_number(checker, instance) -> bool:
    return _is_int(checker, instance) or (isinstance(instance, float) and math.isfinite(instance))


def _describe(error, key: str) -> str:
    allowed = _allowed(error)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(str(k) for k in set(error.instance) - set(known))
        return f"{key}: unknown key(s) {', '.join(extra)}; allowed keys: {', '.join(known)}"
    if error.validator == "required":
        return f"{key}: {error.message}"
    return f"{key}: value {error.instance!r} is not allowed; {allowed}"


_TYPE_WORDS = {"integer": "an integer", "number": "a finite number"}


def _allowed(error) -> str:
    s = error.schema
    if "enum" in s:
        return "allowed: " + ", ".join(repr(v) for v in s["enum"])
    parts = []
    if "type" in s:
        t = s["type"]
        parts.append(_TYPE_WORDS.get(t, f"type {t}") if isinstance(t, str) else f"type {t}")
    for k, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if k in s:
            parts.append(f"{word} {s[k]}")
    if s.get("uniqueItems"):
        parts.append("no repeated items")
    if "minItems" in s:
        parts.append(f"at least {s['minItems']} item(s)")
    return "expected " + ", ".join(parts) if parts else error.message


FGSM_STEP_LIMIT = 1.25  # Wong et al.'s FGSM-RS step, as a multiple of eps


def _check_semantics(p: dict, source: str) -> None:
    """Rules a JSON schema cannot say."""
    if p["dataset"]["name"] == "folder" and not p["dataset"]["folder"]:
        raise ParamsError(f"{source}: dataset.folder: must name a directory or .tar.gz when dataset.name is 'folder'")
    if p["variants"]["protocol"] == "fixed" and max(p["grid"]["rates"]) >= 1:
        raise ParamsError(f"{source}: grid.rates: the fixed protocol needs every rate < 1 (r*N of N slots are copies)")
    attack = p["attack"]
    if attack["fgsm_step"] > FGSM_STEP_LIMIT * attack["eps"] * (1 + 1e-6) and not attack["allow_large_fgsm_step"]:
        raise ParamsError(f"{source}: attack.fgsm_step: {attack['fgsm_step']:g} is more than {FGSM_STEP_LIMIT:g} x "
                          f"attack.eps ({FGSM_STEP_LIMIT * attack['eps']:g}); Wong et al. use 1.25 eps, and larger "
                          f"steps make FGSM-RS plain FGSM at the corner of the ball. Lower it, or set "
                          f"attack.allow_large_fgsm_step: true to run it anyway")
    from .pipeline import check_file_params
    from .runs import check_grid

    for why in (check_grid(p), check_file_params(p)):
        if why:
            raise ParamsError(f"{source}: {why}")
