"""How often the news features fire on the dev questions, with real examples to judge them by.

Each dev question is asked alone (no choices), as of its own date, in mode "auto": the run counts the
questions answered as a timeline, the answers that report conflicting reports, the answers whose newest
article is more than STALE_DAYS older than the question's date, and the questions about a recent period
("this week", "today") that no relevant article was published in. It prints up to `--examples` answers of
each (question, answer, citations). Quiz questions do not ask for timelines, so it also answers a seeded
random sample of dev questions with mode="timeline" (labelled as forced), and `STORY_QUESTIONS`, timeline
questions written for this benchmark about stories the dev articles cover (not dev questions).

    python bench/news_features.py                      # /work/devstore, extractive answers
    python bench/news_features.py --data-dir /tmp/dev --llm-provider local --limit 40
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from common import load_questions

from assistant.answering.answerers.context import passage_sentences
from assistant.chain import NewsAssistant
from assistant.config import Settings
from assistant.news.conflicts import Disagreement, find_conflicts
from assistant.nlp.text import contains_phrase
from assistant.types import Answer

STORY_QUESTIONS = [  # written for this benchmark (not dev questions), each as of a date after the story
    ("How did the Boeing 737 Max 9 grounding unfold?", "2024-01-31"),
    ("Timeline of the Francis Scott Key Bridge collapse in Baltimore", "2024-04-30"),
    ("What happened with the Food Bank of Delaware since 2022?", "2024-01-19"),
    ("How did the push to ban TikTok in the US develop?", "2024-05-01"),
    ("Timeline of the ceasefire talks between Israel and Hamas", "2024-06-30"),
]


def shown(answer: Answer, question: dict[str, Any], note: str = "") -> str:
    lines = [f"--- {question['id']} (asked {question['date']}){note}: {question['question']}",
             f"answer ({answer.mode}, found={answer.found}):"]
    lines += ["    " + line for line in answer.text.splitlines() if line.strip()]
    if answer.freshness is not None:
        lines.append(f"freshness: {answer.freshness.sentence or '-'}")
    for citation in answer.citations:
        lines.append(f"  [{citation.n}] {citation.source or '-'}, {citation.published or 'undated'}: "
                     f"{citation.title[:90]} | quote: {' '.join(citation.quote.split())[:160]}")
    return "\n".join(lines)


def passage_disagreements(answer: Answer, min_relevance: float) -> list[Disagreement]:
    """A diagnostic, not what answers show: the detector run on every sentence of every relevant passage
    retrieved (answers compare only the sentences they rest on)."""
    relevant = [n for n, p in enumerate(answer.passages, start=1) if p.score >= min_relevance]
    found: list[Disagreement] = []
    for number in relevant:
        for sentence in passage_sentences(answer.passages[number - 1]):
            for disagreement in find_conflicts(answer.passages, {number: sentence}, relevant, answer.question):
                if all(kept.sides != disagreement.sides for kept in found):
                    found.append(disagreement)
    return found


def record(answer: Answer, question: dict[str, Any]) -> dict[str, Any]:
    return {"id": question["id"], "date": question["date"], "question": question["question"], "mode": answer.mode,
            "found": answer.found, "text": answer.text,
            "freshness": answer.freshness.sentence if answer.freshness else "",
            "stale": bool(answer.freshness and answer.freshness.stale),
            "window_empty": bool(answer.freshness and answer.freshness.window_empty),
            "conflicts": [conflict.sentence for conflict in answer.conflicts],
            "timeline": [f"{entry.label}: {entry.text} {list(entry.citations)}" for entry in answer.timeline],
            "citations": [{"n": c.n, "source": c.source, "published": c.published, "title": c.title, "quote": c.quote}
                          for c in answer.citations]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("/work/devstore"), help="store of the dev articles")
    parser.add_argument("--llm-provider", default="extractive", help="answering backend (default: extractive)")
    parser.add_argument("--limit", type=int, default=0, help="first N questions only (0 = all)")
    parser.add_argument("--examples", type=int, default=5, help="examples shown per feature")
    parser.add_argument("--forced-timelines", type=int, default=5,
                        help="seeded random questions also answered with mode='timeline'")
    parser.add_argument("--out", type=Path, help="write every answer's record here (JSON Lines)")
    args = parser.parse_args()

    settings = Settings(data_dir=args.data_dir, llm_provider=args.llm_provider, _env_file=None)  # type: ignore[call-arg]
    news = NewsAssistant.from_settings(settings)
    if news.store.count_articles() == 0:
        raise SystemExit(f"{args.data_dir}: no articles stored")
    questions = load_questions()[: args.limit or None]
    answers: list[tuple[dict[str, Any], Answer]] = []
    diagnosed: list[tuple[dict[str, Any], Answer, list[Disagreement]]] = []
    seconds = []
    out = args.out.open("w", encoding="utf-8") if args.out else None
    for question in questions:
        started = time.perf_counter()
        answer = news.answer(question["question"], as_of=date.fromisoformat(question["date"]))
        seconds.append(time.perf_counter() - started)
        answers.append((question, answer))
        if answer.mode == "answer":
            diagnosed.append((question, answer, passage_disagreements(answer, settings.min_relevance)))
        if out:
            out.write(json.dumps(record(answer, question), ensure_ascii=False) + "\n")

    features: dict[str, Callable[[Answer], bool]] = {
        "timeline (detected from the question)": lambda a: a.mode == "timeline",
        "conflicting reports": lambda a: bool(a.conflicts),
        "stale (newest article > STALE_DAYS before the question's date)": lambda a: bool(
            a.freshness and a.freshness.stale and not a.freshness.window_empty),
        "asked about a recent period with no article in it": lambda a: bool(a.freshness and a.freshness.window_empty),
    }
    print(f"{len(answers)} dev questions (question alone, as of its date), {news.store.count_articles()} articles, "
          f"backend {news.answerer.name}, STALE_DAYS={settings.stale_days:g}; "
          f"median {statistics.median(seconds) * 1000:.0f} ms per answer")
    print(f"found an answer: {sum(a.found for _, a in answers)}")
    asked_recent = sum(1 for _, a in answers if a.freshness and a.freshness.window)
    print(f"questions naming a recent period (today, this week, latest...): {asked_recent}")
    for name, test in features.items():
        print(f"{name}: {sum(test(a) for _, a in answers)}")
    withheld = [(q, a) for q, a in answers if a.freshness and a.freshness.window_empty]
    if withheld:  # what answering from the older articles anyway would have said
        drafts = []
        for question, answer in withheld:
            draft = news.answerer.draft(question["question"], answer.passages, date.fromisoformat(question["date"]))
            drafts.append(draft.found and contains_phrase(draft.text, question["answer_text"]))
        print(f"  of these {len(withheld)}: {sum(q['answerable'] for q, _ in withheld)} answerable from the corpus; "
              f"the answer withheld (the backend on the same older passages) would have named the right answer "
              f"in {sum(drafts)}")
    for name, test in features.items():
        chosen = [(q, a) for q, a in answers if test(a)][: args.examples]
        print(f"\n===== {name}: {len(chosen)} examples (the first in file order)")
        for question, answer in chosen:
            print(shown(answer, question))
    flagged = [(q, a, found) for q, a, found in diagnosed if found]
    print(f"\n===== diagnostic: the conflict detector on all relevant retrieved passages (not only the sentences "
          f"answers rest on): {len(flagged)} of {len(diagnosed)} questions; {args.examples} examples "
          f"(the first in file order)")
    for question, answer, found in flagged[: args.examples]:
        print(f"--- {question['id']} (asked {question['date']}): {question['question']}")
        for disagreement in found:
            print(f"  {disagreement.sentence()}")
            for number, _, sentence in disagreement.sides:
                passage = answer.passages[number - 1]
                print(f"    [{number}] {passage.source or '-'}, {passage.published or 'undated'}: {passage.title[:80]} "
                      f"| {' '.join(sentence.split())[:220]}")
    if args.forced_timelines:
        sample = random.Random(0).sample(questions, min(args.forced_timelines, len(questions)))
        print(f"\n===== timeline forced (mode='timeline') on {len(sample)} seeded random questions")
        for question in sample:
            answer = news.answer(question["question"], as_of=date.fromisoformat(question["date"]), mode="timeline")
            if out:
                out.write(json.dumps({**record(answer, question), "forced": True}, ensure_ascii=False) + "\n")
            print(shown(answer, question, " [forced timeline]"))
    print(f"\n===== timelines for {len(STORY_QUESTIONS)} questions written for this benchmark (mode 'auto')")
    for text, asked in STORY_QUESTIONS:
        answer = news.answer(text, as_of=date.fromisoformat(asked))
        question = {"id": "story", "date": asked, "question": text}
        if out:
            out.write(json.dumps({**record(answer, question), "story": True}, ensure_ascii=False) + "\n")
        print(shown(answer, question))
    if out:
        out.close()


if __name__ == "__main__":
    main()
