"""Train one model on one variant with one trainer of dupstudy.train.TRAINERS: standard, PGD, FGSM-RS or
TRADES (params: model, train, attack)."""

import hashlib
import json
from pathlib import Path

import numpy as np

from dupstudy import gpu_slots, models, runs, stage
from dupstudy.datasets import prepared
from dupstudy.io import atomic_path, read_npy, write_json
from dupstudy.train import fit, resolve_budget


def main(args, params):
    owner = runs.same_run_as(args.budget, args.rate, params["train"])
    if owner:  # another cell's run (runs.py): record that instead of training it again
        note = runs.record(args.budget, args.scheme, args.rate, args.trainer, args.seed, owner)
        with atomic_path(args.model, is_dir=True) as tmp:
            write_json(tmp / runs.SAME_AS, note)
        write_json(args.curve, {"trainer": args.trainer, "seed": args.seed, "budget": args.budget, **note})
        return f"{args.trainer} seed {args.seed}: the run of {note['cell']}, not trained again"
    gpu_slots.claim()  # before CUDA starts: one GPU per concurrent job (--resources gpu=K)
    data = prepared.load(args.prepared)
    variant = read_npy(args.variant)
    kept = read_npy(f"{args.dedup}/kept_train_ids.npy")  # the deduplicated training set, D-rate 0
    train_settings = resolve_budget(params["train"], args.budget, len(kept))
    settings = {"model": params["model"], "train": train_settings, "attack": params["attack"]}
    # The checkpoint is only resumed by a run with the same data and settings.
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode() + variant.tobytes()
                         + f"{args.trainer}/{args.seed}".encode()).hexdigest()[:16]
    checkpoint = Path("results/checkpoints") / f"{Path(args.model).as_posix().replace('/', '_')}-{key}.pt"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    model, spec, curve = fit(data.images[variant], data.labels[variant], classes=len(data.classes),
                             trainer=args.trainer, seed=args.seed, model_settings=params["model"],
                             settings=train_settings, attack=params["attack"], checkpoint=checkpoint,
                             base_images=data.images[kept])
    with atomic_path(args.model, is_dir=True) as tmp:
        models.save(tmp / "model.pt", model, spec)
    write_json(args.curve, {"trainer": args.trainer, "seed": args.seed, "budget": args.budget,
                            "n_train": int(len(variant)), "n_unique": int(len(np.unique(variant))), "curve": curve})
    checkpoint.unlink(missing_ok=True)
    last = curve[-1]
    return (f"{args.trainer} seed {args.seed}: {last['epoch']} epochs, {last['step']} steps, "
            f"train acc {last['train_acc']:.3f} -> {args.model}")


if __name__ == "__main__":
    stage.run(main, "train", __doc__)
