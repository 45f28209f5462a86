"""Exact Hamming radius search over packed binary codes, in chunks (no N x N matrix).

Two back ends, both exact:
* 'flat'      FAISS IndexBinaryFlat: brute force, N*M popcounts; queries go in chunks so memory
              stays linear in N.
* 'multihash' multi-index hashing (multiindex.py): the code is cut into nhash disjoint substrings
              of b bits and each query probes every bucket within nflip bit flips of its own
              substrings. With nhash * (nflip + 1) > threshold this is exact (pigeonhole: a pair
              within `threshold` bits differs in at most nflip bits on at least one substring);
              each candidate's full distance is then checked. For 64-bit codes at threshold 4
              the layout is 3 tables of 21 bits with 1 flip.
'auto' estimates both costs (see multihash_layout) and takes the cheaper back end.

FAISS range_search returns distances strictly below the radius, so we pass threshold + 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np

from . import multiindex
from .hashing import hamming

MAX_MULTIHASH_BITS = multiindex.MAX_TABLE_BITS
# Measured on the 2-core box (numpy 2.4, faiss 1.15): one multihash probe (a query's key, or one
# of its flipped keys, in one table) costs about 75 ns and one candidate check about 25 ns;
# IndexBinaryFlat compares about 1.5e9 64-bit codes per second per core (0.6 ns).
CANDIDATE_COST = 0.33          # in units of one probe
FLAT_COST_PER_CODE64 = 0.008   # in units of one probe
DEFAULT_CHUNK = 16384


def _as_codes(codes: np.ndarray) -> np.ndarray:
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if codes.ndim != 2:
        raise ValueError(f"codes must be (N, nbytes), got {codes.shape}")
    return codes


def multihash_layout(nbits: int, threshold: int, n_db: int, force: bool = False) -> tuple[int, int, int] | None:
    """(nhash, bits per table, nflip) for an exact multihash search, or None when flat is cheaper.

    Per query: probes = nhash * sum_{k<=nflip} C(b, k) buckets, holding about probes * n_db / 2**b
    random codes to check. Flat checks all n_db codes at a fraction of the price each.
    """
    best, best_cost = None, float("inf")
    for nflip in range(4):
        nhash = threshold // (nflip + 1) + 1   # smallest nhash with nhash * (nflip + 1) > threshold
        b = min(nbits // nhash, MAX_MULTIHASH_BITS)
        if b < 1 or nflip > b:
            continue
        probes = nhash * sum(math.comb(b, k) for k in range(nflip + 1))
        cost = probes * (1 + CANDIDATE_COST * n_db / 2.0 ** b)
        if cost < best_cost:
            best, best_cost = (nhash, b, nflip), cost
    flat_cost = n_db * FLAT_COST_PER_CODE64 * nbits / 64
    return best if force or best_cost < flat_cost else None


def method_name(nbits: int, threshold: int, n: int, dihedral: bool = False) -> str:
    """The back end 'auto' takes in self_pairs over n codes (with dihedral, 8 codes per image are the db)."""
    return "multihash" if multihash_layout(nbits, threshold, n * (8 if dihedral else 1)) else "flat"


def _chunks(n: int, chunk: int, progress: bool, desc: str):
    starts = range(0, n, chunk)
    if progress:
        from tqdm import tqdm

        return tqdm(starts, desc=desc, unit_scale=chunk, disable=None)
    return starts


def radius_search(queries: np.ndarray, db: np.ndarray, threshold: int, method: str = "auto",
                  chunk: int = DEFAULT_CHUNK, progress: bool = False):
    """All (query_idx, db_idx, distance) with Hamming distance <= threshold, sorted by (query, db)."""
    queries, db = _as_codes(queries), _as_codes(db)
    if queries.shape[1] != db.shape[1]:
        raise ValueError("queries and db codes differ in length")
    if method not in ("auto", "flat", "multihash"):
        raise ValueError(f"unknown search method {method!r}")
    nbits = db.shape[1] * 8
    layout = None if method == "flat" else multihash_layout(nbits, threshold, len(db), force=method == "multihash")
    if layout:
        q, d, h = multiindex.range_search(queries, db, threshold, layout, chunk, progress)
    else:
        q, d, h = _flat_search(queries, db, threshold, chunk, progress)
    order = np.lexsort((d, q))
    return q[order], d[order], h[order]


def _flat_search(queries: np.ndarray, db: np.ndarray, threshold: int, chunk: int, progress: bool):
    index = faiss.IndexBinaryFlat(db.shape[1] * 8)
    index.add(db)
    qs, ds, dist = [], [], []
    for s in _chunks(len(queries), chunk, progress, "hash search"):
        lims, d, i = index.range_search(queries[s:s + chunk], threshold + 1)
        qs.append(s + np.repeat(np.arange(len(lims) - 1, dtype=np.int64), np.diff(lims).astype(np.int64)))
        ds.append(i.astype(np.int64))
        dist.append(d.astype(np.int64))
    if not qs:
        return (np.zeros(0, np.int64),) * 3
    return np.concatenate(qs), np.concatenate(ds), np.concatenate(dist)


def _min_per_pair(q, d, dist, t):
    """Keep one row per (q, d): the smallest distance, then the smallest transform index."""
    order = np.lexsort((t, dist, d, q))
    q, d, dist, t = q[order], d[order], dist[order], t[order]
    first = np.ones(len(q), bool)
    first[1:] = (q[1:] != q[:-1]) | (d[1:] != d[:-1])
    return q[first], d[first], dist[first], t[first]


def dihedral_search(query_variants: np.ndarray, db: np.ndarray, threshold: int, method: str = "auto",
                    chunk: int = DEFAULT_CHUNK, progress: bool = False):
    """Every flip/rotation of each query against the db's identity codes.

    query_variants: (Nq, 8, nbytes) from hashing.dihedral_codes; db: (Nd, nbytes).
    Returns (query_idx, db_idx, min distance, transform index of that min; identity wins ties).

    The same pairs come from one search with the variants as the database and the db's codes as
    the queries: Nd probes rather than 8 * Nq, which is what multihash spends its time on.
    """
    query_variants, db = np.asarray(query_variants), _as_codes(db)
    nq, nt, nbytes = query_variants.shape
    d, k, dist = radius_search(db, query_variants.reshape(nq * nt, nbytes), threshold, method=method, chunk=chunk,
                               progress=progress)
    return _min_per_pair(k // nt, d, dist, k % nt)


@dataclass
class Pairs:
    """Unordered pairs a < b within the threshold over one set of codes, sorted by (a, b)."""
    a: np.ndarray
    b: np.ndarray
    distance: np.ndarray           # best distance (over transforms when dihedral)
    transform: np.ndarray          # hashing.TRANSFORMS index giving that distance (0 = identity)
    identity_distance: np.ndarray  # plain distance between the two identity codes

    def __len__(self) -> int:
        return len(self.a)


def self_pairs(codes: np.ndarray, threshold: int, variants: np.ndarray | None = None, method: str = "auto",
               chunk: int = DEFAULT_CHUNK, progress: bool = False) -> Pairs:
    """All unordered pairs of one code set within `threshold` bits, without an N x N matrix.

    Without variants the plain Hamming distance is symmetric, so the flat back end only
    searches each query chunk against the codes at or after it (half the work).
    With variants (N, 8, nbytes) a pair's distance is the min over transforms and over both
    directions (T(i) vs j and T(j) vs i), so the result does not depend on which id is lower.
    """
    codes = _as_codes(codes)
    n = len(codes)
    if variants is None:
        if method == "flat" or (method == "auto" and multihash_layout(codes.shape[1] * 8, threshold, n) is None):
            qa, qb, qd = [], [], []
            for s in _chunks(n, chunk, progress, "hash search"):
                q, d, dist = radius_search(codes[s:s + chunk], codes[s:], threshold, method="flat", chunk=chunk)
                qa.append(q + s), qb.append(d + s), qd.append(dist)
            a, b, dist = (np.concatenate(x) if x else np.zeros(0, np.int64) for x in (qa, qb, qd))
        else:
            a, b, dist = radius_search(codes, codes, threshold, method=method, chunk=chunk, progress=progress)
        keep = a < b
        a, b, dist = a[keep], b[keep], dist[keep]
        return Pairs(a, b, dist, np.zeros(len(a), np.int64), dist.copy())
    q, d, dist, t = dihedral_search(variants, codes, threshold, method=method, chunk=chunk, progress=progress)
    keep = q != d
    q, d, dist, t = q[keep], d[keep], dist[keep], t[keep]
    a, b = np.minimum(q, d), np.maximum(q, d)
    a, b, dist, t = _min_per_pair(a, b, dist, t)
    return Pairs(a, b, dist, t, hamming(codes[a], codes[b]))
