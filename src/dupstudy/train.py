"""Standard and adversarial training (PGD, FGSM with a random start, TRADES) with data held
on the device.

No DataLoader: the whole training set is one tensor on the device, shuffled with a
seeded generator and augmented on tensors. The optimiser, schedule and weight averaging
come from the recipe named by train.recipe (recipes.py: onecycle or airbench). The run
checkpoints at the end of every epoch and resumes from it, so an interrupted job loses at
most one epoch and, on the CPU, ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import attacks, models, recipes
from . import device as devices
from .grid import allowed
from .io import atomic_path

TRAINERS = ("standard", "pgd", "fgsm_rs", "trades")
# attack: keys each trainer reads (all in [0, 1] pixel units, except trades_beta, a loss weight)
TRAINER_ATTACK_KEYS = {"standard": (), "pgd": ("eps", "train_step", "train_steps"),
                       "fgsm_rs": ("eps", "fgsm_step", "fgsm_guard"),
                       "trades": ("eps", "train_step", "train_steps", "trades_beta")}


def to_tensor(images: np.ndarray, device) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [0, 1] on the device."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return x.permute(0, 3, 1, 2).float().div_(255)


FLIPS = (False, True, "alternating")


def translate(x: torch.Tensor, gen: torch.Generator, padding: int) -> torch.Tensor:
    """Random shift by up to `padding` pixels each way: reflect-pad, then a random crop of the original size."""
    if not padding:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4, mode="reflect")
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=gen, device=gen.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=gen, device=gen.device)
    rows = (dy.view(n, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1).expand(n, x.shape[1], h, w + 2 * padding)
    padded = padded.gather(2, rows)
    cols = (dx.view(n, 1) + torch.arange(w, device=x.device)).view(n, 1, 1, w).expand(n, x.shape[1], h, w)
    return padded.gather(3, cols)


def first_epoch_flips(n: int, flip, gen: torch.Generator) -> torch.Tensor | None:
    """flip 'alternating' (airbench): which images are mirrored in the first epoch, each with p = 0.5."""
    if flip not in FLIPS:
        raise ValueError(f"unknown train.augment.flip {flip!r}; allowed: false, true, alternating")
    return torch.rand(n, generator=gen, device=gen.device) < 0.5 if flip == "alternating" else None


def flip_mask(idx: torch.Tensor, epoch: int, flip, first_flips: torch.Tensor | None,
              gen: torch.Generator) -> torch.Tensor | None:
    """Which images of the batch `idx` to mirror: none (flip false); each with p = 0.5, drawn anew
    (true); or alternating: an image's first-epoch state in even epochs and its opposite in odd
    ones, so every image is seen mirrored in exactly every other epoch."""
    if flip == "alternating":
        return first_flips[idx] ^ bool(epoch % 2)
    if flip:
        return torch.rand(len(idx), generator=gen, device=gen.device) < 0.5
    return None


def apply_flips(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)


def resolve_budget(settings: dict, budget: str, n_base: int) -> dict:
    """Train settings for one budget. `steps: auto` becomes the steps that n_base images (the
    deduplicated training set, D-rate 0) take in `epochs` epochs, so the steps budget gives every
    variant the compute of the baseline."""
    if budget not in (known := allowed("budget")):
        raise ValueError(f"unknown budget {budget!r}; allowed: {', '.join(known)}")
    out = {**settings, "budget": budget}
    if budget == "steps" and out.get("steps") == "auto":
        out["steps"] = math.ceil(out["epochs"] * batches_per_epoch(n_base, out))
    return out


def full_batches_only(settings: dict) -> bool:
    """The airbench recipe drops an epoch's last partial batch, as airbench's loader does."""
    return settings["recipe"] == "airbench"


def batches_per_epoch(n: int, settings: dict) -> int:
    bs = settings["batch_size"]
    if full_batches_only(settings) and n >= bs:
        return n // bs
    return math.ceil(n / bs)


def total_steps(n: int, settings: dict) -> int:
    """Optimizer steps of a run on n images: train.steps, or train.epochs (which may be fractional,
    as airbench's 9.9) times the batches per epoch, rounded up."""
    if settings["budget"] == "steps":
        return settings["steps"]
    return math.ceil(settings["epochs"] * batches_per_epoch(n, settings))


def fit(images: np.ndarray, labels: np.ndarray, *, classes: int, trainer: str, seed: int, model_settings: dict,
        settings: dict, attack: dict, checkpoint: Path | None = None, progress: bool = True,
        on_epoch: Callable[[dict, torch.nn.Module], None] | None = None, base_images: np.ndarray | None = None):
    """Train one model on one variant. Returns (model, spec, curve). `on_epoch(row, model)` is
    called after each epoch's checkpoint with its curve row (for progress reports; it must leave
    the model's weights and the random generators alone). `base_images`, the deduplicated training
    set, is what the input normalisation and data-set layers (airbench's whitening) are fitted on, so
    they are the same for every D-rate and a variant's copies do not shift them; default `images`.

    Trainers: `standard` (cross-entropy on clean images); `pgd` (Madry et al.: cross-entropy on PGD
    examples, attack.train_steps steps of attack.train_step); `fgsm_rs` (Wong et al. 2020: one FGSM
    step of attack.fgsm_step from a uniform random start); `trades` (Zhang et al. 2019:
    CE(f(x), y) + attack.trades_beta * KL(f(x) || f(x_adv)), x_adv from PGD on the KL). PGD and
    FGSM-RS examples are made with the model in train mode (as in Madry's and Wong's code; their
    forward passes update BatchNorm's running statistics); TRADES examples in eval mode, as in the
    reference code. The curve's train_acc is on the examples the loss's cross-entropy sees:
    adversarial for pgd and fgsm_rs, clean for standard and trades. Every trainer runs under either
    recipe (settings['recipe']); the checkpoint holds all a run carries between epochs (weights,
    optimiser, schedule, generator, the lookahead's slow weights, the first-epoch flips).
    """
    if trainer not in TRAINERS:
        raise ValueError(f"unknown trainer {trainer!r}; allowed: {', '.join(TRAINERS)}")
    missing = [f"attack.{k}" for k in TRAINER_ATTACK_KEYS[trainer] if attack.get(k) is None]
    if missing:
        raise ValueError(f"trainer {trainer!r} needs {', '.join(missing)} in params.yaml")
    dev = devices.pick(settings["threads"])
    torch.manual_seed(seed)
    x, y = to_tensor(images, dev), torch.from_numpy(labels.astype(np.int64)).to(dev)
    base = x if base_images is None else to_tensor(base_images, dev)
    mean = base.mean(dim=(0, 2, 3)).tolist()
    std = base.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
    spec = dict(arch=model_settings["arch"], channels=x.shape[1], classes=classes,
                width=model_settings["width"], mean=mean, std=std)
    if model_settings["whiten_eps"] is not None:  # airbench's whitening (models.Airbench)
        spec["whiten_eps"] = model_settings["whiten_eps"]
    model = models.build(**spec).to(dev)
    models.data_init(model, base)
    del base
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    steps = total_steps(len(x), settings)
    opt, sched = recipes.build(model, settings, steps)
    lookahead = recipes.lookahead(model, settings, steps)
    gen = torch.Generator(device=dev).manual_seed(seed)
    aug = settings["augment"]
    flip = aug["flip"]
    first_flips = first_epoch_flips(len(x), flip, gen)
    state = {"step": 0, "epoch": 0, "curve": [], "seconds": 0.0}
    guard = CatastrophicOverfittingGuard(x, y, attack) if trainer == "fgsm_rs" and attack["fgsm_guard"]["enabled"] \
        else None
    if checkpoint is not None and checkpoint.exists():
        state, first_flips = _resume(checkpoint, model, opt, sched, gen, lookahead, guard)
    bs = settings["batch_size"]
    n_batches = batches_per_epoch(len(x), settings)
    bar = tqdm(total=steps, initial=state["step"], desc=f"train {trainer} seed {seed}", disable=not progress,
               leave=False)
    while state["step"] < steps:
        model.train()
        if settings["recipe"] == "airbench":
            recipes.set_warmup_trainable(model, state["epoch"], settings["airbench"]["whiten_bias_epochs"])
        t0, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
        order = torch.randperm(len(x), generator=gen, device=dev)
        for i in range(0, n_batches * bs, bs):
            if state["step"] >= steps:
                break
            idx = order[i:i + bs]
            xb = translate(x[idx], gen, aug["crop_padding"])
            xb = apply_flips(xb, flip_mask(idx, state["epoch"], flip, first_flips, gen))
            yb = y[idx]
            # The attack's passes run in bf16 on CUDA like the training step (most of PGD-AT's time);
            # the perturbation itself stays fp32. On the CPU everything is fp32.
            with devices.autocast(dev):
                if trainer == "pgd":
                    xb = attacks.pgd(model, xb, yb, eps=attack["eps"], step=attack["train_step"],
                                     steps=attack["train_steps"])
                elif trainer == "fgsm_rs":
                    xb = attacks.fgsm_rs(model, xb, yb, eps=attack["eps"], step=attack["fgsm_step"])
                elif trainer == "trades":
                    x_adv = attacks.trades_adversary(model, xb, eps=attack["eps"], step=attack["train_step"],
                                                     steps=attack["train_steps"])
                out = model(xb)
                loss = F.cross_entropy(out, yb, label_smoothing=settings["label_smoothing"])
                if trainer == "trades":
                    loss = loss + attack["trades_beta"] * attacks.trades_kl(out, model(x_adv))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            state["step"] += 1
            if lookahead is not None:
                lookahead.after_step(model, state["step"])
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
            seen += len(idx)
            bar.update(1)
        if lookahead is not None and state["step"] >= steps:
            lookahead.finish(model)
        state["epoch"] += 1
        state["seconds"] += time.perf_counter() - t0
        state["curve"].append({"epoch": state["epoch"], "step": state["step"], "loss": loss_sum / max(seen, 1),
                               "train_acc": correct / max(seen, 1), "seconds": state["seconds"]})
        if guard is not None and guard.check(model, state["curve"][-1]):
            state["stopped"] = state["step"]  # catastrophic overfitting: the last good weights are back
            state["step"] = steps
        if checkpoint is not None:
            _save_checkpoint(checkpoint, model, opt, sched, gen, lookahead, first_flips, state, guard)
        if on_epoch is not None:
            on_epoch(state["curve"][-1], model)
    bar.close()
    return model.eval(), spec, state["curve"]


def _save_checkpoint(path: Path, model, opt, sched, gen, lookahead, first_flips, state, guard) -> None:
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "gen": gen.get_state(), "torch_rng": torch.get_rng_state(), "state": state,
                    "lookahead": None if lookahead is None else lookahead.state_dict(),
                    "first_flips": first_flips, "guard": None if guard is None else guard.state_dict()}, tmp)


