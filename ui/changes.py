"""What makes a change on the Library page undoable and accountable: uploads held back until an editor
confirms the replacement, the trash (restore) and the audit log.

Only editors see these sections; every change checks `require_editor()` again on the server and is
recorded as the editor's `actor` (ui/auth.py). Run from ui/library.py; importing it has no side effects.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from assistant.chain import NewsAssistant
from assistant.store.trash import Trash, TrashedArticle, expiry
from ingest.pipeline import Ingestor
from ui.auth import NotAnEditor, require_editor
from ui.components import escape_markdown, one_line, utc_time
from ui.resources import refresh_catalogue, store_lock
from ui.uploads import Conflict, origin_label, replace_with_upload

logger = logging.getLogger(__name__)

NOTICE = "library_notice"
"""Session key: what the last change did (markdown, article text escaped), shown atop the page."""
REFUSAL = "library_refusal"
"""Session key: why the last change was refused or not done (markdown, escaped), shown atop the page."""
CONFLICTS = "library_conflicts"
"""Session key: the uploaded articles held back, waiting for Replace or Keep."""
TRASH_ROWS = 50
AUDIT_ROWS = 200
_EXCERPT_CHARS = 300


def trash_of(news: NewsAssistant) -> Trash:
    """The store's trash, keeping versions for TRASH_DAYS."""
    return Trash(news.store, news.settings.trash_days)


def kept_for(news: NewsAssistant) -> str:
    return f"{news.settings.trash_days:g} days (TRASH_DAYS)"


def _title(title: str) -> str:
    return f"“{escape_markdown(title)}”" if title else "an untitled article"


def _editor(action: str) -> str | None:
    """The editor's name for the records, or None (the refusal noted) when the visitor is no editor."""
    try:
        return require_editor(action).actor
    except NotAnEditor as refused:
        st.session_state[REFUSAL] = str(refused)
        return None


# --- uploads held back ------------------------------------------------------------------------------


def hold(conflicts: Sequence[Conflict]) -> None:
    """Add a submission's conflicts to those waiting (a newer upload of the same article replaces the older)."""
    waiting = {conflict.key: conflict for conflict in st.session_state.get(CONFLICTS, [])}
    waiting.update({conflict.key: conflict for conflict in conflicts})
    st.session_state[CONFLICTS] = list(waiting.values())


def _drop(key: str) -> Conflict | None:
    waiting: list[Conflict] = st.session_state.get(CONFLICTS, [])
    found = next((conflict for conflict in waiting if conflict.key == key), None)
    st.session_state[CONFLICTS] = [conflict for conflict in waiting if conflict.key != key]
    return found


def conflict_text(conflict: Conflict) -> str:
    """ "FILE: "NEW TITLE" would replace STORED TITLE, added by WHO from WHERE on WHEN." as safe markdown."""
    stored = conflict.stored
    added = f" on {utc_time(stored.added_at)}" if stored.added_at else ""
    where = origin_label(stored.origin) or "unknown"
    return (f"**{escape_markdown(conflict.file)}**: {_title(conflict.article.title)} would replace "
            f"**{escape_markdown(stored.title) or 'an untitled article'}**, added by "
            f"{escape_markdown(stored.added_by or 'unknown')} from {escape_markdown(where)}{added}.")


def excerpt(text: str) -> str:
    """The opening of an article's text on one line, escaped."""
    flat = " ".join(text.split())
    return escape_markdown(flat[:_EXCERPT_CHARS]) + ("…" if len(flat) > _EXCERPT_CHARS else "")


def replace(news: NewsAssistant, key: str) -> None:
    """"Replace" (a button's callback): the stored version to the trash, the uploaded one stored."""
    by = _editor("replace articles")
    conflict = next((c for c in st.session_state.get(CONFLICTS, []) if c.key == key), None)
    if by is None or conflict is None:
        return
    ingestor = Ingestor.from_settings(news.settings, news.store, news.encoder, added_by=by, news=news)
    try:
        with store_lock().writing():
            done = replace_with_upload(conflict, ingestor, trash_of(news), by)
    except Exception as error:
        logger.exception("could not replace %s", conflict.article.id)
        st.session_state[REFUSAL] = (f"Could not replace {_title(conflict.stored.title)}: "
                                     f"{escape_markdown(one_line(error))}")
        return
    finally:
        refresh_catalogue()
    if done.status == "changed" and done.current is not None:
        hold([Conflict(conflict.file, conflict.article, done.current)])
        st.session_state[REFUSAL] = (f"{_title(conflict.stored.title)} was changed since the upload was read: "
                                     "nothing was replaced. Check the row again before replacing.")
        return
    _drop(key)
    if done.status == "failed":
        st.session_state[REFUSAL] = (f"Could not store the uploaded version of {_title(conflict.article.title)} "
                                     f"({escape_markdown(done.detail)}); the stored version was kept.")
        return
    st.session_state[NOTICE] = (f"Replaced {_title(conflict.stored.title)} by the uploaded version. The replaced "
                                f"version is in the trash for {kept_for(news)}: restore it under Trash.")


