"""Following questions in the web app (issue 23), driven headless with AppTest on the extractive backend and
the real `assistant.following`: "Follow this question" under every answer, the Following page (latest answer,
what changed, cited, the "Updated" mark until seen) and whose follows each visitor sees."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import assistant.following
from assistant.config import get_settings
from following_articles import CHANGE, FIRST_REPORT, IRRELEVANT, NEW_FIGURE, QUESTION, write
from ingest.__main__ import main as ingest_main
from ingest.loaders import load_paths
from ingest.pipeline import Ingestor
from test_ui import OpenApp, ask, assistant_messages, click, open_app, rendered  # noqa: F401  (open_app: fixture)
from ui.auth import Access, Role, SignIn

pytestmark = pytest.mark.slow

FIRST_TITLE = "Floods Sweep Through Lowmere After Record Rainfall"


def ingest(data_dir: Path, *paths: Path) -> None:
    """`python -m ingest PATHS` on the store, in this process (it checks the followed questions too)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(data_dir))
        get_settings.cache_clear()
        assert ingest_main([*map(str, paths), "-q"]) == 0
    get_settings.cache_clear()


def flood_store(folder: Path, fixtures_dir: Path) -> Path:
    """A DATA_DIR of the fixture articles and the first report of the Lowmere floods."""
    ingest(folder / "data", fixtures_dir, write(folder / "articles", "lowmere-12.txt", FIRST_REPORT))
    return folder / "data"


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Path:
    """The flood store for the tests that only follow and unfollow (each as its own user, or undoing it)."""
    return flood_store(tmp_path_factory.mktemp("following-ui"), fixtures_dir)


def signed_in(monkeypatch: pytest.MonkeyPatch, email: str | None) -> None:
    """The next runs see a reader signed in as `email`, or (None) a visitor of a shared server who is not
    signed in."""
    if email is None:
        visitor = Access(Role.READER, "**Read-only**: no sign-in is configured.", SignIn())
    else:
        visitor = Access(Role.READER, f"Signed in as {email}: **reader**", SignIn((None,)), user=email)
    monkeypatch.setattr("ui.auth.access", lambda: visitor)


def buttons(at: AppTest, label: str) -> list[Any]:
    return [button for button in at.button if button.label == label]


def following_page(at: AppTest) -> AppTest:
    at.switch_page("following.py").run()
    assert not at.exception
    return at


def app_assistant() -> Any:
    """The app's own assistant (on the store of the last `open_app`)."""
    from ui.resources import get_assistant

    return get_assistant()


def questions(user: str) -> list[str]:
    """The questions `user` follows, as the store holds them."""
    return [item.question for item in assistant.following.following(user, news=app_assistant())]


# --- the chat's button ---------------------------------------------------------------------------------------


def test_follow_button_under_an_answer_follows_and_unfollows(open_app: OpenApp, shared_store: Path) -> None:
    at = ask(open_app(shared_store), QUESTION)
    [answer] = assistant_messages(at)
    assert "12 people died" in rendered(answer)
    [button] = [button for button in answer.button if button.label == "Follow this question"]
    assert not button.disabled
    click(at, "Follow this question")
    assert questions("local") == [QUESTION], "followed as the local user (Local mode)"
    [answer] = assistant_messages(at)
    assert "Followed" in rendered(answer) and not buttons(at, "Follow this question")
    ask(at, QUESTION)  # asked again: its answer shows it followed too
    assert len(buttons(at, "Unfollow")) == 2 and not buttons(at, "Follow this question")
    buttons(at, "Unfollow")[0].click().run()
    assert not at.exception
    assert questions("local") == []
    assert len(buttons(at, "Follow this question")) == 2


