"""Ingest the dataset named in params.yaml (dataset:) into the prepared format."""

from dupstudy import outdir, stage
from dupstudy.datasets import load_source


def main(args, params):
    if params["dataset"]["folder"]:
        outdir.check_apart(args.out, {"dataset folder": params["dataset"]["folder"]})
    prepared = load_source(params["dataset"])
    prepared.save(args.out)
    counts = prepared.manifest["split"].value_counts().to_dict()
    return (f"{prepared.name}: {counts.get('train', 0)} train, {counts.get('test', 0)} test, "
            f"{len(prepared.rejected)} rejected -> {args.out}")


if __name__ == "__main__":
    stage.run(main, "ingest", __doc__)