def keep(key: str) -> None:
    """"Keep the stored version" (a button's callback): the uploaded version is dropped; nothing is stored."""
    if (conflict := _drop(key)) is not None:
        st.session_state[NOTICE] = (f"Kept the stored {_title(conflict.stored.title)}; the uploaded version from "
                                    f"{escape_markdown(conflict.file)} was not stored.")


def held_back(news: NewsAssistant) -> None:
    """The uploaded articles waiting for a decision, one row each with "Replace" and "Keep the stored version"."""
    conflicts: list[Conflict] = st.session_state.get(CONFLICTS, [])
    if not conflicts:
        return
    one = len(conflicts) == 1
    st.warning(("1 uploaded article would replace a stored one: it is held back, and nothing of the stored article"
                if one else f"{len(conflicts)} uploaded articles would replace stored ones: they are held back, and "
                "nothing of the stored articles")
               + f" changes until you press Replace. A replaced version goes to the trash for {kept_for(news)}.")
    for conflict in conflicts:
        with st.container(border=True, key=f"conflict-{conflict.key}"):
            st.markdown(conflict_text(conflict))
            st.caption("Uploaded: " + excerpt(conflict.article.text))
            left, right = st.columns(2)
            left.button("Replace", key=f"replace-{conflict.key}", type="primary", on_click=replace,
                        args=(news, conflict.key), width="stretch")
            right.button("Keep the stored version", key=f"keep-{conflict.key}", on_click=keep, args=(conflict.key,),
                         width="stretch")


# --- the trash -----------------------------------------------------------------------------------------


def restore(news: NewsAssistant, trash_id: str, article_id: str, title: str) -> None:
    """"Restore" (a button's callback): the trashed version back; the one stored now, if any, to the trash."""
    by = _editor("restore articles")
    if by is None:
        return
    trash = trash_of(news)
    try:
        with store_lock().writing():
            replaced = bool(news.store.records([article_id]))
            trash.restore(trash_id, by)
    except KeyError:
        st.session_state[REFUSAL] = f"{_title(title)} is no longer in the trash (restored or purged meanwhile)."
        return
    finally:
        refresh_catalogue()
    st.session_state[NOTICE] = (f"Restored {_title(title)}."
                                + (" The version stored until now is in the trash." if replaced else ""))


def trash_row(news: NewsAssistant, entry: TrashedArticle) -> None:
    record = entry.record
    key = hashlib.sha1(entry.trash_id.encode()).hexdigest()[:12]
    with st.container(border=True, key=f"trash-{key}"):
        text, button = st.columns([6, 1], vertical_alignment="center")
        details = ", ".join(escape_markdown(part) for part in (record.source, record.published) if part)
        text.markdown(f"**{escape_markdown(record.title) or 'Untitled'}**" + (f" — {details}" if details else ""))
        text.caption(f"Why: {escape_markdown(entry.reason)} · trashed by {escape_markdown(entry.trashed_by)}, "
                     f"{utc_time(entry.trashed_at)} · added by {escape_markdown(record.added_by or 'unknown')} from "
                     f"{escape_markdown(origin_label(record.origin) or 'unknown')} · purged after "
                     f"{expiry(entry, news.settings.trash_days)}")
        button.button("Restore", key=f"restore-{key}", on_click=restore,
                      args=(news, entry.trash_id, record.id, record.title), width="stretch")


def trash_section(news: NewsAssistant) -> None:
    """Deleted and replaced versions, newest first, each with "Restore"."""
    st.subheader("Trash")
    entries = trash_of(news).list()
    st.caption(f"Deleted and replaced versions are kept for {kept_for(news)}, then purged. Restoring one moves "
               "the version stored at that moment, if any, to the trash in turn.")
    if not entries:
        st.caption("The trash is empty.")
        return
    if len(entries) > TRASH_ROWS:
        query = st.text_input("Search the trash by title", key="trash-search").lower().split()
        entries = [entry for entry in entries if all(word in entry.record.title.lower() for word in query)]
        st.caption(f"Showing the newest {min(len(entries), TRASH_ROWS)} of {len(entries)}.")
    for entry in entries[:TRASH_ROWS]:
        trash_row(news, entry)


# --- the audit log -------------------------------------------------------------------------------------


def audit_section(news: NewsAssistant) -> None:
    """The newest changes of the library (who, when, what), newest first."""
    st.subheader("Audit log")
    if news.store.audit is None:
        st.caption("This store keeps no audit log.")
        return
    entries = news.store.audit.entries(AUDIT_ROWS)
    st.caption(f"The newest {AUDIT_ROWS} changes, newest first; the whole log is `{news.store.audit.path.name}` "
               "in DATA_DIR." if len(entries) == AUDIT_ROWS else
               f"Every change so far, newest first (`{news.store.audit.path.name}` in DATA_DIR).")
    st.dataframe(pd.DataFrame({
        "When": [utc_time(entry.at) for entry in entries],
        "Who": [entry.who for entry in entries],
        "What": [entry.action for entry in entries],
        "Article": [entry.title for entry in entries],
        "Id": [entry.article_id for entry in entries],
        "Detail": [entry.detail for entry in entries],
    }), key="audit-log", hide_index=True, width="stretch",
        column_config={"Who": st.column_config.TextColumn(width="medium"),
                       "What": st.column_config.TextColumn(width="medium")})
