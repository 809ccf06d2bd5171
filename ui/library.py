"""The library page: the stored articles with their provenance (search by title, delete to the trash with
confirmation), file uploads, and for editors the trash and the audit log (ui/changes.py).

Everybody may browse; only editors (ui/auth.py) see and use delete, upload, replace and restore, and each
checks it again on the server.

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
from assistant.store.chunk_store import StoredArticle
from assistant.store.server import StoreUnavailable
from ingest.pipeline import Ingestor, delete_articles
from ui.auth import NotAnEditor, access, require_editor
from ui.changes import NOTICE, REFUSAL, audit_section, held_back, hold, kept_for, trash_of, trash_section
from ui.components import escape_markdown, one_line, safe_url, utc_time
from ui.resources import catalogue, open_assistant, refresh_catalogue, store_lock
from ui.uploads import (
    Upload,
    UploadLimits,
    UploadRefused,
    accepted_types,
    ingest_submission,
    origin_label,
    submission_problem,
)

logger = logging.getLogger(__name__)

PENDING_DELETE = "library_pending_delete"
UPLOAD_RESULTS = "library_upload_results"


def matching(records: Sequence[StoredArticle], query: str) -> list[StoredArticle]:
    """The articles whose title contains every word of the query (any case)."""
    words = query.lower().split()
    return [record for record in records if all(word in record.title.lower() for word in words)]


def articles_table(records: Sequence[StoredArticle], selectable: bool = True) -> list[StoredArticle]:
    """The articles as a table whose rows can be selected (for editors); returns the selected ones.

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
        "Added by": [record.added_by for record in records],
        "Added": [utc_time(record.added_at) for record in records],
        "From": [origin_label(record.origin) for record in records],
        "Link": [safe_url(record.url) or "" for record in records],
    })
    key = "library-" + hashlib.sha1("\n".join(record.id for record in records).encode()).hexdigest()[:12]
    columns = {"Link": st.column_config.LinkColumn(display_text="open")}
    if not selectable:
        st.dataframe(frame, key=key, hide_index=True, width="stretch", column_config=columns)
        return []
    event = st.dataframe(frame, key=key, on_select="rerun", selection_mode="multi-row", hide_index=True,
                         width="stretch", column_config=columns)
    return [records[row] for row in event.selection.rows if row < len(records)]


