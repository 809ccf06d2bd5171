"""Follow a story (issue 23): saved questions answered again as articles arrive, what changed shown, cited.

Real MiniLM, a real store (a local Chroma server per test's DATA_DIR), the extractive answerer; the model
calls are counted by wrapping the answerer. The slow tests start `python -m ingest` processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import pytest
from conftest import make_assistant
from fakes import RecordingAnswerer

from assistant.answering.answerers.base import Answerer, Draft
from assistant.chain import NewsAssistant
from assistant.config import Settings
from assistant.encoders.embeddings import MiniLMEmbeddings
from assistant.following import follow, following, mark_seen, unfollow, updates
from assistant.types import Passage
from ingest.loaders import load_paths
from ingest.pipeline import Ingestor, IngestReport, delete_articles

REPO = Path(__file__).resolve().parent.parent
STORIES = Path(__file__).parent / "fixtures" / "stories"
VALLEY = STORIES / "floods-valleypost-2026-03-02.txt"  # 12 dead
HARBOUR = STORIES / "floods-harbourtimes-2026-03-03.txt"  # 15 dead, a day later, another outlet
TRAM = STORIES / "tram-courier-2025-01-14.txt"  # nothing to do with the floods
QUESTION = "How many people died in the Lowmere floods?"


class CountingAnswerer(Answerer):
    """The real (extractive) answerer, counting the times the chain asks it to answer."""

    def __init__(self, inner: Answerer) -> None:
        self.inner, self.name, self.capabilities = inner, inner.name, inner.capabilities
        self.calls = 0

    def stream(self, question: str, passages: Sequence[Passage], as_of: date | None = None) -> Iterator[str | Draft]:
        self.calls += 1
        return self.inner.stream(question, passages, as_of)


def ingest(news: NewsAssistant, *paths: Path) -> IngestReport:
    """As the ingest command and the web app's uploads do: the pipeline checks the follows after writing."""
    report = Ingestor.from_settings(news.settings, news.store, news.encoder, news=news).ingest(load_paths(paths, 10**7))
    assert report.failed == 0 and report.new + report.updated == len(paths), report.summary()
    return report


@pytest.fixture
def counted(news: NewsAssistant) -> CountingAnswerer:
    news.answerer = CountingAnswerer(news.answerer)
    return news.answerer


def test_follows_belong_to_their_user(news: NewsAssistant) -> None:
    ingest(news, VALLEY)
    alice = follow(QUESTION, "alice@paper.example", news=news)
    bob = follow(QUESTION, "bob@paper.example", news=news)
    assert alice.follow_id != bob.follow_id and "12 people" in (alice.answer.text if alice.answer else "")
    assert follow(f"  {QUESTION} ", "alice@paper.example", news=news).follow_id == alice.follow_id  # kept once
    assert [f.follow_id for f in following("alice@paper.example", news=news)] == [alice.follow_id]
    assert following(news=news) == []  # the local user follows nothing
    assert not unfollow(alice.follow_id, "bob@paper.example", news=news)
    mark_seen(alice.follow_id, "bob@paper.example", news=news)
    assert following("alice@paper.example", news=news)[0].seen_at == alice.seen_at
    ingest(news, HARBOUR)
    assert [f.follow_id for f in updates(user="bob@paper.example", news=news)] == [bob.follow_id]
    assert unfollow(alice.follow_id, "alice@paper.example", news=news)
    assert following("alice@paper.example", news=news) == []
    assert [f.user for f in following("bob@paper.example", news=news)] == ["bob@paper.example"]


