from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def digits():
    """Real 8x8 digits as uint8 images: 1,000 to train on, the last 397 to test on."""
    d = load_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8)[..., None]
    return x[:1000], d.target[:1000], x[1400:], d.target[1400:]
