"""Answer latency of the local model: time to first token, total time, prompt tokens and where they go.

Each question is asked as of its own date, twice in the same run: with passages trimmed to their
most relevant sentences (LLM_CONTEXT_TOKENS) and with whole passages. Times run from the call to
`stream_answer` (retrieval included) to the first text piece and to the finished, verified Answer.
One untimed question first loads the model and evaluates the fixed system prompt. Per question, the
prompt tokens the model evaluated (the rest reused from the previous prompt: the fixed system part)
and its own prompt and generation times (llama.cpp's counters) are reported too.

    python bench/ingest.py --limit 100 --keep /tmp/smalldev     # or the full dev store
    python bench/answer.py --data-dir /tmp/smalldev
    python bench/answer.py --samples      # the five sample articles (ingest/samples), one question each
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from common import ROOT, load_questions, p90, timed_answer

from assistant.answering.answerers.chat import ChatAnswerer
from assistant.chain import NewsAssistant
from assistant.config import Settings


SAMPLE_QUESTIONS = [
    ("What did the Central Bank of Veldmark cut its key rate to?", date(2024, 6, 12)),
    ("How deep was the glowing snailfish found?", date(2024, 5, 8)),
    ("Who scored the winning goal in the National Cup final?", date(2024, 5, 25)),
    ("What was the highest temperature ever recorded in Valdera?", date(2024, 7, 22)),
    ("How long is Brennford's new Riverside tram line?", date(2024, 9, 14)),
]
"""One question per sample article (ingest/samples), each asked as of its article's date."""


@dataclass
class Run:
    first_token: float
    total: float
    prompt_tokens: int
    found: bool
    evaluated: int = 0
    prompt_seconds: float = 0.0
    generated: int = 0
    generation_seconds: float = 0.0


def ask(news: NewsAssistant, answerer: ChatAnswerer, question: str, as_of: date, k: int) -> Run:
    passages = news.retrieve(question, k, as_of=as_of)
    prompt = "\n".join(str(message.text) for message in answerer.messages(question, passages, as_of))
    prompt_tokens = answerer.model.get_num_tokens(prompt)
    final, first, total = timed_answer(news.stream_answer(question, k, as_of=as_of))
    usage = getattr(getattr(answerer.model, "loaded", None), "last_usage", None)
    if usage is None:
        return Run(first, total, prompt_tokens, final.found)
    return Run(first, total, prompt_tokens, final.found, usage.evaluated, usage.prompt_seconds, usage.generated,
               usage.generation_seconds)


def summary(label: str, runs: list[Run]) -> str:
    ttft = [run.first_token for run in runs]
    total = [run.total for run in runs]
    tokens = [float(run.prompt_tokens) for run in runs]
    evaluated = [float(run.evaluated) for run in runs]
    rate = [run.evaluated / run.prompt_seconds for run in runs if run.prompt_seconds]
    generation = [run.generated / run.generation_seconds for run in runs if run.generation_seconds]
    generated = [float(run.generated) for run in runs]
    return (f"{label:>16}: time to first token median {statistics.median(ttft):.2f} s, p90 {p90(ttft):.2f} s | "
            f"total median {statistics.median(total):.2f} s, p90 {p90(total):.2f} s | prompt tokens median "
            f"{statistics.median(tokens):.0f}, p90 {p90(tokens):.0f}, evaluated median "
            f"{statistics.median(evaluated):.0f} ({statistics.median(rate) if rate else 0:.0f} tok/s) | generated "
            f"median {statistics.median(generated):.0f} ({statistics.median(generation) if generation else 0:.1f} "
            f"tok/s) | answered {sum(run.found for run in runs)}/{len(runs)}")


def sample_store(folder: Path) -> Path:
    """A DATA_DIR holding the five sample articles (ingested with the default settings)."""
    data_dir = folder / "data"
    subprocess.run([sys.executable, "-m", "ingest", str(ROOT / "ingest" / "samples")], cwd=ROOT, check=True,
                   env={**__import__("os").environ, "DATA_DIR": str(data_dir), "LLM_PROVIDER": "extractive"},
                   stdout=subprocess.DEVNULL)
    return data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="store holding ingested dev articles")
    parser.add_argument("--samples", action="store_true", help="ask the sample articles' questions instead")
    parser.add_argument("--models", type=Path, help="with --samples: a folder holding the assembled model")
    parser.add_argument("--whole", action="store_true", help="also ask each question with whole passages")
    parser.add_argument("--limit", type=int, default=20, help="questions to ask")
    parser.add_argument("--k", type=int, default=5, help="passages per answer")
    args = parser.parse_args()

    if args.samples == bool(args.data_dir):
        raise SystemExit("give --data-dir (a store of dev articles) or --samples")
    with tempfile.TemporaryDirectory() as folder:
        data_dir = args.data_dir or sample_store(Path(folder))
        if args.samples and args.models:  # the assembled model, linked instead of assembled again (1.1 GB)
            (data_dir / "models").mkdir(exist_ok=True)
            for model in args.models.glob("*.gguf*"):
                (data_dir / "models" / model.name).symlink_to(model.resolve())
        measure(data_dir, args)


def measure(data_dir: Path, args: argparse.Namespace) -> None:
    settings = Settings(data_dir=data_dir, llm_provider="local", _env_file=None)  # type: ignore[call-arg]
    started = time.perf_counter()
    news = NewsAssistant.from_settings(settings)
    loading = time.perf_counter() - started
    if news.store.count_articles() == 0:
        raise SystemExit(f"{data_dir}: no articles stored; run bench/ingest.py --keep {data_dir}")
    answerer = news.answerer
    assert isinstance(answerer, ChatAnswerer)
    budget = answerer.context_tokens
    questions = []
    asked = SAMPLE_QUESTIONS if args.samples else [(question["question"], date.fromisoformat(question["date"]))
                                                   for question in load_questions()]
    for question, as_of in asked:  # questions that reach the model (retrieval found something relevant)
        passages = news.retrieve(question, args.k, as_of=as_of)
        if passages and max(passage.score for passage in passages) >= answerer.min_relevance:
            questions.append((question, as_of))
        if len(questions) == args.limit:
            break

    cold = ask(news, answerer, *questions[-1], args.k)
    print(f"models loaded in {loading:.1f} s; one question first (system prompt not yet cached): first token "
          f"{cold.first_token:.2f} s, total {cold.total:.2f} s")
    modes = [("trimmed", budget), *([("whole", 0)] if args.whole else [])]
    runs: dict[str, list[Run]] = {mode: [] for mode, _ in modes}
    for question, as_of in questions:
        for mode, tokens in modes:
            answerer.context_tokens = tokens
            runs[mode].append(ask(news, answerer, question, as_of, args.k))
    answerer.context_tokens = budget
    print(f"{len(questions)} {'sample' if args.samples else 'dev'} questions, k={args.k}, "
          f"{news.store.count_articles()} articles / {news.store.count_chunks()} chunks in {data_dir}, "
          f"backend {answerer.name}, LOCAL_BATCH {settings.local_batch}, LOCAL_FLASH_ATTENTION "
          f"{settings.local_flash_attention}")
    print(summary(f"trimmed ({budget} tok)", runs["trimmed"]))
    if args.whole:
        print(summary("whole passages", runs["whole"]))


if __name__ == "__main__":
    main()