def test_a_new_figure_is_shown_as_a_changed_figure_citing_the_new_passage(news: NewsAssistant,
                                                                           counted: CountingAnswerer) -> None:
    ingest(news, VALLEY)
    followed = follow(QUESTION, news=news)
    assert counted.calls == 1 and not followed.updated
    ingest(news, HARBOUR)  # the ingest checks the follow: its top passages changed, so it is answered again
    assert counted.calls == 2
    [changed] = updates(news=news)
    assert changed.updated and changed.answer is not None and "15 people" in changed.answer.text
    assert changed.previous is not None and "15" not in changed.previous.text
    by_kind = {change.kind: change for change in changed.changes}
    figure = by_kind["changed_figure"]
    assert figure.text.startswith("Death toll: 12 dead [") and "→ 15 dead [" in figure.text
    old, new = figure.citations
    assert (old.source, new.source) == ("Valley Post", "Harbour Times") and "15 people" in new.quote
    assert f"[{new.n}]" in figure.text.split("→")[1] and f"[{old.n}]" in figure.text.split("→")[0]
    assert by_kind["new_outlet"].text == f"New outlet: Harbour Times [{new.n}]"
    assert "killed 15 people" in by_kind["new_fact"].text and by_kind["new_fact"].citations[0].source == "Harbour Times"
    mark_seen(changed.follow_id, news=news)
    assert updates(news=news) == [] and counted.calls == 2


def test_an_irrelevant_article_changes_nothing_and_calls_no_model(news: NewsAssistant, fixtures_dir: Path) -> None:
    report = Ingestor(news.store, news.encoder).ingest(load_paths([VALLEY, fixtures_dir], 10**7))
    assert report.new == 7, report.summary()  # more passages than the answer's top k
    recording = news.answerer = RecordingAnswerer()
    followed = follow(QUESTION, news=news)
    assert len(recording.streamed) == 1
    ingest(news, TRAM)
    assert updates(news=news) == [] and updates(since=0.0, news=news) == []
    assert len(recording.streamed) == 1  # no model call: the retrieval-only check found nothing new
    [still] = following(news=news)
    assert still.changed_at is None and still.answer == followed.answer and still.changes == ()


def test_a_deleted_articles_fact_leaves_the_next_answer(news: NewsAssistant) -> None:
    ingest(news, VALLEY, HARBOUR)
    followed = follow(QUESTION, news=news)
    assert followed.answer is not None and "15 people" in followed.answer.text
    [harbour] = [record.id for record in news.store.articles() if record.source == "Harbour Times"]
    assert delete_articles(news.store, [harbour]) == ([harbour], [])
    assert updates(news=news) == []  # a fact gone is no new fact, figure or outlet: no "updated" mark
    [now] = following(news=news)
    assert now.answer is not None and "12 people" in now.answer.text and "15" not in now.answer.text
    assert all(citation.source != "Harbour Times" for citation in now.answer.citations)


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
            "LLM_PROVIDER": "extractive"}


def _command(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ingest", *args], env=_env(data_dir), cwd=REPO,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_an_ingest_in_another_process_updates_the_follow_and_the_command_prints_it(
        tmp_path: Path, encoder: MiniLMEmbeddings) -> None:
    data_dir = tmp_path / "data"
    news = make_assistant(Settings(data_dir=data_dir, _env_file=None), encoder)  # type: ignore[call-arg]
    ingest(news, VALLEY)
    followed = follow(QUESTION, news=news)
    quiet = _command(data_dir, "--updates")
    assert quiet.returncode == 0, quiet.stderr
    assert "nothing" in quiet.stdout
    written = _command(data_dir, "-q", str(HARBOUR))  # this process checks the follow after writing
    assert written.returncode == 0 and written.stdout.startswith("new 1,"), written.stderr
    [changed] = updates(news=news)  # what the other process found, read from the store
    assert changed.follow_id == followed.follow_id and changed.updated
    assert any(change.kind == "changed_figure" for change in changed.changes)
    printed = _command(data_dir, "--updates")
    assert printed.returncode == 0, printed.stderr
    assert f"Question: {QUESTION}" in printed.stdout and "Death toll: 12 dead [" in printed.stdout
    assert "Lowmere Counts the Cost of Worst Floods in Decades (Harbour Times, 2026-03-03)" in printed.stdout
    assert updates(since=date(2999, 1, 1), news=news) == [] and len(updates(since=date(2000, 1, 1), news=news)) == 1
