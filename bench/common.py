"""Helpers shared by the benchmark scripts: the dev set's location and a seeded article sample."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

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
