"""Classifiers. Inputs are images in [0, 1]; normalisation lives inside the model so
attacks work in pixel units."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ARCHS = ("small_cnn", "airbench", "preact_resnet18")


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def _block(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """Three conv blocks and a linear head: small enough for CPU runs on 8x8 to 32x32 images."""

    def __init__(self, channels: int, classes: int, width: int = 16, mean=0.5, std=0.25):
        super().__init__()
        mean = [mean] * channels if isinstance(mean, float) else mean
        std = [std] * channels if isinstance(std, float) else std
        self.norm = Normalize(mean, std)
        self.features = nn.Sequential(
            _block(channels, width), _block(width, 2 * width), nn.MaxPool2d(2),
            _block(2 * width, 4 * width), nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * width, classes)

    def forward(self, x):
        return self.head(self.features(self.norm(x)))


def _per_channel(v, channels):
    return [float(v)] * channels if isinstance(v, (int, float)) else v


class _Pool2(nn.Module):
    """2x2 max pool (floor mode) that passes a map through unchanged once a side is below 2.

    At 32x32 this is exactly airbench's geometry (31 -> 15 -> 7 -> 3); at 8x8 the third pool,
    which would give a 0x0 map, is skipped (7 -> 3 -> 1 -> 1)."""

    def forward(self, x):
        return F.max_pool2d(x, 2) if min(x.shape[-2:]) >= 2 else x


def _airbench_conv(c_in, c_out):
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    with torch.no_grad():  # airbench: identity (Dirac) init for the first c_in output channels
        nn.init.dirac_(conv.weight[:min(c_in, c_out)])
    return conv


def _airbench_bn(c):
    # airbench's BatchNorm: weight frozen at 1, bias trained, running stats kept with 0.6 of the
    # old value per step (PyTorch momentum 0.4). eps is PyTorch's 1e-5 (airbench: 1e-12).
    bn = nn.BatchNorm2d(c, momentum=0.4)
    bn.weight.requires_grad_(False)
    return bn


class _AirbenchGroup(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1, self.pool, self.norm1 = _airbench_conv(c_in, c_out), _Pool2(), _airbench_bn(c_out)
        self.conv2, self.norm2, self.act = _airbench_conv(c_out, c_out), _airbench_bn(c_out), nn.GELU()

    def forward(self, x):
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class Airbench(nn.Module):
    """A fast CIFAR-scale network in the style of Keller Jordan's airbench94 (our own code).

    Normalize -> 2x2 patch-whitening conv (no padding; frozen, set by ``data_init``) -> GELU ->
    three groups of conv3x3 -> maxpool2 -> BN -> GELU -> conv3x3 -> BN -> GELU -> global max
    pool -> linear head without bias, logits times 1/9.

    * ``width`` maps to the group widths as (width, 4*width, 4*width): width=64 gives the
      published (64, 256, 256); small widths (4, 8) are fine for tests.
    * Whitening: ``data_init(x)`` takes the training images (N, C, H, W) in [0, 1], applies the
      model's own Normalize (whitening is fit to what the layer sees), and uses at most 5,000
      images, evenly spaced through the set. With the (centred) covariance of the C*4-dimensional
      2x2 patches = V diag(lam) V^T, the filters are V^T / sqrt(lam + 5e-4), both + and -, so
      the layer has 2*C*4 output channels (24 for RGB). Unlike airbench, the patch mean is
      removed and put in the bias. The layer is frozen (requires_grad False) and saved in the
      state dict; the airbench recipe (recipes.py) trains its bias for train.airbench.whiten_bias_epochs.
    * BatchNorm: weight frozen at 1, bias trained, PyTorch momentum 0.4, eps 1e-5.
    * Convs: no bias, Dirac init of the first c_in output channels, as in airbench.
    * Pools that would shrink a side below 1 are skipped, so 8x8 inputs work (see ``_Pool2``).
    * The architecture only: airbench's training recipe is ``train.recipe: airbench``
      (recipes.py, train.py) and its test-time augmentation ``evaluate.tta: 2`` (evaluate.py).
    """

    WHITEN_EPS = 5e-4
    MAX_INIT_IMAGES = 5000
    LOGIT_SCALE = 1 / 9

    def __init__(self, channels: int, classes: int, width: int = 64, mean=0.5, std=0.25,
                 whiten_eps: float | None = None):
        super().__init__()
        # model.whiten_eps: airbench's 5e-4 makes the layer amplify the high-frequency directions natural
        # images lack, where PGD puts its perturbation; adversarial training then reads the label from
        # the perturbation and clean accuracy collapses. 0.1 trains PGD-AT normally (benchmarks/RESULTS.md).
        self.whiten_eps = self.WHITEN_EPS if whiten_eps is None else whiten_eps
        self.norm = Normalize(_per_channel(mean, channels), _per_channel(std, channels))
        d = channels * 4
        self.whiten = nn.Conv2d(channels, 2 * d, 2, padding=0, bias=True)
        self.whiten.requires_grad_(False)
        widths = (width, 4 * width, 4 * width)
        self.act = nn.GELU()
        self.groups = nn.Sequential(_AirbenchGroup(2 * d, widths[0]), _AirbenchGroup(widths[0], widths[1]),
                                    _AirbenchGroup(widths[1], widths[2]))
        self.head = nn.Linear(widths[2], classes, bias=False)

    @torch.no_grad()
    def data_init(self, x: torch.Tensor) -> None:
        n = len(x)
        if n > self.MAX_INIT_IMAGES:
            x = x[torch.linspace(0, n - 1, self.MAX_INIT_IMAGES, device=x.device).long()]
        c = x.shape[1]
        d = c * 4
        s = torch.zeros(d, dtype=torch.float64, device=x.device)
        ss = torch.zeros(d, d, dtype=torch.float64, device=x.device)
        count = 0
        for i in range(0, len(x), 500):  # chunks keep the patch matrix small
            p = F.unfold(self.norm(x[i:i + 500].float()), 2).transpose(1, 2).reshape(-1, d).double()
            s += p.sum(0)
            ss += p.T @ p
            count += len(p)
        mu = s / count
        cov = (ss / count - torch.outer(mu, mu)).cpu()
        lam, vec = torch.linalg.eigh((cov + cov.T) / 2)
        w = vec.T / torch.sqrt(lam.clamp_min(0) + self.whiten_eps).unsqueeze(1)  # (d, d): rows are filters
        w = torch.cat([w, -w]).to(x.device)
        # unfold orders a patch as (channel, row, col), the same order as a conv weight's (C, 2, 2)
        self.whiten.weight.copy_(w.view(2 * d, c, 2, 2).float())
        self.whiten.bias.copy_((-w @ mu.to(x.device)).float())

    def forward(self, x):
        x = self.groups(self.act(self.whiten(self.norm(x))))
        return self.head(torch.amax(x, dim=(2, 3))) * self.LOGIT_SCALE


class _PreActBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c_in), nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(c_out), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride, bias=False) if stride != 1 or c_in != c_out else None)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        short = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        return self.conv2(F.relu(self.bn2(out))) + short


class PreActResNet18(nn.Module):
    """PreAct ResNet-18 (He et al. 2016) as used in adversarial training (Rice et al. 2020,
    Wong et al. 2020): 3x3 stem, four stages of two pre-activation basic blocks with widths
    (w, 2w, 4w, 8w) and strides (1, 2, 2, 2), final BN-ReLU, global average pool, linear head.
    ``width`` is the base width w: 64 is the standard net. Global average pooling (instead of a
    fixed 4x4 pool) gives the same result at 32x32 and lets smaller images through."""

    def __init__(self, channels: int, classes: int, width: int = 64, mean=0.5, std=0.25):
        super().__init__()
        self.norm = Normalize(_per_channel(mean, channels), _per_channel(std, channels))
        self.stem = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
        blocks, c_in = [], width
        for i, stride in enumerate((1, 2, 2, 2)):
            c_out = width * 2 ** i
            blocks += [_PreActBlock(c_in, c_out, stride), _PreActBlock(c_out, c_out, 1)]
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c_in)
        self.head = nn.Linear(c_in, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.blocks(self.stem(self.norm(x)))))
        return self.head(x.mean(dim=(2, 3)))


def build(arch: str, channels: int, classes: int, width: int = 16, mean=0.5, std=0.25,
          whiten_eps: float | None = None) -> nn.Module:
    if arch == "small_cnn":
        return SmallCNN(channels, classes, width, mean, std)
    if arch == "airbench":
        return Airbench(channels, classes, width, mean, std, whiten_eps)
    if arch == "preact_resnet18":
        return PreActResNet18(channels, classes, width, mean, std)
    raise ValueError(f"unknown model.arch {arch!r}; allowed: {', '.join(ARCHS)}")


def data_init(model: nn.Module, x: torch.Tensor) -> None:
    """Initialise layers that are set from the training images (airbench's whitening; none otherwise)."""
    init = getattr(model, "data_init", None)
    if init is not None:
        init(x)


def save(path, model: nn.Module, spec: dict) -> None:
    from .io import atomic_path

    # Through a file object: torch.save names the zip's folder after a path it is given, which
    # would put the random temporary name into the file and make equal weights differ in bytes.
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save({"spec": spec, "state": model.state_dict()}, f)


def load(path, device="cpu") -> tuple[nn.Module, dict]:
    blob = torch.load(path, map_location=device, weights_only=True)
    spec = blob["spec"]
    model = build(**spec)
    model.load_state_dict(blob["state"])
    return model.to(device).eval(), spec
