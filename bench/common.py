"""Helpers shared by the benchmark scripts: the dev set's location and a seeded article sample."""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEV = ROOT.parent / "shared" / "eval" / "realtimeqa-dev"


def dev_articles_path() -> Path:
    path = DEV / "articles.jsonl"
    if not path.exists():
        raise SystemExit(f"{path}: dev set not found (expected ../shared/eval beside the checkout)")
    return path


def sample_lines(path: Path, limit: int, seed: int = 0) -> list[str]:
    """All lines when limit is 0, else a seeded random sample of `limit` lines in file order."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if limit and limit < len(lines):
        keep = set(random.Random(seed).sample(range(len(lines)), limit))
        lines = [line for index, line in enumerate(lines) if index in keep]
    return lines


def load_questions() -> list[dict]:
    return [json.loads(line) for line in (DEV / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line]


def load_support() -> dict[str, dict]:
    """The hand-checked support labels (support.jsonl) by question id; questions without a line are unanswerable."""
    path = DEV / "support.jsonl"
    if not path.exists():
        raise SystemExit(f"{path}: support labels not found (expected ../shared/eval beside the checkout)")
    labels = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                label = json.loads(line)
            except json.JSONDecodeError as error:
                raise SystemExit(f"{path}:{number}: bad JSON ({error})") from None
            labels[label["id"]] = label
    return labels


def p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]


def timed_answer(pieces: Iterable[Any], streamed: list[str] | None = None) -> tuple[Any, float, float]:
    """Consume a `stream_answer` stream: (the final Answer, seconds to its first text piece, total seconds).

    Timing starts when the stream is first iterated; call right after creating it. `streamed`, when given,
    receives the text pieces as they came (the backend's draft, before the citation check)."""
    started = time.perf_counter()
    first = None
    final = None
    for piece in pieces:
        if not isinstance(piece, str):
            final = piece
            continue
        if streamed is not None:
            streamed.append(piece)
        if first is None and piece.strip():
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    assert final is not None, "the stream ended without an Answer"
    return final, first if first is not None else total, total
