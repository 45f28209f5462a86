"""GPU first, CPU always: one place that picks the device and its fast paths."""

from __future__ import annotations

import os

import torch


def pick(threads: int | None = None) -> torch.device:
    """CUDA when present (the GPU named by CUDA_VISIBLE_DEVICES), else the CPU."""
    if threads:
        torch.set_num_threads(threads)
    if torch.cuda.is_available() and os.environ.get("DUPSTUDY_DEVICE", "") != "cpu":
        torch.backends.cudnn.benchmark = True
        return torch.device("cuda")
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.device("cpu")


def autocast(device: torch.device):
    """bf16 autocast on CUDA for speed; plain fp32 on CPU for determinism."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
