"""The library page: the stored articles (search by title, delete with confirmation) and file uploads.

Run by `st.navigation` in ui/app.py; importing it has no side effects.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

import pandas as pd
import streamlit as st

from assistant.chain import NewsAssistant
from assistant.store import StoredArticle
from ingest.pipeline import Ingestor, delete_articles
from ui.components import escape_markdown, safe_url
from ui.resources import catalogue, get_assistant, refresh_catalogue, store_lock
from ui.uploads import Upload, accepted_types, ingest_uploads

logger = logging.getLogger(__name__)

PENDING_DELETE = "library_pending_delete"
NOTICE = "library_notice"
UPLOAD_RESULTS = "library_upload_results"


def matching(records: Sequence[StoredArticle], query: str) -> list[StoredArticle]:
    """The articles whose title contains every word of the query (any case)."""
    words = query.lower().split()
    return [record for record in records if all(word in record.title.lower() for word in words)]


def articles_table(records: Sequence[StoredArticle]) -> list[StoredArticle]:
    """The articles as a table whose rows can be selected; returns the selected ones.

    The table's key names the rows shown, so a new search or a changed library starts with no
    selection instead of one pointing at other rows.
    """
    frame = pd.DataFrame({
        "Title": [record.title for record in records],
        "Source": [record.source for record in records],
        "Published": [record.published for record in records],
        "Passages": [record.chunks for record in records],
        "Also published by": [", ".join(copy.source or copy.title for copy in record.alternatives)
                              for record in records],
        "Link": [safe_url(record.url) or "" for record in records],
    })
    key = "library-" + hashlib.sha1("\n".join(record.id for record in records).encode()).hexdigest()[:12]
    event = st.dataframe(frame, key=key, on_select="rerun", selection_mode="multi-row", hide_index=True,
                         width="stretch", column_config={"Link": st.column_config.LinkColumn(display_text="open")})
    return [records[row] for row in event.selection.rows if row < len(records)]


def delete(news: NewsAssistant, article_ids: list[str]) -> None:
    with store_lock().writing():
        deleted, missing = delete_articles(news.store, article_ids)
    refresh_catalogue()
    logger.info("deleted %d articles (%d were already gone)", len(deleted), len(missing))
    st.session_state[PENDING_DELETE] = []
    st.session_state[NOTICE] = (f"Deleted {len(deleted)} article{'s' if len(deleted) != 1 else ''}."
                                + (f" {len(missing)} had already been deleted." if missing else ""))


def cancel_delete() -> None:
    st.session_state[PENDING_DELETE] = []


def confirm_delete(news: NewsAssistant, records: Sequence[StoredArticle]) -> None:
    """The confirmation step: which articles will go, then "Delete" or "Cancel"."""
    titles = {record.id: record.title for record in records}
    pending = [article_id for article_id in st.session_state.get(PENDING_DELETE, []) if article_id in titles]
    if not pending:
        return
    with st.container(border=True):
        st.warning(f"Delete {len(pending)} article{'s' if len(pending) != 1 else ''} and all their passages? "
                   "This cannot be undone.")
        st.markdown("\n".join(f"- {escape_markdown(titles[article_id]) or 'Untitled'}" for article_id in pending))
        left, right = st.columns(2)
        left.button("Delete", type="primary", on_click=delete, args=(news, pending), width="stretch")
        right.button("Cancel", on_click=cancel_delete, width="stretch")


def stored_articles(news: NewsAssistant, count: int) -> None:
    """Search, the table, and deleting the selected rows."""
    records = catalogue(news, count)
    query = st.text_input("Search by title", placeholder="Words in the title")
    shown = matching(records, query)
    st.caption(f"{len(shown)} of {len(records)} articles" if query.strip() else f"{len(records)} articles")
    selected = articles_table(shown)
    if selected and st.button(f"Delete selected ({len(selected)})…"):
        st.session_state[PENDING_DELETE] = [record.id for record in selected]
    confirm_delete(news, records)


def upload_results() -> None:
    """What the last upload of this session did, one row per file."""
    results = st.session_state.get(UPLOAD_RESULTS)
    if not results:
        return
    counts = Counter(result["status"] for result in results)
    summary = ", ".join(f"{counts[status]} {status}" for status in ("ingested", "unchanged", "error") if counts[status])
    (st.warning if counts["error"] else st.success)(f"Upload finished: {summary}.")
    st.dataframe(pd.DataFrame(results).rename(columns={"file": "File", "status": "Result", "details": "Details"}),
                 hide_index=True, width="stretch")


def upload_form(news: NewsAssistant) -> None:
    """Files -> the store, with a progress bar; the page reloads afterwards with the results."""
    st.subheader("Add articles")
    max_mb = news.settings.max_file_mb
    types = accepted_types()
    with st.form("upload", clear_on_submit=True):
        files = st.file_uploader(f"Article files ({', '.join(types)}), up to {max_mb:g} MB each", type=types,
                                 accept_multiple_files=True, max_upload_size=math.ceil(max_mb))
        submitted = st.form_submit_button("Add to library", type="primary")
    if submitted and not files:
        st.warning("Choose one or more files first.")
    elif submitted:
        uploads = [Upload(file.name, file.getvalue()) for file in files]
        bar = st.progress(0.0, text="Starting…")

        def on_file(index: int, name: str) -> None:
            bar.progress(index / len(uploads), text=f"Ingesting {escape_markdown(name)} ({index + 1} of {len(uploads)})")

        ingestor = Ingestor.from_settings(news.settings, news.store, news.encoder)
        results = ingest_uploads(uploads, ingestor, int(max_mb * 1e6), store_lock().writing, on_file)
        refresh_catalogue()
        st.session_state[UPLOAD_RESULTS] = [asdict(result) for result in results]
        st.rerun()  # the sidebar and the table were drawn before the upload
    upload_results()


def library_page() -> None:
    st.set_page_config(layout="wide")  # room for the table's columns
    news = get_assistant()
    count = news.store.count_articles()
    st.title("Library")
    if notice := st.session_state.pop(NOTICE, None):
        st.success(notice)
    if count:
        stored_articles(news, count)
    else:
        st.info("No articles stored yet. Upload some below, or add them from a terminal in the project folder "
                "with `python -m ingest PATH...`.")
    upload_form(news)


if __name__ == "__main__":
    library_page()