def test_a_visitor_who_is_nobody_cannot_follow(open_app: OpenApp, shared_store: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    signed_in(monkeypatch, None)
    at = ask(open_app(shared_store), QUESTION)
    [button] = buttons(at, "Follow this question")
    assert button.disabled and "needs sign-in" in (button.help or "")
    text = rendered(following_page(at))
    assert "needs sign-in" in text and QUESTION not in text


def test_each_user_sees_and_removes_only_their_follows(open_app: OpenApp, shared_store: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    signed_in(monkeypatch, "ana@newsroom.example")  # a reader: readers follow too
    at = click(ask(open_app(shared_store), QUESTION), "Follow this question")
    assert questions("ana@newsroom.example") == [QUESTION]
    assert QUESTION in rendered(following_page(at))

    signed_in(monkeypatch, "ben@newsroom.example")
    text = rendered(at.run())
    assert QUESTION not in text and "You follow no questions yet" in text
    assert not buttons(at, "Unfollow")
    at.switch_page("chat.py").run()
    assert len(buttons(at, "Follow this question")) == 1, "ana's follow is not ben's"
    assert questions("local") == []


# --- the Following page --------------------------------------------------------------------------------------


def test_following_page_shows_the_change_cited_and_marks_it_seen(
        open_app: OpenApp, tmp_path: Path, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = flood_store(tmp_path, fixtures_dir)
    checked: list[str | None] = []
    real_updates = assistant.following.updates

    def spy(*args: Any, **kwargs: Any) -> Any:
        checked.append(kwargs.get("user"))
        return real_updates(*args, **kwargs)

    monkeypatch.setattr(assistant.following, "updates", spy)
    at = click(ask(open_app(data_dir), QUESTION), "Follow this question")
    text = rendered(following_page(at))
    assert QUESTION in text and "Latest answer" in text and f"[1] {FIRST_TITLE} — Valley Courier" in text
    assert "12 people died" in text
    assert "Updated" not in text and "What changed" not in text and "Unchanged since you followed it" in text
    assert checked == ["local"], "the page checks for new articles, for this user"

    ingest(data_dir, write(tmp_path / "later", "bakery.txt", IRRELEVANT))  # another story
    text = rendered(at.run())
    assert "Updated" not in text and "What changed" not in text and "Unchanged since you followed it" in text

    # A writer that does not check the follows itself (an Ingestor without settings): the page's check finds it.
    news = app_assistant()
    report = Ingestor(news.store, news.encoder).ingest(
        load_paths([write(tmp_path / "later", "lowmere-15.txt", NEW_FIGURE)], 1_000_000))
    assert report.new == 1
    assert not assistant.following.following("local", news=news)[0].changes, "nothing checked yet"
    text = rendered(at.run())
    assert "Updated" in text and "1 updated" in text and "Last changed" in text
    assert CHANGE in text, text
    assert re.search(r"\[2\] Lowmere Flood Death Toll Rises as Waters Recede — Northern Wire, 2026-12-02 · "
                     r"\[open article\]\(https://wire\.example\.invalid/lowmere-toll\)", text), "the answer's card"
    change_sources = [caption.value for caption in at.get("caption") if " — “" in caption.value]
    assert [re.sub(r"\\(.)", r"\1", source) for source in change_sources] == [
        "[1] **Floods Sweep Through Lowmere After Record Rainfall** — Valley Courier, 2026-11-30 · "
        "[open article](https://courier.example.invalid/lowmere-floods) — “12 people died in the Lowmere floods, "
        "the regional fire service said on Sunday evening.”",
        "[2] **Lowmere Flood Death Toll Rises as Waters Recede** — Northern Wire, 2026-12-02 · "
        "[open article](https://wire.example.invalid/lowmere-toll) — “The floods in Lowmere have killed 15 people, "
        "the regional fire service said on Tuesday.”"], "the changes' sources, each once"
    [item] = assistant.following.following("local", news=app_assistant())
    assert not item.updated, "the page marked the change seen"

    text = rendered(following_page(at.switch_page("chat.py").run()))  # a new visit
    assert "Updated" not in text and "no change since you last looked" in text
    assert CHANGE in text, "what the latest change brought is still shown"


def test_a_check_that_fails_still_lists_the_saved_answers(open_app: OpenApp, shared_store: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    signed_in(monkeypatch, "cy@newsroom.example")
    at = click(ask(open_app(shared_store), QUESTION), "Follow this question")

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("[Errno 111] Connection\nrefused")

    monkeypatch.setattr(assistant.following, "updates", down)
    at = following_page(at)
    assert [warning.value for warning in at.warning] == [
        "Could not check for new articles: \\[Errno 111\\] Connection refused"]
    text = rendered(at)
    assert QUESTION in text and "12 people died" in text and "checked for new articles at" not in text
