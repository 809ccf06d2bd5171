"""llama.cpp settings of the local model against the time to its first token, on the real answer prompts.

The answer prompts of `--questions` dev questions (retrieval and trimming as the chat does them) are built
once; then each setting runs in a fresh process, alternating (ABAB), and answers every prompt after one
untimed prompt that evaluates the fixed system part. Per setting: prompt tokens evaluated per question
(the rest reused from the previous prompt), prompt evaluation rate, time to the first token, generation
rate and whole time, from llama.cpp's own counters (assistant/answering/answerers/llamacpp.py `Usage`).

    python bench/llm_settings.py --data-dir /tmp/devstore --rounds 2 \\
        --setting batch=256 --setting batch=512 --setting batch=512,flash=1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import load_questions

from assistant.config import Settings


def build_prompts(data_dir: Path, count: int, k: int) -> list[list[dict[str, str]]]:
    """The chat messages of the answer prompt of the first `count` dev questions that reach the model."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from assistant.answering.answerers.chat import ChatAnswerer
    from assistant.chain import NewsAssistant

    settings = Settings(data_dir=data_dir, llm_provider="extractive", _env_file=None)  # type: ignore[call-arg]
    news = NewsAssistant.from_settings(settings)
    answerer = ChatAnswerer("bench", FakeListChatModel(responses=[""]), news.retriever.encoder, "",
                            min_relevance=settings.min_relevance, context_tokens=settings.llm_context_tokens)
    prompts = []
    for question in load_questions():
        as_of = date.fromisoformat(question["date"])
        passages = news.retrieve(question["question"], k, as_of=as_of)
        if not passages or max(passage.score for passage in passages) < answerer.min_relevance:
            continue
        roles = {"system": "system", "human": "user"}
        prompts.append([{"role": roles[message.type], "content": str(message.text)}
                        for message in answerer.messages(question["question"], passages, as_of)])
        if len(prompts) == count:
            break
    return prompts


def run_setting(prompts_file: Path, data_dir: Path, setting: dict[str, str]) -> dict[str, object]:
    """Answers every prompt with one setting (in this process): the medians, and the answers' texts."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from assistant.answering.answerers.gguf import default_model_path
    from assistant.answering.answerers.llamacpp import LlamaCppChatModel, load_model

    prompts = json.loads(prompts_file.read_text())
    loaded = load_model(default_model_path(data_dir.resolve()), int(setting.get("ctx", 4096)),
                        int(setting["threads"]) if "threads" in setting else None, int(setting.get("batch", 256)),
                        setting.get("flash", "0") == "1")
    model = LlamaCppChatModel(loaded=loaded, max_tokens=200)
    rows, texts = [], []
    for number, chat in enumerate(prompts):
        messages = [SystemMessage(chat[0]["content"]), HumanMessage(chat[1]["content"])]
        started = time.perf_counter()
        first = None
        pieces = []
        for chunk in model.stream(messages):
            if first is None:
                first = time.perf_counter() - started
            pieces.append(str(chunk.text))
        texts.append("".join(pieces))
        usage = loaded.last_usage
        assert usage is not None
        if number:  # the first prompt evaluates the fixed system part: not timed
            rows.append((first or usage.total_seconds, usage.total_seconds, usage.evaluated, usage.prompt_tokens,
                         usage.evaluated / usage.prompt_seconds if usage.prompt_seconds else 0.0,
                         usage.generated / usage.generation_seconds if usage.generation_seconds else 0.0))
    keys = ("first_token_s", "total_s", "evaluated_tokens", "prompt_tokens", "prompt_tokens_per_s", "gen_tokens_per_s")
    return {**{key: statistics.median(row[index] for row in rows) for index, key in enumerate(keys)}, "texts": texts}


def parse_setting(text: str) -> dict[str, str]:
    pairs = [part.split("=", 1) for part in text.split(",") if part]
    if any(len(pair) != 2 or pair[0] not in {"batch", "flash", "ctx", "threads"} for pair in pairs):
        raise SystemExit(f"--setting {text!r}: expected key=value pairs of batch, flash, ctx, threads")
    return dict(pairs)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="a store of ingested dev articles")
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--setting", action="append", default=[], help="e.g. batch=512,flash=1 (repeatable)")
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)  # one setting, in a fresh process
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_setting(args.run, args.data_dir, parse_setting(args.setting[0]))))
        return
    for text in args.setting:
        parse_setting(text)  # a wrong setting stops here, before any model run
    with tempfile.TemporaryDirectory() as folder:
        prompts_file = Path(folder) / "prompts.json"
        prompts_file.write_text(json.dumps(build_prompts(args.data_dir, args.questions + 1, args.k)))
        first_texts: list[str] | None = None
        for round_number in range(1, args.rounds + 1):
            for text in args.setting or ["batch=256"]:
                load = os.getloadavg()[0]
                output = subprocess.run([sys.executable, __file__, "--data-dir", str(args.data_dir), "--run",
                                         str(prompts_file), "--setting", text], check=True, capture_output=True,
                                        text=True).stdout.strip().splitlines()[-1]
                result = json.loads(output)
                texts = result["texts"]
                first_texts = first_texts or texts
                same = sum(a == b for a, b in zip(texts, first_texts, strict=True))
                print(f"round {round_number} {text:>22}: first token {result['first_token_s']:.2f} s, total "
                      f"{result['total_s']:.2f} s | evaluated {result['evaluated_tokens']:.0f} of "
                      f"{result['prompt_tokens']:.0f} prompt tokens, {result['prompt_tokens_per_s']:.0f} tok/s | "
                      f"generation {result['gen_tokens_per_s']:.1f} tok/s | answers identical to the first "
                      f"setting's {same}/{len(texts)} | load {load:.1f}", flush=True)


if __name__ == "__main__":
    main()
