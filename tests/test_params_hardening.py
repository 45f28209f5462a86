"""Params cannot run code, blow up the parser or slip a NaN past a bound (issue 12).

Every refusal is one line that names the file, key or flag, with exit code 2."""

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dupstudy.cli import main
from dupstudy.params import MAX_BYTES, ParamsError, schema, validate

BIN = Path(sys.executable).parent


@pytest.fixture
def params(project_root):
    return yaml.safe_load((project_root / "params.yaml").read_text())


def numeric_leaves(node, path=()):
    """(key path, value) of every number in params, list items included."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield path + (key,), value
        else:
            yield from numeric_leaves(value, path + (key,))


def with_value(params, path, value):
    out = copy.deepcopy(params)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def dotted(path):
    return ".".join(str(k) for k in path)


def refusal(argv, capsys) -> str:
    """Run the CLI; it must exit 2 with exactly one line on stderr. Returns that line."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err.strip()


def validate_file(tmp_path, text, capsys) -> str:
    path = tmp_path / "params.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    line = refusal(["validate", "--params", str(path)], capsys)
    assert str(path) in line
    return line


# ---- numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused_at_every_numeric_key(params, bad):
    leaves = list(numeric_leaves(params))
    assert len(leaves) > 30
    for path, _ in leaves:
        with pytest.raises(ParamsError) as err:
            validate(with_value(params, path, bad))
        assert dotted(path) in str(err.value), path


@pytest.mark.parametrize("path, bad", [
    (("attack", "autoattack_n"), float("nan")),          # null or a positive integer
    (("variants", "biased", "class_shares"), [1.0, float("nan")]),
    (("variants", "biased", "class_shares"), [float("inf"), 1.0]),
    (("train", "steps"), float("inf")),                   # a positive integer or "auto"
])
def test_non_finite_numbers_are_refused_where_null_or_a_word_is_also_allowed(params, path, bad):
    with pytest.raises(ParamsError, match=dotted(path)):
        validate(with_value(params, path, bad))


@pytest.mark.parametrize("path", [
    ("train", "batch_size"), ("dedup", "threshold"), ("dedup", "hash_size"), ("grid", "seeds", 0),
    ("train", "steps"), ("attack", "autoattack_n"), ("variants", "biased", "favoured_classes", 0),
])
def test_a_float_is_not_an_integer(params, path):
    with pytest.raises(ParamsError) as err:
        validate(with_value(params, path, 8.0))
    assert dotted(path) in str(err.value) and "8.0" in str(err.value)


@pytest.mark.parametrize("path", [
    ("train", "lr"), ("grid", "rates", 0), ("dedup", "threshold"), ("dedup", "hash_size"), ("train", "steps"),
    ("variants", "biased", "class_shares"),
])
def test_a_boolean_is_not_a_number(params, path):
    with pytest.raises(ParamsError, match=dotted(path)):
        validate(with_value(params, path, True))


@pytest.mark.parametrize("yaml_value, words", [
    (".nan", ["attack.eps", "nan", "a finite number"]),
    (".inf", ["attack.eps", "inf"]),
    ("-.inf", ["attack.eps", "-inf"]),
    ("true", ["attack.eps", "True"]),
])
def test_validate_names_the_key_of_a_non_finite_number_in_one_line(project_root, tmp_path, capsys, yaml_value,
                                                                   words):
    text = (project_root / "params.yaml").read_text().replace("  eps: 0.1 ", f"  eps: {yaml_value} ")
    line = validate_file(tmp_path, text, capsys)
    for word in words:
        assert word in line


def test_validate_refuses_a_float_batch_size_in_one_line(project_root, tmp_path, capsys):
    text = (project_root / "params.yaml").read_text().replace("  batch_size: 128 ", "  batch_size: 128.0 ")
    line = validate_file(tmp_path, text, capsys)
    assert "train.batch_size: value 128.0 is not allowed; expected an integer" in line


# ---- YAML -------------------------------------------------------------------------------

def test_an_alias_bomb_is_refused_at_its_first_alias(tmp_path, capsys):
    # Nine levels of nine aliases: 9**9 strings once expanded.
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    line = validate_file(tmp_path, "\n".join(lines) + "\n", capsys)
    assert "line 2" in line and "alias *a0 is not allowed" in line


def test_a_merge_key_alias_is_refused_too(project_root, tmp_path, capsys):
    text = (project_root / "params.yaml").read_text().replace("train:\n", "train:\n  <<: *base\n", 1)
    line = validate_file(tmp_path, "base: &base {epochs: 1}\n" + text, capsys)
    assert "alias *base is not allowed" in line


@pytest.mark.parametrize("deep", ["[" * 5000 + "]" * 5000, "{b: " * 5000 + "1" + "}" * 5000], ids=["lists", "maps"])
def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path, capsys, deep):
    line = validate_file(tmp_path, f"report: {deep}\n", capsys)
    assert "line 1" in line and "levels deep, too deep for params" in line


def test_a_file_over_the_size_cap_is_refused_before_parsing(project_root, tmp_path, capsys):
    text = (project_root / "params.yaml").read_text()
    padding = "#" * (MAX_BYTES - len(text.encode()) + 1)
    line = validate_file(tmp_path, text + padding, capsys)
    assert "too large for a params file" in line


