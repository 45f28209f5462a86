"""Clean and PGD accuracy of one model, per class and without leaked test images; AutoAttack accuracy too
with attack.autoattack (params: attack, evaluate). Test-time augmentation (evaluate.tta) counts for clean
accuracy only; PGD and AutoAttack accuracy are those of the plain model."""

from pathlib import Path

import numpy as np
import pandas as pd

from dupstudy import attacks, gpu_slots, runs, stage
from dupstudy.datasets import prepared
from dupstudy.evaluate import evaluate
from dupstudy.io import read_json, write_json
from dupstudy.params import ParamsError


def main(args, params):
    cell = dict(budget=args.budget, scheme=args.scheme, rate=float(args.rate), trainer=args.trainer, seed=args.seed)
    alias = Path(args.model) / runs.SAME_AS
    if alias.is_file():  # another cell's run (runs.py): its metrics are that cell's, evaluated there
        note = read_json(alias)
        write_json(args.out, {**note, **cell})
        return f"the run of {note['cell']}, evaluated there"
    if params["attack"]["autoattack"]:
        try:  # before any work: a missing optional package is known now, not after the PGD evaluation
            attacks.require_torchattacks()
        except RuntimeError as err:
            raise ParamsError(str(err)) from None
    gpu_slots.claim()  # before CUDA starts: one GPU per concurrent job (--resources gpu=K)
    data = prepared.load(args.prepared)
    test_ids = data.split_ids("test")
    leakage = pd.read_parquet(f"{args.dedup}/leakage.parquet")
    leaked = np.isin(test_ids, leakage["test_id"].to_numpy())
    metrics = evaluate(Path(args.model) / "model.pt", data.images[test_ids], data.labels[test_ids],
                       classes=data.classes,
                       attack=params["attack"], leaked=leaked, threads=params["train"]["threads"],
                       tta=params["evaluate"]["tta"])
    metrics.update(cell)
    write_json(args.out, metrics)
    aa = f", AutoAttack {metrics['autoattack_acc']:.4f}" if "autoattack_acc" in metrics else ""
    return f"clean {metrics['clean_acc']:.4f}, PGD {metrics['robust_acc']:.4f}{aa} -> {args.out}"


if __name__ == "__main__":
    stage.run(main, "evaluate", __doc__)
