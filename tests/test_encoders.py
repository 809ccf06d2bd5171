"""Embedding backends (torch, onnx, onnx-int8), the store's record of its vectors, `--reembed`, and the
batched writes of an ingest's flush."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest
from fakes import FakeEncoder, memory_store
from test_near_duplicates import story

from assistant.config import Settings
from assistant.encoders.embeddings import MiniLMEmbeddings, build_embeddings, vectors_name
from assistant.store.keyword_index import KeywordIndex
from assistant.encoders.onnx_export import onnx_file
from assistant.store.chunk_store import REEMBED_KEY, VECTORS_KEY, ChunkStore, VectorsMismatch, build_store
from assistant.types import Article
from ingest.chunking import chunk_article
from ingest.loaders import load_paths
from ingest.pipeline import Ingestor
from ingest.reembed import CHECKPOINT_KEY, _embed_texts, reembed

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "articles"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def onnx_encoder(models_dir: Path) -> MiniLMEmbeddings:
    return MiniLMEmbeddings(backend="onnx", models_dir=models_dir)


@pytest.fixture(scope="module")
def int8_encoder(models_dir: Path) -> MiniLMEmbeddings:
    return MiniLMEmbeddings(backend="onnx-int8", models_dir=models_dir)


def _fixture_texts(encoder: MiniLMEmbeddings) -> list[str]:
    articles = [item for item in load_paths([FIXTURES], 10**6) if isinstance(item, Article)]
    return [chunk.embed_text for article in articles for chunk in chunk_article(article, encoder.token_counts, 256)]


# --- the encoders ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_onnx_gives_the_torch_vectors_and_token_counts(encoder: MiniLMEmbeddings,
                                                       onnx_encoder: MiniLMEmbeddings) -> None:
    texts = _fixture_texts(encoder) + ["x", "word " * 400]  # a one-letter text and one over the 256-token window
    expected, actual = encoder.encode(texts), onnx_encoder.encode(texts)
    assert actual.shape == expected.shape == (len(texts), 384)
    assert np.abs(actual - expected).max() < 1e-4
    assert np.min(np.sum(actual * expected, axis=1)) > 0.9999
    assert onnx_encoder.token_counts(texts) == encoder.token_counts(texts)
    assert onnx_encoder.vectors == encoder.vectors == vectors_name("torch")
    assert onnx_encoder.encode([]).shape[0] == 0


@pytest.mark.slow
def test_int8_vectors_are_close_but_recorded_as_other_vectors(encoder: MiniLMEmbeddings,
                                                              int8_encoder: MiniLMEmbeddings) -> None:
    texts = _fixture_texts(encoder)
    cosine = np.sum(int8_encoder.encode(texts) * encoder.encode(texts), axis=1)
    assert cosine.min() > 0.95 and cosine.mean() > 0.98
    assert not np.allclose(cosine, 1.0, atol=1e-4)  # really quantized
    assert int8_encoder.vectors != encoder.vectors


@pytest.mark.slow
def test_the_export_is_cached_and_two_processes_never_export_at_once(tmp_path: Path, onnx_encoder: MiniLMEmbeddings,
                                                                     models_dir: Path) -> None:
    onnx_encoder.encode(["exported into the module's models folder"])
    path = onnx_file(models_dir)
    stamp = path.stat().st_mtime_ns
    assert onnx_file(models_dir) == path and path.stat().st_mtime_ns == stamp  # found, not exported again
    assert not [name for name in os.listdir(path.parent) if name.endswith(".tmp.onnx")]

    script = ("import logging, sys; logging.basicConfig(level=logging.INFO, format='%(name)s %(message)s'); "
              "from pathlib import Path; from assistant.encoders.onnx_export import onnx_file; "
              "print(onnx_file(Path(sys.argv[1])))")
    fresh = tmp_path / "fresh-models"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    processes = [subprocess.Popen([sys.executable, "-c", script, str(fresh)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=600) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err for _, err in outputs]
    assert outputs[0][0] == outputs[1][0]
    exports = sum(err.count("assistant.encoders.onnx_export exporting") for _, err in outputs)
    assert exports == 1
    exported = Path(outputs[0][0].strip())
    assert exported.stat().st_size > 10**7
    assert not [name for name in os.listdir(exported.parent) if name.endswith(".tmp.onnx")]


def test_an_onnx_backend_needs_a_models_folder() -> None:
    with pytest.raises(ValueError, match="DATA_DIR/models"):
        MiniLMEmbeddings(backend="onnx")
    settings = Settings(data_dir=Path("/nonexistent/data"), embedding_backend="onnx-int8", _env_file=None)  # type: ignore[call-arg]
    built = build_embeddings(settings)  # nothing loaded or exported yet
    assert (built.backend, built.models_dir, built.vectors) == ("onnx-int8", Path("/nonexistent/data/models"),
                                                                 "all-MiniLM-L6-v2 int8")


# --- the store's record of its vectors ------------------------------------------------------------------

def _settings(data_dir: Path, backend: str) -> Settings:
    return Settings(data_dir=data_dir, chroma_mode="embedded", embedding_backend=backend,  # type: ignore[arg-type]
                    _env_file=None)  # type: ignore[call-arg]


def _articles(count: int = 3) -> list[Article]:
    return [Article(id=f"a{n}", title=f"Story {n}", text="\n".join(story(n, sentences=12)), source="Wire",
                    origin=f"/in/feed.jsonl:{n}") for n in range(count)]


def test_the_store_records_its_vectors_and_refuses_other_ones_in_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    store = build_store(_settings(data_dir, "torch"))
    assert store.recorded_vectors() == (None, None)  # empty: whatever comes first
    assert Ingestor(store, FakeEncoder(384)).ingest(_articles()).new == 3
    assert store.recorded_vectors(fresh=True) == ("all-MiniLM-L6-v2", None)
    assert build_store(_settings(data_dir, "onnx")).count_chunks() == store.count_chunks()  # the same vectors
    with pytest.raises(VectorsMismatch) as refused:
        build_store(_settings(data_dir, "onnx-int8"))
    message = str(refused.value)
    assert "\n" not in message
    assert "hold all-MiniLM-L6-v2 vectors" in message and "EMBEDDING_BACKEND=onnx-int8" in message
    assert "`python -m ingest --reembed`" in message and "EMBEDDING_BACKEND=torch or onnx" in message
    assert build_store(_settings(data_dir, "onnx-int8"), check_vectors=False).count_articles() == 3  # listing works


def test_the_default_backend_is_int8_for_a_new_store_and_follows_a_stored_one(tmp_path: Path) -> None:
    """EMBEDDING_BACKEND=auto: no store needs re-embedding, a new one gets the fastest encoder."""
    assert build_embeddings(_settings(tmp_path / "new", "auto")).backend == "onnx-int8"  # nothing loaded
    new = build_store(_settings(tmp_path / "new", "auto"))
    assert (new.backend, new.vectors) == ("onnx-int8", "all-MiniLM-L6-v2 int8")
    for backend, follows in (("torch", "onnx"), ("onnx", "onnx"), ("onnx-int8", "onnx-int8")):
        data_dir = tmp_path / backend
        Ingestor(build_store(_settings(data_dir, backend)), FakeEncoder(384)).ingest(_articles(1))
        assert build_embeddings(_settings(data_dir, "auto")).backend == follows
        store = build_store(_settings(data_dir, "auto"))
        assert (store.backend, store.vectors) == (follows, vectors_name(backend))
    legacy = tmp_path / "legacy"  # passages written before stores recorded their vectors: torch's
    Ingestor(build_store(_settings(legacy, "torch"), check_vectors=False), FakeEncoder(384)).ingest(_articles(1))
    assert build_store(_settings(legacy, "auto")).backend == "onnx"


def test_a_store_built_before_records_were_kept_holds_torch_vectors() -> None:
    store = memory_store()  # no vectors given: nothing recorded, as before
    Ingestor(store, FakeEncoder()).ingest(_articles(1))
    assert VECTORS_KEY not in (store.chunks.metadata or {})
    store.check_vectors(vectors_name("onnx"))
    with pytest.raises(VectorsMismatch, match="hold all-MiniLM-L6-v2 vectors"):
        store.check_vectors(vectors_name("onnx-int8"), "onnx-int8")


def test_an_ingest_with_other_vectors_than_recorded_meanwhile_is_refused() -> None:
    client = chromadb.EphemeralClient()
    name = f"t{uuid.uuid4().hex[:12]}"
    first = ChunkStore(client, name, None, KeywordIndex(":memory:"), vectors="all-MiniLM-L6-v2 int8")
    second = ChunkStore(client, name, None, KeywordIndex(":memory:"), vectors="all-MiniLM-L6-v2")  # both empty
    Ingestor(first, FakeEncoder()).ingest(_articles(1))
    report = Ingestor(second, FakeEncoder()).ingest(_articles(2)[1:])
    assert report.failed == 1 and "hold all-MiniLM-L6-v2 int8 vectors" in report.errors[0]
    assert second.count_articles() == 1


# --- re-embedding ---------------------------------------------------------------------------------------

class Interrupting:
    """An encoder that is interrupted (as by Ctrl-C) at its n-th call."""

    def __init__(self, inner: MiniLMEmbeddings, at: int) -> None:
        self.inner, self.at, self.calls = inner, at, 0
        self.max_tokens = inner.max_tokens

    def encode(self, texts: Any) -> np.ndarray:
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.inner.encode(texts)

    def token_counts(self, texts: Any) -> list[int]:
        return self.inner.token_counts(texts)


def _stored(store: ChunkStore) -> dict[str, Any]:
    found = store.chunks.get(include=["documents", "metadatas", "embeddings"])
    return {chunk_id: (document, meta, np.asarray(vector)) for chunk_id, document, meta, vector
            in zip(found["ids"], found["documents"], found["metadatas"], found["embeddings"], strict=True)}


@pytest.mark.slow
def test_reembed_replaces_only_the_vectors_and_an_interrupted_run_goes_on(
        tmp_path: Path, encoder: MiniLMEmbeddings, int8_encoder: MiniLMEmbeddings) -> None:
    from assistant.store.trash import Trash

    data_dir = tmp_path / "data"
    store = build_store(_settings(data_dir, "torch"), encoder)
    articles = [item for item in load_paths([FIXTURES], 10**6) if isinstance(item, Article)]
    assert Ingestor(store, encoder).ingest(articles).failed == 0
    trash = Trash(store)
    trash.put(articles[0].id, by="test")  # the trash's passages hold vectors too
    before = _stored(store)
    trashed = trash.passages.count()
    assert len(before) > 8 and trashed > 0

    with pytest.raises(KeyboardInterrupt):
        reembed(store, Interrupting(int8_encoder, at=3), int8_encoder.vectors, trash.passages, batch=4)
    assert store.recorded_vectors(fresh=True) == ("all-MiniLM-L6-v2 int8", "all-MiniLM-L6-v2")
    assert CHECKPOINT_KEY in (store.client.get_collection(store.chunks.name).metadata or {})
    with pytest.raises(VectorsMismatch, match="a re-embed from all-MiniLM-L6-v2 is unfinished"):
        build_store(_settings(data_dir, "torch"))
    midway = _stored(store)
    assert {chunk_id: (document, meta) for chunk_id, (document, meta, _) in midway.items()} == \
        {chunk_id: (document, meta) for chunk_id, (document, meta, _) in before.items()}  # nothing lost

    report = reembed(store, int8_encoder, int8_encoder.vectors, trash.passages, batch=4)
    assert 0 < report.passages < len(before) + trashed  # went on after the checkpoint
    assert store.recorded_vectors(fresh=True) == ("all-MiniLM-L6-v2 int8", None)
    meta = store.client.get_collection(store.chunks.name).metadata or {}
    assert REEMBED_KEY not in meta and CHECKPOINT_KEY not in meta
    assert not (store.client.get_collection(trash.passages.name).metadata or {}).get(CHECKPOINT_KEY)
    after = _stored(store)
    assert after.keys() == before.keys()
    texts = {chunk.id: chunk.embed_text for article in articles[1:]
             for chunk in chunk_article(article, encoder.token_counts, 256)}
    assert _embed_texts(list(after), [document for document, _, _ in after.values()],
                        [meta for _, meta, _ in after.values()], encoder, 256) == texts  # the texts of the ingest
    expected = dict(zip(texts, int8_encoder.encode(list(texts.values())), strict=True))
    for chunk_id, (document, meta_after, vector) in after.items():
        assert (document, meta_after) == before[chunk_id][:2]
        # int8 activations are scaled per batch, so a text's vector moves a little with its batch-mates
        assert float(vector @ expected[chunk_id]) > 0.99, chunk_id
        assert float(vector @ before[chunk_id][2]) < 0.9999  # no longer the torch vector
    trash_vectors = np.asarray(trash.passages.get(include=["embeddings"])["embeddings"])
    first_texts = [chunk.embed_text for chunk in chunk_article(articles[0], encoder.token_counts, 256)]
    assert np.all(np.sort(trash_vectors @ int8_encoder.encode(first_texts).T, axis=1)[:, -1] > 0.99)
    assert reembed(store, int8_encoder, int8_encoder.vectors, trash.passages).already
    assert build_store(_settings(data_dir, "onnx-int8"), int8_encoder).count_chunks() == len(before)


@pytest.mark.slow
def test_the_commands_name_the_mismatch_and_reembed(tmp_path: Path, models_dir: Path,
                                                     int8_encoder: MiniLMEmbeddings) -> None:
    int8_encoder.encode(["export the files into the module's models folder first"])
    data_dir = tmp_path / "data"
    (data_dir / "models").parent.mkdir(parents=True)
    (data_dir / "models").symlink_to(models_dir)
    env = {**os.environ, "DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
           "CHROMA_MODE": "embedded"}

    def run(backend: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ingest", "-q", *args], check=False, cwd=tmp_path, text=True,
                              capture_output=True, env={**env, "EMBEDDING_BACKEND": backend}, timeout=600)

    assert run("onnx", str(FIXTURES)).returncode == 0
    assert run("auto", str(FIXTURES)).returncode == 0  # the default follows the store's float vectors
    refused = run("onnx-int8", str(FIXTURES))
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "python -m ingest --reembed" in lines[0]
    done = run("auto", "--reembed")  # with the default: to the vectors a new store gets
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("re-embedded ") and "all-MiniLM-L6-v2 int8" in done.stdout
    again = run("auto", str(FIXTURES))  # and the default now follows the int8 vectors
    assert again.returncode == 0 and "unchanged" in again.stdout
    assert run("onnx-int8", str(FIXTURES)).returncode == 0
    assert run("onnx", str(FIXTURES)).returncode == 1


# --- batched writes -------------------------------------------------------------------------------------

class Calls:
    """Counts the calls of the store's write methods."""

    def __init__(self, store: ChunkStore) -> None:
        self.counts: dict[str, int] = {}
        for part, methods in {"chunks": ("upsert", "delete", "update"), "catalogue": ("upsert", "update"),
                              "changes": ("upsert",)}.items():
            target = getattr(store, part)
            for name in methods:
                setattr(target, name, self._counted(f"{part}.{name}", getattr(target, name)))

    def _counted(self, label: str, method: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.counts[label] = self.counts.get(label, 0) + 1
            return method(*args, **kwargs)
        return call


def test_a_flush_writes_its_articles_in_batches_not_one_by_one() -> None:
    store = memory_store()
    calls = Calls(store)
    articles = _articles(12)
    assert Ingestor(store, FakeEncoder()).ingest(articles).new == 12
    assert calls.counts == {"changes.upsert": 1, "chunks.upsert": 1, "chunks.delete": 1, "catalogue.upsert": 1}
    calls.counts.clear()
    edited = [Article(id=a.id, title=a.title, text="\n".join(story(int(a.id[1:]) + 50, sentences=4)),
                      source=a.source, origin=a.origin) for a in articles]  # fewer passages: leftovers to delete
    assert Ingestor(store, FakeEncoder()).ingest(edited).updated == 12
    assert calls.counts == {"changes.upsert": 1, "catalogue.update": 1, "chunks.upsert": 1, "chunks.delete": 1,
                            "catalogue.upsert": 1}
    stored = store.chunks.get(include=["metadatas"])
    assert len(stored["ids"]) == sum(record.chunks for record in store.articles())  # leftovers gone
    assert store.keywords is not None and store.keywords.count() == len(stored["ids"])


def test_the_keyword_index_finds_an_articles_rows_without_reading_them_all(tmp_path: Path) -> None:
    path = tmp_path / "keywords.sqlite3"
    with sqlite3.connect(path) as old:  # a file written before article_rows existed
        old.executescript("""
            CREATE VIRTUAL TABLE passages USING fts5(title, body, chunk_id UNINDEXED, article_id UNINDEXED,
                source UNINDEXED, day UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2');
            CREATE TABLE articles (article_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL);
            INSERT INTO passages (chunk_id, article_id, title, body, source, day)
                VALUES ('a#0', 'a', 'Volcano', 'lava flows', 'Wire', 1), ('b#0', 'b', 'Bees', 'honey', 'Wire', 1);
            INSERT INTO articles VALUES ('a', 'h1'), ('b', 'h2');
        """)
    index = KeywordIndex(path)
    assert [chunk for chunk, _ in index.search("lava", 5)] == ["a#0"]
    index.replace_article("a", "h3", [("a#0", "Volcano", "ash cloud", "Wire", 1), ("a#1", "Volcano", "ash", "Wire", 1)])
    assert index.search("lava", 5) == [] and {chunk for chunk, _ in index.search("ash", 5)} == {"a#0", "a#1"}
    with index.batch():
        index.delete_article("b")
        index.replace_article("c", "h4", [("c#0", "Tram", "tram line", "Wire", 1)])
    assert index.count() == 3 and index.hashes() == {"a": "h3", "c": "h4"}
    plan = " ".join(str(row) for row in index._connection.execute(
        "EXPLAIN QUERY PLAN SELECT row FROM article_rows WHERE article_id = ?", ("a",)))
    assert "article_rows_by_article" in plan


def test_a_keyword_query_leaves_out_the_words_most_passages_hold(tmp_path: Path) -> None:
    common = [(f"c{n}#0", "Report", f"council budget week news item {n}", "Wire", 1) for n in range(40)]
    rare = [("r#0", "Report", "the council approved the lighthouse budget this week", "Wire", 1)]
    for max_df, expected in ((1.0, 41), (0.5, 1)):
        index = KeywordIndex(tmp_path / f"keywords-{max_df}.sqlite3", max_df=max_df, prune_from=0)
        for chunk_id, *row in [*common, *rare]:
            index.replace_article(chunk_id.split("#")[0], "h", [(chunk_id, *row)])  # type: ignore[arg-type]
        found = index.hits("Council budget for the lighthouse this week?", 50)
        assert len(found) == expected and found[0][0] == "r#0"
    pruned = KeywordIndex(tmp_path / "keywords-0.5.sqlite3", max_df=0.5, prune_from=0)
    assert len(pruned.hits("council budget week", 50)) == 41  # all common: the rarest word still searches
    small = KeywordIndex(tmp_path / "keywords-0.5.sqlite3", max_df=0.5)  # 41 passages: under PRUNE_FROM
    assert len(small.hits("Council budget for the lighthouse this week?", 50)) == 41
