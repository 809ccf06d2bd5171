"""The Streamlit app (ui/), driven headless with AppTest over stores of the fixture articles."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from assistant.answering.answerers import NOT_FOUND, BackendError
from assistant.answering.answerers.chat import ChatAnswerer
from assistant.chain import NewsAssistant, default_assistant
from assistant.config import get_settings
from assistant.encoders.embeddings import TextEncoder
from assistant.types import Answer, Citation
from ingest.__main__ import main as ingest_main
from ingest.loaders import SUPPORTED_SUFFIXES
from ui.app import backend_caption
from ui.components import emphasised_passage, escape_markdown, safe_url
from ui.resources import StoreLock, store_lock
from ui.uploads import Upload, display_name, ingest_upload

APP = Path(__file__).resolve().parent.parent / "ui" / "app.py"
VOLCANO_TITLE = "Lava Flow Stops 3.5 Kilometres Short of Grindavik After New Eruption"
VOLCANO_SOURCE = "Nordic Reporting Service"
VOLCANO_QUESTION = "How close to Grindavik did the lava get?"

OpenApp = Callable[[Path], AppTest]


def rendered(block: Block | AppTest) -> str:
    """The text a reader sees in markdown, captions and alerts (bold markers and escapes removed)."""
    sources = "\n".join(element.value for element in [*block.markdown, *block.caption, *block.info,
                                                       *block.warning, *block.error, *block.success])
    return re.sub(r"\\(.)", r"\1", re.sub(r"(?<!\\)\*\*", "", sources))


def unescaped(markdown: str) -> str:
    """Markdown escaped by escape_markdown, as the reader sees it."""
    return re.sub(r"\\(.)", r"\1", markdown)


def assistant_messages(at: AppTest) -> list[Block]:
    return [message for message in at.chat_message if message.name == "assistant"]


def ingest_fixtures(data_dir: Path, fixtures_dir: Path) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(data_dir))
        get_settings.cache_clear()
        assert ingest_main([str(fixtures_dir), "-q"]) == 0
    get_settings.cache_clear()
    return data_dir


@pytest.fixture(scope="module")
def fixture_store(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Path:
    """A DATA_DIR holding the ingested fixture articles, shared by the tests that only read it."""
    return ingest_fixtures(tmp_path_factory.mktemp("ui-store"), fixtures_dir)


@pytest.fixture
def writable_store(tmp_path: Path, fixtures_dir: Path) -> Path:
    """A DATA_DIR of the fixture articles for one test that changes it."""
    return ingest_fixtures(tmp_path / "data", fixtures_dir)


@pytest.fixture
def open_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenApp]:
    """Runs the app on a given DATA_DIR, with every process-wide cache emptied first."""

    def clear_caches() -> None:
        get_settings.cache_clear()
        default_assistant.cache_clear()
        st.cache_resource.clear()
        st.cache_data.clear()

    def run(data_dir: Path) -> AppTest:
        monkeypatch.setenv("DATA_DIR", str(data_dir))
        clear_caches()
        at = AppTest.from_file(str(APP), default_timeout=120).run()
        assert not at.exception
        return at

    # As `make run` serves it: on 127.0.0.1 without sign-in, so visitors may change the library (ui/auth.py).
    address = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")
    yield run
    st_config.set_option("server.address", address)
    clear_caches()


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception
    return at


def click(at: AppTest, label: str) -> AppTest:
    [button] = [button for button in at.button if button.label == label]
    button.click().run()
    assert not at.exception
    return at


def library(at: AppTest) -> AppTest:
    at.switch_page("library.py").run()
    assert not at.exception
    return at


def select_rows(at: AppTest, rows: list[int]) -> AppTest:
    """Select rows of the library table, as clicking their checkboxes does."""
    key = at.dataframe[0].key
    assert key, "the library table has a key"
    at.session_state[key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    return at


class DownChatModel(BaseChatModel):
    """A chat model whose server refuses connections."""

    @property
    def _llm_type(self) -> str:
        return "down"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        raise ConnectionError("[Errno 111] Connection refused")


# --- rendering helpers: article text is untrusted -----------------------------------------


def test_escaped_article_text_has_no_live_markdown() -> None:
    hostile = "# Title\n[click](javascript:alert(1)) <script>x</script> *bold* `code` $x$ :red[text] 1. item"
    escaped = escape_markdown(hostile)
    assert not re.search(r"(?<!\\)[#\[\]()<>*`$:.]", escaped)
    assert re.sub(r"\\(.)", r"\1", escaped) == hostile


def test_quote_is_bold_and_the_rest_escaped() -> None:
    passage = "    Intro with *stars*.\nThe lava stopped 3.5 km away. Roads closed."
    markdown = emphasised_passage(passage, "The lava stopped 3.5 km away.")
    assert markdown == "Intro with \\*stars\\*\\.\n\n**The lava stopped 3\\.5 km away\\.** Roads closed\\."
    assert emphasised_passage("Some text.", "Not in it.").startswith("**Not in it\\.**")


def test_only_http_links_are_rendered() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("https://x.example/a (b)") == "https://x.example/a%20%28b%29"


def test_backend_caption_names_the_model() -> None:
    assert backend_caption("local (Qwen2.5-Coder-1.5B-Instruct)") == \
        "Answering backend: local · model: Qwen2.5-Coder-1.5B-Instruct"
    assert backend_caption("ollama (qwen2.5:1.5b-instruct)").endswith("model: qwen2.5:1.5b-instruct")
    assert backend_caption("extractive") == "Answering backend: extractive · no LLM: answers quote the articles"


# --- uploads and the store lock -------------------------------------------------------------


def test_upload_names_are_only_for_display() -> None:
    assert display_name("../../etc/cron.d/evil.txt") == "evil.txt"
    assert display_name("C:\\Users\\x\\notes.md") == "notes.md"
    assert display_name("bad\x00name\n.txt") == "badname.txt"


@pytest.mark.slow
def test_a_question_is_answered_while_an_upload_holds_the_library(open_app: OpenApp, fixture_store: Path) -> None:
    at = open_app(fixture_store)
    with store_lock().writing():  # an upload (or delete) in another session of this server
        answered = ask(at, VOLCANO_QUESTION)
    [answer] = assistant_messages(answered)
    assert VOLCANO_TITLE in rendered(answer)


@pytest.mark.slow
def test_upload_results_per_file(news: NewsAssistant, fixtures_dir: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.pipeline import Ingestor

    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # a filename used as a path would land here
    ingestor, lock = Ingestor(news.store, news.encoder), StoreLock()
    volcano = (fixtures_dir / "volcano.txt").read_bytes()
    lines = b'{"title": "Harbour Opens", "text": "The new harbour opened on Monday."}\n{not json\n'

    def upload(name: str, data: bytes, max_bytes: int = 100_000) -> tuple[str, str, str]:
        result = ingest_upload(Upload(name, data), ingestor, max_bytes, lock.writing)
        return result.file, result.status, result.details

    assert upload("../../volcano.txt", volcano) == ("volcano.txt", "ingested", "1 new")
    assert upload("volcano.txt", volcano) == ("volcano.txt", "unchanged", "already in the library")
    copy = volcano.replace(b"sundhnukur-eruption", b"reykjanes-copy").replace(b"Nordic Reporting", b"Copy Desk")
    assert upload("copy.txt", copy) == ("copy.txt", "unchanged", ("1 near-duplicate of a stored article: "
                                                                 "recorded as another source of it"))
    assert upload("mixed.jsonl", lines) == ("mixed.jsonl", "ingested",
                                            ("1 new, 1 failed. mixed.jsonl line 2: invalid JSON "
                                            "(Expecting property name enclosed in double quotes, column 2)"))
    assert upload("big.md", b"# Big\n\n" + b"word " * 100, max_bytes=100)[1:] == (
        "error", "file is 0.000507 MB, over the 0.0001 MB limit (MAX_FILE_MB)")
    assert upload("photo.exe", b"MZ")[1:] == ("error", "unknown file type '.exe'; expected one of "
                                              + ", ".join(sorted(SUPPORTED_SUFFIXES)))
    assert upload("binary.txt", b"\x00\x01\x02 data") == ("binary.txt", "error", "binary.txt: binary file, not text")
    assert upload("empty.json", b"[]") == ("empty.json", "error", "no articles in the file")
    assert not list(workdir.iterdir()), "nothing is written where the filename points"
    assert news.store.count_articles() == 2


# --- the chat ---------------------------------------------------------------------------------


def test_empty_library_explains_how_to_add_articles(open_app: OpenApp, tmp_path: Path) -> None:
    at = open_app(tmp_path / "empty")
    text = rendered(at)
    assert "The library is empty." in text and "Library page" in text
    assert all(suffix in text for suffix in SUPPORTED_SUFFIXES)
    assert "python -m ingest PATH..." in at.code[0].value
    assert at.sidebar.metric[0].value == "0"
    assert at.chat_input[0].proto.disabled


@pytest.mark.slow
def test_sidebar_shows_article_count_and_backend(open_app: OpenApp, fixture_store: Path) -> None:
    at = open_app(fixture_store)
    assert at.sidebar.metric[0].value == "6"
    assert "Answering backend: extractive · no LLM" in rendered(at.sidebar)
    assert "Coastal Herald" in at.sidebar.multiselect[0].options
    assert at.sidebar.slider[0].value == get_settings().top_k


@pytest.mark.slow
def test_answer_cites_its_sources(open_app: OpenApp, fixture_store: Path) -> None:
    at = ask(open_app(fixture_store), VOLCANO_QUESTION)
    [answer] = assistant_messages(at)
    text = rendered(answer)
    assert "3.5 kilometres" in text
    assert "[1]" in answer.markdown[0].value.replace("\\", "")
    assert "[2]" not in text, "the streamed backend numbering must be replaced by the citations' numbering"
    assert f"[1] {VOLCANO_TITLE} — {VOLCANO_SOURCE}, 2024-03-17" in text
    assert "[open article](https://news.example.invalid/iceland/sundhnukur-eruption)" in text
    assert "**By Sunday morning the lava flow had reached 3" in "\n".join(md.value for md in answer.markdown)


@pytest.mark.slow
def test_copies_from_other_outlets_are_named_on_the_card_and_in_the_library(
        open_app: OpenApp, writable_store: Path, fixtures_dir: Path, tmp_path: Path) -> None:
    original = (fixtures_dir / "volcano.txt").read_text(encoding="utf-8")
    copy = tmp_path / "syndicated" / "volcano-copy.txt"
    copy.parent.mkdir()
    copy.write_text(original.replace(VOLCANO_SOURCE, "Reykjavik Daily Wire")
                    .replace("news.example.invalid", "wire.example.invalid"), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(writable_store))
        get_settings.cache_clear()
        assert ingest_main([str(copy.parent), "-q"]) == 0
    get_settings.cache_clear()
    at = ask(open_app(writable_store), VOLCANO_QUESTION)
    [answer] = assistant_messages(at)
    assert ("Also published by Reykjavik Daily Wire, 2024-03-17 · "
            "[open](https://wire.example.invalid/iceland/sundhnukur-eruption)") in rendered(answer)
    table = library(at).dataframe[0].value
    assert list(table[table["Title"] == VOLCANO_TITLE]["Also published by"]) == ["Reykjavik Daily Wire"]
    assert len(table) == 6, "the copy is not a library entry of its own"


@pytest.mark.slow
def test_unanswerable_question_shows_closest_passages(open_app: OpenApp, fixture_store: Path) -> None:
    at = ask(open_app(fixture_store), "What is the capital of Mongolia?")
    [answer] = assistant_messages(at)
    text = rendered(answer)
    assert answer.markdown[0].value.replace("\\", "") == NOT_FOUND
    assert "Closest matches" in text
    assert "Sources" not in text
    title_lines = [md.value for md in answer.markdown if md.value.startswith("**") and " — " in md.value]
    assert len(title_lines) == 3, "three closest matches, each under its title line"


@pytest.mark.slow
def test_source_filter_restricts_the_answer(open_app: OpenApp, fixture_store: Path) -> None:
    at = open_app(fixture_store)
    at.sidebar.multiselect[0].select("Coastal Herald").run()
    [answer] = assistant_messages(ask(at, VOLCANO_QUESTION))
    assert VOLCANO_TITLE not in rendered(answer)


@pytest.mark.slow
def test_follow_up_gets_the_history_and_new_chat_clears_it(open_app: OpenApp, fixture_store: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    histories: list[Any] = []
    original = NewsAssistant.stream_answer

    def spy(self: NewsAssistant, question: str, **kwargs: Any) -> Iterator[Any]:
        histories.append(kwargs["history"])
        return original(self, question, **kwargs)

    monkeypatch.setattr(NewsAssistant, "stream_answer", spy)
    at = ask(ask(open_app(fixture_store), VOLCANO_QUESTION), "Which road did it cross?")
    first_answer = at.session_state["messages"][1]["content"]
    assert histories == [[], [{"role": "user", "content": VOLCANO_QUESTION},
                              {"role": "assistant", "content": first_answer}]]
    assert [message.name for message in at.chat_message] == ["user", "assistant"] * 2
    click(at, "New chat")
    assert len(at.chat_message) == 0
    assert not at.session_state["messages"]


@pytest.mark.slow
def test_only_checked_citations_become_cards(open_app: OpenApp, fixture_store: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    checked = Citation(n=1, article_id="a", title="Checked Title", source="Wire", url="", published="2024-01-02",
                       passage="The bridge opened in May.", quote="The bridge opened in May.", score=0.9)

    def drafted(self: NewsAssistant, question: str, **kwargs: Any) -> Iterator[str | Answer]:
        yield "The bridge opened in May [1]. It cost a fortune [2]."  # the backend's draft, streamed
        yield Answer(question=question, text="The bridge opened in May [1]. It cost a fortune.",
                     citations=[checked], unsupported=["It cost a fortune."])

    monkeypatch.setattr(NewsAssistant, "stream_answer", drafted)
    [answer] = assistant_messages(ask(open_app(fixture_store), "When did the bridge open?"))
    text = rendered(answer)
    assert answer.markdown[0].value.replace("\\", "") == "The bridge opened in May [1]. It cost a fortune."
    assert "[1] Checked Title — Wire, 2024-01-02" in text and "[2]" not in text
    assert "Not confirmed by any passage, so shown without a source: It cost a fortune." in text


@pytest.mark.slow
def test_answering_error_is_one_line(open_app: OpenApp, fixture_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> Iterator[str]:
        raise ValueError("invalid filters:\n  source: bad value")

    monkeypatch.setattr(NewsAssistant, "stream_answer", fail)
    at = ask(open_app(fixture_store), VOLCANO_QUESTION)
    assert [unescaped(error.value) for error in at.error] == ["Could not answer: invalid filters: source: bad value"]


@pytest.mark.slow
def test_backend_down_shows_the_problem_and_the_passages(open_app: OpenApp, fixture_store: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def down(settings: object, encoder: TextEncoder) -> ChatAnswerer:
        return ChatAnswerer("ollama (fake-model)", DownChatModel(), encoder,
                            "check that Ollama runs at OLLAMA_BASE_URL")

    monkeypatch.setattr("assistant.chain.build_answerer", down)
    at = open_app(fixture_store)
    assert "Answering backend: ollama · model: fake-model" in rendered(at.sidebar)
    [answer] = assistant_messages(ask(at, VOLCANO_QUESTION))
    assert [unescaped(error.value) for error in answer.error] == [
        ("The answering backend is not available. ollama (fake-model) backend: ConnectionError: [Errno 111] "
        "Connection refused — check that Ollama runs at OLLAMA_BASE_URL")]
    assert "Closest matches" in rendered(answer) and VOLCANO_TITLE in rendered(answer)
    assert not at.exception


@pytest.mark.slow
def test_backend_that_cannot_start_leaves_search_and_library(open_app: OpenApp, fixture_store: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def cannot_start(settings: object, encoder: TextEncoder) -> ChatAnswerer:
        raise BackendError("local", "no model file at /nowhere/model.gguf", "check LOCAL_MODEL_PATH")

    monkeypatch.setattr("assistant.chain.build_answerer", cannot_start)
    at = open_app(fixture_store)
    assert "The answering backend could not start: local backend: no model file" in rendered(at.sidebar)
    [answer] = assistant_messages(ask(at, VOLCANO_QUESTION))
    assert "check LOCAL_MODEL_PATH" in unescaped(answer.error[0].value)
    assert VOLCANO_TITLE in rendered(answer)
    assert len(library(at).dataframe[0].value) == 6


# --- the library ------------------------------------------------------------------------------


@pytest.mark.slow
def test_library_lists_and_searches_articles(open_app: OpenApp, fixture_store: Path) -> None:
    at = library(open_app(fixture_store))
    table = at.dataframe[0].value
    assert list(table.columns) == ["Title", "Source", "Published", "Passages", "Also published by", "Added by",
                                   "Added", "From", "Link"]
    assert len(table) == 6 and VOLCANO_TITLE in set(table["Title"])
    volcano = table[table["Title"] == VOLCANO_TITLE].iloc[0]
    assert (volcano["Source"], volcano["Published"]) == (VOLCANO_SOURCE, "2024-03-17") and volcano["Passages"] >= 1
    at.text_input[0].input("grindavik LAVA").run()
    assert list(at.dataframe[0].value["Title"]) == [VOLCANO_TITLE]
    assert "1 of 6 articles" in rendered(at)
    assert [uploader.allowed_type for uploader in at.file_uploader] == [sorted(SUPPORTED_SUFFIXES)]


@pytest.mark.slow
def test_delete_asks_for_confirmation_and_refreshes_the_sources(open_app: OpenApp, writable_store: Path) -> None:
    at = library(open_app(writable_store))
    at.text_input[0].input("Grindavik").run()
    select_rows(at, [0])
    click(at, "Delete selected (1)…")
    assert "Delete 1 article? It goes to the trash, from where the Library can restore it for 30 days" in rendered(at)
    assert f"- {VOLCANO_TITLE}" in rendered(at)
    click(at, "Cancel")
    assert at.sidebar.metric[0].value == "6"
    assert not any(button.label == "Delete" for button in at.button)

    at.text_input[0].input("").run()
    select_rows(at, [0, 1])
    click(at, "Delete selected (2)…")
    click(at, "Delete")
    assert "Deleted 2 articles." in rendered(at)
    assert at.sidebar.metric[0].value == "4"
    assert len(at.dataframe[0].value) == 4

    at.switch_page("chat.py").run()
    assert len(at.sidebar.multiselect[0].options) == 4, "the cached sources must refresh after a delete"


@pytest.mark.slow
def test_upload_shows_a_result_per_file_and_the_new_article(open_app: OpenApp, writable_store: Path,
                                                             fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_FILE_MB", "0.01")
    at = library(open_app(writable_store))
    new_article = ("# Harbour Reopens After Storm Repairs\n\nSource: Test Gazette\nPublished: 2025-01-20\n\n"
                   "The harbour at Kelmouth reopened on Monday after three months of repairs to its storm wall.\n")
    at.file_uploader[0].set_value([
        ("../harbour.md", new_article.encode(), "text/markdown"),
        ("volcano.txt", (fixtures_dir / "volcano.txt").read_bytes(), "text/plain"),
        ("huge.txt", b"Huge\n\n" + b"word " * 4000, "text/plain"),
        ("broken.jsonl", b"{nope\n", "application/json"),
    ])
    at.form_submit_button[0].click().run()
    assert not at.exception
    [results] = [frame.value for frame in at.dataframe if "File" in frame.value.columns]
    assert list(results.itertuples(index=False, name=None)) == [
        ("harbour.md", "ingested", "1 new"),
        ("volcano.txt", "unchanged", "already in the library"),
        ("huge.txt", "error", "file is 0.02 MB, over the 0.01 MB limit (MAX_FILE_MB)"),
        ("broken.jsonl", "error", ("broken.jsonl line 1: invalid JSON (Expecting property name enclosed in "
                                  "double quotes, column 2)")),
    ]
    assert "Upload finished: 1 ingested, 1 unchanged, 2 error." in rendered(at)
    assert at.sidebar.metric[0].value == "7"
    assert "Harbour Reopens After Storm Repairs" in set(at.dataframe[0].value["Title"])
    at.switch_page("chat.py").run()
    assert "Test Gazette" in at.sidebar.multiselect[0].options, "the cached sources must refresh after an upload"
