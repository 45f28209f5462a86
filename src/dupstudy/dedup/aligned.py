"""Aligned near-duplicates: candidate retrieval on a shift-tolerant descriptor, then verification
of each candidate pair by aligning the two images.

Real copies are re-crops, shifts, rescales and recolourings of one photo, and a perceptual hash
of the whole frame misses most of them (a 3-pixel shift of a 32-pixel image moves every DCT
coefficient). Retrieval and verification, as copy detection does, then a decision:

1. Retrieval. Each image is described by the log-magnitudes of its low spatial frequencies
   (Hann-windowed, each image normalised to zero mean and unit variance). A magnitude spectrum
   does not change when the content shifts, and normalisation removes brightness and contrast,
   so a shifted or recoloured copy lands next to its original. Zoom is not covered by that, so
   every image is also described zoomed in (ZOOMS: the centre cropped and scaled back up), and
   each image, and its mirror image, queries all those descriptors for its K nearest neighbours
   (FAISS inner product). A copy zoomed in by z matches its original's zoom-z descriptor.
2. Verification. Each candidate pair is aligned: the neighbour is zoomed as retrieval found,
   the query mirrored if it was, and the normalised cross-correlation (NCC) of their grey levels
   over the overlap is computed for every shift up to MAX_SHIFT pixels at once, by FFT; the best
   shift whose overlap covers at least MIN_OVERLAP of the frame aligns the pair. Grey levels alone
   are fooled by layout (two planes on a pale sky correlate), so the pair is judged by the NCC
   of the aligned images' fine detail (each pixel minus its neighbourhood mean; see 3). Most
   candidates are unrelated images, so a first pass at half resolution drops those whose detail
   correlates below COARSE_MIN (it keeps 99.3 % of the pairs that score >= 0.6 at full
   resolution, and 16 % of all candidates).
   Re-crops are often stretched more along one axis than the other, so the best alignment of
   each pair whose detail correlates at REFINE_MIN or more is refined: the zoom of each axis is
   stepped by REFINE_STEP up or down while the detail correlation improves.
3. Decision. A ship on the waterline or a plane on the horizon has fine detail that is almost
   all horizontal edges: two such look-alikes correlate once those edges meet, however the rest
   differs. A copy agrees along both axes, so the pair's score is its detail NCC capped at
   AXES_MARGIN above the weaker of the NCCs of the detail's vertical and horizontal gradients
   (`axes`); a pair is an aligned duplicate when that score reaches dedup.aligned_threshold.

Everything works at WORK_SIZE pixels whatever the input size, in NumPy, SciPy and FAISS.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import faiss
import numpy as np
from scipy import fft as sfft

WORK_SIZE = 32            # both steps work on images resized to this square
FREQS = 6                 # spatial frequencies kept per axis in the descriptor
ZOOMS = (1.0, 1.12, 1.25)  # zooms each image is described at; a copy zoomed 0.8-1.25x meets one
MAX_SHIFT = 8             # pixels (of WORK_SIZE) searched each way in verification
MIN_OVERLAP = 0.5         # share of the frame the aligned images must both cover
COARSE_MIN = 0.25          # half-resolution detail NCC a pair needs to be aligned at full resolution
REFINE_MIN = 0.5          # full-resolution detail NCC from which a pair's zoom is refined per axis
REFINE_STEP = 1.06        # factor each axis's zoom is stepped by while refining
REFINE_ROUNDS = 4         # steps at most (from zoom 1, up to 1.26x one axis against the other)
REFINE_LIMIT = 1.35       # per-axis zoom (either way) beyond which refinement does not go
AXES_MARGIN = 0.2         # a pair's score is at most its weaker axis's gradient NCC plus this
DETAIL_MIN = 5.0          # grey levels: std of the fine detail below which the detail NCC is noise (0.1 %
#                           of CIFAR-10's photos; smooth renderings, where unrelated images correlate)
MIN_SOURCE = 16           # pixels per side below which there is no detail to align (8x8 digits all
#                           correlate once upscaled: 3,705 "aligned" pairs among 1,797 digits)
CHUNK = 4096              # images or pairs per batch: bounded memory
IVF_MIN_N, NPROBE = 60_000, 16  # approximate retrieval beyond IVF_MIN_N descriptors


@dataclass(frozen=True)
class Matches:
    """Candidate or verified pairs a < b: the retrieval similarity, the alignment found (vertical
    and horizontal zoom of the moving image against the fixed one, mirror of the fixed one, shift
    in pixels of WORK_SIZE) and the verification's grey-level and fine-detail NCC and the weaker
    axis's gradient NCC (NaN until verified). `moving_is_b` says which image moves; a zoom below 1
    on an axis is applied to the fixed image instead, as its inverse."""
    a: np.ndarray
    b: np.ndarray
    similarity: np.ndarray
    zoom: np.ndarray
    zoom_x: np.ndarray
    mirror: np.ndarray
    moving_is_b: np.ndarray
    score: np.ndarray
    detail: np.ndarray
    axes: np.ndarray
    dy: np.ndarray
    dx: np.ndarray

    def __len__(self) -> int:
        return len(self.a)

    @property
    def decision(self) -> np.ndarray:
        """The score compared with dedup.aligned_threshold: the detail NCC, at most AXES_MARGIN
        above the weaker axis's gradient NCC (see the module's docstring). Pairs below REFINE_MIN
        are not refined and have no axes (NaN): their score is their detail NCC."""
        return np.fmin(self.detail, self.axes + AXES_MARGIN)

    def take(self, index) -> Matches:
        return Matches(*(getattr(self, f)[index] for f in self.__dataclass_fields__))


# ---------------------------------------------------------------- preparation

def _resize_matrix(n_in: int, n_out: int, zoom: float = 1.0) -> np.ndarray:
    """(n_out, n_in) linear-interpolation matrix sampling the central n_in/zoom pixels; rows
    average several inputs when shrinking (area weights), so downsizing does not alias."""
    scale = n_in / (n_out * zoom)
    centres = (np.arange(n_out) + 0.5) * scale + (n_in - n_in / zoom) / 2 - 0.5
    if scale <= 1:
        lo = np.clip(np.floor(centres).astype(int), 0, n_in - 1)
        hi = np.clip(lo + 1, 0, n_in - 1)
        w = np.clip(centres - lo, 0, 1)
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), lo] += 1 - w
        m[np.arange(n_out), hi] += w
        return m
    edges = np.arange(n_in + 1)[None, :]
    left, right = centres[:, None] + 0.5 - scale / 2, centres[:, None] + 0.5 + scale / 2
    m = np.clip(np.minimum(edges[:, 1:], right) - np.maximum(edges[:, :-1], left), 0, None)
    return m / m.sum(1, keepdims=True)


def grey_planes(images: np.ndarray, zoom: float | tuple = 1.0, colour: bool = False) -> np.ndarray:
    """float32 (N, S, S) grey levels (or (N, 3, S, S) colour planes) at WORK_SIZE, zoomed (by one
    factor, or by a (vertical, horizontal) pair)."""
    zy, zx = zoom if isinstance(zoom, tuple) else (zoom, zoom)
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    x = x.astype(np.float32)
    if not colour or x.shape[-1] == 1:
        # channel by channel: numpy averages a trailing axis of 3 five times slower (40 s of a
        # 60,000-image run); the sums are the same
        x = (sum(x[..., k] for k in range(x.shape[-1])) / x.shape[-1])[..., None]
    planes = np.moveaxis(x, -1, 1)  # (N, C, H, W)
    h, w = planes.shape[-2:]
    if (h, w) != (WORK_SIZE, WORK_SIZE) or (zy, zx) != (1, 1):
        rows = _resize_matrix(h, WORK_SIZE, zy).astype(np.float32)
        cols = _resize_matrix(w, WORK_SIZE, zx).astype(np.float32)
        planes = rows @ planes @ cols.T
    return np.ascontiguousarray(planes if colour else planes[:, 0])


# ---------------------------------------------------------------- 1. retrieval

_WINDOW = np.hanning(WORK_SIZE + 2)[1:-1].astype(np.float32)


def spectrum_descriptors(planes: np.ndarray) -> np.ndarray:
    """(N, D) unit vectors: log-magnitudes of the lowest FREQS frequencies of (N, C, S, S) planes."""
    x = planes - planes.mean((-2, -1), keepdims=True).mean(1, keepdims=True)
    x = x / (x.reshape(len(x), -1).std(1)[:, None, None, None] + 1e-3)
    f = np.abs(sfft.rfft2(x * (_WINDOW[:, None] * _WINDOW[None, :]), workers=-1))
    f = np.concatenate([f[..., :FREQS + 1, :FREQS + 1], f[..., -FREQS:, :FREQS + 1]], axis=-2)
    d = np.log1p(f).reshape(len(x), -1)
    d -= d.mean(1, keepdims=True)
    return (d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-6)).astype(np.float32)


def describe(images: np.ndarray, rows: np.ndarray, zoom: float = 1.0, mirror: bool = False):
    """Descriptors of images[rows], CHUNK at a time: (offset in rows, (m, D) array) pairs. Only a chunk
    of images is copied at once, and nothing holds every descriptor but the index."""
    for s in range(0, len(rows), CHUNK):
        p = grey_planes(images[rows[s:s + CHUNK]], zoom, colour=True)
        yield s, spectrum_descriptors(p[..., ::-1] if mirror else p)


def retrieve(images: np.ndarray, k: int, skip: np.ndarray | None = None, progress: bool = False) -> Matches:
    """Candidate pairs: each image's (and its mirror image's) k nearest descriptors over all images
    at all ZOOMS; one row per unordered pair (the most similar)."""
    n = len(images)
    keep = np.flatnonzero(~skip) if skip is not None else np.arange(n)
    if len(keep) < 2:
        return _empty()
    index = _index(images, keep)
    qa, qb, sim, zoom, mirror = [], [], [], [], []
    for m in (False, True):
        chunks = describe(images, keep, mirror=m)
        if progress:
            from tqdm import tqdm

            chunks = tqdm(chunks, desc=f"aligned retrieval{' (mirrored)' if m else ''}", total=-(-len(keep) // CHUNK),
                          unit_scale=CHUNK, disable=None)
        for s, q in chunks:
            d, i = index.search(q, k + len(ZOOMS))
            rows = np.repeat(np.arange(s, s + len(d)), d.shape[1])
            i, d = i.ravel(), d.ravel()
            j = i % len(keep)
            ok = (i >= 0) & (j != rows)
            qa.append(keep[rows[ok]]), qb.append(keep[j[ok]]), sim.append(d[ok])
            zoom.append(np.asarray(ZOOMS)[i[ok] // len(keep)]), mirror.append(np.full(ok.sum(), m))
    qa, qb, sim, zoom, mirror = (np.concatenate(x) for x in (qa, qb, sim, zoom, mirror))
    # query qa (mirrored or not) matched qb zoomed: qb is the moving image
    a, b = np.minimum(qa, qb), np.maximum(qa, qb)
    order = np.lexsort((-sim, b, a))
    a, b, sim, zoom, mirror, moving_b = a[order], b[order], sim[order], zoom[order], mirror[order], (qb > qa)[order]
    first = np.ones(len(a), bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    nan = np.full(first.sum(), np.nan)
    return Matches(a[first], b[first], sim[first], zoom[first], zoom[first], mirror[first], moving_b[first], nan, nan,
                   nan, np.zeros(first.sum(), np.int64), np.zeros(first.sum(), np.int64))


def _empty() -> Matches:
    i, f = np.zeros(0, np.int64), np.zeros(0)
    return Matches(i, i, f, f, f, np.zeros(0, bool), np.zeros(0, bool), f, f, f, i, i)


def _index(images: np.ndarray, keep: np.ndarray):
    """The descriptors of images[keep] at every zoom (entry z * len(keep) + j: image keep[j] at ZOOMS[z]).
    Exact inner-product search for small sets; beyond IVF_MIN_N descriptors, 2 sqrt(n) inverted
    lists probing NPROBE of them. Approximate: on CIFAR-10's 60,000 images, NPROBE 16 retrieves
    97.5 % of the aligned pairs (detail >= 0.6) that 64 probes retrieve, in a fifth of the time;
    PCA to 64 dimensions first lost up to 30 pp of recall on planted copies."""
    m = len(keep)
    n, d = m * len(ZOOMS), next(describe(images, keep[:1]))[1].shape[1]
    if n < IVF_MIN_N:
        index = faiss.IndexFlatIP(d)
    else:
        nlist = int(2 * math.sqrt(n))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(n, size=min(n, 40 * nlist), replace=False)
        train = np.empty((len(sample), d), np.float32)
        for z, zoom in enumerate(ZOOMS):  # the sampled entries, described where they fall
            at = np.flatnonzero(sample // m == z)
            for s, x in describe(images, keep[sample[at] % m], zoom):
                train[at[s:s + len(x)]] = x
        index.train(train)
        index.nprobe = NPROBE
    for zoom in ZOOMS:
        for _, x in describe(images, keep, zoom):
            index.add(x)
    return index


# ---------------------------------------------------------------- 2. verification

def _box_sums(x: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Sums of (P, S, S) x over the squares spans[i] x spans[j] (each a (start, stop) pair of rows,
    then of columns), for every i, j at once: (P, T, T), by running sums along each axis in turn."""
    p, s, _ = x.shape
    run = np.zeros((p, s + 1, s), np.float64)
    np.cumsum(x, axis=1, dtype=np.float64, out=run[:, 1:])
    rows = run[:, spans[:, 1]] - run[:, spans[:, 0]]                  # (P, T, S)
    run = np.zeros((p, len(spans), s + 1), np.float64)
    np.cumsum(rows, axis=2, out=run[..., 1:])
    return run[..., spans[:, 1]] - run[..., spans[:, 0]]              # (P, T, T)