def _resume(path: Path, model, opt, sched, gen, lookahead, guard) -> tuple[dict, torch.Tensor | None]:
    """Restore everything a run carries from epoch to epoch; returns (state, first-epoch flips)."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(blob["model"])
    opt.load_state_dict(blob["opt"])
    sched.load_state_dict(blob["sched"])
    gen.set_state(blob["gen"])
    torch.set_rng_state(blob["torch_rng"])
    if lookahead is not None:
        lookahead.load_state_dict(blob["lookahead"])
    if guard is not None:
        guard.load_state_dict(blob["guard"])
    first_flips = blob.get("first_flips")
    return blob["state"], None if first_flips is None else first_flips.to(gen.device)


class CatastrophicOverfittingGuard:
    """Wong et al.'s early stop for FGSM-RS: after every epoch, PGD accuracy on one fixed training batch;
    when it falls more than `drop` below its best so far, FGSM training has overfitted catastrophically
    (robustness to PGD collapses within an epoch), so the weights of the best epoch are restored and
    training stops. The curve records the check's accuracy every epoch and the stop."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, attack: dict):
        cfg = attack["fgsm_guard"]
        self.x, self.y = x[:cfg["batch"]], y[:cfg["batch"]]
        self.eps, self.step, self.steps, self.drop = attack["eps"], cfg["step"], cfg["steps"], cfg["drop"]
        self.best, self.best_weights = -1.0, None

    def accuracy(self, model) -> float:
        was_training = model.training
        model.eval()
        try:
            ok = attacks.pgd_survives(model, self.x, self.y, eps=self.eps, step=self.step, steps=self.steps)
        finally:
            model.train(was_training)
        return float(ok.float().mean())

    def check(self, model, row: dict) -> bool:
        """Record this epoch's check in `row`; True when training must stop (weights restored)."""
        acc = self.accuracy(model)
        row["guard_pgd_acc"] = acc
        if self.best_weights is not None and acc < self.best - self.drop:
            model.load_state_dict(self.best_weights)
            row["guard_stopped"] = True
            return True
        if acc >= self.best:
            self.best = acc
            self.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return False

    def state_dict(self) -> dict:
        return {"best": self.best, "best_weights": self.best_weights}

    def load_state_dict(self, blob: dict) -> None:
        self.best, self.best_weights = blob["best"], blob["best_weights"]
