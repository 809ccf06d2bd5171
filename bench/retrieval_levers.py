"""What each retrieval setting does on the dev set, asked as users ask: the question alone, as of its date.

Every variant is the real Retriever with one group of settings changed from the defaults, run in one
process over the same store, and scored with the eval kit's `has_answer` (answer recall@1/5/10
over answerable questions).

    python bench/retrieval_levers.py --data-dir /tmp/devstore
    python bench/retrieval_levers.py --data-dir /tmp/devstore --only defaults,no-recency-prior
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path
from typing import Any

from common import DEV, load_questions
from eval_dev import recall

from assistant.chain import NewsAssistant
from assistant.config import Settings
from assistant.retrieval.retriever import Retriever, retrieval_settings

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "no-recency-prior": {"recency_prior": 0.0},
    "no-period-boost": {"recency_weight": 0.0},
    "no-date-priors": {"recency_prior": 0.0, "recency_weight": 0.0},
    "half-life-30": {"recency_half_life_days": 30},
    "half-life-365": {"recency_half_life_days": 365},
    "recency-prior-2": {"recency_prior": 2.0},
    "keyword-weight-2": {"keyword_weight": 2.0},
    "keyword-weight-8": {"keyword_weight": 8.0},
    "pool-100": {"candidate_pool": 100},
    "max-per-article-1": {"max_per_article": 1},
    "max-per-article-3": {"max_per_article": 3},
    "title-weight-2": {"keyword_title_weight": 2.0},
    "dense-only": {"keyword_search": False},
    "max-df-1": {"keyword_max_df": 1.0},  # no keyword pruning
    "max-df-0.05": {"keyword_max_df": 0.05},
    "max-df-0.03": {"keyword_max_df": 0.03},
    "max-df-0.02": {"keyword_max_df": 0.02},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="store holding the ingested dev articles")
    parser.add_argument("--only", default="", help=f"comma-separated variants (default: all of {', '.join(VARIANTS)})")
    args = parser.parse_args()
    names = [name.strip() for name in args.only.split(",") if name.strip()] or list(VARIANTS)
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        raise SystemExit(f"--only: unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    base = Settings(data_dir=args.data_dir, llm_provider="extractive", _env_file=None)  # type: ignore[call-arg]
    news = NewsAssistant.from_settings(base)
    questions = [q for q in load_questions() if q["answerable"]]
    print(f"{len(questions)} answerable dev questions ({DEV.name}), {news.store.count_chunks()} passages")
    print(f"{'variant':<20} {'recall@1':>8} {'@5':>6} {'@10':>6}  seconds")
    for name in names:
        settings = base.model_copy(update=VARIANTS[name])
        store = news.store
        store.keywords.title_weight = settings.keyword_title_weight  # the index's own settings, for this variant
        store.keywords.max_df = settings.keyword_max_df
        retriever = Retriever(store, news.encoder, retrieval_settings(settings))
        started = time.perf_counter()
        retrieved = {q["id"]: [p.text for p in retriever.retrieve(q["question"], k=10, as_of=date.fromisoformat(q["date"]),
                                                                  dense_only=not settings.keyword_search)]
                     for q in questions}
        store.keywords.title_weight, store.keywords.max_df = base.keyword_title_weight, base.keyword_max_df
        figures = recall(retrieved, questions)
        print(f"{name:<20} {figures[1]:>8.3f} {figures[5]:>6.3f} {figures[10]:>6.3f}  {time.perf_counter() - started:.0f}",
              flush=True)


if __name__ == "__main__":
    main()
