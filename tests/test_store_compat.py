"""The on-disk store stays compatible across the restructure of issue 21: a DATA_DIR written by the code of the
commit before it (OLD_COMMIT, checked out as a git worktree and run as `python -m ingest`, with its own local
Chroma server) opens with today's code and answers without re-ingesting or re-embedding anything.

Needs the full git history (CI clones it whole); a shallow clone fails here with a message saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import make_assistant

from assistant.config import Settings
from assistant.encoders.embeddings import MiniLMEmbeddings

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
OLD_COMMIT = "e2b7a2c"
"""The last commit before assistant/ became subpackages (db0d13f)."""
QUESTION = "How close to Grindavik did the lava get?"
TITLE = "Lava Flow Stops 3.5 Kilometres Short of Grindavik After New Eruption"  # tests/fixtures/expected.json
ANSWER_HOLDS = "3.5 kilometres"

# Run with the old code: what its store holds, read through its own ChunkStore.
_DUMP = """
import hashlib, json
import numpy as np
from assistant.config import get_settings
from assistant.store import build_store

store = build_store(get_settings(), check_vectors=False)
chunks = store.chunks.get(include=["embeddings"])
print(json.dumps({
    "metadata": dict(store.chunks.metadata or {}),
    "vectors": {chunk_id: hashlib.sha256(np.asarray(vector, dtype=np.float32).tobytes()).hexdigest()
                for chunk_id, vector in zip(chunks["ids"], chunks["embeddings"])},
    "articles": sorted([record.id, record.title, record.added_at] for record in store.articles()),
}))
"""


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def old_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The repository at OLD_COMMIT as a detached worktree, removed afterwards."""
    if _git("cat-file", "-e", f"{OLD_COMMIT}^{{commit}}").returncode != 0:
        shallow = _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"
        pytest.fail(f"commit {OLD_COMMIT} (the store written before the restructure) is not in {REPO}"
                    + (": the clone is shallow; run `git fetch --unshallow` (CI needs a full clone)" if shallow
                       else ": fetch the full history"))
    path = tmp_path_factory.mktemp("old-code") / "tree"
    added = _git("worktree", "add", "--detach", str(path), OLD_COMMIT)
    assert added.returncode == 0, f"git worktree add failed: {added.stderr.strip()}"
    try:
        yield path
    finally:
        removed = _git("worktree", "remove", "--force", str(path))
        assert removed.returncode == 0, f"git worktree remove {path} failed: {removed.stderr.strip()}"


def _old(tree: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python ARGS` with the old code (same venv), on `data_dir`; fails the test on a non-zero exit."""
    env = {**os.environ, "PYTHONPATH": str(tree), "DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
           "LLM_PROVIDER": "extractive", "EMBEDDING_BACKEND": "torch"}
    run = subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"old code: python {' '.join(args[:2])} ... exited {run.returncode}:\n{run.stderr[-3000:]}"
    return run


@pytest.fixture(scope="module")
def old_store(old_tree: Path, tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Iterator[
        tuple[Path, dict[str, Any], int]]:
    """(DATA_DIR written by the old code from the fixture articles, what it holds, its article count);
    the old code's Chroma server is stopped before today's code opens the DATA_DIR."""
    data_dir = tmp_path_factory.mktemp("old-store") / "data"
    try:
        _old(old_tree, data_dir, "-m", "ingest", "-q", str(fixtures_dir))
        listed = _old(old_tree, data_dir, "-m", "ingest", "--list").stderr.strip().splitlines()[-1]
        held = json.loads(_old(old_tree, data_dir, "-c", _DUMP).stdout)
    finally:
        _old(old_tree, data_dir, "-m", "ingest", "--server", "stop")
    count = int(listed.split()[0])
    assert count == len(held["articles"]) > 0, listed
    yield data_dir, held, count


def _held(news: Any) -> dict[str, Any]:
    """The same record as _DUMP, read with today's code."""
    chunks = news.store.chunks.get(include=["embeddings"])
    return {
        "metadata": dict(news.store.chunks.metadata or {}),
        "vectors": {chunk_id: hashlib.sha256(np.asarray(vector, dtype=np.float32).tobytes()).hexdigest()
                    for chunk_id, vector in zip(chunks["ids"], chunks["embeddings"], strict=True)},
        "articles": sorted([record.id, record.title, record.added_at] for record in news.store.articles()),
    }


def test_a_store_written_before_the_restructure_answers_without_reingest(
        old_store: tuple[Path, dict[str, Any], int], encoder: MiniLMEmbeddings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir, old_held, old_count = old_store
    encoded: list[str] = []
    encode = encoder.encode

    def recording(texts: Sequence[str]) -> np.ndarray:
        encoded.extend(texts)
        return encode(texts)

    monkeypatch.setattr(encoder, "encode", recording)
    settings = Settings(data_dir=data_dir, llm_provider="extractive", _env_file=None)  # type: ignore[call-arg]
    news = make_assistant(settings, encoder)

    result = news.answer(QUESTION, k=3)
    assert result.found and ANSWER_HOLDS in result.text, result.text
    assert TITLE in {citation.title for citation in result.citations}, result.citations

    assert news.store.count_articles() == old_count
    assert _held(news) == old_held  # same articles (added when they were), passages, vectors and vectors record
    titles = {title for _, title, _ in old_held["articles"]}
    # a passage is embedded from "title\n[section\n]text": none was embedded again, only the question and sentences
    assert encoded and not [text for text in encoded if text.split("\n", 1)[0] in titles and "\n" in text]
