"""The Library side of "nothing lost by a click": provenance columns, uploads that would replace a stored
article held back until an editor confirms, delete and replace into the trash, restore, the audit log.

The store side (assistant/store/trash.py, assistant/store/audit.py) is tested in tests/test_trash.py.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fakes import FakeEncoder, memory_store
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest
from test_near_duplicates import story
from test_ui import (
    VOLCANO_QUESTION,
    VOLCANO_SOURCE,
    VOLCANO_TITLE,
    OpenApp,
    ask,
    assistant_messages,
    click,
    fixture_store,
    library,
    open_app,
    rendered,
    select_rows,
    writable_store,
)

from assistant.config import Settings
from assistant.store.chunk_store import ChunkStore, build_store
from assistant.store.trash import Trash
from assistant.types import Article
from ingest.loaders import load_file
from ingest.pipeline import Ingestor
from ui.components import utc_time
from ui.resources import StoreLock
from ui.uploads import (
    REPLACED_BY_UPLOAD,
    Upload,
    UploadLimits,
    ingest_submission,
    ingest_upload,
    origin_label,
    replace_with_upload,
)

__all__ = ["fixture_store", "open_app", "writable_store"]  # fixtures shared with tests/test_ui.py

VOLCANO_URL = "https://news.example.invalid/iceland/sundhnukur-eruption"
FORGED = ("Officials said on Sunday that the lava flow had been stopped by rain and that it never came closer than "
          "forty kilometres to Grindavik, whose residents may all return home.")
LIMITS = UploadLimits(10, 1_000_000, 1_000_000)
EDITOR_ACTOR = "anonymous"
"""Who changes are recorded as in Local mode (no sign-in, 127.0.0.1): ui/auth.py Access.actor."""


def text_of(store: ChunkStore, article_id: str) -> str:
    """The passages of the version of the article its record names, in order."""
    record = store.records([article_id])[article_id]
    found = store.chunks.get(where={"$and": [{"article_id": article_id}, {"content_hash": record.content_hash}]},
                             include=["documents", "metadatas"])
    pieces = sorted(zip(found["metadatas"], found["documents"], strict=True), key=lambda item: item[0]["position"])
    return "\n".join(document for _, document in pieces)


def json_upload(name: str, *records: dict[str, str]) -> Upload:
    return Upload(name, json.dumps(list(records)).encode())


# --- helpers ---------------------------------------------------------------------------------------------


def test_origins_are_shown_without_server_folders() -> None:
    assert origin_label("upload:0123456789ab/notes.md") == "notes.md (upload)"
    assert origin_label("upload:0123456789ab/feed.jsonl:3") == "feed.jsonl:3 (upload)"
    assert origin_label("/srv/newsdesk/in/news.jsonl:2") == "news.jsonl:2"
    assert origin_label("/srv/newsdesk/in/bees.json#1") == "bees.json#1"
    assert origin_label("https://paper.example/story") == "https://paper.example/story"
    assert origin_label("") == ""


def test_times_are_shown_in_utc_to_the_minute() -> None:
    assert utc_time("2025-01-20T10:11:12+00:00") == "2025-01-20 10:11 UTC"
    assert utc_time("2025-01-20T12:11:12+02:00") == "2025-01-20 10:11 UTC"
    assert utc_time("") == "" and utc_time("yesterday") == "yesterday"


# --- uploads that would replace stored articles ------------------------------------------------------------


@pytest.fixture
def stored(tmp_path: Path) -> ChunkStore:
    """A store holding articles "a" and "b", ingested as the ingest command does (by `cli`, from a file)."""
    store = memory_store()
    source = tmp_path / "in" / "wire.json"
    source.parent.mkdir()
    source.write_text(json.dumps([{"id": "a", "title": "Original A", "text": "\n".join(story(1, sentences=8))},
                                  {"id": "b", "title": "Original B", "text": "\n".join(story(2, sentences=8))}]))
    report = Ingestor(store, FakeEncoder(), added_by="cli").ingest(load_file(source, 1_000_000))
    assert report.new == 2
    return store


def test_an_upload_that_would_change_a_stored_article_is_held_back(stored: ChunkStore) -> None:
    original_a, original_b = text_of(stored, "a"), text_of(stored, "b")
    ingestor = Ingestor(stored, FakeEncoder(), added_by="ed@paper.example")
    files = [json_upload("first.json", {"id": "a", "title": "Forged A", "text": FORGED},
                         {"id": "b", "title": "Original B", "text": original_b},  # the same article: unchanged
                         {"id": "c", "title": "New C", "text": "\n".join(story(3, sentences=8))}),
             json_upload("second.json", {"id": "a", "title": "Forged again", "text": FORGED + " Again."},
                         {"id": "c", "title": "New C, corrected", "text": "\n".join(story(3, sentences=8))})]
    submission = ingest_submission(files, ingestor, LIMITS, StoreLock().writing)
    assert [(result.file, result.status, result.details) for result in submission.results] == [
        ("first.json", "ingested", "1 new, 1 held back, 1 unchanged"),
        ("second.json", "ingested", "1 updated, 1 held back")]  # c came with this submission: not from elsewhere
    [conflict] = submission.conflicts
    assert (conflict.file, conflict.article.title, conflict.article.text) == ("first.json", "Forged A", FORGED)
    assert (conflict.stored.title, conflict.stored.added_by, origin_label(conflict.stored.origin)) == \
        ("Original A", "cli", "wire.json#1")
    assert text_of(stored, "a") == original_a and stored.records(["a"])["a"].title == "Original A"
    assert stored.records(["c"])["c"].title == "New C, corrected"
    assert stored.records(["c"])["c"].added_by == "ed@paper.example"
    assert origin_label(stored.records(["c"])["c"].origin) == "second.json#2 (upload)"

    alone = ingest_upload(files[0], ingestor, 1_000_000, StoreLock().writing)  # c now differs from an earlier upload
    assert (alone.file, alone.status, alone.details) == \
        ("first.json", "held back", "2 held back, 1 unchanged: would replace stored articles (see below)")
    assert text_of(stored, "a") == original_a and stored.records(["c"])["c"].title == "New C, corrected"


def test_only_a_forged_upload_is_held_back_in_a_file_of_its_own(stored: ChunkStore) -> None:
    ingestor = Ingestor(stored, FakeEncoder(), added_by="ed@paper.example")
    submission = ingest_submission([json_upload("forged.json", {"id": "a", "title": "Original A", "text": FORGED})],
                                   ingestor, LIMITS, StoreLock().writing)
    assert [(result.file, result.status, result.details) for result in submission.results] == [
        ("forged.json", "held back", "1 held back: would replace a stored article (see below)")]
    assert len(submission.conflicts) == 1 and FORGED not in text_of(stored, "a")


def test_a_confirmed_replacement_trashes_the_stored_version_which_can_be_restored(stored: ChunkStore) -> None:
    original = text_of(stored, "a")
    ingestor = Ingestor(stored, FakeEncoder(), added_by="ed@paper.example")
    [conflict] = ingest_submission([json_upload("forged.json", {"id": "a", "title": "Forged A", "text": FORGED})],
                                   ingestor, LIMITS, StoreLock().writing).conflicts
    trash = Trash(stored, days=30)
    assert replace_with_upload(conflict, ingestor, trash, "ed@paper.example").status == "replaced"
    assert text_of(stored, "a") == FORGED
    record = stored.records(["a"])["a"]
    assert (record.title, record.added_by, origin_label(record.origin)) == \
        ("Forged A", "ed@paper.example", "forged.json#1 (upload)")
    [entry] = trash.list()
    assert (entry.record.title, entry.record.added_by, entry.trashed_by, entry.reason) == \
        ("Original A", "cli", "ed@paper.example", REPLACED_BY_UPLOAD)

    trash.restore(entry.trash_id, by="desk@paper.example")
    assert text_of(stored, "a") == original and stored.records(["a"])["a"].title == "Original A"
    assert [item.record.title for item in trash.list()] == ["Forged A"]


def test_a_stored_article_changed_since_the_upload_is_not_replaced(stored: ChunkStore) -> None:
    ingestor = Ingestor(stored, FakeEncoder(), added_by="ed@paper.example")
    [conflict] = ingest_submission([json_upload("forged.json", {"id": "a", "title": "Forged A", "text": FORGED})],
                                   ingestor, LIMITS, StoreLock().writing).conflicts
    edited = "\n".join(story(5, sentences=8))
    Ingestor(stored, FakeEncoder(), added_by="cli").ingest([Article(id="a", title="Edited A", text=edited)])
    trash = Trash(stored)
    done = replace_with_upload(conflict, ingestor, trash, "ed@paper.example")
    assert done.status == "changed" and done.current is not None and done.current.title == "Edited A"
    assert text_of(stored, "a") == edited and trash.list() == []


# --- the pages ---------------------------------------------------------------------------------------------


def results_table(at: AppTest) -> pd.DataFrame:
    [table] = [frame.value for frame in at.dataframe if "File" in frame.value.columns]
    return table


def audit_table(at: AppTest) -> pd.DataFrame:
    [table] = [frame.value for frame in at.dataframe if "What" in frame.value.columns]
    return table


def volcano_row(at: AppTest) -> pd.Series:
    table = at.dataframe[0].value
    [row] = [row for _, row in table.iterrows() if row["Title"] == VOLCANO_TITLE]
    return row


def volcano_text(data_dir: Path) -> str:
    store = build_store(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    [record] = [record for record in store.articles() if record.url == VOLCANO_URL]
    return text_of(store, record.id)


def cites_the_original(at: AppTest) -> bool:
    at.switch_page("chat.py").run()
    [answer] = assistant_messages(ask(at, VOLCANO_QUESTION))[-1:]
    text = rendered(answer)
    return "3.5 kilometres" in text and f"[1] {VOLCANO_TITLE} — {VOLCANO_SOURCE}" in text


@pytest.mark.slow
def test_a_forged_upload_waits_for_an_editor_and_the_replaced_version_can_be_restored(
        open_app: OpenApp, writable_store: Path) -> None:
    original = volcano_text(writable_store)
    assert "3.5 kilometres" in original
    at = library(open_app(writable_store))
    forged = [{"url": VOLCANO_URL, "title": VOLCANO_TITLE, "source": VOLCANO_SOURCE, "published": "2024-03-17",
               "text": FORGED}]
    at.file_uploader[0].set_value([("forged.json", json.dumps(forged).encode(), "application/json")])
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert list(results_table(at).itertuples(index=False, name=None)) == [
        ("forged.json", "held back", "1 held back: would replace a stored article (see below)")]
    text = rendered(at)
    assert "Upload finished: 1 held back." in text
    assert f"forged.json: “{VOLCANO_TITLE}” would replace {VOLCANO_TITLE}, added by cli from volcano.txt on " \
        in text
    assert "Uploaded: Officials said on Sunday that the lava flow had been stopped by rain" in text
    assert volcano_text(writable_store) == original, "nothing changes before an editor confirms"
    assert volcano_row(at)["Added by"] == "cli"

    click(at, "Replace")
    assert f"Replaced “{VOLCANO_TITLE}” by the uploaded version." in rendered(at)
    assert volcano_text(writable_store) == FORGED
    row = volcano_row(at)
    assert (row["Added by"], row["From"]) == (EDITOR_ACTOR, "forged.json#1 (upload)")
    assert not [button for button in at.button if button.label == "Replace"], "the conflict row is gone"
    text = rendered(at)
    assert f"Why: {REPLACED_BY_UPLOAD} · trashed by {EDITOR_ACTOR}, " in text
    assert "added by cli from volcano.txt · purged after " in text

    click(at, "Restore")
    assert f"Restored “{VOLCANO_TITLE}”. The version stored until now is in the trash." in rendered(at)
    assert volcano_text(writable_store) == original
    assert volcano_row(at)["Added by"] == "cli" and volcano_row(at)["From"] == "volcano.txt"
    assert "Why: replaced by the restored version of " in rendered(at), "the forged version is in the trash now"
    assert cites_the_original(at)


@pytest.mark.slow
def test_keep_the_stored_version_stores_nothing(open_app: OpenApp, writable_store: Path) -> None:
    original = volcano_text(writable_store)
    at = library(open_app(writable_store))
    forged = [{"url": VOLCANO_URL, "title": "Forged", "text": FORGED}]
    at.file_uploader[0].set_value([("forged.json", json.dumps(forged).encode(), "application/json")])
    at.form_submit_button[0].click().run()
    click(at, "Keep the stored version")
    assert f"Kept the stored “{VOLCANO_TITLE}”; the uploaded version from forged.json was not stored." \
        in rendered(at)
    assert not [button for button in at.button if button.label == "Replace"]
    assert volcano_text(writable_store) == original and "The trash is empty." in rendered(at)


@pytest.mark.slow
def test_delete_moves_to_the_trash_and_restore_brings_it_back(open_app: OpenApp, writable_store: Path) -> None:
    at = library(open_app(writable_store))
    assert "The trash is empty." in rendered(at)
    at.text_input[0].input("Grindavik").run()
    select_rows(at, [0])
    click(at, "Delete selected (1)…")
    text = rendered(at)
    assert "Delete 1 article? It goes to the trash, from where the Library can restore it for 30 days (TRASH_DAYS)." \
        in text and "cannot be undone" not in text
    click(at, "Delete")
    assert "Deleted 1 article. It is in the trash for 30 days (TRASH_DAYS): restore it under Trash." in rendered(at)
    assert at.sidebar.metric[0].value == "5"
    purged = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    text = rendered(at)
    assert f"{VOLCANO_TITLE} — {VOLCANO_SOURCE}, 2024-03-17" in text
    assert re.search(rf"Why: deleted · trashed by {EDITOR_ACTOR}, \d{{4}}-\d\d-\d\d \d\d:\d\d UTC · added by cli "
                     rf"from volcano\.txt · purged after {purged}", text)

    click(at, "Restore")
    assert f"Restored “{VOLCANO_TITLE}”." in rendered(at) and "The version stored until now" not in rendered(at)
    assert at.sidebar.metric[0].value == "6" and "The trash is empty." in rendered(at)
    at.text_input[0].input("").run()
    assert VOLCANO_TITLE in set(at.dataframe[0].value["Title"])
    assert cites_the_original(at)


@pytest.mark.slow
def test_provenance_and_the_audit_log_for_editors(open_app: OpenApp, writable_store: Path) -> None:
    at = library(open_app(writable_store))
    table = at.dataframe[0].value
    assert list(table.columns) == ["Title", "Source", "Published", "Passages", "Also published by", "Added by",
                                   "Added", "From", "Link"]
    row = volcano_row(at)
    assert (row["Added by"], row["From"]) == ("cli", "volcano.txt")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row["Added"])
    assert set(table["From"]) >= {"bees.json#1", "news.jsonl:1", "mars-rover.md", "lighthouse.txt"}
    audit = audit_table(at)
    assert list(audit.columns) == ["When", "Who", "What", "Article", "Id", "Detail"]
    assert len(audit) == 6 and set(audit["Who"]) == {"cli"} and set(audit["What"]) == {"added"}

    article = b"# Harbour Reopens\n\nSource: Test Gazette\nPublished: 2025-01-20\n\nThe harbour reopened on Monday.\n"
    at.file_uploader[0].set_value([("../harbour.md", article, "text/markdown")])
    at.form_submit_button[0].click().run()
    assert not at.exception
    [harbour] = [row for _, row in at.dataframe[0].value.iterrows() if row["Title"] == "Harbour Reopens"]
    assert (harbour["Added by"], harbour["From"]) == (EDITOR_ACTOR, "harbour.md (upload)")
    newest = audit_table(at).iloc[0]
    assert (newest["Who"], newest["What"], newest["Article"]) == (EDITOR_ACTOR, "added", "Harbour Reopens")
    assert re.fullmatch(r"upload:[0-9a-f]{12}/harbour\.md", newest["Detail"])


@pytest.mark.slow
def test_readers_see_neither_the_trash_nor_the_audit_log(open_app: OpenApp, fixture_store: Path) -> None:
    st_config.set_option("server.address", "0.0.0.0")  # Read-only: no sign-in, served to the network
    at = library(open_app(fixture_store))
    headers = [header.value for header in at.subheader]
    assert "Trash" not in headers and "Audit log" not in headers
    assert len(at.dataframe) == 1 and "Added by" in at.dataframe[0].value.columns, "readers see the provenance"
    assert not [button for button in at.button if button.label in ("Restore", "Replace")]


def forged_changes() -> None:
    """A page script that calls the restore and replace callbacks directly, as a forged widget event would."""
    import streamlit as st

    from ui.changes import REFUSAL, replace, restore

    restore(None, "a@1", "a", "A")  # type: ignore[arg-type]
    st.text(st.session_state.pop(REFUSAL, ""))
    replace(None, "k")  # type: ignore[arg-type]
    st.text(st.session_state.pop(REFUSAL, ""))


def test_restore_and_replace_are_refused_on_the_server_for_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    address = st_config.get_option("server.address")
    st_config.set_option("server.address", "0.0.0.0")
    try:
        at = AppTest.from_function(forged_changes, default_timeout=30).run()
    finally:
        st_config.set_option("server.address", address)
    assert not at.exception
    assert [text.value for text in at.text] == ["Only editors may restore articles.",
                                                "Only editors may replace articles."]
