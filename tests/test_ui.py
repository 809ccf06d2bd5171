"""The Streamlit chat (ui/app.py), driven headless with AppTest over a store of the fixture articles."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from assistant.answerers import NOT_FOUND
from assistant.chain import NewsAssistant, default_assistant
from assistant.config import get_settings
from ingest.__main__ import main as ingest_main
from ui.components import emphasised_passage, escape_markdown, safe_url

APP = Path(__file__).resolve().parent.parent / "ui" / "app.py"
VOLCANO_TITLE = "Lava Flow Stops 3.5 Kilometres Short of Grindavik After New Eruption"
VOLCANO_QUESTION = "How close to Grindavik did the lava get?"

OpenApp = Callable[[Path], AppTest]


def rendered(block: Block) -> str:
    """The text a reader sees in a block's markdown and captions (bold markers and escapes removed)."""
    sources = "\n".join(element.value for element in [*block.markdown, *block.caption])
    return re.sub(r"\\(.)", r"\1", re.sub(r"(?<!\\)\*\*", "", sources))


def assistant_messages(at: AppTest) -> list[Block]:
    return [message for message in at.chat_message if message.name == "assistant"]


@pytest.fixture(scope="module")
def fixture_store(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Iterator[Path]:
    """A DATA_DIR holding the ingested fixture articles, shared by this module's tests (they only read it)."""
    data_dir = tmp_path_factory.mktemp("ui-store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(data_dir))
        get_settings.cache_clear()
        assert ingest_main([str(fixtures_dir), "-q"]) == 0
    yield data_dir
    get_settings.cache_clear()


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

    yield run
    clear_caches()


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception
    return at


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


# --- the app --------------------------------------------------------------------------------


def test_empty_store_explains_how_to_add_articles(open_app: OpenApp, tmp_path: Path) -> None:
    at = open_app(tmp_path / "empty")
    sidebar = rendered(at.sidebar)
    assert "python -m ingest PATH..." in sidebar
    assert ".jsonl" in sidebar
    assert at.sidebar.metric[0].value == "0"
    assert at.chat_input[0].proto.disabled


@pytest.mark.slow
def test_sidebar_shows_article_count_and_backend(open_app: OpenApp, fixture_store: Path) -> None:
    at = open_app(fixture_store)
    assert at.sidebar.metric[0].value == "6"
    assert "Answering backend: extractive" in rendered(at.sidebar)
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
    assert f"[1] {VOLCANO_TITLE} — Nordic Reporting Service, 2024-03-17" in text
    assert "[open article](https://news.example.invalid/iceland/sundhnukur-eruption)" in text
    assert "**By Sunday morning the lava flow had reached 3" in "\n".join(md.value for md in answer.markdown)


@pytest.mark.slow
def test_unanswerable_question_shows_closest_passages(open_app: OpenApp, fixture_store: Path) -> None:
    at = ask(open_app(fixture_store), "What is the capital of Mongolia?")
    [answer] = assistant_messages(at)
    text = rendered(answer)
    assert answer.markdown[0].value.replace("\\", "") == NOT_FOUND
    assert "Closest passages" in text
    assert "Sources" not in text
    assert len(answer.markdown) == 1 + 3 * 2  # the text, then a title line and a passage per closest passage


@pytest.mark.slow
def test_source_filter_restricts_the_answer(open_app: OpenApp, fixture_store: Path) -> None:
    at = open_app(fixture_store)
    at.sidebar.multiselect[0].select("Coastal Herald").run()
    [answer] = assistant_messages(ask(at, VOLCANO_QUESTION))
    assert VOLCANO_TITLE not in rendered(answer)


@pytest.mark.slow
def test_new_chat_clears_the_conversation(open_app: OpenApp, fixture_store: Path) -> None:
    at = ask(open_app(fixture_store), VOLCANO_QUESTION)
    assert [message.name for message in at.chat_message] == ["user", "assistant"]
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert len(at.chat_message) == 0
    assert not at.session_state["messages"]


@pytest.mark.slow
def test_answering_error_is_one_line(open_app: OpenApp, fixture_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> Iterator[str]:
        raise ValueError("invalid filters:\n  source: bad value")

    monkeypatch.setattr(NewsAssistant, "stream_answer", fail)
    at = ask(open_app(fixture_store), VOLCANO_QUESTION)
    assert [error.value for error in at.error] == ["Could not answer: invalid filters: source: bad value"]