def delete(news: NewsAssistant, article_ids: list[str]) -> None:
    """The confirmed delete (a button's callback): for editors only, checked here on the server. The
    articles go to the trash, restorable for TRASH_DAYS."""
    st.session_state[PENDING_DELETE] = []
    try:
        current = require_editor("delete articles")
    except NotAnEditor as refused:
        st.session_state[REFUSAL] = str(refused)
        return
    try:
        with store_lock().writing():
            deleted, missing = delete_articles(news.store, article_ids, by=current.actor, trash=trash_of(news))
    except StoreUnavailable as error:  # e.g. another app machine holds the writer lease
        st.session_state[REFUSAL] = f"Could not delete the articles: {escape_markdown(one_line(error))}"
        return
    finally:
        refresh_catalogue()
    logger.info("%s moved %d articles to the trash (%d were already gone)", current.actor, len(deleted), len(missing))
    one = len(deleted) == 1
    st.session_state[NOTICE] = (f"Deleted {len(deleted)} article{'' if one else 's'}."
                                + (f" {'It is' if one else 'They are'} in the trash for {kept_for(news)}: restore "
                                   f"{'it' if one else 'them'} under Trash." if deleted else "")
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
        st.warning(f"Delete {len(pending)} article{'s' if len(pending) != 1 else ''}? "
                   f"{'It goes' if len(pending) == 1 else 'They go'} to the trash, from where the Library can restore "
                   f"{'it' if len(pending) == 1 else 'them'} for {kept_for(news)}.")
        st.markdown("\n".join(f"- {escape_markdown(titles[article_id]) or 'Untitled'}" for article_id in pending))
        left, right = st.columns(2)
        left.button("Delete", type="primary", on_click=delete, args=(news, pending), width="stretch")
        right.button("Cancel", on_click=cancel_delete, width="stretch")


def stored_articles(news: NewsAssistant, count: int, editor: bool) -> None:
    """Search, the table, and (for editors) deleting the selected rows."""
    records = catalogue(news)
    query = st.text_input("Search by title", placeholder="Words in the title")
    shown = matching(records, query)
    st.caption(f"{len(shown)} of {len(records)} articles" if query.strip() else f"{len(records)} articles")
    selected = articles_table(shown, selectable=editor)
    if not editor:
        return
    if selected and st.button(f"Delete selected ({len(selected)})…"):
        st.session_state[PENDING_DELETE] = [record.id for record in selected]
    confirm_delete(news, records)


def upload_results() -> None:
    """What the last upload of this session did, one row per file."""
    results = st.session_state.get(UPLOAD_RESULTS)
    if not results:
        return
    counts = Counter(result["status"] for result in results)
    summary = ", ".join(f"{counts[status]} {status}" for status in ("ingested", "unchanged", "held back", "error")
                        if counts[status])
    (st.warning if counts["error"] or counts["held back"] else st.success)(f"Upload finished: {summary}.")
    st.dataframe(pd.DataFrame(results).rename(columns={"file": "File", "status": "Result", "details": "Details"}),
                 hide_index=True, width="stretch")


def upload_form(news: NewsAssistant) -> None:
    """Files -> the store, with a progress bar; the page reloads afterwards with the results."""
    st.subheader("Add articles")
    settings = news.settings
    max_mb, limits = settings.max_file_mb, UploadLimits.from_settings(settings)
    types = accepted_types()
    with st.form("upload", clear_on_submit=True):
        files = st.file_uploader(f"Article files ({', '.join(types)}), up to {max_mb:g} MB each and "
                                 f"{settings.max_upload_files} files or {settings.max_upload_mb:g} MB at a time",
                                 type=types, accept_multiple_files=True, max_upload_size=math.ceil(max_mb))
        submitted = st.form_submit_button("Add to library", type="primary")
    if submitted and not files:
        st.warning("Choose one or more files first.")
    elif submitted:
        try:
            current = require_editor("add articles")  # the form is only shown to editors; checked again here
        except NotAnEditor as refused:
            st.error(str(refused))
            return
        if problem := submission_problem([file.size for file in files], limits):
            st.error(problem)
            return
        uploads = [Upload(file.name, file.getvalue()) for file in files]
        bar = st.progress(0.0, text="Starting…")

        def on_file(index: int, name: str) -> None:
            bar.progress(index / len(uploads), text=f"Ingesting {escape_markdown(name)} ({index + 1} of {len(uploads)})")

        ingestor = Ingestor.from_settings(settings, news.store, news.encoder, added_by=current.actor, news=news)
        try:
            submission = ingest_submission(uploads, ingestor, limits, store_lock().writing, on_file)
        except UploadRefused as refused:
            st.error(str(refused))
            return
        refresh_catalogue()
        st.session_state[UPLOAD_RESULTS] = [asdict(result) for result in submission.results]
        hold(submission.conflicts)
        st.rerun()  # the sidebar and the table were drawn before the upload
    upload_results()
    held_back(news)


def library_page() -> None:
    st.set_page_config(layout="wide")  # room for the table's columns
    news = open_assistant()  # needs only the store; an upload's embedding waits for the model if it still loads
    count = news.store.count_articles()
    current = access()
    st.title("Library")
    if notice := st.session_state.pop(NOTICE, None):
        st.success(notice)
    if refusal := st.session_state.pop(REFUSAL, None):
        st.error(refusal)
    if count:
        stored_articles(news, count, current.can_edit)
    elif current.can_edit:
        st.info("No articles stored yet. Upload some below, or add them from a terminal in the project folder "
                "with `python -m ingest PATH...`.")
    else:
        st.info("No articles stored yet.")
    if current.can_edit:
        upload_form(news)
        trash_section(news)
        audit_section(news)
    else:
        st.caption("Only editors add or delete articles; see the sidebar for why you are not one here.")


if __name__ == "__main__":
    library_page()
