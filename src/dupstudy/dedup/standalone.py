"""`dupstudy dedup PATH`: deduplicate a folder or archive of images outside the pipeline.

The same engine and defaults as the pipeline's dedup stage; every output is checked before
any work, results and export are committed together, and a bad input is one line (BadInput).
Any tree of images is accepted: <split>/<class>/<file> gives leakage and label conflicts, any
other is one collection (datasets/layout.py; --layout chooses where the tree is mixed).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from .. import outdir
from ..errors import BadInput


def run(args) -> int:
    """`dupstudy dedup PATH`: the parsed command line in, results (and the export) out; exit code 0."""
    from ..datasets.folder import load_folder
    from ..datasets.layout import describe
    from ..io import atomic_dirs, write_table
    from ..params import check_section, load, section_defaults
    from .engine import find_duplicates

    source = _dedup_source(Path(args.path))
    outputs = {"--out": Path(args.out), **({"--export": Path(args.export)} if args.export else {})}
    _check_outputs(outputs, source)
    settings = load(args.params)["dedup"] if args.params else section_defaults("dedup")
    for key in ("hash", "hash_size", "threshold", "dihedral", "flat_std", "semantic", "cosine_threshold", "aligned",
                "aligned_threshold", "decisions"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    # flags obey the schema's dedup bounds, as params.yaml does
    check_section("dedup", settings, name=lambda key: "--" + key.replace("_", "-"))
    if settings["semantic"]:
        from .embed import weights_path

        weights_path()
    from .review import format_precision, precision, read_user_csv

    for csv in (settings["decisions"], args.precision_from):
        if csv:
            read_user_csv(csv)  # an unreadable file stops the run before the images are decoded

    with contextlib.ExitStack() as stack:
        for path in outputs.values():
            stack.enter_context(outdir.locked(path))
        data = load_folder(source, layout=args.layout)
        result = find_duplicates(data, settings, progress=True)
        result.summary["layout"] = data.source["layout"]
        if args.precision_from:
            result.summary["precision"] = precision(args.precision_from)
        # Results and export are committed together or not at all.
        with atomic_dirs(*outputs.values()) as tmps:
            result.write_into(tmps[0])
            write_table(tmps[0] / "rejected.csv", data.rejected)
            if args.export:
                from .export import export_into

                done = export_into(data, result.kept_train_ids, tmps[1], mode=args.export_mode)
    s = result.summary
    print(describe(s["layout"]))
    if args.export:
        print(f"exported {done['train']} train and {done['test']} test images to {args.export} ({args.export_mode})"
              + "".join(f"\n  not exported: {rel}: {why}" for rel, why in done["failed"]))
    print(f"{s['n_train_before']} train images -> {s['n_train_after']} kept; {s['n_leaked_test']} test images "
          f"with a duplicate in train; {s['n_conflicts']} label conflicts; {len(data.rejected)} files rejected; "
          f"results in {args.out} (review.html to look at pairs, review_sample.csv to label)")
    if "decisions" in s:
        d = s["decisions"]
        print(f"decisions applied: {d['keep_both_removed']} pairs kept apart, {d['duplicate_added']} added, "
              f"{d['duplicate_confirmed']} confirmed")
        if result.decisions.attrs["by_id"]:
            print(f"note: {result.decisions.attrs['by_id']} decisions name images by id, and ids shift when files are "
                  f"added; {Path(args.out) / 'decisions.csv'} holds them by path: pass that one from now on")
    if args.precision_from:
        print(format_precision(s["precision"]))
    return 0


def _dedup_source(source: Path) -> Path:
    """The input of `dedup`: an existing folder or a regular file (an archive); else BadInput."""
    import stat

    try:
        mode = source.stat().st_mode
    except FileNotFoundError:
        raise BadInput(f"{source}: no such folder or archive") from None
    except OSError as err:
        raise BadInput(f"{source}: cannot be read ({err.strerror})") from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise BadInput(f"{source}: not a folder or an archive file (a device, FIFO or socket); "
                       f"give a folder of images or a .tar.gz of one")
    if stat.S_ISREG(mode) and not _opens_as_tar(source):
        raise BadInput(f"{source}: a file that is not a tar archive (.tar, .tar.gz, .tar.bz2, .tar.xz); "
                       f"give a folder of images or a tar archive of one")
    return source


def _opens_as_tar(path: Path) -> bool:
    import tarfile

    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError):
        return False


def _check_outputs(outputs: dict[str, Path], source: Path) -> None:
    """Every output is refused before any work if it could touch the input or a user's files."""
    for flag, path in outputs.items():
        outdir.check_apart(path, {"input": source, **{f: p for f, p in outputs.items() if f != flag}},
                           what=flag)
        outdir.check_replaceable(path, what=flag)
