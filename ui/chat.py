"""The chat page: questions answered from the stored articles, each claim citing a numbered source card.

Run by `st.navigation` in ui/app.py; importing it has no side effects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import streamlit as st

from assistant.answering.answerers import BackendError
from assistant.chain import NewsAssistant
from assistant.filters import MAX_FILTER_VALUES
from assistant.store.chunk_store import AlternativeSource, StoredArticle
from assistant.types import Answer
from ui.auth import access
from ui.components import answer_body, escape_markdown, one_line, render_answer_details, render_closest_passages
from ui.follows import Follows, chat_follows, follow_control, follow_error
from ui.resources import catalogue, open_assistant, ready_assistant
from ui.uploads import accepted_types

logger = logging.getLogger(__name__)

MAX_PASSAGES = 10
MODES = {"Auto": "auto", "Answer": "answer", "Timeline": "timeline"}

# A chat turn: "role" and "content", plus "answer" (an Answer) or "error" (str) for assistant turns.
# An answer also keeps the "copies" (near-duplicates from other outlets) of the articles it cites;
# an error from the answering backend keeps the retrieved "passages" to show under it.
# (A comment, not a docstring: Streamlit would display a bare string in a page script.)
Message = dict[str, Any]


def clear_chat() -> None:
    st.session_state.messages = []


def published_span(records: Sequence[StoredArticle]) -> tuple[date, date]:
    """The first and last publication dates of the stored articles (today when none is dated)."""
    days = []
    for record in records:
        try:
            days.append(date.fromisoformat(record.published))
        except ValueError:
            continue
    return (min(days), max(days)) if days else (date.today(), date.today())


def search_options(news: NewsAssistant, records: Sequence[StoredArticle]) -> tuple[int, dict[str, Any]]:
    """"New chat" and the search options in the sidebar; returns (passages to retrieve, filters)."""
    st.sidebar.button("New chat", on_click=clear_chat, width="stretch")
    filters: dict[str, Any] = {}
    if not records:
        return news.settings.top_k, filters
    st.sidebar.subheader("Search options")
    sources = sorted({record.source for record in records if record.source})
    picked_sources = st.sidebar.multiselect("Sources", sources, placeholder="All sources",
                                            max_selections=MAX_FILTER_VALUES)
    if picked_sources:
        filters["source"] = picked_sources
    if st.sidebar.checkbox("Filter by publication date"):
        picked = st.sidebar.date_input("Published between", value=published_span(records), format="YYYY-MM-DD")
        if isinstance(picked, tuple) and len(picked) == 2:
            filters["date_from"], filters["date_to"] = picked
        else:
            st.sidebar.caption("Pick an end date to apply the range.")
    k = st.sidebar.slider("Passages to search", 1, MAX_PASSAGES, min(news.settings.top_k, MAX_PASSAGES))
    return k, filters


def answer_mode() -> str:
    """The sidebar's choice of answer: a few sentences, a timeline, or decided by the question."""
    picked = st.sidebar.radio("Answer as", list(MODES), horizontal=True, key="answer_mode",
                              help="Auto gives a timeline when the question asks how a story unfolded "
                                   "(\"Timeline of ...\", \"How did ... unfold?\", \"What happened since ...?\").")
    return MODES.get(picked or "Auto", "auto")


def turn_key(index: int) -> str:
    """Names the cards of the chat turn at this index (a CSS class `st-key-turn-<index>-...`)."""
    return f"turn-{index}"


def show_message(message: Message, index: int, follows: Follows | None = None) -> None:
    """One chat turn; under an answer, "Follow this question" (when `follows` is given)."""
    with st.chat_message(message["role"]):
        if "error" in message:
            st.error(escape_markdown(message["error"]))  # backend errors may quote article or server text
            render_closest_passages(message.get("passages", []), turn_key(index))
            return
        st.markdown(escape_markdown(answer_body(message["answer"]) if "answer" in message else message["content"]))
        if "answer" in message:
            render_answer_details(message["answer"], turn_key(index), message.get("copies"))
            if follows is not None:
                follow_control(message["answer"].question, turn_key(index), follows)


