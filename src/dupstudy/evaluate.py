"""Clean and adversarial accuracy of one model, overall, per class and without leaked
test images. The model is evaluated in eval mode and fp32 with a stronger attack than
it was trained with (more steps, restarts), on all test images or on attack.eval_n of them (clean
accuracy is always on all). With attack.autoattack also AutoAttack accuracy
(torchattacks, the optional `autoattack` extra) on all or attack.autoattack_n test images.

Test-time augmentation (evaluate.tta, airbench's levels) applies to clean accuracy only: robust
accuracy is always that of the plain model, attacked and scored without TTA, because the study
measures the robustness of the trained network, not of an ensemble of its views."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import attacks, models
from . import device as devices
from .train import to_tensor

TTA_LEVELS = (0, 1, 2)


def evaluate(model_path, images: np.ndarray, labels: np.ndarray, *, classes: list[str], attack: dict,
             leaked: np.ndarray | None = None, threads: int | None = None, seed: int = 0, tta: int = 0) -> dict:
    """`leaked` is a boolean mask over the test images that have a duplicate in train. `seed` fixes
    the attack's random starts, so evaluating one model twice gives the same numbers. `tta` is the
    test-time augmentation level of clean accuracy (see tta_logits); clean_acc_no_tta is always
    reported beside it, and robust accuracy never uses TTA."""
    if attack["autoattack"]:
        attacks.require_torchattacks()  # fail before the PGD evaluation, not after it
    dev = devices.pick(threads)
    torch.manual_seed(seed)
    model, _ = models.load(model_path, dev)
    model = model.float().eval()
    x, y = to_tensor(images, dev), torch.from_numpy(labels.astype(np.int64)).to(dev)
    pred = predict(model, x, tta)
    clean = (pred == y).cpu().numpy()
    clean_no_tta = clean if tta == 0 else (predict(model, x, 0) == y).cpu().numpy()
    # PGD on all test images, or on attack.eval_n of them (a fixed subset): NaN marks the others.
    sub = fixed_subset(len(y), attack["eval_n"])
    idx = torch.from_numpy(sub).to(x.device)
    robust = np.full(len(y), np.nan)
    robust[sub] = attacks.robust_correct(model, x[idx], y[idx], eps=attack["eps"], step=attack["eval_step"],
                                         steps=attack["eval_steps"],
                                         restarts=attack["eval_restarts"]).cpu().numpy()
    leaked = np.zeros(len(y), bool) if leaked is None else leaked.astype(bool)
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, pred.cpu().numpy()), 1)
    per_class = [{"class": classes[c], "clean_acc": _mean(clean[labels == c]), "robust_acc": _mean(robust[labels == c]),
                  "n": int((labels == c).sum()), "n_robust": int((labels[sub] == c).sum())}
                 for c in range(k)]
    out = {
        "n_test": int(len(y)),
        "clean_acc": _mean(clean),
        "clean_acc_no_tta": _mean(clean_no_tta),
        "tta": tta,
        "robust_acc": _mean(robust),
        "robust_n_test": int(len(sub)),
        "n_leaked": int(leaked.sum()),
        "clean_acc_no_leak": _mean(clean[~leaked]),
        "robust_acc_no_leak": _mean(robust[~leaked]),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "attack": {"name": "pgd_linf", "eps": attack["eps"], "step": attack["eval_step"],
                   "steps": attack["eval_steps"], "restarts": attack["eval_restarts"], "n": int(len(sub)),
                   "scored": "worst case over iterates and restarts"},
    }
    if attack["autoattack"]:
        out.update(_autoattack(model, x, y, clean, robust, leaked, eps=attack["eps"], n=attack["autoattack_n"],
                               n_classes=k, seed=seed))
    return out


@torch.no_grad()
def predict(model, x: torch.Tensor, tta: int = 0, batch_size: int = 512) -> torch.Tensor:
    """Predicted classes of images x (N, C, H, W) in [0, 1] at test-time augmentation level `tta`."""
    return torch.cat([tta_logits(model, x[i:i + batch_size], tta).argmax(1) for i in range(0, len(x), batch_size)])


def tta_logits(model, x: torch.Tensor, level: int) -> torch.Tensor:
    """airbench's test-time augmentation. Level 0: the model's logits. Level 1: the mean of the
    logits of the image and its mirror image. Level 2: 1/2 of level 1 on the image plus 1/4 of level
    1 on each of its two one-pixel diagonal shifts (reflect-padded), six views in all."""
    if level not in TTA_LEVELS:
        raise ValueError(f"unknown evaluate.tta {level!r}; allowed: {', '.join(map(str, TTA_LEVELS))}")
    if level == 0:
        return model(x)
    logits = _mirror_mean(model, x)
    if level == 1:
        return logits
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    down_right, up_left = padded[..., :h, :w], padded[..., 2:, 2:]
    return 0.5 * logits + 0.25 * (_mirror_mean(model, down_right) + _mirror_mean(model, up_left))


def _mirror_mean(model, x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (model(x) + model(x.flip(3)))


def _autoattack(model, x, y, clean, robust, leaked, *, eps, n, n_classes, seed) -> dict:
    """AutoAttack ('standard') accuracy on all test images, or on n of them drawn at random with a
    fixed seed (the same images for every model; test sets of folder datasets are ordered by class,
    so the first n would not do). Robust means correct on the clean image and under AutoAttack."""
    pick = fixed_subset(len(y), n)
    idx = torch.from_numpy(pick).to(x.device)
    aa = attacks.autoattack_correct(model, x[idx], y[idx], eps=eps, n_classes=n_classes, seed=seed).cpu().numpy()
    aa &= clean[pick]
    sub_leaked = leaked[pick]
    return {
        "autoattack_acc": _mean(aa),
        "autoattack_acc_no_leak": _mean(aa[~sub_leaked]),
        "autoattack_n_test": int(len(pick)),
        "autoattack": {"name": "autoattack_linf", **attacks.AUTOATTACK_STANDARD, "eps": eps, "n": int(len(pick)),
                       "seed": seed, "robust_acc_same_images": _mean(robust[pick])},
    }


def fixed_subset(n_total: int, n: int | None) -> np.ndarray:
    """Sorted indices of n of n_total test images, the same for every model (a draw with seed 0: test
    sets of folder datasets are ordered by class, so the first n would not do); all when n is None."""
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(0).permutation(n_total)[:n])


def _mean(a: np.ndarray) -> float:
    """Mean of the values that are there (NaN: not measured)."""
    a = np.asarray(a, dtype=float)
    a = a[~np.isnan(a)]
    return float(a.mean()) if len(a) else float("nan")