@pytest.mark.parametrize("text, words", [
    ('x: !!python/object/apply:os.system ["touch pwned"]\n', ["line 1", "python/object/apply"]),
    ("dataset: [digits\n", ["not valid YAML: line ", "column ", "fix the YAML there"]),
    (b"dataset:\n  name: \xff\xfe\n", ["not UTF-8"]),
    ("1: one\n", ["(top level): unknown key(s) 1"]),
])
def test_unsafe_or_broken_yaml_is_one_line_naming_the_file(project_root, tmp_path, capsys, monkeypatch, text,
                                                           words):
    monkeypatch.chdir(tmp_path)
    valid = (project_root / "params.yaml").read_bytes()
    line = validate_file(tmp_path, (text if isinstance(text, bytes) else text.encode()) + valid, capsys)
    for word in words:
        assert word in line
    assert not (tmp_path / "pwned").exists()


# ---- Snakemake --------------------------------------------------------------------------

def test_every_object_in_the_schema_refuses_unknown_keys():
    """So no YTE key (__use_yte__, __definitions__, __variables__, ?if, ?for) nor Snakemake's pathvars passes."""
    def objects(node):
        if isinstance(node, dict):
            if node.get("type") == "object":
                yield node
            for value in node.values():
                yield from objects(value)
        elif isinstance(node, list):
            for value in node:
                yield from objects(value)

    found = list(objects(schema()))
    assert len(found) > 10
    assert all(o.get("additionalProperties") is False for o in found)


@pytest.mark.parametrize("path", [
    ("__use_yte__",), ("pathvars",), ("train", "__definitions__"), ("report", "?if True"),
])
def test_keys_snakemake_or_yte_would_evaluate_are_refused(params, path):
    with pytest.raises(ParamsError, match=r"unknown key\(s\)"):
        validate(with_value(params, path, True))


def workflow_copy(root: Path, project_root: Path) -> Path:
    shutil.copy2(project_root / "Snakefile", root / "Snakefile")
    shutil.copytree(project_root / "workflow", root / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(project_root / "params.yaml", root / "params.yaml")
    return root


def snakemake_refusal(root: Path, *args) -> str:
    proc = subprocess.run([str(BIN / "snakemake"), "-n", "--cores", "1", *args], cwd=root, capture_output=True,
                          text=True)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr.strip()


@pytest.mark.slow
def test_a_yte_template_in_params_runs_no_code_and_stops_snakemake(tmp_path, project_root):
    root = workflow_copy(tmp_path, project_root)
    text = (project_root / "params.yaml").read_text()
    expression = "?open('ran_expression', 'w').write('x')"
    template = ("__use_yte__: true\n"
                "__definitions__:\n"
                "  - open('ran_definitions', 'w').write('code ran')\n"
                + text.replace("  title: Duplicates and robustness", f"  title: {expression}"))
    (root / "params.yaml").write_text(template)
    line = snakemake_refusal(root)
    assert line.startswith("error: params.yaml: (top level): unknown key(s) __definitions__, __use_yte__")
    assert not (root / "ran_definitions").exists() and not (root / "ran_expression").exists()
    assert not (root / "data").exists()


@pytest.mark.slow
@pytest.mark.parametrize("args", [["--config", "grid={'seeds': [5]}"], ["--configfile", "params.yaml"]],
                         ids=["config", "configfile"])
def test_snakemake_refuses_config_overrides_the_stages_would_not_see(tmp_path, project_root, args):
    line = snakemake_refusal(workflow_copy(tmp_path, project_root), *args)
    assert line.startswith("error: --config/--configfile: not supported") and "edit params.yaml" in line


# ---- dupstudy dedup flags ---------------------------------------------------------------

def dedup_bound(key, word):
    return schema()["properties"]["dedup"]["properties"][key][word]


@pytest.mark.parametrize("flag, value, words", [
    ("--threshold", "-5", [f">= {dedup_bound('threshold', 'minimum')}"]),
    ("--threshold", str(dedup_bound("threshold", "maximum") + 1), [f"<= {dedup_bound('threshold', 'maximum')}"]),
    ("--hash", "md5", ["'md5'", "'phash'"]),
    ("--hash-size", "12", ["12", "8, 16"]),
    ("--cosine-threshold", "nan", ["nan", "a finite number"]),
    ("--cosine-threshold", "inf", ["inf"]),
    ("--cosine-threshold", "0", [f"> {dedup_bound('cosine_threshold', 'exclusiveMinimum')}"]),
    ("--cosine-threshold", "1.5", ["<= 1"]),
])
def test_dedup_flags_obey_the_schema_bounds(tmp_path, capsys, flag, value, words):
    (tmp_path / "images").mkdir()
    out = tmp_path / "out"
    line = refusal(["dedup", str(tmp_path / "images"), "--out", str(out), flag, value], capsys)
    assert line.startswith(f"error: {flag}: value ")
    for word in words:
        assert word in line
    assert not out.exists()


def test_dupstudy_dvc_checks_params_and_overrides_before_dvc_builds_commands(tmp_path, project_root):
    # dvc.yaml puts grid values into shell commands; the wrapper refuses them before DVC starts
    (tmp_path / "params.yaml").write_text((project_root / "params.yaml").read_text())
    dupstudy = str(Path(sys.executable).with_name("dupstudy"))
    for args in (["exp", "run", "-S", 'grid.schemes=["uniform; touch pwned #"]'],
                 ["exp", "run", "--set-param=train.batch_size=6.0"]):
        proc = subprocess.run([dupstudy, "dvc", *args], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.startswith("error: params.yaml with -S") and len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "pwned").exists() and not (tmp_path / ".dupstudy.lock").exists()
    text = (tmp_path / "params.yaml").read_text().replace("schemes: [uniform, biased]", 'schemes: ["x; touch pwned"]')
    (tmp_path / "params.yaml").write_text(text)
    proc = subprocess.run([dupstudy, "dvc", "repro"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and "grid.schemes.0" in proc.stderr
