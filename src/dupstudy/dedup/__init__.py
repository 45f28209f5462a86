"""Duplicate detection: batched perceptual hashes, exact radius search, chain-free groups.

    from dupstudy.dedup import find_duplicates, load
    result = find_duplicates(prepared, params["dedup"])
    result.save("data/dedup")
"""

from .engine import DedupResult, find_duplicates, load
from .grouping import group_pairs, priority_order
from .hashing import METHODS, TRANSFORMS, dihedral_codes, hamming, hash_images, to_hex
from .review import DecisionsError, load_decisions, precision, review_sample, wilson_interval
from .search import Pairs, dihedral_search, radius_search, self_pairs

__all__ = [
    "DedupResult", "find_duplicates", "load",
    "group_pairs", "priority_order",
    "METHODS", "TRANSFORMS", "dihedral_codes", "hamming", "hash_images", "to_hex",
    "Pairs", "dihedral_search", "radius_search", "self_pairs",
    "DecisionsError", "load_decisions", "precision", "review_sample", "wilson_interval",
]