def _ncc_all_shifts(fixed: np.ndarray, moving: np.ndarray, max_shift: int = MAX_SHIFT) -> tuple[np.ndarray, ...]:
    """Best NCC over shifts |dy|, |dx| <= max_shift of (P, S, S) image pairs, and that shift.

    For a shift t the overlap pairs fixed(y + t) with moving(y). Its cross sum, for all shifts,
    is one FFT correlation padded just enough not to wrap; the other sums (of each image and its
    square over its part of the overlap) come from integral images.
    """
    p, s, _ = fixed.shape
    if p == 0:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    size = s + max_shift
    f, m = fixed.astype(np.float32), moving.astype(np.float32)
    cross = sfft.irfft2(sfft.rfft2(f, s=(size, size), workers=-1)
                        * np.conj(sfft.rfft2(m, s=(size, size), workers=-1)), s=(size, size), workers=-1)
    t = np.arange(-max_shift, max_shift + 1)
    sfm = cross[np.ix_(np.arange(p), t % size, t % size)].astype(np.float64)
    fixed_span = np.stack([np.maximum(0, t), s + np.minimum(0, t)], 1)   # rows (or cols) of fixed
    moving_span = np.stack([np.maximum(0, -t), s - np.maximum(0, t)], 1)  # and of moving
    sf, sff = (_box_sums(x, fixed_span) for x in (f, f * f))
    sm, smm = (_box_sums(x, moving_span) for x in (m, m * m))
    n = np.outer(fixed_span[:, 1] - fixed_span[:, 0], fixed_span[:, 1] - fixed_span[:, 0])[None]
    cov = sfm - sf * sm / n
    var = np.maximum(sff - sf * sf / n, 0) * np.maximum(smm - sm * sm / n, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ncc = np.where((n >= MIN_OVERLAP * s * s) & (var > 1e-6), cov / np.sqrt(var), -1.0)
    flat = ncc.reshape(p, -1)
    best = flat.argmax(1)
    return flat[np.arange(p), best], t[best // len(t)], t[best % len(t)]


def _detail(x: np.ndarray, size: int = 5) -> np.ndarray:
    """High-pass (P, S, S) planes: each pixel minus its size x size neighbourhood mean. Large-scale
    layout (a horizon, a bright centre) makes unrelated photos correlate; fine detail does not."""
    from scipy.ndimage import uniform_filter

    return x - uniform_filter(x, size=(1, size, size), mode="nearest")


def _ncc_at(fixed: np.ndarray, moving: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """NCC of each pair over its overlap at the given shift (fixed(y + t) against moving(y))."""
    s = fixed.shape[-1]
    out = np.zeros(len(fixed))
    for ty, tx in set(zip(dy.tolist(), dx.tolist())):
        sel = np.flatnonzero((dy == ty) & (dx == tx))
        f = fixed[sel, max(0, ty):s + min(0, ty), max(0, tx):s + min(0, tx)].reshape(len(sel), -1)
        m = moving[sel, max(0, -ty):s - max(0, ty), max(0, -tx):s - max(0, tx)].reshape(len(sel), -1)
        f = f - f.mean(1, keepdims=True)
        m = m - m.mean(1, keepdims=True)
        den = np.sqrt((f * f).sum(1) * (m * m).sum(1))
        out[sel] = np.where(den > 1e-6, (f * m).sum(1) / np.maximum(den, 1e-6), -1.0)
    return out


def _planes(images: np.ndarray, fixed_id, moving_id, mirror, zoom, zoom_x) -> tuple[np.ndarray, np.ndarray]:
    """(P, S, S) grey planes of each pair: the moving image zoomed, or the fixed one, by the inverse,
    on an axis whose zoom is below 1 (so neither frame shows more than its image); the fixed one
    mirrored where mirror is set."""
    fixed = np.empty((len(fixed_id), WORK_SIZE, WORK_SIZE), np.float32)
    moving = np.empty_like(fixed)
    for zy, zx in set(zip(zoom.tolist(), zoom_x.tolist())):
        sel = (zoom == zy) & (zoom_x == zx)
        fixed[sel] = grey_planes(images[fixed_id[sel]], (1 / min(zy, 1), 1 / min(zx, 1)))
        moving[sel] = grey_planes(images[moving_id[sel]], (max(zy, 1), max(zx, 1)))
    fixed[mirror] = fixed[mirror][..., ::-1]
    return fixed, moving


def _align(images: np.ndarray, fixed_id, moving_id, mirror, zoom, zoom_x,
           coarse: bool = False) -> tuple[np.ndarray, ...]:
    """(grey NCC, detail NCC, dy, dx) of each pair at its best shift (see _planes for the zoom).
    coarse: at half resolution (a quarter of the pixels, half the shifts), as a first filter."""
    fixed, moving = _planes(images, fixed_id, moving_id, mirror, zoom, zoom_x)
    if coarse:
        fixed, moving = (x.reshape(len(x), WORK_SIZE // 2, 2, WORK_SIZE // 2, 2).mean((2, 4)) for x in (fixed, moving))
    score, dy, dx = _ncc_all_shifts(fixed, moving, MAX_SHIFT // 2 if coarse else MAX_SHIFT)
    detail = _ncc_at(_detail(fixed, 3 if coarse else 5), _detail(moving, 3 if coarse else 5), dy, dx)
    return score, detail, dy, dx


def _axes(images: np.ndarray, fixed_id, moving_id, mirror, zoom, zoom_x, dy, dx) -> np.ndarray:
    """The weaker of the NCCs of the fine detail's vertical and of its horizontal gradients, each
    pair aligned as given: low where the detail agrees along one axis only."""
    fixed, moving = (_detail(x) for x in _planes(images, fixed_id, moving_id, mirror, zoom, zoom_x))
    return np.minimum(*(_ncc_at(np.gradient(fixed, axis=k), np.gradient(moving, axis=k), dy, dx) for k in (1, 2)))


def verify(images: np.ndarray, cand: Matches, progress: bool = False) -> Matches:
    """Align every candidate pair, in two passes: at half resolution first, at the zoom retrieval
    found and, where that is not 1, at zoom 1 too (retrieval's zoom is the nearest of three, and a
    shifted copy can meet a zoomed descriptor first); then at full resolution, at the better of
    the two zooms, only the pairs whose coarse fine-detail correlation reaches COARSE_MIN. Pairs
    below it keep their coarse figures (shifts doubled to full-resolution pixels). No axes (NaN):
    refine() measures them, once per pair."""
    out = {f: np.zeros(len(cand)) for f in ("score", "detail")}
    out.update(dy=np.zeros(len(cand), np.int64), dx=np.zeros(len(cand), np.int64), zoom=cand.zoom.copy(),
               zoom_x=cand.zoom_x.copy())
    starts = range(0, len(cand), CHUNK)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="aligned verification", unit_scale=CHUNK, disable=None)
    for s in starts:
        c = cand.take(slice(s, s + CHUNK))
        fixed_id = np.where(c.moving_is_b, c.a, c.b)
        moving_id = np.where(c.moving_is_b, c.b, c.a)
        zoom, zoom_x = c.zoom.copy(), c.zoom_x.copy()
        first = list(_align(images, fixed_id, moving_id, c.mirror, zoom, zoom_x, coarse=True))
        zoomed = np.flatnonzero((zoom != 1) | (zoom_x != 1))
        one = np.ones(len(zoomed))
        plain = _align(images, fixed_id[zoomed], moving_id[zoomed], c.mirror[zoomed], one, one, coarse=True)
        better = plain[1] > first[1][zoomed]
        for k in range(4):
            first[k][zoomed[better]] = plain[k][better]
        zoom[zoomed[better]], zoom_x[zoomed[better]] = 1.0, 1.0
        first[2], first[3] = first[2] * 2, first[3] * 2
        go = np.flatnonzero(first[1] >= COARSE_MIN)
        full = _align(images, fixed_id[go], moving_id[go], c.mirror[go], zoom[go], zoom_x[go])
        for k, name in enumerate(("score", "detail", "dy", "dx")):
            first[k][go] = full[k]
            out[name][s:s + CHUNK] = first[k]
        out["zoom"][s:s + CHUNK], out["zoom_x"][s:s + CHUNK] = zoom, zoom_x
    return Matches(cand.a, cand.b, cand.similarity, out["zoom"], out["zoom_x"], cand.mirror, cand.moving_is_b,
                   out["score"], out["detail"], np.full(len(cand), np.nan), out["dy"], out["dx"])


_STEPS = [(REFINE_STEP, 1.0), (1 / REFINE_STEP, 1.0), (1.0, REFINE_STEP), (1.0, 1 / REFINE_STEP)]


def refine(images: np.ndarray, m: Matches) -> Matches:
    """The pairs whose detail correlates at REFINE_MIN or more, with each axis's zoom refined
    (_climb) and their axes measured; the others as they are (axes NaN)."""
    m = m.take(np.arange(len(m)))  # a copy: updated in place below
    todo = np.flatnonzero(m.detail >= REFINE_MIN)
    for s in range(0, len(todo), CHUNK):
        rows = todo[s:s + CHUNK]
        fixed_id = np.where(m.moving_is_b[rows], m.a[rows], m.b[rows])
        moving_id = np.where(m.moving_is_b[rows], m.b[rows], m.a[rows])
        pair = (fixed_id, moving_id, m.mirror[rows])
        found = [m.score[rows], m.detail[rows], m.dy[rows], m.dx[rows]]
        zoom, zoom_x = m.zoom[rows], m.zoom_x[rows]
        _climb(images, *pair, zoom, zoom_x, found)
        for name, x in zip(("score", "detail", "dy", "dx", "zoom", "zoom_x"), found + [zoom, zoom_x]):
            getattr(m, name)[rows] = x
        m.axes[rows] = _axes(images, *pair, zoom, zoom_x, found[2], found[3])
    return m


def _climb(images: np.ndarray, fixed_id, moving_id, mirror, zoom, zoom_x, found: list) -> None:
    """Hill-climb each pair's (vertical, horizontal) zoom: try one axis's zoom a REFINE_STEP up or
    down (4 neighbours; half the cost of 8 with diagonals, and as good on the tuning half of the
    labelled pairs), move to the best if its detail correlates better, and go on with the pairs
    that moved, for REFINE_ROUNDS rounds. Updates zoom, zoom_x and found (_align's outputs)."""
    active = np.arange(len(fixed_id))
    for _ in range(REFINE_ROUNDS):
        zy0, zx0 = zoom[active], zoom_x[active]
        moved = np.zeros(len(active), bool)
        for fy, fx in _STEPS:
            zy, zx = zy0 * fy, zx0 * fx
            ok = np.flatnonzero(np.maximum(np.abs(np.log(zy)), np.abs(np.log(zx))) <= np.log(REFINE_LIMIT))
            idx = active[ok]
            got = _align(images, fixed_id[idx], moving_id[idx], mirror[idx], zy[ok], zx[ok])
            better = got[1] > found[1][idx]
            for k in range(4):
                found[k][idx[better]] = got[k][better]
            zoom[idx[better]], zoom_x[idx[better]] = zy[ok][better], zx[ok][better]
            moved[ok[better]] = True
        active = active[moved]


def hypotheses(a: np.ndarray, b: np.ndarray) -> Matches:
    """Every alignment to try for pairs no retrieval proposed (found by a hash): each zoom of ZOOMS
    applied to either image, mirrored or not; ten rows per pair."""
    rows = [(z, m, mb) for m in (False, True) for z in ZOOMS for mb in ((True,) if z == 1 else (True, False))]
    z, m, mb = (np.repeat(np.asarray(col)[None], len(a), 0).ravel() for col in zip(*rows))
    a, b = np.repeat(np.asarray(a, np.int64), len(rows)), np.repeat(np.asarray(b, np.int64), len(rows))
    nan, zero = np.full(len(a), np.nan), np.zeros(len(a), np.int64)
    return Matches(a, b, nan, z.astype(float), z.astype(float), m.astype(bool), mb.astype(bool), nan, nan, nan,
                   zero, zero)


def best_per_pair(m: Matches) -> Matches:
    """One row per (a, b): the alignment whose fine detail correlates best; sorted by (a, b)."""
    order = np.lexsort((-m.detail, m.b, m.a))
    m = m.take(order)
    first = np.ones(len(m), bool)
    first[1:] = (m.a[1:] != m.a[:-1]) | (m.b[1:] != m.b[:-1])
    return m.take(first)


def verified(images: np.ndarray, k: int = 3, skip: np.ndarray | None = None, also: tuple | None = None,
             progress: bool = False, seconds: dict | None = None) -> Matches:
    """Every candidate pair scored, one row per pair (a < b): the retrieval's candidates, plus the
    pairs `also` = (a, b) names (a hash's, tried under every alignment of `hypotheses`). Images
    where skip is True (flat ones: see flat.py) and those with too little detail (low_detail) are
    left out: their pairs are not scored. The seconds of each step go into
    `seconds`."""
    if too_small(images):
        return _empty()
    t = time.perf_counter()
    skip = low_detail(images) | (skip if skip is not None else False)
    cand = retrieve(images, k, skip=skip, progress=progress)
    if also is not None and len(also[0]):
        a, b = np.minimum(*also), np.maximum(*also)
        keep = ~(skip[a] | skip[b])
        extra = hypotheses(a[keep], b[keep])
        cand = Matches(*(np.concatenate([getattr(cand, f), getattr(extra, f)]) for f in Matches.__dataclass_fields__))
    t_retrieve = time.perf_counter() - t
    scored = refine(images, best_per_pair(verify(images, cand, progress=progress)))
    if seconds is not None:
        seconds["aligned_retrieval"], seconds["aligned_verification"] = t_retrieve, time.perf_counter() - t - t_retrieve
    return scored


def find(images: np.ndarray, threshold: float, k: int = 3, skip: np.ndarray | None = None,
         progress: bool = False) -> Matches:
    """Aligned duplicate pairs (decision score >= threshold) among the retrieval's candidates."""
    scored = verified(images, k, skip, progress=progress)
    return scored.take(scored.decision >= threshold)


def low_detail(images: np.ndarray) -> np.ndarray:
    """True for images whose fine detail (see _detail) has a standard deviation below DETAIL_MIN:
    too little to tell a copy from a look-alike, so they are left out of alignment."""
    out = np.zeros(len(images), bool)
    for s in range(0, len(images), CHUNK):
        out[s:s + CHUNK] = _detail(grey_planes(images[s:s + CHUNK])).reshape(-1, WORK_SIZE ** 2).std(1) < DETAIL_MIN
    return out


def too_small(images: np.ndarray) -> str | None:
    """Why these images cannot be aligned, or None when they can."""
    h, w = np.asarray(images).shape[1:3]
    if min(h, w) < MIN_SOURCE:
        return f"images are {h}x{w} pixels; aligning needs at least {MIN_SOURCE} per side"
    return None


def describe_alignment(m: Matches) -> np.ndarray:
    """Each pair's aligning transform in words, b against a: "zoom 1.12 mirror shift -3,2" is b's
    frame zoomed in 1.12x, mirrored, and sitting 3 px above and 2 px right of a's (in pixels of a
    WORK_SIZE frame); "zoom 1.12,1.06" zooms b's frame 1.12x vertically and 1.06x horizontally."""
    sign = np.where(m.moving_is_b, 1, -1)
    out = []
    for zy, zx, mirror, mb, dy, dx in zip(m.zoom, m.zoom_x, m.mirror, sign, m.dy, m.dx):
        # b zoomed by z matched a: b is a zoomed out
        zy, zx = (f"{1 / z:.2f}" if mb > 0 else f"{z:.2f}" for z in (float(zy), float(zx)))
        words = [] if zy == zx == "1.00" else [f"zoom {zy}" if zy == zx else f"zoom {zy},{zx}"]
        out.append(" ".join(words + (["mirror"] if mirror else []) + [f"shift {int(dy) * mb},{int(dx) * mb}"]))
    return np.asarray(out, dtype=object)
