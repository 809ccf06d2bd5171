"""The check of the followed questions after articles were written, cheapest test first.

1. The articles written since the last check, from the store's change log (`ChunkStore.changes_since`,
   from the "checked up to" time kept in Chroma); when the log no longer reaches back that far
   (CHANGE_LOG_DAYS), every follow goes on to step 3.
2. Per follow, without a search: could a passage of those articles be among the search's candidates? Only if
   its question vector scores it at least as high as the lowest dense candidate did when it was answered,
   or the keyword search finds it among its candidates; or if the answer could see a passage of a changed
   (or deleted) article. Most follows stop here.
3. The retrieval-only check: the chain's retrieval (no model call); did a passage of a changed article enter
   the passages the answer is given, or one the old answer could see leave them?
4. Only then the question is answered again (the normal chain) and what changed is worked out (diff.py).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Collection, Mapping
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from assistant.filters import Filters
from assistant.following.codec import dumps_state
from assistant.following.diff import answer_changes
from assistant.following.store import FollowRecord, FollowStore, answer_metadata, now, text_hash
from assistant.following.types import CheckReport
from assistant.store.index_sync import CHANGE_LOG_DAYS, OVERLAP
from assistant.types import Answer, Passage

if TYPE_CHECKING:
    from assistant.chain import NewsAssistant

logger = logging.getLogger(__name__)

HALF_PRECISION = 1e-3
"""How far a passage's score may be off with the passage cache's float16 vectors (unit vectors: at most
2**-11, 4.9e-4): a passage is let through when it scores within this of a follow's floor."""
SEARCHES_AT_ONCE = 4
"""Retrieval-only checks run at once (threads): each waits on the store server part of its time."""


def search_pool(news: NewsAssistant) -> int:
    """How many candidates each search of the retriever takes (assistant/retrieval/retriever.py)."""
    return max(news.settings.candidate_pool, 3 * news.settings.top_k)


def dense_floor(news: NewsAssistant, vector: np.ndarray, answer: Answer) -> float:
    """The lowest dense score among the search's candidates now: a new passage scoring below it cannot become
    one. -1 (every passage may) for a timeline (it searches otherwise) or a store with fewer passages."""
    if answer.mode != "answer":
        return -1.0
    pool = search_pool(news)
    found = news.store.dense_hits([float(v) for v in vector], pool)  # ids and scores only
    return min(score for _, score in found) - 1e-4 if len(found) >= pool else -1.0


def retrieved(news: NewsAssistant, question: str) -> list[Passage]:
    """The passages the chain would answer the question from now (its retrieval only: no model call)."""
    state = news.retrieval_chain().invoke({"question": question, "history": None, "k": news.settings.top_k,
                                           "filters": Filters(), "as_of": date.today(), "mode": "auto",
                                           "search": None})
    return list(state["passages"])


def check_follows(news: NewsAssistant, article_ids: Collection[str] | None = None) -> CheckReport:
    """Check every followed question of the store against what was written since the last check (by any
    process); `article_ids`: articles the caller just wrote (the change log names them too)."""
    started, clock = now(), time.perf_counter()
    follows = FollowStore(news.store)
    records = follows.records(vectors=True)
    report = CheckReport(follows=len(records))
    if records:
        cursor = follows.cursor()
        changed = _changed_articles(news, records, cursor, article_ids, started)
        if changed is None or changed:
            _check(news, follows, records, changed, report)
    follows.set_cursor(started)
    report.seconds = time.perf_counter() - clock
    if report.checked:
        logger.info("%s", report.summary())
    return report


def _changed_articles(news: NewsAssistant, records: list[FollowRecord], cursor: float | None,
                      article_ids: Collection[str] | None, now: float) -> dict[str, float] | None:
    """{article id: when it was last written} since the oldest moment a follow has not been checked against;
    None when the change log no longer reaches back that far."""
    start = min(max(cursor or 0.0, record.answered_at) for record in records) - OVERLAP
    if now - start > CHANGE_LOG_DAYS * 86400 - OVERLAP:
        return None
    changed: dict[str, float] = {}
    for entry in news.store.changes_since(start):
        changed[entry.article_id] = max(changed.get(entry.article_id, 0.0), entry.at)
    for article_id in article_ids or ():
        changed[article_id] = now
    return changed


