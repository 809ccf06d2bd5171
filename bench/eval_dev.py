"""Run the dev questions (choices appended) through `retrieve` and `answer`; score with the eval kit.

Each question is asked as of its own date. The dense-only baseline is retrieved in the same run
and scored beside the hybrid retrieval.

    python bench/ingest.py --limit 0 --keep /tmp/devstore    # once: the full dev corpus
    python bench/eval_dev.py --data-dir /tmp/devstore
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from common import DEV, load_questions

from assistant.chain import NewsAssistant
from assistant.config import Settings


def with_choices(question: dict) -> str:
    return f"{question['question']} Options: {'; '.join(question['choices'])}."


def score(path: Path, label: str) -> None:
    print(f"--- {label}: {path}", flush=True)
    subprocess.run([sys.executable, str(DEV.parent / "score.py"), str(path),
                    "--questions", str(DEV / "questions.jsonl")], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="store holding the ingested dev articles")
    parser.add_argument("--limit", type=int, default=0, help="first N questions only (0 = all)")
    parser.add_argument("--out", type=Path, default=Path("results.jsonl"))
    parser.add_argument("--no-answer", action="store_true", help="retrieval only (faster)")
    parser.add_argument("--llm-provider", help="answering backend (default: LLM_PROVIDER's default)")
    args = parser.parse_args()

    overrides = {"llm_provider": args.llm_provider} if args.llm_provider else {}
    news = NewsAssistant.from_settings(Settings(data_dir=args.data_dir, _env_file=None, **overrides))  # type: ignore[call-arg]
    if news.store.count_articles() == 0:
        raise SystemExit(f"{args.data_dir}: no articles stored; run bench/ingest.py --limit 0 --keep {args.data_dir}")
    questions = load_questions()[: args.limit or None]
    dense_out = args.out.with_name(args.out.stem + "-dense.jsonl")
    timings: dict[str, list[float]] = {"dense": [], "hybrid": [], "answer": []}
    declined_unanswerable: list[bool] = []
    with args.out.open("w", encoding="utf-8") as out, dense_out.open("w", encoding="utf-8") as dense_file:
        for question in questions:
            text, as_of = with_choices(question), date.fromisoformat(question["date"])
            started = time.perf_counter()
            dense = news.retriever.retrieve(text, k=10, as_of=as_of, dense_only=True)
            timings["dense"].append(time.perf_counter() - started)
            started = time.perf_counter()
            passages = news.retrieve(text, k=10, as_of=as_of)
            timings["hybrid"].append(time.perf_counter() - started)
            answer = ""
            if not args.no_answer:
                started = time.perf_counter()
                result = news.answer(text, k=5, as_of=as_of)
                timings["answer"].append(time.perf_counter() - started)
                answer = result.text
                if not question["answerable"]:
                    declined_unanswerable.append(not result.found)
            out.write(json.dumps({"id": question["id"], "passages": [p.text for p in passages], "answer": answer}) + "\n")
            dense_file.write(json.dumps({"id": question["id"], "passages": [p.text for p in dense],
                                         "answer": answer}) + "\n")
    print(f"{len(questions)} questions, {news.store.count_articles()} articles, {news.store.count_chunks()} chunks, "
          f"backend {news.answerer.name}")
    for name, values in timings.items():
        if values:
            print(f"{name:>7}: median {statistics.median(values) * 1000:.0f} ms per question")
    if declined_unanswerable:
        print(f"'not in the articles' on unanswerable questions: "
              f"{sum(declined_unanswerable) / len(declined_unanswerable):.1%} of {len(declined_unanswerable)}")
    score(dense_out, "dense-only baseline (same run)")
    score(args.out, "hybrid retrieval")


if __name__ == "__main__":
    main()
