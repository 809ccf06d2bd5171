"""Near-duplicate articles: MinHash over word shingles, with LSH banding to find candidates quickly.

A syndicated copy (same story, another outlet, small edits) shares most of its 5-word shingles
with the stored article, so the Jaccard similarity of their shingle sets is high; MinHash
estimates it from 128 numbers per article. The signature is cut into 32 bands of 4 values and
each band hashed to a bucket: two articles share a bucket with probability 1 - (1 - J^4)^32
(0.87 at J = 0.5, 0.9998 at J = 0.8, 0.004 at J = 0.1), so looking up a few buckets finds the
copies of an article among any number of stored ones, and the estimate then decides.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.store.signature_index import NUM_PERM, SignatureIndex, buckets
from assistant.types import Article

SHINGLE_WORDS = 5
MIN_WORDS = 50
"""Shorter texts are never treated as copies: briefs and notices coincide without being syndicated."""

_PRIME = np.uint64(4_294_967_291)  # largest prime below 2**32: a * x + b stays below 2**64
_rng = np.random.default_rng(20240601)  # fixed: stored signatures must stay comparable across runs
_A = _rng.integers(1, int(_PRIME), NUM_PERM, dtype=np.uint64)
_B = _rng.integers(0, int(_PRIME), NUM_PERM, dtype=np.uint64)
_WORD = re.compile(r"\w+")
_BLOCK = 4096  # shingles hashed at once: bounds memory to NUM_PERM x _BLOCK x 8 bytes


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def shingle_hashes(tokens: Sequence[str]) -> np.ndarray:
    """Distinct 32-bit hashes of every run of SHINGLE_WORDS consecutive words (one run for shorter texts)."""
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    word_hashes = np.fromiter((zlib.crc32(token.encode()) for token in tokens), dtype=np.uint64, count=len(tokens))
    width = min(SHINGLE_WORDS, len(tokens))
    count = len(tokens) - width + 1
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(width):  # polynomial hash of the window, modulo 2**32
        combined = (combined * np.uint64(1_000_003) + word_hashes[offset:offset + count]) & np.uint64(0xFFFFFFFF)
    return np.unique(combined)


def signature(text: str) -> np.ndarray | None:
    """The MinHash signature (NUM_PERM uint32 values) of a text, None when it is under MIN_WORDS words."""
    tokens = words(text)
    if len(tokens) < MIN_WORDS:
        return None
    shingles = shingle_hashes(tokens)
    result = np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    for start in range(0, len(shingles), _BLOCK):
        block = shingles[start:start + _BLOCK]
        hashed = (_A[:, None] * block[None, :] + _B[:, None]) % _PRIME
        result = np.minimum(result, hashed.min(axis=1))
    return result.astype(np.uint32)


def article_signature(article: Article) -> np.ndarray | None:
    """Signature of the article's words, headline left out: outlets rewrite headlines, not stories."""
    return signature(f"{article.standfirst}\n{article.text}")


def similarity(first: np.ndarray, second: np.ndarray) -> float:
    """Estimated Jaccard similarity of the two texts' shingle sets."""
    return float(np.mean(first == second))


@dataclass(frozen=True)
class Match:
    article_id: str
    similarity: float


@dataclass
class DuplicateFinder:
    """Finds the stored (or about to be stored) article a new one is a near-duplicate of.

    Articles of the current batch are staged in memory until they are written, so a copy that
    follows its original in the same run is recognised too.
    """

    index: SignatureIndex
    _staged: dict[str, np.ndarray] = field(default_factory=dict)
    _staged_buckets: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))

    def find(self, sig: np.ndarray, exists: Callable[[str], bool]) -> Match | None:
        """The most similar article at or above the threshold that `exists` (stale entries may linger)."""
        keys = buckets(sig)
        candidates = {article_id: np.frombuffer(blob, dtype=np.uint32)
                      for article_id, blob in self.index.candidates(keys)}
        for key in keys:
            for article_id in self._staged_buckets.get(key, ()):
                candidates[article_id] = self._staged[article_id]
        for article_id in candidates.keys() & self._staged.keys():  # being updated: its new words count
            candidates[article_id] = self._staged[article_id]
        best: Match | None = None
        for article_id, other in candidates.items():
            score = similarity(sig, other)
            if score >= self.index.threshold and (best is None or score > best.similarity) and exists(article_id):
                best = Match(article_id, score)
        return best

    def stage(self, article_id: str, sig: np.ndarray) -> None:
        self._staged[article_id] = sig
        for key in buckets(sig):
            self._staged_buckets[key].add(article_id)

    def clear_staged(self) -> None:
        self._staged.clear()
        self._staged_buckets.clear()

    def store(self, article_id: str, content_hash: str, sig: np.ndarray | None) -> None:
        """Persist an article's signature; a text too short to have one is recorded without buckets."""
        self.index.replace_article(article_id, content_hash, signature_bytes(sig))


def signature_bytes(sig: np.ndarray | None) -> bytes:
    """How a signature is stored (in the signature index and in Chroma): b"" for a text too short to have one."""
    return b"" if sig is None else sig.astype(np.uint32).tobytes()
