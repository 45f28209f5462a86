"""Write reports/index.html: dedup, variants, results, Gaussian study and the paper side by side."""

from pathlib import Path

from dupstudy import provenance, stage
from dupstudy.report import build_report


def main(args, params):
    build_report(Path(args.out), Path(args.figures), params=params, summary_csv=Path(args.summary),
                 curves_csv=Path(args.curves), per_class_csv=Path(args.per_class), gaussian_dir=Path(args.gaussian),
                 dedup_dir=Path(args.dedup), prepared_meta=Path(args.prepared) / "meta.json",
                 provenance=provenance.collect(), preset=_preset(args.params))
    return f"-> {args.out}"


def _preset(params_file: str) -> str | None:
    """The preset params.yaml holds byte for byte (dupstudy preset NAME), or None for edited params."""
    from dupstudy import presets

    found = presets.matching(params_file)
    return found.name if found else None


if __name__ == "__main__":
    stage.run(main, "report", __doc__)
