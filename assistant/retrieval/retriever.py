"""Find the passages that answer a question: dense + keyword search fused, dated, diversified.

1. Dense (MiniLM cosine in Chroma: ids and scores only) and keyword (BM25, the local keyword index)
   candidates, each pool deep; their text, fields and versions from the local passage cache where it
   holds them in their current version (assistant/store/passage_cache.py), else from Chroma.
2. Reciprocal rank fusion with weights from settings, then two date priors relative to `as_of`:
   every question prefers passages published near the time it is about (as_of: news questions are
   about now; or the period it names, "this week", "in March 2024"; the prior halves every
   RECENCY_HALF_LIFE_DAYS), and passages dated in a named period get a further boost.
3. Adjacent passages of one article are merged; at most `max_per_article` per article.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np

from assistant.config import Settings
from assistant.nlp.dates import DateWindow, time_window
from assistant.encoders.embeddings import TextEncoder
from assistant.filters import Filters, parse_filters
from assistant.store.chunk_store import ChunkStore
from assistant.types import Passage

RRF_K = 60
_WORKERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="retrieval")
"""Runs keyword searches and catalogue reads beside the dense search (threads start on first use)."""
QUESTION_VECTORS = 256
"""Recent questions' vectors kept per retriever: asked again (a followed question checked, then answered; a
retried question), a question is not embedded again."""


@dataclass(frozen=True)
class RetrievalSettings:
    """The ranking knobs of Settings (defaults and documentation live there)."""

    dense_weight: float
    keyword_weight: float
    candidate_pool: int
    max_per_article: int
    recency_weight: float
    recency_prior: float = 0.0
    recency_half_life_days: float = 90.0


def retrieval_settings(settings: Settings) -> RetrievalSettings:
    return RetrievalSettings(settings.dense_weight, settings.keyword_weight, settings.candidate_pool,
                             settings.max_per_article, settings.recency_weight, settings.recency_prior,
                             settings.recency_half_life_days)


def fuse(rankings: Sequence[tuple[float, Sequence[str]]]) -> dict[str, float]:
    """Weighted reciprocal rank fusion of ranked id lists."""
    scores: dict[str, float] = defaultdict(float)
    for weight, ids in rankings:
        for rank, chunk_id in enumerate(ids):
            scores[chunk_id] += weight / (RRF_K + rank + 1)
    return scores


def diversify(ranked: Sequence[Passage], k: int, max_per_article: int) -> list[Passage]:
    """Top k with adjacent passages of one article merged and at most max_per_article per article."""
    chosen: list[Passage] = []
    per_article: dict[str, int] = defaultdict(int)
    for passage in ranked:
        neighbour = next((i for i, kept in enumerate(chosen) if kept.article_id == passage.article_id
                          and abs(kept.position - passage.position) == 1 and "\n\n" not in kept.text), None)
        if neighbour is not None:
            kept = chosen[neighbour]
            first, second = sorted((kept, passage), key=lambda p: p.position)
            chosen[neighbour] = replace(kept, text=f"{first.text}\n\n{second.text}", position=first.position,
                                        section=first.section, score=max(kept.score, passage.score))
            continue
        if per_article[passage.article_id] >= max_per_article:
            continue
        per_article[passage.article_id] += 1
        chosen.append(passage)
        if len(chosen) == k:
            break
    return chosen


class Retriever:
    """Hybrid retrieval over the store; filters restrict both searches by source, dates and article ids."""

    def __init__(self, store: ChunkStore, encoder: TextEncoder, settings: RetrievalSettings) -> None:
        self.store = store
        self.encoder = encoder
        self.settings = settings
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._vectors_lock = threading.Lock()

    def question_vector(self, question: str) -> np.ndarray:
        """The question's embedding: remembered, or made by the encoder (and remembered)."""
        with self._vectors_lock:
            vector = self._vectors.get(question)
            if vector is not None:
                self._vectors.move_to_end(question)
                return vector
        vector = self.encoder.encode([question])[0]
        self.remember(question, vector)
        return vector

    def remember(self, question: str, vector: np.ndarray) -> None:
        """Keep a vector this retriever's encoder made for the question (e.g. one stored with a followed
        question), so asking it costs no embedding."""
        with self._vectors_lock:
            self._vectors[question] = np.asarray(vector, dtype=np.float32)
            self._vectors.move_to_end(question)
            while len(self._vectors) > QUESTION_VECTORS:
                self._vectors.popitem(last=False)

    def retrieve(self, question: str, k: int = 10, filters: Filters | dict[str, Any] | None = None,
                 as_of: date | None = None, dense_only: bool = False) -> list[Passage]:
        """The k passages most relevant to the question, best first (`score` is cosine similarity)."""
        if not question.strip():
            raise ValueError("question is empty")
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        parsed = parse_filters(filters)
        pool = max(self.settings.candidate_pool, 3 * k)
        keywords = self.store.keywords if not dense_only else None
        # What other processes wrote since the last question is read from the change log (one call), then the
        # keyword search runs (local), while the question is embedded and Chroma searches.
        keyword_search = _WORKERS.submit(self._synced_hits, question, pool, parsed, keywords is not None)
        vector = self.question_vector(question)
        if self.store.passages is None:  # no local passage cache: Chroma returns the passages themselves
            return self._retrieve_from_store(question, vector, k, pool, parsed,
                                             keyword_search if keywords is not None else None, as_of)
        dense = self.store.dense_hits(vector, pool, parsed.where())
        hits = keyword_search.result()
        keyword_ids = [chunk_id for chunk_id, _, _ in hits]
        dense_ids = [chunk_id for chunk_id, _ in dense]
        known = set(dense_ids)
        found = {passage.chunk_id: passage for passage in self.store.passages_by_id(
            [*dense_ids, *(chunk_id for chunk_id in keyword_ids if chunk_id not in known)], vector, dict(dense))}
        if keywords is None:
            return [found[chunk_id] for chunk_id in dense_ids if chunk_id in found][:k]
        day = as_of or date.today()
        return rank_candidates([found[chunk_id] for chunk_id in dense_ids if chunk_id in found], keyword_ids,
                               [found[chunk_id] for chunk_id in keyword_ids if chunk_id in found and chunk_id not in known],
                               time_window(question, day), self.settings, k, day)

    def _synced_hits(self, question: str, pool: int, parsed: Filters, search: bool) -> list[tuple[str, str, float]]:
        """Bring the local indexes up to date with the change log, then (`search`) the keyword hits."""
        self.store.sync()
        return self.store.keywords.hits(question, pool, parsed) if search and self.store.keywords is not None else []

    def _retrieve_from_store(self, question: str, vector: Any, k: int, pool: int, parsed: Filters,
                             keyword_search: Future[list[tuple[str, str, float]]] | None,
                             as_of: date | None) -> list[Passage]:
        """Retrieval without the local passage cache: passages, their vectors and versions read from Chroma."""
        dense = self.store.search_candidates(vector, pool, parsed.where())
        if keyword_search is None:
            return self.store.complete(dense)[:k]
        hits = keyword_search.result()
        keyword_ids = [chunk_id for chunk_id, _, _ in hits]
        # The records of every candidate's article are read while the keyword-only passages are fetched.
        versions = _WORKERS.submit(self.store.current_versions, {passage.article_id for passage, _ in dense}
                                   | {article_id for _, article_id, _ in hits})
        known = {passage.chunk_id for passage, _ in dense}
        extra = self.store.passage_candidates([chunk_id for chunk_id in keyword_ids if chunk_id not in known], vector)
        complete = {passage.chunk_id for passage in self.store.complete([*dense, *extra], versions.result())}
        day = as_of or date.today()
        return rank_candidates([passage for passage, _ in dense if passage.chunk_id in complete], keyword_ids,
                               [passage for passage, _ in extra if passage.chunk_id in complete],
                               time_window(question, day), self.settings, k, day)


