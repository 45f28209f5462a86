"""Make one duplicated variant of the deduplicated training set (params: variants)."""

from dupstudy import stage
from dupstudy.datasets import prepared
from dupstudy.io import read_npy, write_npy
from dupstudy.variants import describe, make_variant


def main(args, params):
    data = prepared.load(args.prepared, mmap=True)
    settings = params["variants"]
    biased = settings["biased"]
    favoured = biased["favoured_classes"]
    variant = make_variant(read_npy(f"{args.dedup}/kept_train_ids.npy"), data.labels, scheme=args.scheme,
                           rate=float(args.rate), protocol=settings["protocol"], seed=args.seed,
                           favoured_classes=favoured, favoured_share=biased["favoured_share"],
                           class_shares=biased["class_shares"], **settings["concentrated"])
    write_npy(args.out, variant)
    d = describe(variant, data.labels, favoured)
    return (f"{args.scheme} r={args.rate} seed {args.seed}: {d['n_train']} samples, {d['n_unique']} unique, "
            f"at most {d['max_copies']} copies of one sample -> {args.out}")


if __name__ == "__main__":
    stage.run(main, "variant", __doc__)
