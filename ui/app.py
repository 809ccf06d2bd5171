"""Newsdesk web chat: `streamlit run ui/app.py` from the repo root."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from assistant.answerers import LOCAL_NOT_INSTALLED, BackendError  # noqa: E402
from assistant.chain import NewsAssistant  # noqa: E402
from assistant.config import get_settings  # noqa: E402
from assistant.types import Answer  # noqa: E402
from ui.components import escape_markdown, render_answer_details, render_closest_passages  # noqa: E402

logger = logging.getLogger("newsdesk.ui")

MAX_PASSAGES = 10
HOW_TO_ADD = """**No articles stored yet.** Add some from a terminal in the project folder:

```
python -m ingest PATH...
```

PATH can be folders (searched recursively) or `.txt`, `.md`, `.jsonl` and `.json` files.
Then reload this page."""

Message = dict[str, Any]
"""A chat turn: "role" and "content", plus "answer" (an Answer) or "error" (str) for assistant turns.

An error from the answering backend also keeps the retrieved "passages" to show under it."""


@st.cache_resource(show_spinner="Opening the article store…")
def get_assistant() -> NewsAssistant:
    """The assistant shared by every session of this server process."""
    return NewsAssistant.from_settings(get_settings())


def one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def clear_chat() -> None:
    st.session_state.messages = []


@st.cache_data(show_spinner=False, max_entries=4)
def stored_sources(_news: NewsAssistant, article_count: int) -> list[str]:
    """The stored articles' sources; cached until the number of articles changes."""
    return _news.store.sources()


@st.cache_data(show_spinner=False, max_entries=4)
def published_range(_news: NewsAssistant, article_count: int) -> tuple[date, date]:
    """The first and last publication dates of the stored articles (today when none is dated)."""
    days = []
    for record in _news.store.articles():
        try:
            days.append(date.fromisoformat(record.published))
        except ValueError:
            continue
    return (min(days), max(days)) if days else (date.today(), date.today())


def sidebar(news: NewsAssistant, count: int) -> tuple[int, dict[str, Any]]:
    """Store status, "New chat" and the search options; returns (passages to retrieve, filters)."""
    st.sidebar.title("Newsdesk")
    st.sidebar.metric("Articles stored", count)
    st.sidebar.caption(f"Answering backend: {escape_markdown(news.answerer.name)}")
    if LOCAL_NOT_INSTALLED in news.answerer.name:
        st.sidebar.info("Answers quote the articles without an LLM: the local model is not installed "
                        "(`pip install -r requirements-llm.txt`).")
    st.sidebar.button("New chat", on_click=clear_chat, width="stretch")
    if not count:
        st.sidebar.markdown(HOW_TO_ADD)
        return news.settings.top_k, {}

    filters: dict[str, Any] = {}
    st.sidebar.subheader("Search options")
    sources = st.sidebar.multiselect("Sources", stored_sources(news, count), placeholder="All sources")
    if sources:
        filters["source"] = sources
    if st.sidebar.checkbox("Filter by publication date"):
        picked = st.sidebar.date_input("Published between", value=published_range(news, count), format="YYYY-MM-DD")
        if isinstance(picked, tuple) and len(picked) == 2:
            filters["date_from"], filters["date_to"] = picked
        else:
            st.sidebar.caption("Pick an end date to apply the range.")
    k = st.sidebar.slider("Passages to search", 1, MAX_PASSAGES, min(news.settings.top_k, MAX_PASSAGES))
    return k, filters


def show_message(message: Message) -> None:
    with st.chat_message(message["role"]):
        if "error" in message:
            st.error(message["error"])
            render_closest_passages(message.get("passages", []))
            return
        st.markdown(escape_markdown(message["content"]))
        if "answer" in message:
            render_answer_details(message["answer"])


def stream_text(pieces: Iterator[str | Answer]) -> Answer:
    """Stream the text pieces, then show the final Answer's text in their place.

    The final text is the one to keep: its `[n]` markers are renumbered to match the citations,
    while the streamed pieces carry the backend's own passage numbers.
    """
    final: list[Answer] = []

    def text() -> Iterator[str]:
        for piece in pieces:
            if isinstance(piece, Answer):
                final.append(piece)
            else:
                yield escape_markdown(piece)

    placeholder = st.empty()
    with placeholder.container():
        st.write_stream(text())
    if not final:
        raise RuntimeError("the answering backend finished without an answer")
    placeholder.markdown(escape_markdown(final[-1].text))
    return final[-1]


def ask(news: NewsAssistant, question: str, k: int, filters: dict[str, Any]) -> None:
    """Answer the question in the chat, with the earlier turns as history, and record both turns."""
    messages: list[Message] = st.session_state.messages
    history = [{"role": m["role"], "content": m["content"]} for m in messages if "error" not in m]
    messages.append({"role": "user", "content": question})
    show_message(messages[-1])
    with st.chat_message("assistant"):
        try:
            with st.spinner("Searching the articles…"):
                answer = stream_text(news.stream_answer(question, k=k, history=history, filters=filters))
        except BackendError as error:
            logger.warning("answering %r failed: %s", question, error)
            messages.append({"role": "assistant", "content": "", "passages": error.passages,
                             "error": f"The answering backend is not available. {error}"})
            st.error(messages[-1]["error"])
            render_closest_passages(error.passages)
            return
        except Exception as error:
            logger.exception("answering %r failed", question)
            messages.append({"role": "assistant", "content": "", "error": f"Could not answer: {one_line(error)}"})
            st.error(messages[-1]["error"])
            return
        render_answer_details(answer)
    messages.append({"role": "assistant", "content": answer.text, "answer": answer})


def main() -> None:
    st.set_page_config(page_title="Newsdesk", page_icon="📰")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    st.session_state.setdefault("messages", [])
    try:
        news = get_assistant()
        count = news.store.count_articles()
    except BackendError as error:
        logger.error("could not start the answering backend: %s", error)
        st.error(f"Could not start the answering backend. {error}")
        st.stop()
    except Exception as error:
        logger.exception("could not open the article store")
        st.error(f"Could not open the article store: {one_line(error)}")
        st.stop()

    k, filters = sidebar(news, count)
    st.title("Ask the news")
    if not count:
        st.info("No articles stored yet: the sidebar explains how to add some.")
    for message in st.session_state.messages:
        show_message(message)
    question = st.chat_input("Ask about the stored articles", disabled=not count)
    if question and question.strip():
        ask(news, question.strip(), k, filters)


if __name__ == "__main__":
    main()
