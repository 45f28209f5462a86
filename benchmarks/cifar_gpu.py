"""CIFAR-10 on one GPU: airbench94 against the airbench package's own train94 on the same images,
PGD-AT's accuracy and epoch times under the cifar10-gpu preset, and that preset's GPU time.

    python benchmarks/cifar_gpu.py                        # every part; figures into benchmarks/RESULTS.md
    python benchmarks/cifar_gpu.py --parts airbench --seeds 3
    python benchmarks/cifar_gpu.py --smoke --no-write     # 2,000 images, a few steps: checks the script anywhere

Parts, in this order (each row is written to RESULTS.md as soon as it is measured, so a run cut
short keeps what it finished; --budget-s stops starting new work past that many seconds):

* reference: the `airbench` package's train94 (fp16, its own loader, network and TTA) on the
  JPEG re-encodings below, one run per seed. Skipped with a note when the package or a GPU is
  missing. It separates what the data costs (its gap to the published 94.01 %) from what our
  recipe costs (its gap to `airbench`).
* airbench: the project's own airbench recipe through dupstudy.train.fit, with
  benchmarks/airbench_cpu.py's settings (9.9 epochs, batch 1024, crop 2, alternating flips,
  TTA level 2), one run per seed: accuracy without and with TTA, and time.
* pgd: presets/cifar10-gpu.yaml's train, model and attack blocks. First the time of a part of an
  epoch of standard and PGD-AT training for airbench and for preact_resnet18 (seconds per epoch
  = seconds / the part), then one full PGD-AT run of airbench at the preset's epochs, or fewer
  when the time left does not allow them (the table says how many), scored by the evaluate
  stage: clean accuracy on all test images, PGD at the preset's steps and restarts on
  --pgd-eval-n fixed test images.
* estimate: the cifar10-gpu grid's GPU-hours of training from the measured seconds per epoch,
  scaled by each variant's size. Arithmetic on measured epoch times, labelled so.

Data: cifar10-jpg.tar.gz in the nearest `shared/data` (or `.gpu/`) folder above this file, or --data.
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from airbench_cpu import PRESET, apply_sets, default_data  # benchmarks/ is on sys.path when a script here runs
from airbench_reference_cpu import write_loader_files
from results_file import write_section

from dupstudy import models
from dupstudy import params as params_mod
from dupstudy.datasets.folder import load_folder
from dupstudy.evaluate import evaluate, predict
from dupstudy.train import fit, resolve_budget, to_tensor

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("reference", "airbench", "pgd", "estimate")


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def device_name() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    return f"CPU ({platform.processor() or platform.machine()}), no GPU"


class Report:
    """The RESULTS.md section, rewritten after every row so that a cut-short run keeps its rows."""

    def __init__(self, args, header: list[str], t0: float):
        self.args, self.header, self.blocks, self.t0 = args, header, {}, t0
        self.rows_file = args.rows

    def add(self, block: str, title: list[str], row: str, record: dict) -> None:
        self.blocks.setdefault(block, list(title)).append(row)
        print(row, flush=True)
        if self.rows_file:
            with self.rows_file.open("a") as f:
                f.write(json.dumps({"block": block, **record}) + "\n")
        self.write()

    def note(self, block: str, text: str) -> None:
        self.blocks.setdefault(block, []).extend(["", text])
        print(text, flush=True)
        self.write()

    def write(self) -> None:
        text = "\n".join([*self.header, *(line for b in self.blocks.values() for line in [*b, ""])])
        if not self.args.no_write:
            write_section("cifar_gpu", text, results=self.args.results)


def timed_fit(x, y, trainer: str, params: dict, seed: int = 0, **overrides):
    """(model, spec, curve, seconds): one fit with the params' train block and `overrides` on top."""
    settings = resolve_budget({**params["train"], **overrides}, "epochs", len(x))
    sync()
    t0 = time.perf_counter()
    model, spec, curve = fit(x, y, classes=10, trainer=trainer, seed=seed, model_settings=params["model"],
                             settings=settings, attack=params["attack"], progress=False)
    sync()
    return model, spec, curve, time.perf_counter() - t0


