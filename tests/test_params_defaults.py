"""The schema is the one home of the defaults: load() fills in every key a params file leaves out,
the standalone dedup runs on the same defaults, and the default preset states exactly those values."""

import copy

import pytest
import yaml

from dupstudy.params import ParamsError, check_section, load, schema, section_defaults, validate, with_defaults


def _defaults(node: dict, path: str = ""):
    """(dotted key, default) for every key of the schema that has one."""
    for key, sub in node.get("properties", {}).items():
        if "default" in sub:
            yield path + key, sub["default"]
        yield from _defaults(sub, f"{path}{key}.")


def _value(params: dict, dotted: str):
    for part in dotted.split("."):
        params = params[part]
    return params


def test_every_optional_key_has_a_default():
    def walk(node, path=""):
        required = set(node.get("required", []))
        for key, sub in node.get("properties", {}).items():
            if key not in required:
                assert "default" in sub, f"{path}{key} is optional but has no default in the schema"
            walk(sub, f"{path}{key}.")
    walk(schema())


def _without_optional(params: dict, node: dict) -> dict:
    """params with every key the schema does not require left out, at every depth."""
    required = set(node.get("required", []))
    return {k: _without_optional(v, node["properties"][k]) if isinstance(v, dict) else v
            for k, v in params.items() if k in required}


def test_the_default_preset_states_the_schema_defaults(project_root):
    digits = yaml.safe_load((project_root / "presets/digits.yaml").read_text())
    pairs = [(key, default) for key, default in _defaults(schema()) if default != {}]  # {}: filled by its keys
    assert len(pairs) > 40
    for key, default in pairs:
        stated = _value(digits, key)
        assert stated == default, f"{key}: presets/digits.yaml says {stated!r}, the schema {default!r}"
    # every key the preset states and the schema does not require comes back from the defaults alone
    assert with_defaults(_without_optional(digits, schema())) == digits


def test_load_fills_the_keys_a_params_file_leaves_out(tmp_path, project_root):
    params = yaml.safe_load((project_root / "params.yaml").read_text())
    full = copy.deepcopy(params)
    del params["train"]["weight_decay"], params["variants"]["biased"], params["attack"]["fgsm_guard"]["drop"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    loaded = load(tmp_path / "params.yaml")
    assert loaded == full
    assert "weight_decay" not in params["train"]  # the caller's dict is not changed


def test_a_value_given_is_kept_and_still_checked(tmp_path, project_root):
    params = yaml.safe_load((project_root / "params.yaml").read_text())
    params["train"]["weight_decay"] = 0.125
    assert with_defaults(params)["train"]["weight_decay"] == 0.125
    params["train"]["weight_decay"] = -1
    with pytest.raises(ParamsError, match="train.weight_decay: value -1 is not allowed"):
        validate(params)


def test_standalone_dedup_defaults_are_the_schema_defaults():
    d = section_defaults("dedup")
    check_section("dedup", d, name=str)
    assert d["hash"] == "phash" and d["threshold"] == 4 and d["dihedral"] is True
