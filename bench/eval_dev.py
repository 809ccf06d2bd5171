"""The dev set as users ask it, scored against the hand-checked support labels (support.jsonl).

Each question is asked as of its own date, the search with the question alone.

* Retrieval: support recall@1/5/10 over supported questions (a passage of a supporting article, or of a
  near-duplicate stored in its place, among the first k). Secondary, labelled "loose": the eval kit's
  answer-string recall over the split's "answerable" questions, and the leaky figure with the four
  choices appended to the query (they contain the answer), never to tune on.
* Answers (unless --no-answer): `NewsAssistant.stream_answer(question + " Options: a; b; c; d.", search=question)`,
  the same chain as the chat and `answer()`; nothing here changes how an answer is made, the bench only
  reads extra diagnostics beside it (the streamed draft before the citation check, the answerer's own
  prompt via its `messages`). On supported questions: right / wrong / declined; on the rest (unsupported
  "answerable" and unanswerable): declined / answered; wrong-but-cited (a found answer naming a wrong
  choice). Every figure with its 95% Wilson score interval (bench/support_scoring.py). Then the loss
  table: the stage that lost each supported question not answered right, and for each answered question
  no article answers, the passage it cited and why nothing stopped it. Time to first text and total time.
* --out: one JSON line per question (the eval kit's `id`, `passages`, `answer`, so score.py reads it too,
  and every diagnostic the loss table uses), for comparing runs later. With several --budgets, one file
  per budget (`<out>-<budget>.jsonl`).
* `--budgets 200,400,800,0` repeats the answers for each LLM_CONTEXT_TOKENS (0 = whole passages) in one
  process, so the budgets are compared under the same load.

    python bench/ingest.py --limit 0 --keep /tmp/devstore      # once: the full dev corpus
    python bench/eval_dev.py --data-dir /tmp/devstore --no-answer          # retrieval, ~1 minute
    python bench/eval_dev.py --data-dir /tmp/devstore --out /tmp/run.jsonl # everything, full set

A small store for checking the bench: the supporting and first search articles of a seeded, balanced
sample of questions, then the same sample asked:

    python bench/eval_dev.py --sample 40 --balanced --search-articles 5 --write-articles /tmp/dev-small.jsonl
    DATA_DIR=/tmp/dev-small python -m ingest /tmp/dev-small.jsonl
    LLM_PROVIDER=extractive python bench/eval_dev.py --data-dir /tmp/dev-small --sample 40 --balanced
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import support_scoring as scoring
from common import DEV, ROOT, load_questions, load_support, p90, timed_answer

from assistant.answering.answerers import NOT_FOUND
from assistant.answering.answerers.chat import is_not_found
from assistant.chain import NewsAssistant
from assistant.config import Settings
from assistant.nlp.key_terms import answer_terms, occurs, proper_nouns, question_core
from assistant.types import Answer, Citation, Passage

sys.path.insert(0, str(DEV.parent))
from score import has_answer  # noqa: E402  the eval kit's own scorer
from score import mc_pick as kit_mc_pick  # noqa: E402

KS = (1, 5, 10)
_PROMPT_PASSAGES = re.compile(r"<passages>\n(.*)\n</passages>", re.DOTALL)
_PROMPT_NUMBER = re.compile(r"^\[(\d+)\] ", re.MULTILINE)


def with_choices(question: dict) -> str:
    return f"{question['question']} Options: {'; '.join(question['choices'])}."


def recall(retrieved: dict[str, list[str]], questions: list[dict]) -> dict[int, float]:
    """The eval kit's answer-string recall@k over the split's "answerable" questions (loose)."""
    answerable = [q for q in questions if q["answerable"]]
    return {k: sum(any(has_answer(text, q["answer_text"]) for text in retrieved[q["id"]][:k])
                   for q in answerable) / max(len(answerable), 1) for k in KS}


def select_questions(questions: list[dict], labels: dict[str, dict], limit: int, sample: int, balanced: bool,
                     seed: int) -> list[dict]:
    """The first `limit` questions (0 = all), then a seeded sample of `sample` of them (0 = all); `balanced`:
    half of the sample supported, half not. In the split's order."""
    questions = questions[: limit or None]
    if sample and sample < len(questions):
        rng = random.Random(seed)
        if balanced:
            supported = [q for q in questions if scoring.group_of(q, labels.get(q["id"])) == scoring.SUPPORTED]
            rest = [q for q in questions if scoring.group_of(q, labels.get(q["id"])) != scoring.SUPPORTED]
            half = min(sample // 2, len(supported))
            chosen = rng.sample(supported, half) + rng.sample(rest, min(sample - half, len(rest)))
        else:
            chosen = rng.sample(questions, sample)
        keep = {q["id"] for q in chosen}
        questions = [q for q in questions if q["id"] in keep]
    return questions


def write_articles(path: Path, questions: list[dict], labels: dict[str, dict], search_articles: int) -> int:
    """The dev articles these questions need (supporting ones, and the first `search_articles` of each web
    search, 0 = all) as a JSONL file for `python -m ingest`; returns how many. Outside the repository only."""
    wanted: set[str] = set()
    for question in questions:
        wanted.update((labels.get(question["id"]) or {}).get("article_ids") or [])
        wanted.update(question["search_article_ids"][: search_articles or None])
    lines = [line for line in (DEV / "articles.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip() and json.loads(line)["id"] in wanted]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def ask(news: NewsAssistant, question: dict, k: int, streamed: list[str] | None = None) -> tuple[Answer, float, float]:
    """The answer to the question with its choices, searched with the question alone; (answer, TTFT, total)."""
    return timed_answer(news.stream_answer(with_choices(question), k=k, as_of=date.fromisoformat(question["date"]),
                                           mode="answer", search=question["question"]), streamed)


def answerer_input(news: NewsAssistant, question: str, passages: Sequence[Passage],
                   as_of: date) -> tuple[set[int], str]:
    """The passage numbers the answerer reads and the text it reads, from its own code: an LLM backend's
    prompt (its `messages`: the passages scoring MIN_RELEVANCE or more, trimmed by `fit_passages` to
    LLM_CONTEXT_TOKENS); a backend without a prompt (extractive) reads every passage whole once one passes
    its MIN_RELEVANCE gate."""
    answerer = news.answerer
    messages = getattr(answerer, "messages", None)
    if callable(messages):
        prompt = str(messages(question, passages, as_of)[-1].content)
        match = _PROMPT_PASSAGES.search(prompt)
        block = match.group(1) if match else ""
        return {int(number) for number in _PROMPT_NUMBER.findall(block)}, block
    gate = getattr(answerer, "min_relevance", news.settings.min_relevance)
    if not passages or max(passage.score for passage in passages) < gate:
        return set(), ""
    return set(range(1, len(passages) + 1)), "\n\n".join(passage.text for passage in passages)


@dataclass
class Context:
    """What every question's record needs besides its own answer."""

    news: NewsAssistant
    labels: dict[str, dict]
    aliases: dict[str, str]
    """A near-duplicate's id -> the id of the stored article it was recorded under."""
    stored: set[str]


def supporting_ids(context: Context, question: dict) -> set[str]:
    label = context.labels.get(question["id"]) or {}
    return {context.aliases.get(article_id, article_id) for article_id in label.get("article_ids") or []}


def retrieval_record(context: Context, question: dict, retrieved: list[Passage]) -> dict[str, Any]:
    """The question's row before answering: its group, the labels and the question-alone top 10."""
    label = context.labels.get(question["id"]) or {}
    support = supporting_ids(context, question)
    support_rank = next((rank for rank, passage in enumerate(retrieved, start=1) if passage.article_id in support),
                        None)
    loose_rank = next((rank for rank, passage in enumerate(retrieved, start=1)
                       if has_answer(passage.text, question["answer_text"])), None)
    return {"id": question["id"], "date": question["date"], "question": question["question"],
            "choices": question["choices"], "gold": question["answer_index"],
            "group": scoring.group_of(question, label), "answerable": question["answerable"],
            "support_ids": sorted(support), "support_in_store": bool(support & context.stored),
            "evidence": label.get("evidence", ""), "support_rank": support_rank, "loose_rank": loose_rank,
            "passages": [passage.text for passage in retrieved],
            "retrieved": [{"article_id": p.article_id, "score": round(p.score, 4), "published": p.published}
                          for p in retrieved]}


def answer_record(context: Context, question: dict, row: dict[str, Any], answer: Answer, streamed: str,
                  first: float, total: float, budget: int | None) -> dict[str, Any]:
    """The row completed with the answer and the diagnostics the loss table reads."""
    news, as_of = context.news, date.fromisoformat(question["date"])
    support = set(row["support_ids"])
    evidence = row["evidence"]
    given = [{"n": number, "article_id": p.article_id, "score": round(p.score, 4), "published": p.published,
              "supporting": p.article_id in support, "holds_evidence": bool(evidence)
              and scoring.holds_evidence(p.text, evidence)}
             for number, p in enumerate(answer.passages, start=1)]
    support_given = [item for item in given if item["supporting"]]
    read, read_text = (answerer_input(news, with_choices(question).strip(), answer.passages, as_of)
                       if support_given else (set(), ""))
    pick = scoring.answer_pick(answer.text, question["choices"]) if answer.found else None
    draft_declined = not streamed.strip() or streamed.strip() == NOT_FOUND or is_not_found(streamed)
    freshness = answer.freshness
    window = freshness.window if freshness else None
    row = {**row, "answer": scoring.strip_markers(answer.text), "answer_text": answer.text, "found": answer.found,
           "pick": pick, "draft_text": streamed, "draft_declined": draft_declined,
           "draft_pick": None if draft_declined else scoring.answer_pick(streamed, question["choices"]),
           "period_rule": bool(freshness and freshness.window_empty),
           "asked_period": f"{window[0]}..{window[1]}" if window else None,
           "given": given, "support_given": bool(support_given),
           "support_score": max((item["score"] for item in support_given), default=None),
           "support_shown": any(item["n"] in read for item in support_given),
           "evidence_given": any(item["holds_evidence"] for item in given),
           "evidence_passage_read": any(item["holds_evidence"] and item["n"] in read for item in given)
           if evidence and support_given else None,
           "evidence_shown": scoring.holds_evidence(read_text, evidence) if evidence and support_given else None,
           "citations": [citation_record(c, answer.passages, support, question["choices"], pick)
                         for c in answer.citations],
           "unsupported": answer.unsupported, "min_relevance": news.settings.min_relevance,
           "backend": answer.backend, "budget": budget, "first_s": round(first, 3), "total_s": round(total, 3)}
    row["key_terms"] = key_term_check(answer, with_choices(question)) if answer.found else []
    row["outcome"] = scoring.outcome(row)
    row["stage"] = scoring.loss_stage(row)
    return row


def citation_record(citation: Citation, passages: Sequence[Passage], support: set[str], choices: list[str],
                    pick: int | None) -> dict[str, Any]:
    """A citation of the answer: which given passage (1-based rank) it is, its article and quote."""
    rank = next((number for number, passage in enumerate(passages, start=1)
                 if passage.article_id == citation.article_id and passage.text == citation.passage), None)
    return {"n": citation.n, "passage": rank, "article_id": citation.article_id, "title": citation.title,
            "published": citation.published, "score": round(citation.score, 4), "quote": citation.quote,
            "supporting": citation.article_id in support,
            "names_pick": pick is not None and has_answer(f"{citation.title}\n{citation.passage}", choices[pick])}


def key_term_check(answer: Answer, question: str) -> list[dict[str, Any]]:
    """The answer's key terms (names, numbers, dates the question does not hold, assistant/nlp/key_terms.py)
    and whether one of its cited passages states each: what the citation check's key-term rule saw."""
    names = proper_nouns([question, *(passage.text for passage in answer.passages)])
    haystacks = [f"{c.title}\n{c.source}\n{c.published}\n{c.passage}" for c in answer.citations]
    terms = answer_terms(scoring.strip_markers(answer.text), question_core(question), names)
    return [{"text": term.text, "kind": term.kind, "held": any(occurs(term, haystack) for haystack in haystacks)}
            for term in terms]


@dataclass
class AnswerRun:
    budget: int | None
    """LLM_CONTEXT_TOKENS (0 = whole passages); None for a backend without a prompt (extractive)."""
    rows: list[dict] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.budget is None:
            return "no token budget (the backend reads whole passages)"
        return f"budget {self.budget or 'whole'} (LLM_CONTEXT_TOKENS)"

    def progress(self) -> str:
        f = scoring.figures(self.rows)
        firsts, totals = [r["first_s"] for r in self.rows], [r["total_s"] for r in self.rows]
        return (f"{self.label}: supported right {f['supported_right']}, declined "
                f"{f['supported_declined']}; the rest declined {f['rest_declined']}; first text p50 "
                f"{statistics.median(firsts):.1f} s, total p50 {statistics.median(totals):.1f} s")

    def report(self) -> list[str]:
        rows = self.rows
        firsts, totals = [r["first_s"] for r in rows], [r["total_s"] for r in rows]
        answerable = [r for r in rows if r["answerable"]]
        found = [r for r in rows if r["found"]]
        verified = sum(1 for r in found if r["citations"] and not r["unsupported"])
        return [f"answers, {self.label}, backend {rows[0]['backend']}:",
                *scoring.report_lines(rows),
                f"  time: first text p50 {statistics.median(firsts):.1f} s p90 {p90(firsts):.1f} s; "
                f"total p50 {statistics.median(totals):.1f} s p90 {p90(totals):.1f} s",
                f"  (secondary, loose: MC accuracy on the split's 'answerable' "
                f"{scoring.share(answerable, scoring.is_right)}, on all {scoring.share(rows, scoring.is_right)}; "
                f"every sentence verified {verified} of {len(found)} found)",
                *scoring.loss_lines(rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="store holding the ingested dev articles")
    parser.add_argument("--limit", type=int, default=0, help="first N questions only (0 = all)")
    parser.add_argument("--sample", type=int, default=0, help="a seeded random sample of N questions (0 = all)")
    parser.add_argument("--balanced", action="store_true", help="with --sample: half supported, half not")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-articles", type=Path, metavar="PATH",
                        help="write the chosen questions' articles (supporting + search) to PATH for "
                             "`python -m ingest`, then stop (keep PATH outside the repository)")
    parser.add_argument("--search-articles", type=int, default=0,
                        help="with --write-articles: the first N search articles of each question (0 = all)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "eval_dev-results.jsonl",
                        help="per-question rows (JSONL; also readable by the eval kit's score.py); outside the "
                             "repository: they hold the dev articles' passages (default: %(default)s)")
    parser.add_argument("--no-answer", action="store_true", help="retrieval only (about a minute)")
    parser.add_argument("--llm-provider", help="answering backend (default: LLM_PROVIDER's default)")
    parser.add_argument("--keyword-engine", choices=["tantivy", "fts5"],
                        help="KEYWORD_ENGINE (default: the setting's default); a first use fills it from Chroma")
    parser.add_argument("--budgets", default="", help="LLM_CONTEXT_TOKENS values to compare, e.g. 200,400,800,0 "
                        "(0 = whole passages; default: the setting)")
    parser.add_argument("--k", type=int, default=0, help="passages given to the answerer (default: TOP_K)")
    args = parser.parse_args()
    for path in (args.write_articles, args.out):
        if path is not None and path.resolve().is_relative_to(ROOT):
            raise SystemExit(f"{path}: inside the repository; the dev articles must stay out of it (use /tmp)")

    labels = load_support()
    questions = select_questions(load_questions(), labels, args.limit, args.sample, args.balanced, args.seed)
    if args.write_articles:
        count = write_articles(args.write_articles, questions, labels, args.search_articles)
        print(f"{count} articles of {len(questions)} questions written to {args.write_articles}")
        return
    if args.data_dir is None:
        raise SystemExit("--data-dir is required (or --write-articles PATH)")
    differ = scoring.agrees_with(kit_mc_pick, load_questions())
    if differ:
        raise SystemExit(f"bench/support_scoring.py: mc_pick differs from {DEV.parent / 'score.py'} on "
                         f"{', '.join(differ[:5])}: copy the kit's mc_pick again")

    overrides = {"llm_provider": args.llm_provider} if args.llm_provider else {}
    if args.keyword_engine:
        overrides["keyword_engine"] = args.keyword_engine
    settings = Settings(data_dir=args.data_dir, _env_file=None, **overrides)  # type: ignore[call-arg]
    news = NewsAssistant.from_settings(settings)
    if news.store.count_articles() == 0:
        raise SystemExit(f"{args.data_dir}: no articles stored; run bench/ingest.py --limit 0 --keep {args.data_dir}")
    records = news.store.articles()
    context = Context(news, labels, {copy.id: record.id for record in records for copy in record.alternatives},
                      {record.id for record in records})
    groups = [scoring.group_of(q, labels.get(q["id"])) for q in questions]
    print(f"{len(questions)} questions ({groups.count(scoring.SUPPORTED)} supported, "
          f"{groups.count(scoring.UNSUPPORTED)} unsupported 'answerable', {groups.count(scoring.UNANSWERABLE)} "
          f"unanswerable), {news.store.count_articles()} articles, {news.store.count_chunks()} passages", flush=True)

    rows: dict[str, dict] = {}
    retrieved: dict[str, list[str]] = {}
    leaky: dict[str, list[str]] = {}
    seconds: list[float] = []
    for question in questions:
        as_of = date.fromisoformat(question["date"])
        started = time.perf_counter()
        passages = news.retrieve(question["question"], k=10, as_of=as_of)
        seconds.append(time.perf_counter() - started)
        rows[question["id"]] = retrieval_record(context, question, passages)
        retrieved[question["id"]] = [p.text for p in passages]
        leaky[question["id"]] = [p.text for p in news.retrieve(with_choices(question), k=10, as_of=as_of)]
    figures = scoring.recall_figures(list(rows.values()))
    print(f"retrieval, question alone ({scoring.INTERVAL}): "
          + "  ".join(f"support recall@{k} {figures[f'support_recall@{k}']}" for k in KS)
          + f"; p50 {statistics.median(seconds) * 1000:.0f} ms, p90 {p90(seconds) * 1000:.0f} ms per question",
          flush=True)
    print("  (secondary, loose: answer-string recall over 'answerable' "
          + " ".join(f"@{k} {v:.3f}" for k, v in recall(retrieved, questions).items())
          + "; leaky, choices appended to the query: "
          + " ".join(f"@{k} {v:.3f}" for k, v in recall(leaky, questions).items()) + ")", flush=True)

    if args.no_answer:
        write_rows(args.out, [rows[q["id"]] for q in questions])
        return
    budgets = [int(b) for b in args.budgets.split(",") if b.strip()] or [settings.llm_context_tokens]
    print(f"answering backend {news.answerer.name}", flush=True)
    ask(news, questions[0], args.k or settings.top_k)  # untimed: loads the model, evaluates the system prompt
    budgeted = hasattr(news.answerer, "context_tokens")
    if len(budgets) > 1 and not budgeted:
        raise SystemExit(f"--budgets: backend {news.answerer.name} has no token budget")
    runs = [AnswerRun(budget if budgeted else None) for budget in budgets]
    paths = [args.out] if len(budgets) == 1 else \
        [args.out.with_name(f"{args.out.stem}-{budget or 'whole'}.jsonl") for budget in budgets]
    files = [path.open("w", encoding="utf-8") for path in paths]
    # Question by question, every budget in turn: the budgets share the same load, and the rows written
    # so far are a fair comparison should the run be stopped.
    for number, question in enumerate(questions, start=1):
        for run, file in zip(runs, files, strict=True):
            if run.budget is not None:
                news.answerer.context_tokens = run.budget  # type: ignore[attr-defined]  # the same loaded model
            streamed: list[str] = []
            answer, first, total = ask(news, question, args.k or settings.top_k, streamed)
            run.rows.append(answer_record(context, question, rows[question["id"]], answer, "".join(streamed),
                                          first, total, run.budget))
            file.write(json.dumps(run.rows[-1]) + "\n")
            file.flush()
        if number % 10 == 0 or number == len(questions):
            print(f"after {number}/{len(questions)} questions:", flush=True)
            for run in runs:
                print("  " + run.progress(), flush=True)
    for file in files:
        file.close()
    for run, path in zip(runs, paths, strict=True):
        print("\n".join(run.report()))
        print(f"rows: {path}")


def write_rows(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    print(f"rows: {path}")


if __name__ == "__main__":
    main()
