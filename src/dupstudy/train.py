"""Standard and adversarial training (PGD, FGSM with a random start, TRADES) with data held
on the device.

No DataLoader: the whole training set is one tensor on the device, shuffled with a
seeded generator and augmented on tensors. The run checkpoints at the end of every
epoch and resumes from it, so an interrupted job loses at most one epoch and, on the
CPU, ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import attacks, device as devices, models
from .io import atomic_path

TRAINERS = ("standard", "pgd", "fgsm_rs", "trades")
# attack: keys each trainer reads (all in [0, 1] pixel units, except trades_beta, a loss weight)
TRAINER_ATTACK_KEYS = {"standard": (), "pgd": ("eps", "train_step", "train_steps"), "fgsm_rs": ("eps", "fgsm_step"),
                       "trades": ("eps", "train_step", "train_steps", "trades_beta")}


def to_tensor(images: np.ndarray, device) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [0, 1] on the device."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return x.permute(0, 3, 1, 2).float().div_(255)


def augment(x: torch.Tensor, gen: torch.Generator, crop_padding: int, flip: bool) -> torch.Tensor:
    if crop_padding:
        n, _, h, w = x.shape
        padded = F.pad(x, (crop_padding,) * 4, mode="reflect")
        dy = torch.randint(0, 2 * crop_padding + 1, (n,), generator=gen, device=gen.device)
        dx = torch.randint(0, 2 * crop_padding + 1, (n,), generator=gen, device=gen.device)
        rows = (dy.view(n, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1).expand(n, x.shape[1], h, w + 2 * crop_padding)
        padded = padded.gather(2, rows)
        cols = (dx.view(n, 1) + torch.arange(w, device=x.device)).view(n, 1, 1, w).expand(n, x.shape[1], h, w)
        x = padded.gather(3, cols)
    if flip:
        mask = torch.rand(len(x), generator=gen, device=gen.device) < 0.5
        x = torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)
    return x


def resolve_budget(settings: dict, budget: str, n_base: int) -> dict:
    """Train settings for one budget. `steps: auto` becomes the steps that n_base images (the
    deduplicated training set, D-rate 0) take in `epochs` epochs, so the steps budget gives every
    variant the compute of the baseline."""
    if budget not in ("epochs", "steps"):
        raise ValueError(f"unknown budget {budget!r}; allowed: epochs, steps")
    out = {**settings, "budget": budget}
    if budget == "steps" and out.get("steps") == "auto":
        out["steps"] = out["epochs"] * math.ceil(n_base / out["batch_size"])
    return out


def total_steps(n: int, settings: dict) -> int:
    per_epoch = math.ceil(n / settings["batch_size"])
    return settings["steps"] if settings["budget"] == "steps" else settings["epochs"] * per_epoch


def fit(images: np.ndarray, labels: np.ndarray, *, classes: int, trainer: str, seed: int, model_settings: dict,
        settings: dict, attack: dict, checkpoint: Path | None = None, progress: bool = True):
    """Train one model on one variant. Returns (model, spec, curve).

    Trainers: `standard` (cross-entropy on clean images); `pgd` (Madry et al.: cross-entropy on PGD
    examples, attack.train_steps steps of attack.train_step); `fgsm_rs` (Wong et al. 2020: one FGSM
    step of attack.fgsm_step from a uniform random start); `trades` (Zhang et al. 2019:
    CE(f(x), y) + attack.trades_beta * KL(f(x) || f(x_adv)), x_adv from PGD on the KL). PGD and
    FGSM-RS examples are made with the model in train mode (as in Madry's and Wong's code; their
    forward passes update BatchNorm's running statistics); TRADES examples in eval mode, as in the
    reference code. The curve's train_acc is on the examples the loss's cross-entropy sees:
    adversarial for pgd and fgsm_rs, clean for standard and trades.
    """
    if trainer not in TRAINERS:
        raise ValueError(f"unknown trainer {trainer!r}; allowed: {', '.join(TRAINERS)}")
    missing = [f"attack.{k}" for k in TRAINER_ATTACK_KEYS[trainer] if attack.get(k) is None]
    if missing:
        raise ValueError(f"trainer {trainer!r} needs {', '.join(missing)} in params.yaml")
    dev = devices.pick(settings.get("threads"))
    torch.manual_seed(seed)
    x, y = to_tensor(images, dev), torch.from_numpy(labels.astype(np.int64)).to(dev)
    mean = x.mean(dim=(0, 2, 3)).tolist()
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
    spec = dict(arch=model_settings["arch"], channels=x.shape[1], classes=classes,
                width=model_settings.get("width", 16), mean=mean, std=std)
    if model_settings.get("whiten_eps") is not None:  # airbench's whitening (models.Airbench)
        spec["whiten_eps"] = model_settings["whiten_eps"]
    model = models.build(**spec).to(dev)
    models.data_init(model, x)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    steps = total_steps(len(x), settings)
    opt = torch.optim.SGD(model.parameters(), lr=settings["lr"], momentum=settings.get("momentum", 0.9),
                          nesterov=True, weight_decay=settings.get("weight_decay", 0.0))
    # One cycle: linear warm-up over the first 20 % of steps, then linear decay to zero.
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings["lr"], total_steps=steps, pct_start=0.2,
                                                anneal_strategy="linear", cycle_momentum=False)
    gen = torch.Generator(device=dev).manual_seed(seed)
    state = {"step": 0, "epoch": 0, "curve": [], "seconds": 0.0}
    if checkpoint is not None and checkpoint.exists():
        state = _resume(checkpoint, model, opt, sched, gen)
    aug = settings.get("augment", {})
    bs = settings["batch_size"]
    bar = tqdm(total=steps, initial=state["step"], desc=f"train {trainer} seed {seed}", disable=not progress, leave=False)
    while state["step"] < steps:
        model.train()
        t0, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
        order = torch.randperm(len(x), generator=gen, device=dev)
        for i in range(0, len(x), bs):
            if state["step"] >= steps:
                break
            idx = order[i:i + bs]
            xb = augment(x[idx], gen, aug.get("crop_padding", 0), aug.get("flip", False))
            yb = y[idx]
            if trainer == "pgd":
                xb = attacks.pgd(model, xb, yb, eps=attack["eps"], step=attack["train_step"], steps=attack["train_steps"])
            elif trainer == "fgsm_rs":
                xb = attacks.fgsm_rs(model, xb, yb, eps=attack["eps"], step=attack["fgsm_step"])
            elif trainer == "trades":
                x_adv = attacks.trades_adversary(model, xb, eps=attack["eps"], step=attack["train_step"],
                                                 steps=attack["train_steps"])
            with devices.autocast(dev):
                out = model(xb)
                loss = F.cross_entropy(out, yb, label_smoothing=settings.get("label_smoothing", 0.0))
                if trainer == "trades":
                    loss = loss + attack["trades_beta"] * attacks.trades_kl(out, model(x_adv))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            state["step"] += 1
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
            seen += len(idx)
            bar.update(1)
        state["epoch"] += 1
        state["seconds"] += time.perf_counter() - t0
        state["curve"].append({"epoch": state["epoch"], "step": state["step"], "loss": loss_sum / max(seen, 1),
                               "train_acc": correct / max(seen, 1), "seconds": state["seconds"]})
        if checkpoint is not None:
            _save_checkpoint(checkpoint, model, opt, sched, gen, state)
    bar.close()
    return model.eval(), spec, state["curve"]


def _save_checkpoint(path: Path, model, opt, sched, gen, state) -> None:
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "gen": gen.get_state(), "torch_rng": torch.get_rng_state(), "state": state}, tmp)


def _resume(path: Path, model, opt, sched, gen) -> dict:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(blob["model"])
    opt.load_state_dict(blob["opt"])
    sched.load_state_dict(blob["sched"])
    gen.set_state(blob["gen"])
    torch.set_rng_state(blob["torch_rng"])
    return blob["state"]