def part_reference(report: Report, data, tr, te, args) -> None:
    title = ["### airbench package's train94 on the same images (fp16, its own loader and TTA)", "",
             "| seed | training s | test acc, no TTA | test acc, TTA level 2 |", "|---|---|---|---|"]
    try:
        import airbench
    except ImportError:
        report.note("reference", "reference: skipped, the `airbench` package is not installed "
                                 "(`pip install 'dupstudy[airbench]'`).")
        return
    if not torch.cuda.is_available():
        report.note("reference", "reference: skipped, train94 runs only on CUDA (see airbench_reference_cpu.py).")
        return
    tr = np.random.default_rng(1).permutation(tr)  # train94 whitens on the loader's first 5,000 images
    home = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # train94 opens its test set at ./cifar10
        try:
            write_loader_files(Path("cifar10"), data, tr, te)
            for seed in range(args.seeds):
                if report_out_of_time(report, args, "reference"):
                    break
                torch.manual_seed(seed)
                loader = airbench.CifarLoader("cifar10", train=True, batch_size=1024,
                                              aug={"flip": True, "translate": 2}, altflip=True)
                test = airbench.CifarLoader("cifar10", train=False, batch_size=2000)
                sync()
                t0 = time.perf_counter()
                model = airbench.train94(loader, verbose=False)
                sync()
                sec = time.perf_counter() - t0
                plain, tta = (airbench.evaluate(model, test, tta_level=level) for level in (0, 2))
                report.add("reference", title, f"| {seed} | {sec:.1f} | {plain:.4f} | {tta:.4f} |",
                           {"seed": seed, "seconds": sec, "acc": plain, "acc_tta": tta,
                            "airbench": importlib.metadata.version("airbench")})
        finally:
            os.chdir(home)


def part_airbench(report: Report, data, tr, te, args) -> None:
    params = apply_sets(params_mod.load(args.params), [*PRESET, *args.sets])
    x, y = data.images[tr], data.labels[tr]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    xt, yt = to_tensor(data.images[te], dev), torch.from_numpy(data.labels[te].astype(np.int64)).to(dev)
    title = ["### The project's airbench recipe (dupstudy.train.fit, bf16 autocast on CUDA)", "",
             f"Settings: params.yaml with `{' '.join('-S ' + s for s in [*PRESET, *args.sets])}`.", "",
             "| seed | epochs | steps | training s | test acc, no TTA | test acc, TTA level 2 |",
             "|---|---|---|---|---|---|"]
    epochs = params["train"]["epochs"] if not args.smoke else 0.3
    for seed in range(args.seeds):
        if report_out_of_time(report, args, "airbench"):
            break
        model, _, curve, sec = timed_fit(x, y, "standard", params, seed=seed, epochs=epochs)
        with torch.no_grad():
            plain, tta = ((predict(model, xt, level) == yt).float().mean().item() for level in (0, 2))
        row = f"| {seed} | {epochs} | {curve[-1]['step']} | {sec:.1f} | {plain:.4f} | {tta:.4f} |"
        report.add("airbench", title, row,
                   {"seed": seed, "epochs": epochs, "steps": curve[-1]["step"], "seconds": sec, "acc": plain,
                    "acc_tta": tta})


def preset_params(args) -> dict:
    params = params_mod.load(ROOT / "presets" / "cifar10-gpu.yaml")
    if args.smoke:
        params["train"]["epochs"] = 1
    return params


