"""The cost of following questions: the check the ingest runs after writing, beside the ingest itself.

    python bench/follow.py --data-dir DEV_STORE                 # 200 follows, 100 new dev articles (the lead's run)
    python bench/follow.py --follows 10 --articles 5 --build 40 # small: a temporary store of 40 dev articles

On a copy of the dev store (DATA_DIR of `python bench/ingest.py --limit 0 --keep DIR`; the copy is made in a
temporary directory, so the store itself is not changed; copy it while no process writes to it), the first
--follows dev questions (bench/common.py load_questions) are followed, then --articles dev articles the store
does not hold yet are ingested (seeded sample). The ingest runs without the follow check, then the check runs
as the ingest pipeline runs it (`check_after_write`), timed apart: the added time must be at most 10% of the
ingest's. It reports how many follows were searched again (the retrieval-only check) and answered again.
Answers are extractive (LLM_PROVIDER=extractive) unless --llm keeps the configured backend.
With --build, the store is written just before the questions are followed: its articles are then still within
the check's overlap (the last 2 minutes before each answer, see assistant/following/check.py) and count as
changed, so the small run searches more follows again than a run on an older store does.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from common import dev_articles_path, load_questions, sample_lines

from assistant.chain import NewsAssistant
from assistant.config import Settings
from assistant.following import check_after_write, follow
from assistant.store.server import stop_server
from assistant.types import Article
from ingest.loaders import load_file
from ingest.pipeline import Ingestor

TARGET = 0.10


def _articles(lines: list[str], scratch: Path, name: str) -> list[Article]:
    path = scratch / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [item for item in load_file(path, max_bytes=10**10) if isinstance(item, Article)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="the dev store to copy (DATA_DIR)")
    parser.add_argument("--build", type=int, default=40,
                        help="without --data-dir: build a temporary store of this many dev articles first")
    parser.add_argument("--follows", type=int, default=200)
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hold-out", type=int, default=0, help="with --data-dir holding every dev article: delete "
                        "this many from the copy first, so they are new to it (then --articles of them are ingested)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the check to this file")
    parser.add_argument("--llm", action="store_true", help="answer with the configured LLM_PROVIDER")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        data_dir = scratch / "data"
        overrides = {} if args.llm else {"llm_provider": "extractive"}
        settings = Settings(data_dir=data_dir, _env_file=None, **overrides)  # type: ignore[call-arg]
        all_lines = sample_lines(dev_articles_path(), 0)
        if args.data_dir is not None:
            shutil.copytree(args.data_dir, data_dir,
                            ignore=shutil.ignore_patterns("*.sock", "*.lock", "chroma-server.json"))
            news = NewsAssistant.from_settings(settings)
        else:
            news = NewsAssistant.from_settings(settings)
            built = sample_lines(dev_articles_path(), args.build, args.seed)
            report = Ingestor(news.store, news.encoder).ingest(_articles(built, scratch, "built.jsonl"))
            print(f"built a store of {args.build} dev articles: {report.summary()}")
        try:
            if args.hold_out:  # stored dev articles taken out of the copy, to be ingested as the new ones
                held = random.Random(args.seed).sample(sorted(record.id for record in news.store.articles()),
                                                       args.hold_out)
                for article_id in held:
                    news.store.delete_article(article_id, by="bench")
                print(f"took {len(held)} stored articles out of the copy, to ingest them again", flush=True)
            stored = {record.id for record in news.store.articles()}
            stored |= {alternative.id for record in news.store.articles() for alternative in record.alternatives}
            print(f"store: {len(stored)} articles, {news.store.count_chunks()} passages; "
                  f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)

            questions = [q["question"] for q in load_questions()][: args.follows]
            started = time.perf_counter()
            for question in questions:
                follow(question, news=news)
            print(f"followed {len(questions)} questions in {time.perf_counter() - started:.1f} s", flush=True)

            fresh = [line for line in all_lines if json.loads(line).get("id") not in stored]
            new_lines = sample_lines(_write(fresh, scratch), args.articles, args.seed) if fresh else []
            articles = _articles(new_lines, scratch, "new.jsonl")
            ingestor = Ingestor(news.store, news.encoder, min(settings.chunk_max_tokens, news.encoder.max_tokens))
            report = ingestor.ingest(articles)  # no settings: the pipeline does not check the follows itself
            print(f"ingest of {len(articles)} new dev articles: {report.summary()}", flush=True)

            profiler = cProfile.Profile() if args.profile else None
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            check = check_after_write(settings, news.store, news.encoder, news=news)
            added = time.perf_counter() - started
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
                print(f"profile of the check: {args.profile} (python -m pstats)")
            print(f"follow check: {check.summary() if check else 'no follows'}")
            print(f"ingest without the check {report.seconds:.1f} s, with it {report.seconds + added:.1f} s: "
                  f"added {added:.2f} s = {added / report.seconds:.1%} of the ingest (target <= {TARGET:.0%})")
            if check:
                deciding = added - check.answer_seconds
                print(f"  of which deciding whom to answer again (the checks) {deciding:.2f} s = "
                      f"{deciding / report.seconds:.1%} of the ingest, answering again {check.answer_seconds:.2f} s "
                      f"({check.re_answered} answers, {check.answer_seconds / max(check.re_answered, 1):.2f} s each)")
                print(f"  deciding: the {check.checked} retrieval-only checks {check.search_seconds:.2f} s, the change "
                      f"log and the test without a search {deciding - check.search_seconds:.2f} s")
            if check:
                print(f"retrieval checks (searched again): {check.checked} of {check.follows} follows; "
                      f"re-answered {check.re_answered}; changed {check.changed}")
            print(f"load average at end {os.getloadavg()[0]:.2f}")
        finally:
            stop_server(data_dir)


def _write(lines: list[str], scratch: Path) -> Path:
    path = scratch / "fresh.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    main()
