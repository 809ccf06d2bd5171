"""Run the dev questions (choices appended) through `retrieve` and `answer`; score with the eval kit.

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
from pathlib import Path

from common import DEV, load_questions

from assistant.chain import NewsAssistant
from assistant.config import Settings


def with_choices(question: dict) -> str:
    return f"{question['question']} Options: {'; '.join(question['choices'])}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="store holding the ingested dev articles")
    parser.add_argument("--limit", type=int, default=0, help="first N questions only (0 = all)")
    parser.add_argument("--out", type=Path, default=Path("results.jsonl"))
    args = parser.parse_args()

    news = NewsAssistant.from_settings(Settings(data_dir=args.data_dir, _env_file=None))  # type: ignore[call-arg]
    if news.store.count_articles() == 0:
        raise SystemExit(f"{args.data_dir}: no articles stored; run bench/ingest.py --limit 0 --keep {args.data_dir}")
    questions = load_questions()[: args.limit or None]
    seconds: list[float] = []
    found_unanswerable = []
    with args.out.open("w", encoding="utf-8") as out:
        for question in questions:
            text = with_choices(question)
            started = time.perf_counter()
            passages = news.retrieve(text, k=10)
            result = news.answer(text, k=5)
            seconds.append(time.perf_counter() - started)
            if not question["answerable"]:
                found_unanswerable.append(result.found)
            out.write(json.dumps({"id": question["id"], "passages": [p.text for p in passages],
                                  "answer": result.text}) + "\n")
    print(f"{len(questions)} questions, {news.store.count_articles()} articles, {news.store.count_chunks()} chunks; "
          f"retrieve+answer median {statistics.median(seconds) * 1000:.0f} ms")
    if found_unanswerable:
        declined = 1 - sum(found_unanswerable) / len(found_unanswerable)
        print(f"'not in the articles' on unanswerable questions: {declined:.1%} of {len(found_unanswerable)}")
    subprocess.run([sys.executable, str(DEV.parent / "score.py"), str(args.out),
                    "--questions", str(DEV / "questions.jsonl")], check=True)


if __name__ == "__main__":
    main()
