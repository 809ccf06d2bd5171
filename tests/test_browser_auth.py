"""Sign-in end to end: `python -m ui` with `[auth]` pointing at a real OpenID Connect provider
(oidc-provider-mock on 127.0.0.1), driven by headless Chromium (Debian's package) through Playwright.

An editor (EDITORS=@newsroom.example) signs in, uploads an article and signs out; a reader signs in,
asks and browses, and finds nothing that changes the library. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from test_browser import UPLOAD_ARTICLE

from ui.browser import (
    ROOT,
    Server,
    ask,
    oidc_provider,
    screenshot,
    streamlit_server,
    upload_files,
    wait_until_interactive,
)

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts"
EDITOR = "desk@newsroom.example"
READER = "reader@elsewhere.example"


@pytest.fixture(scope="module")
def provider() -> Iterator[Server]:
    with oidc_provider(ARTIFACTS / "oidc-provider.log") as running:
        for email in (EDITOR, READER):  # a provider that verified the addresses (absent counts as unverified)
            request = urllib.request.Request(f"{running.url}/users/{email}", method="PUT",
                                             data=json.dumps({"email": email, "email_verified": True}).encode(),
                                             headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=10).close()
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path, provider: Server) -> Iterator[Server]:
    """The app on the fixture articles, with sign-in through `provider`; its secrets live in a temporary folder."""
    folder = tmp_path_factory.mktemp("browser-auth")
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(f"""[auth]
redirect_uri = "http://127.0.0.1:{{port}}/oauth2callback"
cookie_secret = "{secrets.token_hex(32)}"
client_id = "newsdesk-test"
client_secret = "{secrets.token_hex(16)}"
server_metadata_url = "{provider.url}/.well-known/openid-configuration"
""", encoding="utf-8")
    env = {"DATA_DIR": str(folder / "data"), "LLM_PROVIDER": "extractive", "EDITORS": "@newsroom.example",
           "AUTH_REQUIRED": "false"}
    subprocess.run([sys.executable, "-m", "ingest", str(fixtures_dir), "-q"], cwd=ROOT, env={**os.environ, **env},
                   check=True)
    with streamlit_server(env, ARTIFACTS / "streamlit-auth.log", secrets=secrets_file) as running:
        yield running


def open_session(browser: Browser, server: Server) -> Page:
    """A new browser (its own cookies) on the chat page, not signed in."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(server.url)
    wait_until_interactive(page)
    return page


def account(page: Page) -> Locator:
    return page.locator(".st-key-account")


def sign_in(page: Page, server: Server, email: str) -> None:
    """Through the provider's authorize page, as `email`, and back to the app."""
    account(page).get_by_role("button", name="Sign in").click()
    page.get_by_placeholder("sub").fill(email)  # the provider's page
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{server.url}/**")
    expect(account(page)).to_contain_text(f"Signed in as {email}", timeout=60_000)
    wait_until_interactive(page)


def sign_out(page: Page) -> None:
    account(page).get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()  # the provider's end-session page
    expect(account(page)).to_contain_text("Not signed in", timeout=60_000)


def open_library(page: Page, articles: int) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Library").click()
    page.get_by_text(f"{articles} articles", exact=True).wait_for(timeout=60_000)


def can_upload(page: Page) -> bool:
    """On the library page: whether the upload form is there (its button, drawn after the file box, or
    the note drawn instead of the form; the file box itself may be mounted a moment later)."""
    submit = page.get_by_role("button", name="Add to library")
    submit.or_(page.get_by_text("Only editors add or delete articles")).wait_for()
    if submit.count():
        expect(page.get_by_test_id("stFileUploaderDropzoneInput")).to_have_count(1)
        return True
    expect(page.get_by_test_id("stFileUploaderDropzoneInput")).to_have_count(0)
    return False


def test_editor_signs_in_uploads_and_signs_out(browser: Browser, server: Server, tmp_path: Path) -> None:
    page = open_session(browser, server)
    expect(account(page)).to_contain_text("Not signed in: reader")
    open_library(page, 6)
    assert not can_upload(page), "not signed in: no upload"

    sign_in(page, server, EDITOR)
    expect(account(page)).to_contain_text("editor (EDITORS): you may add and delete articles")
    open_library(page, 6)
    assert can_upload(page)
    upload = tmp_path / "kelmouth-harbour.md"
    upload.write_text(UPLOAD_ARTICLE, encoding="utf-8")
    upload_files(page, upload)
    expect(page.get_by_text("Upload finished: 1 ingested.")).to_be_visible()
    expect(page.get_by_test_id("stMetricValue")).to_have_text("7")
    screenshot(page, ARTIFACTS / "screenshots" / "signed-in-editor.png")

    sign_out(page)
    open_library(page, 7)
    assert not can_upload(page), "signed out: no upload"
    page.context.close()


def test_reader_asks_and_browses_but_cannot_change_the_library(browser: Browser, server: Server) -> None:
    page = open_session(browser, server)
    sign_in(page, server, READER)
    expect(account(page)).to_contain_text("reader (ask and browse): only editors (EDITORS) change the library")
    card = ask(page, "How close to Grindavik did the lava get?", turn=1)
    assert "Lava Flow Stops 3.5 Kilometres Short of Grindavik" in card.inner_text()
    articles = page.get_by_test_id("stMetricValue").inner_text()
    open_library(page, int(articles))
    assert not can_upload(page)
    expect(page.get_by_role("button", name="Delete selected")).to_have_count(0)
    expect(page.get_by_text("Only editors add or delete articles")).to_be_visible()
    screenshot(page, ARTIFACTS / "screenshots" / "signed-in-reader.png")
    page.context.close()
