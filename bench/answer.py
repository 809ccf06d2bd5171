"""Answer latency of the local model on dev questions: time to first token, total time, prompt tokens.

Each question is asked as of its own date, twice in the same run: with passages trimmed to their
most relevant sentences (LLM_CONTEXT_TOKENS) and with whole passages. Times run from the call to
`stream_answer` (retrieval included) to the first text piece and to the finished, verified Answer.
One untimed question first loads the model and evaluates the fixed system prompt.

    python bench/ingest.py --limit 100 --keep /tmp/smalldev     # or the full dev store
    python bench/answer.py --data-dir /tmp/smalldev
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from common import load_questions, p90, timed_answer

from assistant.answering.answerers.chat import ChatAnswerer
from assistant.chain import NewsAssistant
from assistant.config import Settings


@dataclass
class Run:
    first_token: float
    total: float
    prompt_tokens: int
    found: bool


def ask(news: NewsAssistant, answerer: ChatAnswerer, question: str, as_of: date, k: int) -> Run:
    passages = news.retrieve(question, k, as_of=as_of)
    prompt = "\n".join(str(message.text) for message in answerer.messages(question, passages, as_of))
    prompt_tokens = answerer.model.get_num_tokens(prompt)
    final, first, total = timed_answer(news.stream_answer(question, k, as_of=as_of))
    return Run(first, total, prompt_tokens, final.found)


def summary(label: str, runs: list[Run]) -> str:
    ttft = [run.first_token for run in runs]
    total = [run.total for run in runs]
    tokens = [float(run.prompt_tokens) for run in runs]
    return (f"{label:>16}: time to first token median {statistics.median(ttft):.2f} s, p90 {p90(ttft):.2f} s | "
            f"total median {statistics.median(total):.2f} s, p90 {p90(total):.2f} s | prompt tokens median "
            f"{statistics.median(tokens):.0f}, p90 {p90(tokens):.0f} | answered {sum(run.found for run in runs)}"
            f"/{len(runs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="store holding ingested dev articles")
    parser.add_argument("--limit", type=int, default=20, help="questions to ask")
    parser.add_argument("--k", type=int, default=5, help="passages per answer")
    args = parser.parse_args()

    settings = Settings(data_dir=args.data_dir, llm_provider="local", _env_file=None)  # type: ignore[call-arg]
    started = time.perf_counter()
    news = NewsAssistant.from_settings(settings)
    loading = time.perf_counter() - started
    if news.store.count_articles() == 0:
        raise SystemExit(f"{args.data_dir}: no articles stored; run bench/ingest.py --keep {args.data_dir}")
    answerer = news.answerer
    assert isinstance(answerer, ChatAnswerer)
    budget = answerer.context_tokens
    questions = []
    for question in load_questions():  # questions that reach the model (retrieval found something relevant)
        as_of = date.fromisoformat(question["date"])
        passages = news.retrieve(question["question"], args.k, as_of=as_of)
        if passages and max(passage.score for passage in passages) >= answerer.min_relevance:
            questions.append((question["question"], as_of))
        if len(questions) == args.limit:
            break

    cold = ask(news, answerer, *questions[0], args.k)
    print(f"models loaded in {loading:.1f} s; first question (system prompt not yet cached): first token "
          f"{cold.first_token:.2f} s, total {cold.total:.2f} s")
    runs: dict[str, list[Run]] = {"trimmed": [], "whole": []}
    for question, as_of in questions:
        for mode, tokens in (("trimmed", budget), ("whole", 0)):
            answerer.context_tokens = tokens
            runs[mode].append(ask(news, answerer, question, as_of, args.k))
    answerer.context_tokens = budget
    print(f"{len(questions)} dev questions, k={args.k}, {news.store.count_articles()} articles / "
          f"{news.store.count_chunks()} chunks in {args.data_dir}, backend {answerer.name}")
    print(summary(f"trimmed ({budget} tok)", runs["trimmed"]))
    print(summary("whole passages", runs["whole"]))


if __name__ == "__main__":
    main()