def part_pgd(report: Report, data, tr, te, args, per_epoch: dict) -> None:
    params = preset_params(args)
    x, y = data.images[tr], data.labels[tr]
    a = params["attack"]
    title = ["### PGD-AT and standard training under presets/cifar10-gpu.yaml", "",
             f"Train block: recipe {params['train']['recipe']}, batch {params['train']['batch_size']}, "
             f"{params['train']['epochs']} epochs; PGD-{a['train_steps']} in training (eps {a['eps']:.4f}, step "
             f"{a['train_step']:.4f}, random start).", "",
             "| run | arch | epochs | training s | s/epoch | clean acc | PGD acc |", "|---|---|---|---|---|---|---|"]
    share = {"airbench": args.epoch_share, "preact_resnet18": args.epoch_share / 4}
    for arch in ("airbench", "preact_resnet18") if args.full_epochs is None else ():
        for trainer in ("standard", "pgd"):
            if report_out_of_time(report, args, "pgd"):
                return
            p = copy.deepcopy(params)
            p["model"]["arch"] = arch
            timed_fit(x[:2048], y[:2048], trainer, p, epochs=1)  # warm-up: cuDNN picks its kernels untimed
            _, _, _, sec = timed_fit(x, y, trainer, p, epochs=share[arch])
            per_epoch[(arch, trainer)] = sec / share[arch]
            report.add("pgd", title, f"| {trainer} (timing) | {arch} | {share[arch]} | {sec:.1f} | "
                                     f"{sec / share[arch]:.2f} | – | – |",
                       {"run": "timing", "arch": arch, "trainer": trainer, "epochs": share[arch], "seconds": sec})
    params = apply_sets(params, args.full_sets)
    arch = params["model"]["arch"]
    if args.full_epochs is not None:
        epochs = args.full_epochs
    else:
        left = args.budget_s - (time.perf_counter() - report.t0) - args.eval_reserve_s
        epochs = min(params["train"]["epochs"], int(left / per_epoch[(arch, "pgd")]))
    if epochs < 1:
        report.note("pgd", f"Full PGD-AT run skipped: {left:.0f} s left, {per_epoch[(arch, 'pgd')]:.0f} s "
                           "per epoch.")
        return
    model, spec, curve, sec = timed_fit(x, y, "pgd", params, epochs=epochs)
    attack = {**a, "eval_n": args.pgd_eval_n, "autoattack": False}  # AutoAttack: the evaluate stage's, not timed here
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        models.save(path, model, spec)
        t0 = time.perf_counter()
        m = evaluate(path, data.images[te], data.labels[te], classes=list(data.classes), attack=attack,
                     tta=params["evaluate"]["tta"])
        eval_sec = time.perf_counter() - t0
    name = f"PGD-AT (full{', ' + ' '.join(args.full_sets) if args.full_sets else ''})"
    report.add("pgd", title, f"| {name} | {arch} | {epochs} of {params['train']['epochs']} | {sec:.1f} | "
                             f"{sec / epochs:.2f} | {m['clean_acc']:.4f} (no TTA {m['clean_acc_no_tta']:.4f}) | "
                             f"{m['robust_acc']:.4f} |",
               {"run": "full", "arch": arch, "sets": args.full_sets, "trainer": "pgd", "epochs": epochs, "seconds": sec,
                "clean_acc": m["clean_acc"], "clean_acc_no_tta": m["clean_acc_no_tta"],
                "robust_acc": m["robust_acc"], "eval_seconds": eval_sec})
    report.note("pgd", f"PGD accuracy: PGD-{a['eval_steps']} (step {a['eval_step']:.4f}), {a['eval_restarts']} "
                       f"restarts, worst iterate, on {min(args.pgd_eval_n, len(te))} fixed test images; "
                       f"evaluation took {eval_sec:.0f} s. Clean accuracy on all {len(te)} test images.")


