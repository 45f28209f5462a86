"""find_duplicates: exact + perceptual duplicates over a Prepared dataset.

Pipeline: exact checksums (file_sha256 when present, pixel_md5 always) -> perceptual hashes of
ALL images (8 dihedral variants when enabled) -> exact radius search -> one row per unordered
pair, labelled with its most specific kind and its split scope -> keeper-star groups on the
train split only (grouping.py) -> what to keep, leakage, label conflicts, per-class counts.

Pairs that touch a plain, low-information image (flat.py) are kind `flat`: listed, but neither
grouped, nor leakage, nor label conflicts.

Optional steps: semantic duplicates (settings["semantic"]: EfficientNet-Lite0 embeddings, see
embed.py) add a cosine column to every pair, confirming or not each hash pair, and add the pairs
above the cosine threshold that no hash found (kind `semantic`); a decisions CSV
(settings["decisions"], see review.py) removes the pairs a person marked keep_both and forces
those marked duplicate (kind `manual` when no method found them), before grouping.

Nothing is deleted: the result lists pairs, groups and the train ids to keep, every table naming
its images by path beside their ids (paths.py), with images.csv from id to path. Given the
dataset, save() also writes review.html (the review page, review_page.py) and review_sample.csv
(a random sample of pairs to label for a precision estimate).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_path, read_json, read_npy, write_json, write_npy, write_table
from ..params import section_defaults
from . import flat, grouping, hashing, paths, review, search

# most specific first
KINDS = ("exact_file", "exact_pixels", "flat", "near", "flip_rot", "aligned", "unaligned", "semantic", "manual")
BASE_KINDS = KINDS[:KINDS.index("flip_rot") + 1]  # always in the summary; the others only when their step runs
NEAR, FLIP_ROT = KINDS.index("near"), KINDS.index("flip_rot")
# listed in the pairs, never grouped, removed, leaked or a label conflict: a plain image's pairs
# (flat.py), and hash pairs the alignment check rejected (dedup.aligned)
LISTED_ONLY = (flat.KIND, "unaligned")
HASH_CANDIDATE_BITS = 8  # hash pairs this close are verified by alignment too (dedup.aligned)
SCOPES = ("train", "test", "train_test")
REVIEW_SAMPLE, REVIEW_SEED = 100, 0
PROGRESS_MIN_N = 20000

PAIR_COLUMNS = ["a", "b", "kind", "scope", "distance", "transform", "label_a", "label_b", "cosine",
                "aligned_score", "alignment"]
# distance: Hamming bits of the perceptual hashes for every kind; cosine: embedding similarity (NaN
# when semantic is off); aligned_score: the aligned pair's score (its fine-detail correlation, capped by
# its weaker axis's: aligned.Matches.decision) and alignment the transform that aligned them, e.g.
# "zoom 1.12 mirror shift -3,2" (NaN / "" where not verified)
GROUP_COLUMNS = ["id", "group", "is_keeper", "label_conflict"]
LEAK_COLUMNS = ["test_id", "train_id", "kind", "distance", "transform", "test_label", "train_label"]
CONFLICT_COLUMNS = ["a", "b", "scope", "kind", "distance", "label_a", "label_b", "class_a", "class_b"]
PER_CLASS_COLUMNS = ["class", "label", "train_before", "train_after", "removed"]


@dataclass(frozen=True)
class Candidates:
    """Pairs found so far, one row per unordered pair a < b, as parallel arrays: the kind (index
    into KINDS), the transform (index into hashing.TRANSFORMS), the Hamming distance and the
    embedding cosine (NaN where no embeddings were computed), and the aligned verification's score and
    transform (NaN and "" where no pair was verified)."""
    a: np.ndarray
    b: np.ndarray
    rank: np.ndarray
    transform: np.ndarray
    distance: np.ndarray
    cosine: np.ndarray
    aligned_score: np.ndarray
    alignment: np.ndarray  # object: the aligning transform's description, "" where none

    def __len__(self) -> int:
        return len(self.a)

    def key(self, n: int) -> np.ndarray:
        """One int64 per pair, for set operations against other pairs of the same n images."""
        return self.a * n + self.b

    def take(self, index) -> Candidates:
        return Candidates(*(x[index] for x in self._arrays()))

    def plus(self, other: Candidates) -> Candidates:
        """Both sets of rows, sorted by (a, b)."""
        both = Candidates(*(np.concatenate([x, y]) for x, y in zip(self._arrays(), other._arrays())))
        return both.take(np.lexsort((both.b, both.a)))

    @classmethod
    def of_kind(cls, a, b, kind: str, codes: np.ndarray) -> Candidates:
        """New pairs of one kind: identity transform, the plain Hamming distance, no cosine yet."""
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        return cls(a, b, np.full(len(a), KINDS.index(kind)), np.zeros(len(a), np.int64),
                   hashing.hamming(codes[a], codes[b]).astype(np.int64), np.full(len(a), np.nan),
                   np.full(len(a), np.nan), np.full(len(a), "", dtype=object))

    def _arrays(self) -> tuple:
        return (self.a, self.b, self.rank, self.transform, self.distance, self.cosine, self.aligned_score,
                self.alignment)


@dataclass
class DedupResult:
    pairs: pd.DataFrame            # one row per unordered pair of ids a < b (all splits)
    groups: pd.DataFrame           # train images in groups of >= 2: id, group (= keeper id), is_keeper
    kept_train_ids: np.ndarray     # int64, sorted
    leakage: pd.DataFrame          # test images with a duplicate in train
    conflicts: pd.DataFrame        # pairs whose labels differ (any scope)
    per_class: pd.DataFrame
    summary: dict = field(default_factory=dict)
    prepared: object = field(default=None, repr=False, compare=False)  # for the review page
    images: pd.DataFrame | None = field(default=None, repr=False)  # id -> path, split, label, class
    decisions: pd.DataFrame | None = field(default=None, repr=False)  # applied decisions, by path (a, b, decision)

    def save(self, out_dir: str | Path, review_files: bool = True) -> None:
        with atomic_path(out_dir, is_dir=True) as tmp:
            self.write_into(tmp, review_files)

    def write_into(self, folder: Path, review_files: bool = True) -> None:
        """Write every table into `folder`, a new folder that someone else commits (save, atomic_dirs)."""
        if review_files and self.prepared is not None:
            review.write_review(folder, self.pairs, self.prepared, self.groups, self.decisions, REVIEW_SAMPLE,
                                REVIEW_SEED)
        write_table(folder / "pairs.parquet", self.pairs)
        write_table(folder / "groups.parquet", self.groups)
        write_npy(folder / "kept_train_ids.npy", np.asarray(self.kept_train_ids, np.int64))
        write_table(folder / "leakage.parquet", self.leakage)
        write_table(folder / "conflicts.parquet", self.conflicts)
        write_table(folder / "per_class.csv", self.per_class)
        if self.images is not None:
            write_table(folder / "images.csv", self.images)
        # the decisions as applied, keyed by path: an older file that names images by id comes out as one
        # that still holds after files are added
        if self.decisions is not None:
            write_table(folder / "decisions.csv", self.decisions)
        write_json(folder / "summary.json", self.summary)


def load(out_dir: str | Path) -> DedupResult:
    out_dir = Path(out_dir)
    return DedupResult(
        pairs=pd.read_parquet(out_dir / "pairs.parquet"),
        groups=pd.read_parquet(out_dir / "groups.parquet"),
        kept_train_ids=read_npy(out_dir / "kept_train_ids.npy"),
        leakage=pd.read_parquet(out_dir / "leakage.parquet"),
        conflicts=pd.read_parquet(out_dir / "conflicts.parquet"),
        per_class=pd.read_csv(out_dir / "per_class.csv"),
        summary=read_json(out_dir / "summary.json"),
        images=(pd.read_csv(out_dir / "images.csv", dtype={"path": str, "class": str}, keep_default_na=False)
                if (out_dir / "images.csv").exists() else None),
    )


# ---------------------------------------------------------------- exact pairs

def _pairs_within(keys: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All pairs i < j with keys[i] == keys[j] (rows where valid is False are skipped)."""
    idx = np.arange(len(keys)) if valid is None else np.flatnonzero(valid)
    codes = pd.factorize(pd.Series(keys[idx]))[0]
    order = np.argsort(codes, kind="stable")
    idx, codes = idx[order], codes[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    a, b = [], []
    for run in np.split(idx, bounds):
        if len(run) > 1:
            i, j = np.triu_indices(len(run), 1)
            a.append(run[i]), b.append(run[j])
    if not a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(a).astype(np.int64), np.concatenate(b).astype(np.int64)


# ---------------------------------------------------------------- main entry

def find_duplicates(prepared, settings: dict, progress: bool | None = None) -> DedupResult:
    """Find exact and near duplicates; settings is params['dedup'] (keys it leaves out take the schema's defaults)."""
    t_start = time.perf_counter()
    s = section_defaults("dedup", settings)
    seconds = {}
    m = prepared.manifest.sort_values("id").reset_index(drop=True)
    n = len(m)
    if not np.array_equal(m["id"].to_numpy(), np.arange(n)) or len(prepared.images) != n:
        raise ValueError("manifest ids must be 0..N-1, one per row of images")
    progress = n >= PROGRESS_MIN_N if progress is None else progress
    split = m["split"].to_numpy().astype(str)
    labels = m["label"].to_numpy(np.int64)
    threshold = int(s["threshold"])

    # 1. perceptual codes of every image (the exact kinds need them too, for the distance column)
    t = time.perf_counter()
    if s["dihedral"]:
        variants = hashing.dihedral_codes(prepared.images, s["hash"], s["hash_size"], progress=progress)
        codes = np.ascontiguousarray(variants[:, 0])
    else:
        variants = None
        codes = hashing.hash_images(prepared.images, s["hash"], s["hash_size"], progress=progress)
    seconds["hash"] = time.perf_counter() - t

    # 2. near pairs over all images (both splits at once), then the exact ones
    t = time.perf_counter()
    near = search.self_pairs(codes, threshold, variants=variants, progress=progress)
    seconds["search"] = time.perf_counter() - t
    t = time.perf_counter()
    exact = []
    if s["exact"]:
        sha = m["file_sha256"].fillna("").to_numpy().astype(str)
        exact.append(_pairs_within(sha, sha != ""))                        # exact_file
        exact.append(_pairs_within(m["pixel_md5"].to_numpy().astype(str)))  # exact_pixels
    found = _merge_pairs(near, exact, codes, threshold)
    is_flat = flat.low_information(prepared.images, float(s["flat_std"]))
    seconds["pairs"] = time.perf_counter() - t
    if s["aligned"]:
        found = _aligned(prepared.images, s, codes, variants, found, is_flat, progress, seconds)
    if s["semantic"]:
        found, seconds["embed"], seconds["semantic_search"] = _semantic(prepared.images, s, codes, found, progress)
    t = time.perf_counter()
    found = replace(found, rank=flat.relabel(found.rank, found.a, found.b, is_flat, KINDS))
    n_decisions, decisions = {}, None
    if s["decisions"]:
        decisions = review.load_decisions(s["decisions"], m)
        found, n_decisions = _apply_decisions(decisions, codes, found)
    a, b = found.a, found.b
    scope = np.where(split[a] == split[b], split[a], "train_test")
    pairs = pd.DataFrame({
        "a": a, "b": b,
        "kind": np.asarray(KINDS, dtype=object)[found.rank],
        "scope": scope.astype(object),
        "distance": found.distance,
        "transform": np.asarray(hashing.TRANSFORMS, dtype=object)[found.transform],
        "label_a": labels[a], "label_b": labels[b],
        "cosine": found.cosine,
        "aligned_score": found.aligned_score,
        "alignment": found.alignment,
    }, columns=PAIR_COLUMNS)
    seconds["pairs"] += time.perf_counter() - t

    # 3. groups on the train split only
    t = time.perf_counter()
    groups, kept, n_conflict_groups = _group_train(m, pairs, bool(s["remove"]))
    seconds["group"] = time.perf_counter() - t

    leakage = _leakage(pairs, split)
    conflicts = _conflicts(pairs, prepared.classes)
    per_class = _per_class(m, kept, prepared.classes)
    seconds["total"] = time.perf_counter() - t_start
    train_ids = np.flatnonzero(split == "train")
    kinds = BASE_KINDS + tuple(k for k, on in (("aligned", s["aligned"]), ("unaligned", s["aligned"]),
                                                ("semantic", s["semantic"]),
                                                ("manual", s["decisions"])) if on)
    summary = {
        "dataset": prepared.name,
        "n_images": n,
        "pairs": {k: {sc: int(((pairs["kind"] == k) & (pairs["scope"] == sc)).sum()) for sc in SCOPES} for k in kinds},
        "pairs_by_kind": {k: int((pairs["kind"] == k).sum()) for k in kinds},     # flat views of "pairs",
        "pairs_by_scope": {sc: int((pairs["scope"] == sc).sum()) for sc in SCOPES},  # read by the report
        "n_pairs": int(len(pairs)),
        "n_groups": int(groups["group"].nunique()) if len(groups) else 0,
        "n_conflict_groups": n_conflict_groups,
        "n_train_before": int(len(train_ids)),
        "n_train_after": int(len(kept)),
        "n_removed": int(len(train_ids) - len(kept)),
        "n_leaked_test": int(leakage["test_id"].nunique()),
        "n_conflicts": int(len(conflicts)),
        "n_flat_images": int(is_flat.sum()),
        "settings": s,
        **({"aligned_skipped": _aligned_skipped(prepared.images)} if s["aligned"] else {}),
        "search_method": search.method_name(codes.shape[1] * 8, threshold, n, dihedral=variants is not None),
        "seconds": round(seconds["total"], 3),
        **({"hash_pairs_confirmed": _confirmed(pairs, float(s["cosine_threshold"]))} if s["semantic"] else {}),
        **({"decisions": n_decisions} if s["decisions"] else {}),
        "stage_seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    named = paths.name_files({"pairs": pairs, "groups": groups, "leakage": leakage, "conflicts": conflicts}, m)
    return DedupResult(named["pairs"], named["groups"], kept, named["leakage"], named["conflicts"], per_class, summary,
                       prepared=prepared, images=paths.images_table(m, prepared.classes).assign(flat=is_flat),
                       decisions=None if decisions is None else review.decisions_by_path(decisions, m))


# ---------------------------------------------------------------- pieces

def _merge_pairs(near: search.Pairs, exact: list, codes: np.ndarray, threshold: int) -> Candidates:
    """One row per unordered pair with its most specific kind, sorted by (a, b).

    The distance is the plain Hamming distance of the identity codes, except for flip_rot pairs,
    where it is the distance under the best transform (the plain one is above the threshold by
    definition).
    """
    near_rank = np.where(near.identity_distance <= threshold, NEAR, FLIP_ROT)
    cand = [(near.a, near.b, near_rank, np.where(near_rank == NEAR, 0, near.transform), near.distance)]
    for rank, (a, b) in enumerate(exact):  # 0 = exact_file, 1 = exact_pixels
        cand.append((a, b, np.full(len(a), rank), np.zeros(len(a)), np.zeros(len(a))))
    a, b, rank, transform, best = (np.concatenate([c[i] for c in cand]).astype(np.int64) for i in range(5))
    order = np.lexsort((rank, b, a))  # most specific kind first within each (a, b)
    a, b, rank, transform, best = a[order], b[order], rank[order], transform[order], best[order]
    first = np.ones(len(a), bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    a, b, rank, transform, best = a[first], b[first], rank[first], transform[first], best[first]
    distance = np.where(rank == FLIP_ROT, best, hashing.hamming(codes[a], codes[b]))
    return Candidates(a, b, rank, transform, distance, np.full(len(a), np.nan), np.full(len(a), np.nan),
                      np.full(len(a), "", dtype=object))


def _aligned(images, s, codes, variants, found: Candidates, is_flat, progress, seconds: dict) -> Candidates:
    """Verify by alignment (aligned.py) the retrieval's candidates and every hash pair within
    HASH_CANDIDATE_BITS: pairs at or above the threshold that no hash found are added as `aligned`;
    every verified pair gets its score and transform; near and flip_rot pairs the check rejects
    become `unaligned`; those the hash matched under quarter turns are checked turned back. Flat
    images are left out (nothing to align). Adds each step's seconds."""
    from . import aligned

    if aligned.too_small(images):
        return found
    threshold = float(s["aligned_threshold"])
    loose = search.self_pairs(codes, HASH_CANDIDATE_BITS, variants=variants)
    scored = aligned.verified(images, int(s["aligned_k"]), is_flat, (loose.a, loose.b), progress, seconds)
    n = len(codes)
    score_key = scored.a * n + scored.b
    new = ~np.isin(score_key, found.key(n)) & (scored.decision >= threshold)
    found = found.plus(Candidates.of_kind(scored.a[new], scored.b[new], "aligned", codes))
    where = np.searchsorted(score_key, found.key(n)).clip(0, max(len(scored) - 1, 0))
    on = (score_key[where] == found.key(n)) if len(scored) else np.zeros(len(found), bool)
    # the alignment models mirror images, not quarter turns: a hash pair that needed one is checked turned
    on &= found.transform % 4 == 0
    score, alignment = found.aligned_score.copy(), found.alignment.copy()
    score[on] = scored.decision[where[on]]
    alignment[on] = aligned.describe_alignment(scored.take(where[on]))
    checked_turned = _verify_turned(images, found, is_flat, score, alignment)
    rejected = (on | checked_turned) & np.isin(found.rank, [NEAR, FLIP_ROT]) & (score < threshold)
    rank = np.where(rejected, KINDS.index("unaligned"), found.rank)
    return replace(found, rank=rank, aligned_score=score, alignment=alignment)


def _verify_turned(images, found: Candidates, is_flat, score, alignment) -> np.ndarray:
    """Align the hash pairs matched under quarter turns with b turned onto a (turned.verify_turned),
    writing their score and "rot90, then shift 1,0"-style alignment in place; True where checked.
    Non-square images, and flat or low-detail ones (as in aligned.verified), stay unchecked."""
    from . import aligned, turned
    from .hashing import TRANSFORMS

    rows = np.flatnonzero((found.transform % 4 != 0) & np.isin(found.rank, [NEAR, FLIP_ROT]))
    if not len(rows) or images.shape[1] != images.shape[2]:
        return np.zeros(len(found), bool)
    ids = np.union1d(found.a[rows], found.b[rows])
    skip = dict(zip(ids.tolist(), aligned.low_detail(images[ids]) | is_flat[ids]))
    rows = rows[[not (skip[a] or skip[b]) for a, b in zip(found.a[rows].tolist(), found.b[rows].tolist())]]
    checked = np.zeros(len(found), bool)
    if not len(rows):
        return checked
    scored, t = turned.verify_turned(images, found.a[rows], found.b[rows])  # sorted by (a, b), as rows are
    score[rows] = scored.decision
    alignment[rows] = [f"{TRANSFORMS[k]}, then {d}" for k, d in zip(t, aligned.describe_alignment(scored))]
    checked[rows] = True
    return checked


def _aligned_skipped(images) -> str | None:
    from . import aligned

    return aligned.too_small(images)


def _semantic(images, s, codes, found: Candidates, progress) -> tuple[Candidates, float, float]:
    """Cosine of every hash pair, plus the pairs above the cosine threshold no hash found; and the
    seconds of embedding and of the search."""
    from . import embed

    embed.weights_path()  # fails early, naming the extra to install
    t = time.perf_counter()
    emb = embed.embed_images(images, size=int(s["embed_size"]), progress=progress)
    t_embed = time.perf_counter() - t
    t = time.perf_counter()
    sa, sb, _ = embed.cosine_pairs(emb, float(s["cosine_threshold"]))
    new = ~np.isin(sa * len(codes) + sb, found.key(len(codes)))
    found = found.plus(Candidates.of_kind(sa[new], sb[new], "semantic", codes))
    found = replace(found, cosine=embed.cosine_of(emb, found.a, found.b).astype(np.float64))
    return found, t_embed, time.perf_counter() - t


def _confirmed(pairs: pd.DataFrame, threshold: float) -> dict:
    """Per hash kind: how many pairs the embeddings confirm (cosine >= threshold) out of all."""
    out = {}
    for k in ("near", "flip_rot"):
        p = pairs[pairs["kind"] == k]
        out[k] = {"confirmed": int((p["cosine"] >= threshold).sum()), "total": int(len(p))}
    return out


def _apply_decisions(dec: pd.DataFrame, codes, found: Candidates) -> tuple[Candidates, dict]:
    """keep_both: drop the pair; duplicate: keep it, or add it with kind manual."""
    n = len(codes)
    key = found.key(n)
    dkey = dec["a"].to_numpy(np.int64) * n + dec["b"].to_numpy(np.int64)
    is_keep = (dec["decision"] == "keep_both").to_numpy()
    drop = np.isin(key, dkey[is_keep])
    counts = {"keep_both_removed": int(drop.sum()), "keep_both_not_found": int(is_keep.sum() - drop.sum())}
    found = found.take(~drop)
    dup = dkey[~is_keep]
    # a person's duplicate outweighs the flat rule and the alignment check: such a pair is grouped, as manual
    listed_only = np.isin(found.rank, [KINDS.index(k) for k in LISTED_ONLY])
    found = replace(found, rank=np.where(np.isin(found.key(n), dup) & listed_only, KINDS.index("manual"), found.rank))
    add = dup[~np.isin(dup, key)]
    counts["duplicate_confirmed"] = int(len(dup) - len(add))
    counts["duplicate_added"] = int(len(add))
    if len(add):
        found = found.plus(Candidates.of_kind(add // n, add % n, "manual", codes))
    return found, counts


# ---------------------------------------------------------------- pieces

def _group_train(m: pd.DataFrame, pairs: pd.DataFrame, remove: bool):
    train_ids = m.index[m["split"] == "train"].to_numpy(np.int64)  # index == id (checked above)
    tm = m.loc[train_ids]
    pos_of = np.full(len(m), -1, np.int64)
    pos_of[train_ids] = np.arange(len(train_ids))
    tp = pairs[(pairs["scope"] == "train") & ~pairs["kind"].isin(LISTED_ONLY)]
    order = grouping.priority_order(tm["width"], tm["height"], tm["file_size"], tm["format"], train_ids)
    keeper = train_ids[grouping.group_pairs(len(train_ids), pos_of[tp["a"].to_numpy()],
                                            pos_of[tp["b"].to_numpy()], order)]
    g = pd.DataFrame({"id": train_ids, "group": keeper, "label": tm["label"].to_numpy(np.int64)})
    size = g.groupby("group")["id"].transform("size")
    n_labels = g.groupby("group")["label"].transform("nunique")
    g["is_keeper"] = g["id"] == g["group"]
    # a group whose members disagree on the label is label noise, not copies: keep everyone
    g["label_conflict"] = n_labels > 1
    if remove:
        kept = g.loc[g["is_keeper"] | g["label_conflict"], "id"].to_numpy(np.int64)
    else:
        kept = train_ids
    groups = g.loc[size > 1, GROUP_COLUMNS].sort_values(["group", "id"]).reset_index(drop=True)
    n_conflict_groups = int(groups.loc[groups["label_conflict"], "group"].nunique())
    return groups, np.sort(kept), n_conflict_groups


def _leakage(pairs: pd.DataFrame, split: np.ndarray) -> pd.DataFrame:
    """One row per (test image, train image) pair: the test image leaked from train."""
    p = pairs[(pairs["scope"] == "train_test") & ~pairs["kind"].isin(LISTED_ONLY)]
    a_is_test = split[p["a"].to_numpy(np.int64)] == "test"
    out = pd.DataFrame({
        "test_id": np.where(a_is_test, p["a"], p["b"]),
        "train_id": np.where(a_is_test, p["b"], p["a"]),
        "kind": p["kind"].to_numpy(), "distance": p["distance"].to_numpy(), "transform": p["transform"].to_numpy(),
        "test_label": np.where(a_is_test, p["label_a"], p["label_b"]),
        "train_label": np.where(a_is_test, p["label_b"], p["label_a"]),
    }, columns=LEAK_COLUMNS)
    return out.sort_values(["test_id", "train_id"]).reset_index(drop=True)


def _conflicts(pairs: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    c = pairs[(pairs["label_a"] != pairs["label_b"]) & ~pairs["kind"].isin(LISTED_ONLY)].copy()
    names = np.asarray(classes, dtype=object)
    c["class_a"] = names[c["label_a"].to_numpy(np.int64)] if len(c) else []
    c["class_b"] = names[c["label_b"].to_numpy(np.int64)] if len(c) else []
    return c[CONFLICT_COLUMNS].reset_index(drop=True)


def _per_class(m: pd.DataFrame, kept: np.ndarray, classes: list[str]) -> pd.DataFrame:
    train = m[m["split"] == "train"]
    before = np.bincount(train["label"].to_numpy(np.int64), minlength=len(classes))
    after = np.bincount(m.loc[kept, "label"].to_numpy(np.int64), minlength=len(classes))
    return pd.DataFrame({"class": list(classes), "label": np.arange(len(classes)), "train_before": before,
                         "train_after": after, "removed": before - after}, columns=PER_CLASS_COLUMNS)
