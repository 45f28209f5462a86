"""L-infinity attacks in [0, 1] pixel space, small and checkable: PGD (Madry et al.), FGSM with
a random start (Wong et al.), TRADES' KL-maximising PGD (Zhang et al.), and AutoAttack through
the optional torchattacks package. Every example stays within the eps ball around x and in [0, 1]."""

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


def _project(x: torch.Tensor, x_adv: torch.Tensor, eps: float) -> torch.Tensor:
    """The nearest point of the eps ball around x that lies in [0, 1]."""
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)


def fgsm_rs(model, x, y, *, eps: float, step: float) -> torch.Tensor:
    """FGSM with a random start ("Fast is better than free", Wong, Rice & Kolter 2020): a uniform
    start in the eps ball, one signed-gradient step of size `step` (1.25 eps in the paper), then
    back into the ball and [0, 1]. Runs the model in whatever mode it is in (train mode in
    train.fit, as in the reference code). That is PGD with one step from its random start."""
    return pgd(model, x, y, eps=eps, step=step, steps=1, random_start=True)


def trades_adversary(model, x, *, eps: float, step: float, steps: int) -> torch.Tensor:
    """TRADES' inner maximisation (Zhang et al. 2019): PGD on KL(f(x) || f(x_adv)) from
    x + 0.001 N(0, 1). As in the reference code the model runs in eval mode here (BatchNorm uses
    its running statistics and the attack's forward passes do not update them); its mode is
    restored on return."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            p_clean = F.softmax(model(x), dim=1)
        x_adv = _project(x, x + 0.001 * torch.randn_like(x), eps).detach()
        for _ in range(steps):
            x_adv.requires_grad_(True)
            loss = F.kl_div(F.log_softmax(model(x_adv), dim=1), p_clean, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = _project(x, x_adv.detach() + step * grad.sign(), eps).detach()
    finally:
        model.train(was_training)
    return x_adv


def trades_kl(logits_clean: torch.Tensor, logits_adv: torch.Tensor) -> torch.Tensor:
    """KL(f(x) || f(x_adv)) averaged over the batch, the TRADES regulariser (gradients flow
    through both, as in the reference code)."""
    return F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(logits_clean, dim=1), reduction="batchmean")


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


AUTOATTACK_MISSING = ("attack.autoattack is true but torchattacks is not installed; install it with "
                      "`pip install 'dupstudy[autoattack]'` (or `pip install 'torchattacks>=3.5'`), "
                      "or set attack.autoattack: false in params.yaml")


def require_torchattacks():
    """The torchattacks module, or a RuntimeError that names the param and the install command."""
    try:
        import torchattacks
    except ImportError:
        raise RuntimeError(AUTOATTACK_MISSING) from None
    return torchattacks


def autoattack_correct(model, x, y, *, eps: float, n_classes: int, seed: int = 0, version: str = "standard",
                       batch_size: int = 500) -> torch.Tensor:
    """Per-example robustness under AutoAttack (Croce & Hein 2020; APGD-CE, APGD-T, FAB-T and Square
    for version 'standard') through torchattacks. The model takes images in [0, 1] and returns logits
    (normalisation is inside it), which is what torchattacks expects; it is attacked in eval mode and
    fp32. torchattacks re-seeds torch's global RNG with `seed`, so results repeat. Its examples are
    projected onto the eps ball and [0, 1] before they are scored, so no out-of-budget example counts."""
    torchattacks = require_torchattacks()
    was_training = model.training
    model.eval()
    try:
        attack = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version=version, n_classes=n_classes, seed=seed)
        out = []
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size].float(), y[i:i + batch_size]
            ok = _correct(model, xb, yb)
            idx = ok.nonzero().squeeze(1)  # only what the model gets right can be broken
            if len(idx):
                adv = _project(xb[idx], attack(xb[idx], yb[idx]).to(xb.dtype), eps)
                ok[idx] = _correct(model, adv, yb[idx])
            out.append(ok)
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool, device=x.device)