def stream_text(pieces: Iterator[str | Answer]) -> Answer:
    """Stream the text pieces, then show the final Answer's text in their place.

    The final text is the one to keep: its `[n]` markers are checked against the passages and
    renumbered to match the citations, while the streamed pieces are the backend's draft.
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
    placeholder.markdown(escape_markdown(answer_body(final[-1])))
    return final[-1]


def copies_of_cited(answer: Answer, records: Sequence[StoredArticle]) -> dict[str, tuple[AlternativeSource, ...]]:
    """The near-duplicate copies (other outlets) of the articles the answer cites, by article id."""
    cited = {citation.article_id for citation in answer.citations}
    return {record.id: record.alternatives for record in records if record.id in cited and record.alternatives}


def ask(news: NewsAssistant, question: str, k: int, filters: dict[str, Any],
        records: Sequence[StoredArticle], mode: str = "auto", follows: Follows | None = None) -> None:
    """Answer the question in the chat, with the earlier turns as history, and record both turns."""
    messages: list[Message] = st.session_state.messages
    history = [{"role": m["role"], "content": m["content"]} for m in messages if "error" not in m]
    messages.append({"role": "user", "content": question})
    show_message(messages[-1], len(messages) - 1)
    key = turn_key(len(messages))
    with st.chat_message("assistant"):
        try:
            news = ready_assistant(news)  # asked while the models load: waits here, with a status
            with st.spinner("Searching the articles…"):
                pieces = news.stream_answer(question, k=k, history=history, filters=filters, mode=mode)
                answer = stream_text(pieces)  # never waits for uploads: the store keeps itself consistent
        except BackendError as error:
            logger.warning("answering %r failed: %s", question, error)
            messages.append({"role": "assistant", "content": "", "passages": error.passages,
                             "error": f"The answering backend is not available. {error}"})
            st.error(escape_markdown(messages[-1]["error"]))
            render_closest_passages(error.passages, key)
            return
        except Exception as error:
            logger.exception("answering %r failed", question)
            messages.append({"role": "assistant", "content": "", "error": f"Could not answer: {one_line(error)}"})
            st.error(escape_markdown(messages[-1]["error"]))
            return
        copies = copies_of_cited(answer, records)
        render_answer_details(answer, key, copies)
        if follows is not None:
            follow_control(answer.question, key, follows)
    messages.append({"role": "assistant", "content": answer.text, "answer": answer, "copies": copies})


def first_run_help(editor: bool) -> None:
    """How to fill an empty library: upload on the Library page (editors), or the ingest command."""
    upload = "Upload" if editor else "An editor can upload"
    st.info(f"**The library is empty.** {upload} article files on the Library page "
            f"({', '.join(accepted_types())}), or add them from a terminal in the project folder:")
    st.code("python -m ingest PATH...", language="bash")
    st.caption("PATH can be files or folders (searched recursively).")
    st.page_link("library.py", label="Open the library", icon=":material/library_books:")


def chat_page() -> None:
    st.set_page_config(layout="centered")
    news = open_assistant()  # the models may still be loading: a question waits for them in ask()
    count = news.store.count_articles()
    st.session_state.setdefault("messages", [])
    records = catalogue(news) if count else []
    k, filters = search_options(news, records)
    mode = answer_mode()
    st.title("Ask the news")
    current = access()
    if not count:
        first_run_help(current.can_edit)
    follow_error()
    messages: list[Message] = st.session_state.messages
    question = st.chat_input("Ask about the stored articles", disabled=not count,
                             max_chars=news.settings.max_question_chars)
    asked = bool(question and question.strip())
    follows = chat_follows(current, news, answered=asked or any("answer" in message for message in messages))
    for index, message in enumerate(messages):
        show_message(message, index, follows)
    if question and asked:
        ask(news, question.strip(), k, filters, records, mode, follows)


if __name__ == "__main__":
    chat_page()
