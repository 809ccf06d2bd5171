"""The dev set as users ask it: retrieval with the question alone, answers scored on the choices.

Each question is asked as of its own date.

* Retrieval: the question alone is the query (as a user types it). Answer recall@1/5/10 over
  answerable questions, with the eval kit's `has_answer`. A labelled secondary line gives the old,
  leaky figure (the four choices appended to the query: they contain the answer), never to tune on.
* Answers (unless --no-answer): the answerer gets the question with its choices appended
  ("… Options: a; b; c; d."), while the search still gets the question alone
  (`NewsAssistant.stream_answer(..., search=question)`). Reported: multiple-choice accuracy on
  answerable and on all questions (the eval kit's `mc_pick`), "not in the articles" on answerable
  (wrongly declined) and unanswerable (rightly declined) questions, the share of found answers
  whose every sentence verified, and time to first token / total time, p50 and p90.
* `--budgets 200,400,800,0` repeats the answers for each LLM_CONTEXT_TOKENS (0 = whole passages)
  in one process, so the budgets are compared under the same load.

    python bench/ingest.py --limit 0 --keep /tmp/devstore      # once: the full dev corpus
    python bench/eval_dev.py --data-dir /tmp/devstore --no-answer          # retrieval, ~1 minute
    python bench/eval_dev.py --data-dir /tmp/devstore --sample 60 --budgets 200,400,800,0
    python bench/eval_dev.py --data-dir /tmp/devstore                      # everything, full set
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from common import DEV, load_questions, p90, timed_answer

from assistant.chain import NewsAssistant
from assistant.config import Settings
from assistant.types import Answer

sys.path.insert(0, str(DEV.parent))
from score import has_answer, mc_pick  # the eval kit's own scorer

KS = (1, 5, 10)


def with_choices(question: dict) -> str:
    return f"{question['question']} Options: {'; '.join(question['choices'])}."


def recall(retrieved: dict[str, list[str]], questions: list[dict]) -> dict[int, float]:
    answerable = [q for q in questions if q["answerable"]]
    return {k: sum(any(has_answer(text, q["answer_text"]) for text in retrieved[q["id"]][:k])
                   for q in answerable) / max(len(answerable), 1) for k in KS}


@dataclass
class AnswerRun:
    budget: int
    rows: list[dict] = field(default_factory=list)

    def add(self, question: dict, answer: Answer, first: float, total: float) -> None:
        pick = mc_pick(answer.text, question["choices"]) if answer.found else None
        self.rows.append({"id": question["id"], "answerable": question["answerable"], "found": answer.found,
                          "correct": pick == question["answer_index"], "verified": answer.found and not answer.unsupported,
                          "first": first, "total": total, "answer": answer.text})

    def report(self) -> str:
        def share(rows: list[dict], key: str) -> str:
            return f"{sum(r[key] for r in rows) / len(rows):.3f}" if rows else "-"
        answerable = [r for r in self.rows if r["answerable"]]
        unanswerable = [r for r in self.rows if not r["answerable"]]
        found = [r for r in self.rows if r["found"]]
        firsts, totals = [r["first"] for r in self.rows], [r["total"] for r in self.rows]
        declined_answerable = sum(not r["found"] for r in answerable) / max(len(answerable), 1)
        declined_unanswerable = sum(not r["found"] for r in unanswerable) / max(len(unanswerable), 1)
        return (f"budget {self.budget or 'whole'}: MC accuracy answerable {share(answerable, 'correct')} "
                f"(n={len(answerable)}), all {share(self.rows, 'correct')} (n={len(self.rows)}); "
                f"declined: answerable {declined_answerable:.3f}, unanswerable {declined_unanswerable:.3f} "
                f"(n={len(unanswerable)}); every sentence verified {share(found, 'verified')} of {len(found)} found; "
                f"first token p50 {statistics.median(firsts):.1f} s p90 {p90(firsts):.1f} s; "
                f"total p50 {statistics.median(totals):.1f} s p90 {p90(totals):.1f} s")


def ask(news: NewsAssistant, question: dict, k: int) -> tuple[Answer, float, float]:
    """The answer to the question with its choices, searched with the question alone; (answer, TTFT, total)."""
    return timed_answer(news.stream_answer(with_choices(question), k=k, as_of=date.fromisoformat(question["date"]),
                                           mode="answer", search=question["question"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="store holding the ingested dev articles")
    parser.add_argument("--limit", type=int, default=0, help="first N questions only (0 = all)")
    parser.add_argument("--sample", type=int, default=0, help="a seeded random sample of N questions (0 = all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results.jsonl"), help="retrieved passages and answers, "
                        "in the eval kit's format (score.py)")
    parser.add_argument("--no-answer", action="store_true", help="retrieval only (about a minute)")
    parser.add_argument("--llm-provider", help="answering backend (default: LLM_PROVIDER's default)")
    parser.add_argument("--budgets", default="", help="LLM_CONTEXT_TOKENS values to compare, e.g. 200,400,800,0 "
                        "(0 = whole passages; default: the setting)")
    parser.add_argument("--k", type=int, default=0, help="passages given to the answerer (default: TOP_K)")
    args = parser.parse_args()

    overrides = {"llm_provider": args.llm_provider} if args.llm_provider else {}
    settings = Settings(data_dir=args.data_dir, _env_file=None, **overrides)  # type: ignore[call-arg]
    news = NewsAssistant.from_settings(settings)
    if news.store.count_articles() == 0:
        raise SystemExit(f"{args.data_dir}: no articles stored; run bench/ingest.py --limit 0 --keep {args.data_dir}")
    questions = load_questions()[: args.limit or None]
    if args.sample and args.sample < len(questions):
        questions = random.Random(args.seed).sample(questions, args.sample)
    print(f"{len(questions)} questions ({sum(q['answerable'] for q in questions)} answerable), "
          f"{news.store.count_articles()} articles, {news.store.count_chunks()} passages", flush=True)

    retrieved: dict[str, list[str]] = {}
    leaky: dict[str, list[str]] = {}
    seconds: list[float] = []
    for question in questions:
        as_of = date.fromisoformat(question["date"])
        started = time.perf_counter()
        retrieved[question["id"]] = [p.text for p in news.retrieve(question["question"], k=10, as_of=as_of)]
        seconds.append(time.perf_counter() - started)
        leaky[question["id"]] = [p.text for p in news.retrieve(with_choices(question), k=10, as_of=as_of)]
    figures = recall(retrieved, questions)
    print("retrieval, question alone: " + " ".join(f"recall@{k} {v:.3f}" for k, v in figures.items())
          + f"; p50 {statistics.median(seconds) * 1000:.0f} ms, p90 {p90(seconds) * 1000:.0f} ms "
          "per question (embedding included)", flush=True)
    print("  (secondary, leaky: choices appended to the query: "
          + " ".join(f"recall@{k} {v:.3f}" for k, v in recall(leaky, questions).items()) + ")", flush=True)

    answers: dict[str, str] = {}
    if not args.no_answer:
        budgets = [int(b) for b in args.budgets.split(",") if b.strip()] or [settings.llm_context_tokens]
        print(f"answering backend {news.answerer.name}", flush=True)
        ask(news, questions[0], args.k or settings.top_k)  # untimed: loads the model, evaluates the system prompt
        runs = [AnswerRun(budget) for budget in budgets]
        files = [args.out.with_name(f"{args.out.stem}-answers-{budget or 'whole'}.jsonl").open("w") for budget in budgets]
        # Question by question, every budget in turn: the budgets share the same load, and the rows written
        # so far are a fair comparison should the run be stopped.
        for number, question in enumerate(questions, start=1):
            for run, file in zip(runs, files, strict=True):
                if hasattr(news.answerer, "context_tokens"):
                    news.answerer.context_tokens = run.budget  # the same loaded model for every budget
                elif len(budgets) > 1:
                    raise SystemExit(f"--budgets: backend {news.answerer.name} has no token budget")
                answer, first, total = ask(news, question, args.k or settings.top_k)
                run.add(question, answer, first, total)
                file.write(json.dumps(run.rows[-1]) + "\n")
                file.flush()
                answers[question["id"]] = answer.text
            if number % 10 == 0 or number == len(questions):
                print(f"after {number}/{len(questions)} questions:", flush=True)
                for run in runs:
                    print("  " + run.report(), flush=True)
        for file in files:
            file.close()
    with args.out.open("w", encoding="utf-8") as out:
        for question in questions:
            out.write(json.dumps({"id": question["id"], "passages": retrieved[question["id"]],
                                  "answer": answers.get(question["id"], "")}) + "\n")


if __name__ == "__main__":
    main()
