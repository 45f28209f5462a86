"""L-infinity PGD in [0, 1] pixel space (Madry et al.), small and checkable."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pgd(model, x, y, *, eps: float, step: float, steps: int, random_start: bool = True) -> torch.Tensor:
    """Adversarial examples within the eps ball around x and inside [0, 1]."""
    delta = torch.empty_like(x).uniform_(-eps, eps) if random_start else torch.zeros_like(x)
    delta = ((x + delta).clamp(0, 1) - x).detach()
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(x + delta), y)
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta + step * grad.sign()).clamp(-eps, eps)
        delta = ((x + delta).clamp(0, 1) - x).detach()
    return (x + delta).detach()


@torch.no_grad()
def _correct(model, x, y):
    return model(x).argmax(1) == y


def robust_correct(model, x, y, *, eps, step, steps, restarts=1, batch_size=512) -> torch.Tensor:
    """Per-example robustness: correct on the clean input and under every restart."""
    out = []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        ok = _correct(model, xb, yb)
        for _ in range(restarts):
            if not ok.any():
                break
            adv = pgd(model, xb, yb, eps=eps, step=step, steps=steps, random_start=True)
            ok &= _correct(model, adv, yb)
        out.append(ok)
    return torch.cat(out)
