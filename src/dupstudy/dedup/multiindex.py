"""Exact Hamming range search by multi-index hashing, in numpy.

The code is cut into nhash disjoint substrings (tables) of b bits. A pair within `threshold` bits
differs in at most nflip bits on at least one table when nhash * (nflip + 1) > threshold
(pigeonhole), so probing, in every table, each query's own key and every key within nflip bit
flips of it finds every such pair; each candidate's full distance is then checked.

Each table is a bucket array addressed by the key itself (a counting sort of the database:
the codes with key k sit at positions starts[k]:starts[k + 1] of the sorted copy), so a probe is
two array reads rather than a hash-map lookup, and all the probes of a chunk of queries, with
every flipped key, are expanded and checked as a few whole-array operations. Tables are built
and searched one at a time, so memory holds one table (the sorted codes, their ids and the
2**b + 1 bucket starts) beside the candidates of one chunk.

Perceptual hashes are not uniform bit strings: phash's first bit (the DC term) is always 1 and
neighbouring bits are correlated, so contiguous substrings would crowd into few buckets. The
bits each table reads are drawn by a fixed random permutation of the bit positions, which leaves
every Hamming distance unchanged and spreads that structure over all tables.
"""

from __future__ import annotations

import itertools

import numpy as np

from .hashing import popcount

MAX_TABLE_BITS = 22  # bucket starts of 2**22 + 1 int64 (32 MiB); a wider substring keys on its first 22 bits
CHUNK_CANDIDATES = 1 << 23  # candidates checked at once (about 200 MiB of temporaries)


def _key_tables(nbits: int, nhash: int, b: int, seed: int = 0) -> np.ndarray:
    """lut[k, j, v]: the bits of byte value v at byte j that table k reads, at their place in k's key."""
    position = np.empty(nbits, np.int64)
    position[np.random.default_rng(seed).permutation(nbits)] = np.arange(nbits)
    bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.uint32)  # MSB first
    lut = np.zeros((nhash, nbits // 8, 256), np.uint32)
    for src in range(nbits):
        table, offset = divmod(int(position[src]), b)
        if table < nhash:
            lut[table, src // 8] |= bits[:, src % 8] << np.uint32(offset)
    return lut


def _keys(codes: np.ndarray, lut: np.ndarray) -> np.ndarray:
    out = np.zeros(len(codes), np.uint32)
    for j in range(codes.shape[1]):
        out |= lut[j][codes[:, j]]
    return out


def _words(codes: np.ndarray) -> np.ndarray:
    """The codes as 64-bit words (N, nbytes / 8) where numpy counts their bits, else as bytes."""
    return codes.view(np.uint64) if codes.shape[1] % 8 == 0 and hasattr(np, "bitwise_count") else codes


def _masks(b: int, nflip: int) -> np.ndarray:
    """Every b-bit mask with at most nflip bits set, 0 first."""
    return np.array([sum(1 << i for i in bits) for k in range(nflip + 1)
                     for bits in itertools.combinations(range(b), k)], np.uint32)


def range_search(queries: np.ndarray, db: np.ndarray, threshold: int, layout: tuple[int, int, int],
                 chunk: int, progress: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (query index, db index, distance) within `threshold` bits, unsorted, each pair once.

    queries, db: contiguous uint8 (N, nbytes); layout: (nhash, b, nflip) with nhash * (nflip + 1) >
    threshold; chunk: queries expanded at once (fewer when their candidates pass CHUNK_CANDIDATES)."""
    nhash, b, nflip = layout
    if nhash * (nflip + 1) <= threshold:
        raise ValueError(f"layout {layout} cannot find every pair within {threshold} bits")
    b = min(b, MAX_TABLE_BITS)
    lut = _key_tables(db.shape[1] * 8, nhash, b)
    masks = _masks(b, nflip)
    qwords, dwords = _words(queries), _words(db)
    found_q, found_d, found_h = [], [], []
    bar = _bar(nhash * len(queries), progress)
    for table in range(nhash):
        dkeys = _keys(db, lut[table])
        order = np.argsort(dkeys, kind="stable")
        starts = np.zeros((1 << b) + 1, np.int64)
        np.cumsum(np.bincount(dkeys, minlength=1 << b), out=starts[1:])
        del dkeys
        codes, ids = dwords[order], order
        for s in range(0, len(queries), chunk):
            qkeys = _keys(queries[s:s + chunk], lut[table])
            for q, pos in _candidates(qkeys, masks, starts):
                q += s
                dist = popcount(codes[pos] ^ qwords[q]).sum(axis=1, dtype=np.int64)
                hit = dist <= threshold
                found_q.append(q[hit]), found_d.append(ids[pos[hit]]), found_h.append(dist[hit])
            bar.update(len(qkeys))
    bar.close()
    if not found_q:
        return (np.zeros(0, np.int64),) * 3
    q, d, h = (np.concatenate(x) for x in (found_q, found_d, found_h))
    # a pair close on several tables is found once per table: keep one
    _, first = np.unique(q * len(db) + d, return_index=True)
    return q[first], d[first], h[first]


def _candidates(qkeys: np.ndarray, masks: np.ndarray, starts: np.ndarray):
    """(query index in the chunk, position in the sorted table) of every candidate, in pieces of at
    most CHUNK_CANDIDATES (a piece holds whole queries, so a crowded bucket may pass it)."""
    probe = (qkeys[:, None] ^ masks[None, :]).ravel()
    lo = starts[probe]
    count = starts[probe + 1] - lo
    per_query = count.reshape(len(qkeys), len(masks)).sum(axis=1)
    ends = np.cumsum(per_query)
    q0 = 0
    while q0 < len(qkeys):
        q1 = max(int(np.searchsorted(ends, (ends[q0 - 1] if q0 else 0) + CHUNK_CANDIDATES, "right")), q0 + 1)
        c = count[q0 * len(masks):q1 * len(masks)]
        total = int(c.sum())
        if total:
            first = np.cumsum(c) - c
            pos = np.arange(total, dtype=np.int64) + np.repeat(lo[q0 * len(masks):q1 * len(masks)] - first, c)
            q = np.repeat(np.arange(q0, q1, dtype=np.int64), per_query[q0:q1])
            yield q, pos
        q0 = q1


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _bar(total: int, progress: bool):
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="hash search", unit="query", unit_scale=True, disable=None)
