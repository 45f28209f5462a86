"""envs/*.yaml (conda, one per rule group) agree with pyproject.toml."""

from __future__ import annotations

import re
import tomllib

import yaml

from dupstudy.pipeline import STAGES

CONDA_NAME = {"torch": "pytorch"}  # PyPI name -> conda-forge name where they differ
GROUPS = {"data": {"ingest", "dedup", "variant"}, "models": {"train", "evaluate"},
          "report": {"aggregate", "gaussian", "report"}}  # as the stages declare it (Stage.env)


def _split(req: str) -> tuple[str, str]:
    name, spec = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*)$", req.strip()).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def _pyproject(root):
    """The base dependencies and the study extra (the envs run the study), conda names -> versions."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["study"]
    deps = {CONDA_NAME.get(n, n): s for n, s in map(_split, reqs)}
    return deps, project["requires-python"]


def test_every_env_pins_what_pyproject_pins_and_installs_the_project(project_root):
    deps, python = _pyproject(project_root)
    envs = sorted((project_root / "envs").glob("*.yaml"))
    assert {p.stem for p in envs} == set(GROUPS)
    for path in envs:
        env = yaml.safe_load(path.read_text())
        assert env["channels"][0] == "conda-forge", path.name
        conda = [d for d in env["dependencies"] if isinstance(d, str)]
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        assert "-e ../" in pip, f"{path.name} must install the project from the checkout"
        named = dict(map(_split, conda))
        assert named.pop("python") == python, path.name
        named.pop("pip")
        for name, spec in named.items():
            assert name in deps, f"{path.name}: {name} is not a dependency in pyproject.toml"
            assert spec == deps[name], f"{path.name}: {name}{spec}, pyproject.toml says {name}{deps[name]}"


def test_each_rule_uses_its_groups_env(project_root):
    seen = {}
    for smk in sorted((project_root / "workflow/rules").glob("*.smk")):
        for rule, env in re.findall(r"^rule (\w+):\n(?:[ \t]+.*\n|\n)*?[ \t]+conda:\n[ \t]+\"([^\"]+)\"",
                                    smk.read_text(), flags=re.M):
            seen[rule] = (smk.parent / env).resolve()
    expected = {rule: (project_root / "envs" / f"{group}.yaml").resolve()
                for group, rules in GROUPS.items() for rule in rules}
    assert seen == expected
    assert {name: st.env for name, st in STAGES.items()} == {r: g for g, rules in GROUPS.items() for r in rules}