def part_estimate(report: Report, per_epoch: dict, args) -> None:
    """GPU-hours of the preset's grid from measured seconds per epoch (airbench, its model.arch)."""
    params = preset_params(args)
    g, epochs = params["grid"], params["train"]["epochs"]
    arch = params["model"]["arch"]
    if not all((arch, t) in per_epoch for t in g["trainers"]):
        report.note("estimate", "Estimate skipped: epoch times of the preset's net were not measured.")
        return
    seeds, schemes = len(g["seeds"]), len(g["schemes"])
    # equal epochs: every variant trains `epochs` passes over (1 + r) N images; equal steps: every
    # variant takes D-rate 0's steps, and its D-rate 0 cell is the epochs run (runs.py: not trained again).
    sec = 0.0
    for t in g["trainers"]:
        one = per_epoch[(arch, t)] * epochs
        for budget in g["budgets"]:
            for r in g["rates"]:
                if budget == "steps" and r == 0 and "epochs" in g["budgets"]:
                    continue
                sec += one * ((1 + r) if budget == "epochs" else 1) * seeds * schemes
    report.note("estimate", f"Estimate, not a timed run: presets/cifar10-gpu.yaml's grid ({schemes} schemes x "
                            f"{len(g['rates'])} D-rates x {len(g['trainers'])} trainers x {seeds} seeds x "
                            f"{len(g['budgets'])} budgets, {arch}, {epochs} epochs) needs about {sec / 3600:.1f} "
                            "GPU-hours of training at the seconds per epoch above (evaluation not included).")


def report_out_of_time(report: Report, args, part: str) -> bool:
    spent = time.perf_counter() - report.t0
    if spent > args.budget_s:
        report.note(part, f"{part}: stopped before the next run, {spent:.0f} s in (--budget-s {args.budget_s}).")
        return True
    return False


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data(), help="CIFAR-10 as <split>/<class>/<file> (.tar.gz)")
    p.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a params key of the airbench part (repeatable)")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    p.add_argument("--seeds", type=int, default=3, help="runs per seed in the reference and airbench parts")
    p.add_argument("--epoch-share", type=float, default=1.0,
                   help="share of an epoch timed for airbench (a quarter of it for preact_resnet18)")
    p.add_argument("--full-set", dest="full_sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset key for the full PGD-AT run (e.g. model.arch=preact_resnet18)")
    p.add_argument("--full-epochs", type=int, default=None,
                   help="epochs of the full PGD-AT run, skipping the timings (default: sized to --budget-s)")
    p.add_argument("--pgd-eval-n", type=int, default=1000, help="fixed test images under PGD in the full run")
    p.add_argument("--budget-s", type=float, default=float("inf"), help="start no new run after this many seconds")
    p.add_argument("--eval-reserve-s", type=float, default=30.0,
                   help="seconds kept for evaluation when sizing the full PGD-AT run to --budget-s")
    p.add_argument("--smoke", action="store_true", help="2,000 train and 500 test images, short runs")
    p.add_argument("--rows", type=Path, default=None, help="also append every row as JSON to this file")
    p.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md")
    p.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = p.parse_args()
    if args.data is None or not args.data.exists():
        raise SystemExit(f"CIFAR-10 data not found ({args.data}); pass --data")
    torch.backends.cudnn.benchmark = True
    t0 = time.perf_counter()
    data = load_folder(args.data, progress=False)
    tr, te = data.split_ids("train"), data.split_ids("test")
    if args.smoke:
        tr, te, args.seeds, args.epoch_share = tr[::25], te[::20], 1, 0.5
    header = [f"## CIFAR-10 on one GPU ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "",
              f"Command: `{' '.join(['python benchmarks/cifar_gpu.py', *sys.argv[1:]])}`", "",
              f"Machine: {device_name()}; torch {torch.__version__}; {len(tr)} train / {len(te)} test images "
              f"(JPEG re-encodings of CIFAR-10{', smoke run' if args.smoke else ''}), loaded in "
              f"{time.perf_counter() - t0:.0f} s.", ""]
    report = Report(args, header, t0)
    per_epoch: dict = {}
    steps = {"reference": lambda: part_reference(report, data, tr, te, args),
             "airbench": lambda: part_airbench(report, data, tr, te, args),
             "pgd": lambda: part_pgd(report, data, tr, te, args, per_epoch),
             "estimate": lambda: part_estimate(report, per_epoch, args)}
    for part in args.parts:
        try:
            steps[part]()
        except Exception as exc:  # noqa: BLE001 - one failed part must not cost the others' figures
            traceback.print_exc()
            report.note(part, f"{part}: failed with {exc!r}")
    report.write()


if __name__ == "__main__":
    main()