def rank_candidates(dense: Sequence[Passage], keyword_ids: Sequence[str], keyword_only: Sequence[Passage],
                    window: DateWindow | None, settings: RetrievalSettings, k: int,
                    as_of: date | None = None) -> list[Passage]:
    """Fuse the two rankings, prefer passages published near as_of and those dated in the question's
    period, then diversify."""
    scores = fuse([(settings.dense_weight, [p.chunk_id for p in dense]), (settings.keyword_weight, keyword_ids)])
    by_id = {p.chunk_id: p for p in [*dense, *keyword_only]}
    if as_of is not None and settings.recency_prior:  # near the period asked about: as_of, or the one named
        period = window or DateWindow(as_of, as_of)
        top = settings.recency_prior / (RRF_K + 1)
        for chunk_id, passage in by_id.items():  # an undated passage counts as one half-life away
            days = (period.distance(date.fromisoformat(passage.published)) if passage.published
                    else settings.recency_half_life_days)
            scores[chunk_id] += top * 0.5 ** (days / settings.recency_half_life_days)
    if window is not None and settings.recency_weight:
        boost = settings.recency_weight / (RRF_K + 1)
        for chunk_id, passage in by_id.items():
            if passage.published and window.contains(date.fromisoformat(passage.published)):
                scores[chunk_id] += boost
    ranked = sorted(by_id.values(), key=lambda p: scores[p.chunk_id], reverse=True)
    return diversify(ranked, k, settings.max_per_article)
