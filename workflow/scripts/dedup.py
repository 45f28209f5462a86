"""Find exact, near and flip/rotation duplicates in the prepared dataset (params: dedup)."""

from dupstudy import stage
from dupstudy.datasets import prepared
from dupstudy.dedup import find_duplicates


def main(args, params):
    result = find_duplicates(prepared.load(args.prepared), params["dedup"])
    result.save(args.out)
    s = result.summary
    return (f"{s['n_train_before']} -> {s['n_train_after']} train images kept, "
            f"{s['n_leaked_test']} test images leaked, {s['n_conflicts']} label conflicts -> {args.out}")


if __name__ == "__main__":
    stage.run(main, "dedup", __doc__)
