"""End to end: `python -m ui` driven by headless Chromium (Debian's package) through Playwright.

Screenshots go to test-artifacts/screenshots/. With README_SCREENSHOT=docs/screenshot.png the
chat answer is also saved there (how the README's image is made).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from ui.browser import (
    ROOT,
    Server,
    ask,
    screenshot,
    streamlit_server,
    upload_files,
    wait_until_interactive,
)

pytestmark = pytest.mark.slow

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
VOLCANO_TITLE = "Lava Flow Stops 3.5 Kilometres Short of Grindavik After New Eruption"
SCRIPT_ARTICLE = """Harbour Board Agenda Went Online With <script>alert(1)</script> In It
Source: Test Wire
Published: 2025-02-03

The harbour board's online agenda for the ferry timetable vote showed the code <script>alert(1)</script> in its summary.
It also showed <b>bold tags</b>, an <img src=x onerror=alert(2)> image tag and <style>body {display: none}</style> in plain view.
"""
UPLOAD_TITLE = "Kelmouth Harbour Reopens After Storm Repairs"
UPLOAD_ARTICLE = f"""# {UPLOAD_TITLE}

Source: Test Gazette
Published: 2025-01-20

The harbour at Kelmouth reopened on Monday after three months of repairs to its storm wall.
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Iterator[Server]:
    """The app on a data directory holding the fixture articles and one article full of HTML."""
    folder = tmp_path_factory.mktemp("browser")
    (folder / "script-article.txt").write_text(SCRIPT_ARTICLE, encoding="utf-8")
    env = {"DATA_DIR": str(folder / "data"), "LLM_PROVIDER": "extractive"}
    subprocess.run([sys.executable, "-m", "ingest", str(fixtures_dir), str(folder / "script-article.txt"), "-q"],
                   cwd=ROOT, env={**os.environ, **env}, check=True)
    with streamlit_server(env, SCREENSHOTS.parent / "streamlit.log") as running:
        yield running


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    """A new browser session on the chat page; fails the test if the page ever opens a dialog."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    dialogs: list[str] = []

    def dialog(event: Dialog) -> None:
        dialogs.append(event.message)
        event.dismiss()

    opened.on("dialog", dialog)
    opened.goto(server.url)
    wait_until_interactive(opened)
    yield opened
    context.close()
    assert not dialogs, f"the page opened dialogs: {dialogs}"


def test_question_gets_an_answer_with_a_source_card(page: Page) -> None:
    card = ask(page, "How close to Grindavik did the lava get?", turn=1)
    text = card.inner_text()
    assert text.startswith(f"[1] {VOLCANO_TITLE}")
    assert "Nordic Reporting Service, 2024-03-17" in text
    assert card.get_by_role("link", name="open article").get_attribute("href") == \
        "https://news.example.invalid/iceland/sundhnukur-eruption"
    highlighted = card.locator("strong").all_inner_texts()  # the title, then the supporting sentence
    assert highlighted[1].startswith("By Sunday morning the lava flow had reached 3.5 kilometres")
    answer = page.get_by_test_id("stChatMessage").nth(1)
    assert "3.5 kilometres" in answer.inner_text()
    path = screenshot(page, SCREENSHOTS / "chat-answer.png")
    if target := os.environ.get("README_SCREENSHOT"):
        (ROOT / target).write_bytes(path.read_bytes())


def test_html_in_an_article_is_shown_as_text(page: Page) -> None:
    card = ask(page, "What code did the harbour board agenda show in its summary?", turn=1)
    text = card.inner_text()
    assert "Harbour Board Agenda Went Online With <script>alert(1)</script> In It" in text
    assert "showed the code <script>alert(1)</script> in its summary" in text
    card.get_by_text("Whole passage").click()
    assert "<b>bold tags</b>, an <img src=x onerror=alert(2)> image tag and <style>body {display: none}</style>" \
        in card.inner_text()
    messages = page.get_by_test_id("stChatMessage")
    assert messages.count() == 2
    assert messages.locator("script, img, style, b").count() == 0, "article markup became page elements"
    assert page.locator("img[src=x]").count() == 0
    assert page.get_by_test_id("stApp").is_visible(), "the article's <style> must not hide the page"
    screenshot(page, SCREENSHOTS / "script-as-text.png")


def test_uploaded_file_is_listed_in_the_library(page: Page, tmp_path: Path) -> None:
    upload = tmp_path / "kelmouth-harbour.md"
    upload.write_text(UPLOAD_ARTICLE, encoding="utf-8")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Library").click()
    upload_files(page, upload)
    expect(page.get_by_text("Upload finished: 1 ingested.")).to_be_visible()
    cells = page.locator("[data-testid^=glide-cell]")  # the tables' accessible cells
    expect(cells.filter(has_text="kelmouth-harbour.md")).not_to_have_count(0)  # the upload's result row
    expect(page.get_by_test_id("stMetricValue")).to_have_text("8")
    page.get_by_label("Search by title").fill("kelmouth harbour")
    page.get_by_label("Search by title").press("Enter")
    page.get_by_text("1 of 8 articles").wait_for()
    expect(cells.filter(has_text=UPLOAD_TITLE)).to_have_count(1)
    screenshot(page, SCREENSHOTS / "library-after-upload.png")
