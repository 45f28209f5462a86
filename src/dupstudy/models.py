"""Classifiers. Inputs are images in [0, 1]; normalisation lives inside the model so
attacks work in pixel units."""

from __future__ import annotations

import torch
from torch import nn

ARCHS = ("small_cnn",)


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


def build(arch: str, channels: int, classes: int, width: int = 16, mean=0.5, std=0.25) -> nn.Module:
    if arch == "small_cnn":
        return SmallCNN(channels, classes, width, mean, std)
    raise ValueError(f"unknown model.arch {arch!r}; allowed: {', '.join(ARCHS)}")


def data_init(model: nn.Module, x: torch.Tensor) -> None:
    """Initialise layers that are set from the training images (none for small_cnn)."""
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