def _check(news: NewsAssistant, follows: FollowStore, records: list[FollowRecord],
           changed: dict[str, float] | None, report: CheckReport) -> None:
    news.store.sync(force=True)  # the keyword index holds what the other processes wrote
    candidates = _Candidates(news, changed) if changed is not None else None
    encoder_vectors = str(getattr(news.encoder, "vectors", ""))
    due: list[tuple[FollowRecord, np.ndarray, set[str] | None]] = []
    for record in records:
        window = None if changed is None else {article_id for article_id, at in changed.items()
                                               if at >= record.answered_at - OVERLAP}
        if window is not None and not window:
            continue
        vector = record.vector
        if vector is None or record.vectors != encoder_vectors:  # the store was re-embedded since
            vector = news.encoder.encode([record.question])[0]
            follows.update(record.follow_id, {"vectors": encoder_vectors}, vector=vector)
        if window is not None and candidates is not None and not candidates.may_enter(record, vector, window):
            continue
        news.retriever.remember(record.question, vector)  # the check's search and a new answer embed nothing
        due.append((record, vector, window))
    report.checked += len(due)
    # The retrieval-only checks wait on the store server much of the time: a few at once.
    searching = time.perf_counter()
    with ThreadPoolExecutor(max_workers=SEARCHES_AT_ONCE, thread_name_prefix="follow-check") as searches:
        found = list(searches.map(lambda item: retrieved(news, item[0].question), due))
    report.search_seconds = time.perf_counter() - searching
    for (record, vector, window), passages in zip(due, found, strict=True):
        if not _moved(record, passages, window):
            continue
        report.re_answered += 1
        answering = time.perf_counter()
        if _answer_again(news, follows, record, vector):
            report.changed += 1
        report.answer_seconds += time.perf_counter() - answering


class _Candidates:
    """The passages of the changed articles, to tell without a search whether a follow may be affected."""

    def __init__(self, news: NewsAssistant, changed: Mapping[str, float]) -> None:
        self.news = news
        self.pool = search_pool(news)
        found = news.store.article_vectors(sorted(changed))  # the local passage cache, else Chroma
        articles = [article_id for article_id, _ in found]
        rows = [vector for _, vector in found]
        self.articles = np.array(articles, dtype=object)
        self.vectors = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)

    def may_enter(self, record: FollowRecord, vector: np.ndarray, window: set[str]) -> bool:
        """Whether the follow's answer may change with the articles of `window`: it could see one of them (an
        update or a delete), or a passage of one of them is among the dense or keyword search's candidates."""
        if record.seen_articles & window or record.floor <= -1.0:
            return True
        mask = np.fromiter((article in window for article in self.articles), dtype=bool, count=len(self.articles))
        if mask.any() and float((self.vectors[mask] @ np.asarray(vector, dtype=np.float32)).max()) \
                >= record.floor - HALF_PRECISION:
            return True
        keywords = self.news.store.keywords
        return keywords is not None and any(
            article_id in window for _, article_id, _ in keywords.hits(record.question, self.pool))


def _moved(record: FollowRecord, passages: list[Passage], window: set[str] | None) -> bool:
    """Whether a passage of a changed article entered the answer's passages, or one the answer could see of a
    changed (or deleted) article left them; with `window` None (the log does not reach back), any difference."""
    current = {(p.chunk_id, text_hash(p.text), p.article_id) for p in passages}
    return any(window is None or article_id in window for _, _, article_id in current ^ record.seen)


def _answer_again(news: NewsAssistant, follows: FollowStore, record: FollowRecord, vector: np.ndarray) -> bool:
    """Answer the question again and store the answer; when it brings changes, store them (and the answer they
    replace) and mark the follow changed. True when it changed."""
    old, previous, changes = follows.document(record.follow_id)
    answer = news.answer(record.question)
    answered_at = now()
    metadata = answer_metadata(answer, answered_at, dense_floor(news, vector, answer))
    found = answer_changes(old, answer, record.seen_chunks)
    if found:
        metadata["changed_at"] = answered_at
        previous, changes = old, found
    follows.update(record.follow_id, metadata, dumps_state(answer, previous, changes), vector)
    logger.info("followed question %s answered again: %d changes", record.follow_id, len(found))
    return bool(found)
