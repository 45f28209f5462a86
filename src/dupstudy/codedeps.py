"""The library files a stage script runs, read from its imports: the code DVC reruns it on.

A hand-written list went stale (evaluate imported train and device without declaring them, so
`dvc repro` kept results made by old code). Here every `import` of a `dupstudy` module counts,
at any depth and inside functions too, with one exception that keeps a loader change from
rerunning every training job: a package imported only as the parent of a submodule
(`from dupstudy.datasets import prepared`) counts with its top-level imports, not the lazy ones
inside its functions, which that import does not run. Left out are the modules of the stage
runner itself (RUNNER: argument parsing, locking, timing, error reporting), which no result
depends on; counted, they would rerun every stage on any change to them.

A module that reads files kept beside it (a page's script, the report's template) names them in a
top-level `ASSETS = ("name", ...)`; they count with the module.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent  # the folder that holds the dupstudy package
PACKAGE = "dupstudy"


def _file(module: str) -> Path | None:
    base = SRC.joinpath(*module.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _is_module(name: str) -> bool:
    return _file(name) is not None


def _imported(path: Path, module: str | None, top_level_only: bool) -> tuple[set[str], set[str]]:
    """(dupstudy modules the file uses, packages it loads only as parents of those)."""
    package = (module if path.name == "__init__.py" else module.rpartition(".")[0]) if module else ""
    used: set[str] = set()
    for node in _statements(ast.parse(path.read_text(encoding="utf-8"), str(path)), top_level_only):
        if isinstance(node, ast.Import):
            used |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            subs = {f"{base}.{a.name}" for a in node.names}
            used |= {m for m in subs if _is_module(m)}
            if any(not _is_module(m) for m in subs):
                used.add(base)  # a name defined in the module itself
    used = {n for n in used if (n == PACKAGE or n.startswith(PACKAGE + ".")) and _is_module(n)}
    parents = {p for n in used for p in _parents(n)} - used
    return used, parents


def _statements(tree: ast.AST, top_level_only: bool):
    """Every node, or with top_level_only the ones an import runs (not function bodies)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if top_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        todo.extend(ast.iter_child_nodes(node))


def _parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


# The stage runner (stage.py and what it needs for itself): nothing here shapes a result.
RUNNER = frozenset(f"{PACKAGE}{m}" for m in ("", ".stage", ".runlock", ".timings", ".errors", ".pipeline",
                                             ".codedeps", ".params"))


@cache
def _closure(path: Path, module: str | None) -> frozenset[str]:
    """Every dupstudy module that importing the file runs, the runner's left out."""
    full: set[str] = set()     # modules used: all their imports count
    top: set[str] = set()      # packages loaded as parents only: their top-level imports count
    todo = [(path, module, False)]
    while todo:
        file, name, top_only = todo.pop()
        used, parents = _imported(file, name, top_only)
        used, parents = used - RUNNER, parents - RUNNER  # the runner's own needs are not the stage's
        for m in used - full:
            full.add(m)
            todo.append((_file(m), m, False))
        for m in parents - full - top:
            top.add(m)
            todo.append((_file(m), m, True))
    return frozenset(full | top)


def assets(path: Path) -> list[Path]:
    """The files a module names in its top-level ASSETS tuple, beside it."""
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ASSETS" for t in node.targets):
            names = ast.literal_eval(node.value)
            return [path.parent / name for name in names]
    return []


def code_files(script: str | Path, root: Path) -> list[str]:
    """Library files and their assets (relative to root, sorted) the script runs, the stage runner's own left out."""
    files = [_file(m) for m in _closure(Path(root) / script, None)]
    files += [a for f in files for a in assets(f)]
    return sorted(f.relative_to(root).as_posix() for f in files)
