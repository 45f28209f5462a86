"""Gather every model's metrics and curve into tables and DVC metrics (params: grid)."""

from dupstudy import stage
from dupstudy.aggregate import collect, metrics_tree
from dupstudy.datasets import prepared
from dupstudy.io import write_json, write_table


def main(args, params):
    data = prepared.load(args.prepared, mmap=True)
    favoured = params["variants"]["biased"]["favoured_classes"]
    summary, per_class, curves = collect(params["grid"], args.metrics_dir, args.curves_dir, args.variants_dir,
                                         data.labels, data.classes, favoured)
    write_table(args.summary, summary)
    write_table(args.per_class, per_class)
    write_table(args.curves, curves)
    write_json(args.metrics, metrics_tree(summary))
    return f"{len(summary)} models -> {args.summary}, {args.metrics}"


if __name__ == "__main__":
    stage.run(main, "aggregate", __doc__)
