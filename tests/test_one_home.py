"""Each fact has one home: a second copy of the grid's axes, of a stage's arguments or of the
values an axis may take fails here, and so does a stage whose imports DVC would not rerun it on."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dupstudy import grid
from dupstudy.codedeps import RUNNER, code_files
from dupstudy.pipeline import STAGES

ROOT = Path(__file__).resolve().parents[1]
CODE = [*sorted((ROOT / "src").rglob("*.py")), *sorted((ROOT / "workflow").rglob("*.py")),
        *sorted((ROOT / "workflow").rglob("*.smk")), ROOT / "Snakefile", *sorted((ROOT / "benchmarks").rglob("*.py")),
        *sorted((ROOT / "scripts").rglob("*.py"))]

# Ways the grid has been spelled out by hand before it had a home.
SECOND_COPIES = {
    "a list of the axes": re.compile(r"""["']budget["'],\s*["']scheme["'],\s*["']rate["']"""),
    "a cell path": re.compile(r"r\{rate|/s\{seed|\{budget\}/"),
    "a budget list": re.compile(r"""[(\[]["']epochs["'],\s*["']steps["'][)\]]|epochs\|steps"""),
}


def test_the_grid_is_written_in_grid_py_only():
    home = ROOT / "src/dupstudy/grid.py"
    found = [f"{path.relative_to(ROOT)}:{n}: {what}: {line.strip()}"
             for path in CODE if path != home
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             for what, pattern in SECOND_COPIES.items() if pattern.search(line)]
    assert not found, "the grid is spelled out outside src/dupstudy/grid.py:\n" + "\n".join(found)
    # ... and the check does see the copies there were before
    before = ['KEYS = ["budget", "scheme", "rate", "trainer"]',
              'cell = f"{budget}/{scheme}/r{rate_tag(rate)}/{trainer}/s{seed}"',
              'p.add_argument("--budget", required=True, choices=["epochs", "steps"])', 'budget="epochs|steps",']
    assert all(any(p.search(line) for p in SECOND_COPIES.values()) for line in before)


def test_stage_scripts_declare_no_arguments_of_their_own():
    for script in sorted((ROOT / "workflow/scripts").glob("*.py")):
        text = script.read_text(encoding="utf-8")
        assert "add_argument" not in text, f"{script.name}: arguments come from pipeline.STAGES (stage.parser)"
        assert f'stage.run(main, "{script.stem}", __doc__)' in text, script.name


def test_axis_values_in_code_match_the_schema():
    from dupstudy.train import TRAINERS
    from dupstudy.variants import SCHEMES

    assert list(TRAINERS) == grid.allowed("trainer")
    assert list(SCHEMES) == grid.allowed("scheme")
    assert grid.allowed("budget")
    from dupstudy.datasets import NAMES
    from dupstudy.params import schema

    assert list(NAMES) == schema()["properties"]["dataset"]["properties"]["name"]["enum"]


def test_parser_is_the_declaration(capsys):
    from dupstudy.stage import parser

    for name, st in STAGES.items():
        flags = {a.dest for a in parser(name)._actions} - {"help", "params"}
        assert flags == {*st.inputs, *st.gather, *st.outputs, *st.grid}, name
    with pytest.raises(SystemExit):
        parser("train").parse_args(["--budget", "months"])
    assert "invalid choice: 'months'" in capsys.readouterr().err


_LOADED = """
import importlib.util, json, sys
sys.path.insert(0, {src!r})
import dupstudy.stage  # the runner, loaded before the script's own imports
runner = {{m for m in sys.modules if m.startswith("dupstudy")}}
spec = importlib.util.spec_from_file_location("stage_script", {script!r})
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(sorted(m for m in sys.modules if m.startswith("dupstudy") and m not in runner)))
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_module_a_stage_loads_is_a_dvc_dependency(name):
    """What the script really imports (run in a fresh interpreter) is among the files DVC watches."""
    script = ROOT / STAGES[name].script
    out = subprocess.run([sys.executable, "-c", _LOADED.format(src=str(ROOT / "src"), script=str(script))],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    declared = set(code_files(STAGES[name].script, ROOT))
    loaded = {f"src/{m.replace('.', '/')}" for m in json.loads(out)} - {f"src/{m.replace('.', '/')}" for m in RUNNER}
    missing = {m for m in loaded if f"{m}.py" not in declared and f"{m}/__init__.py" not in declared}
    assert not missing, f"{name}: loads {sorted(missing)} but DVC would not rerun it when they change"
    dvc = (ROOT / "dvc.yaml").read_text()
    assert all(f"    - {f}\n" in dvc for f in declared), "run `dupstudy dag --write`"


def test_lazy_imports_of_a_parent_package_do_not_count():
    # train loads datasets/prepared.py; the datasets package's loaders (imported inside its
    # functions) are not run by that, so changing a loader does not rerun training...
    train = code_files(STAGES["train"].script, ROOT)
    assert "src/dupstudy/datasets/prepared.py" in train and "src/dupstudy/datasets/folder.py" not in train
    # ... but they do count for ingest, which calls them
    assert "src/dupstudy/datasets/folder.py" in code_files(STAGES["ingest"].script, ROOT)
    # evaluate runs train.py and device.py, which a hand-written list once left out
    assert {"src/dupstudy/train.py", "src/dupstudy/device.py"} <= set(code_files(STAGES["evaluate"].script, ROOT))


def test_files_kept_beside_the_code_rerun_the_stages_that_read_them():
    """The review page's script and style and the report's template are read at run time, not imported:
    their modules name them in ASSETS, so an edit to one reruns dedup or the report."""
    import tomllib

    assert {"src/dupstudy/dedup/review_page.js", "src/dupstudy/dedup/review_page.css"} <= set(
        code_files(STAGES["dedup"].script, ROOT))
    assert "src/dupstudy/report/template.html" in code_files(STAGES["report"].script, ROOT)
    # every file the package ships beside its modules is some stage's dependency; the params schema
    # is the runner's (params.yaml states every default, so DVC's params check covers it)
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["dupstudy"]
    shipped = {p.relative_to(ROOT).as_posix() for g in globs if not g.startswith("schema/")
               for p in (ROOT / "src/dupstudy").glob(g)}
    used = {f for st in STAGES.values() for f in code_files(st.script, ROOT)}
    assert shipped and shipped <= used, sorted(shipped - used)


def test_no_module_in_src_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "src").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert not long, f"split these by what they do: {long}"
