"""Who may change the library (ui/auth.py), read-only mode and the limits on one request.

The decision itself is tested as a function; the pages through AppTest (ui/app.py) with the
`server.address` option, the `[auth]` secrets and `st.user` set as a real server would set them.
tests/test_browser_auth.py signs in through a real OpenID Connect provider.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.util import build_mock_config_get_option

from assistant.chain import NewsAssistant, default_assistant
from assistant.config import Settings, get_settings
from assistant.filters import MAX_FILTER_VALUES, parse_filters
from fakes import FakeEncoder, memory_store
from ingest.loaders import SUPPORTED_SUFFIXES
from ingest.pipeline import Ingestor
from test_ui import APP, VOLCANO_QUESTION, assistant_messages, ingest_fixtures, rendered
from ui.app import ROOT
from ui.auth import Role, SignIn, decide, is_editor, is_loopback, read_sign_in
from ui.resources import StoreLock
from ui.uploads import Upload, UploadLimits, UploadRefused, ingest_uploads, submission_problem

AUTH = {"redirect_uri": "http://127.0.0.1:{port}/oauth2callback", "cookie_secret": "a-long-random-test-secret",
        "client_id": "newsdesk", "client_secret": "secret",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
SIGNED_IN = SignIn((None,))
EDITOR = {"is_logged_in": True, "email": "Editor@Newsroom.example", "email_verified": True, "sub": "1"}
READER = {"is_logged_in": True, "email": "reader@elsewhere.example", "email_verified": True, "sub": "2"}
SIGNED_OUT = {"is_logged_in": False}
ARTICLE = b"# Harbour Reopens\n\nSource: Test Gazette\nPublished: 2025-01-20\n\nThe harbour reopened on Monday.\n"


def settings(**values: Any) -> Settings:
    """Settings with the access settings at their defaults unless given (whatever the environment says)."""
    values = {"auth_required": False, "editors": [], "allow_anonymous_edits": False, **values}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# --- the decision ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    (None, False), ("", False), ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("news.example", False),
])
def test_only_loopback_addresses_count_as_local(address: str | None, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_editors_are_addresses_or_whole_domains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDITORS", "Alice@Paper.example, @newsroom.example;wire.example")
    editors = Settings(_env_file=None).editors  # type: ignore[call-arg]
    assert editors == ["alice@paper.example", "@newsroom.example", "wire.example"]
    assert is_editor("ALICE@paper.example", editors)
    assert not is_editor("malice@paper.example", editors)
    assert not is_editor("bob@paper.example", editors)
    assert is_editor("anyone@newsroom.example", editors) and is_editor("desk@wire.example", editors)
    assert not is_editor("x@evil.newsroom.example", editors), "a subdomain is another domain"
    assert not is_editor("x@newsroom.example.evil", editors)
    assert not is_editor("newsroom.example", editors) and not is_editor("@newsroom.example", editors)


def test_sign_in_needs_a_complete_auth_section() -> None:
    assert not read_sign_in(None).configured and read_sign_in(None).problem is None
    assert read_sign_in(AUTH) == SignIn((None,))
    named = {**{key: AUTH[key] for key in ("redirect_uri", "cookie_secret")},
             "google": {key: AUTH[key] for key in ("client_id", "client_secret", "server_metadata_url")},
             "okta": {key: AUTH[key] for key in ("client_id", "client_secret", "server_metadata_url")}}
    assert read_sign_in(named).providers == ("google", "okta")
    assert read_sign_in({**AUTH, "cookie_secret": ""}).problem == \
        "[auth] in .streamlit/secrets.toml lacks cookie_secret"
    broken = {**named, "okta": {"client_id": "x"}}
    assert read_sign_in(broken).problem == ("[auth.okta] in .streamlit/secrets.toml lacks client_secret, "
                                            "server_metadata_url")
    assert not read_sign_in(broken).configured


def test_without_sign_in_only_a_local_server_lets_visitors_edit() -> None:
    local = decide(settings(), SignIn(), "127.0.0.1", {})
    assert local.can_edit and local.mode.startswith("**Local mode**: no sign-in is configured")
    for address in (None, "0.0.0.0", "10.1.2.3"):
        shut = decide(settings(), SignIn(), address, {})
        assert not shut.can_edit and shut.role is Role.READER and not shut.blocked
        assert shut.mode.startswith("**Read-only**: no sign-in is configured and the server listens on ")
        assert "ALLOW_ANONYMOUS_EDITS=true" in shut.mode
    assert "listens on every network interface" in decide(settings(), SignIn(), None, {}).mode
    opened = decide(settings(allow_anonymous_edits=True), SignIn(), "0.0.0.0", {})
    assert opened.can_edit and opened.mode.startswith("**Open mode**") and opened.actor == "anonymous"
    misconfigured = decide(settings(), SignIn(problem="[auth] lacks cookie_secret"), "0.0.0.0", {})
    assert not misconfigured.can_edit and "sign-in is misconfigured ([auth] lacks cookie_secret)" in misconfigured.mode


def test_with_sign_in_only_signed_in_editors_edit() -> None:
    editors = settings(editors=["@newsroom.example"])
    for address in ("127.0.0.1", "0.0.0.0"):  # sign-in wins over local mode
        signed_out = decide(editors, SIGNED_IN, address, SIGNED_OUT)
        assert not signed_out.can_edit and not signed_out.signed_in and not signed_out.blocked
        assert decide(editors, SIGNED_IN, address, {"email": "editor@newsroom.example"}).role is Role.READER, \
            "an e-mail without is_logged_in is nobody"
    editor = decide(editors, SIGNED_IN, "0.0.0.0", EDITOR)
    assert editor.can_edit and editor.user == editor.actor == "Editor@Newsroom.example"
    assert editor.mode == ("Signed in as Editor\\@Newsroom\\.example: **editor** (EDITORS): "
                           "you may add and delete articles.")
    reader = decide(editors, SIGNED_IN, "0.0.0.0", READER)
    assert not reader.can_edit and reader.signed_in
    assert reader.mode.endswith("**reader** (ask and browse): only editors (EDITORS) change the library.")
    unverified = decide(editors, SIGNED_IN, "0.0.0.0", {**EDITOR, "email_verified": False})
    assert not unverified.can_edit and "has not verified your e-mail address" in unverified.mode
    nobody = decide(settings(), SIGNED_IN, "127.0.0.1", EDITOR)
    assert not nobody.can_edit and "no editors are set (EDITORS)" in nobody.mode
    anonymous = decide(settings(editors=["x@y.example"], allow_anonymous_edits=True), SIGNED_IN, "0.0.0.0", SIGNED_OUT)
    assert not anonymous.can_edit, "ALLOW_ANONYMOUS_EDITS is for servers without sign-in"
    hostile = decide(editors, SIGNED_IN, "0.0.0.0", {"is_logged_in": True, "email": "[x](javascript:1)@a.example"})
    assert "\\[x\\]\\(javascript\\:1\\)" in hostile.mode


def test_auth_required_keeps_out_everybody_not_signed_in() -> None:
    required = settings(auth_required=True, editors=["@newsroom.example"])
    assert decide(required, SIGNED_IN, "127.0.0.1", SIGNED_OUT).blocked == "Sign in to use Newsdesk."
    assert decide(required, SIGNED_IN, "0.0.0.0", READER).blocked is None
    unconfigured = decide(required, SignIn(), "127.0.0.1", {})
    assert not unconfigured.can_edit
    assert unconfigured.blocked is not None and "requires sign-in (AUTH_REQUIRED) but no sign-in is configured" \
        in unconfigured.blocked


# --- limits ----------------------------------------------------------------------------------------


def test_filters_are_bounded() -> None:
    assert parse_filters({"source": [f"s{n}" for n in range(MAX_FILTER_VALUES)]}).source is not None
    with pytest.raises(ValueError, match=r"invalid filters: source: List should have at most 100 items"):
        parse_filters({"source": [f"s{n}" for n in range(MAX_FILTER_VALUES + 1)]})
    with pytest.raises(ValueError, match=r"invalid filters: article_ids: List should have at most 100 items"):
        parse_filters({"article_ids": [f"a{n}" for n in range(1000)]})
    with pytest.raises(ValueError, match=r"invalid filters: source\.0: String should have at most 1000 characters"):
        parse_filters({"source": "x" * 1001})


def test_submission_limits() -> None:
    limits = UploadLimits(max_files=3, max_total_bytes=1000, max_file_bytes=600)
    assert submission_problem([400, 600], limits) is None
    assert submission_problem([1, 1, 1, 1], limits) == ("4 files is more than one upload takes (3, MAX_UPLOAD_FILES): "
                                                        "add them in several uploads.")
    assert submission_problem([600, 401], limits) == ("The files come to 0.001 MB, over the 0.001 MB one upload "
                                                      "takes (MAX_UPLOAD_MB): add them in several uploads.")
    assert UploadLimits.from_settings(settings(max_upload_files=7, max_upload_mb=2.5, max_file_mb=1)) == \
        UploadLimits(7, 2_500_000, 1_000_000)


def test_one_submission_reads_the_stored_articles_once(monkeypatch: pytest.MonkeyPatch) -> None:
    store = memory_store()
    reads: list[int] = []
    original = type(store).articles

    def counted(self: Any) -> Any:
        reads.append(1)
        return original(self)

    monkeypatch.setattr(type(store), "articles", counted)
    ingestor, lock = Ingestor(store, FakeEncoder()), StoreLock()
    files = [Upload(f"a{n}.md", ARTICLE.replace(b"Harbour", f"Harbour {n}".encode())) for n in range(5)]
    seen: list[tuple[int, str]] = []
    results = ingest_uploads([*files, files[0], Upload("x.exe", b"MZ")], ingestor, UploadLimits(10, 10_000, 1_000),
                             lock.writing, lambda index, name: seen.append((index, name)))
    assert [(result.file, result.status, result.details) for result in results] == [
        *((f"a{n}.md", "ingested", "1 new") for n in range(5)),
        ("a0.md", "unchanged", "already in the library"),  # stored by the first file of this submission
        ("x.exe", "error", "unknown file type '.exe'; expected one of " + ", ".join(sorted(SUPPORTED_SUFFIXES)))]
    assert seen == [(index, name) for index, name in enumerate([f"a{n}.md" for n in range(5)] + ["a0.md", "x.exe"])]
    assert len(reads) == 1, f"the stored articles were read {len(reads)} times for one submission"
    assert store.count_articles() == 5

    with pytest.raises(UploadRefused, match="8 files is more than one upload takes"):
        ingest_uploads(files + files[:3], ingestor, UploadLimits(7, 10_000, 1_000), lock.writing)
    assert len(reads) == 1 and store.count_articles() == 5, "a refused submission reads and writes nothing"


@pytest.mark.slow
def test_long_questions_are_refused(tmp_path: Path, encoder: Any) -> None:
    from conftest import make_assistant

    news = make_assistant(settings(data_dir=tmp_path / "data", max_question_chars=len(VOLCANO_QUESTION)), encoder)
    assert news.answer(VOLCANO_QUESTION).found is False  # at the limit: answered (the store is empty)
    message = f"question is {len(VOLCANO_QUESTION) + 1:,} characters, over the {len(VOLCANO_QUESTION)} limit " \
              "(MAX_QUESTION_CHARS)"
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        news.answer(VOLCANO_QUESTION + "?")
    with pytest.raises(ValueError, match="over the .* limit"):
        next(iter(news.stream_answer(" " + VOLCANO_QUESTION + "?? ")))
    with pytest.raises(ValueError, match="over the 2,000 limit"):
        NewsAssistant.answer(make_assistant(settings(data_dir=tmp_path / "d2"), encoder), "x" * 2001)


# --- the pages ---------------------------------------------------------------------------------------

RunApp = Callable[..., AppTest]


@pytest.fixture
def run_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunApp]:
    """Runs the app on a DATA_DIR as a server listening on `address` would, with `secrets` and `user` as
    Streamlit would give them (`user` as st.user: {"is_logged_in": True, "email": ...} when signed in)."""
    previous = st_config.get_option("server.address")

    def clear_caches() -> None:
        get_settings.cache_clear()
        default_assistant.cache_clear()
        st.cache_resource.clear()
        st.cache_data.clear()

    def run(data_dir: Path, address: str | None, secrets: dict[str, Any] | None = None,
            user: dict[str, Any] | None = None, **env: str) -> AppTest:
        monkeypatch.setenv("DATA_DIR", str(data_dir))
        for name, value in env.items():
            monkeypatch.setenv(name.upper(), value)
        st_config.set_option("server.address", address)
        clear_caches()
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.secrets = dict(secrets or {})
        at.user = dict(user or {})
        at.run()
        assert not at.exception
        return at

    yield run
    st_config.set_option("server.address", previous)
    clear_caches()


def library(at: AppTest) -> AppTest:
    at.switch_page("library.py").run()
    assert not at.exception
    return at


def can_change_the_library(at: AppTest) -> bool:
    library(at)
    uploaders, deletes = len(at.file_uploader), [b for b in at.button if b.label.startswith("Delete")]
    return bool(uploaders or deletes)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Path:
    return ingest_fixtures(tmp_path_factory.mktemp("auth-store"), fixtures_dir)


def test_auth_required_shows_only_the_sign_in(run_app: RunApp, tmp_path: Path) -> None:
    at = run_app(tmp_path / "data", "0.0.0.0", {"auth": AUTH}, SIGNED_OUT, auth_required="true")
    assert [info.value for info in at.info] == ["Sign in to use Newsdesk."]
    assert [button.label for button in at.button] == ["Sign in"]
    assert not at.chat_input and not at.sidebar.metric, "nothing of the library before signing in"
    assert not (tmp_path / "data").exists(), "the store is not even opened"

    at = run_app(tmp_path / "data", "127.0.0.1", None, {}, auth_required="true")
    assert "requires sign-in (AUTH_REQUIRED) but no sign-in is configured" in at.info[0].value
    assert not at.button and not at.chat_input


@pytest.mark.slow
def test_read_only_when_served_to_the_network_without_sign_in(run_app: RunApp, store: Path) -> None:
    at = run_app(store, "0.0.0.0")
    assert "Read-only: no sign-in is configured and the server listens on 0.0.0.0" in rendered(at.sidebar)
    [answer] = assistant_messages(ask(at, VOLCANO_QUESTION))
    assert "3.5 kilometres" in rendered(answer), "readers ask"
    library(at)
    assert len(at.dataframe[0].value) == 6, "readers browse"
    assert not at.file_uploader and not [button for button in at.button if "Delete" in button.label]
    assert "Only editors add or delete articles" in rendered(at)

    local = run_app(store, "127.0.0.1")
    assert "Local mode" in rendered(local.sidebar) and can_change_the_library(local)
    opened = run_app(store, "0.0.0.0", allow_anonymous_edits="true")
    assert "Open mode" in rendered(opened.sidebar) and can_change_the_library(opened)


@pytest.mark.slow
def test_signed_in_editors_and_readers(run_app: RunApp, store: Path) -> None:
    secrets, env = {"auth": AUTH}, {"editors": "@newsroom.example"}
    editor = run_app(store, "0.0.0.0", secrets, EDITOR, **env)
    assert "Signed in as Editor@Newsroom.example: editor (EDITORS)" in rendered(editor.sidebar)
    assert "Sign out" in [button.label for button in editor.sidebar.button]
    assert can_change_the_library(editor)
    reader = run_app(store, "0.0.0.0", secrets, READER, **env)
    assert "Signed in as reader@elsewhere.example: reader (ask and browse)" in rendered(reader.sidebar)
    assert not can_change_the_library(reader) and len(reader.dataframe[0].value) == 6
    visitor = run_app(store, "127.0.0.1", secrets, SIGNED_OUT, **env)
    assert "Not signed in: reader" in rendered(visitor.sidebar)
    assert "Sign in" in [button.label for button in visitor.sidebar.button]
    assert not can_change_the_library(visitor), "with sign-in configured, a local visitor is a reader too"


def forged_delete() -> None:
    """A page script that calls the library's delete callback directly, as a forged widget event would."""
    import streamlit as st

    import ui.library
    from ui.library import NOTICE, REFUSAL, delete

    class RecordingTrash:
        def put(self, article_id, by, reason="deleted"):  # type: ignore[no-untyped-def]
            st.session_state.setdefault("deleted", []).append(article_id)
            return True

    class News:
        store = None  # only the trash is used

        class settings:
            trash_days = 30.0

    trash_of = ui.library.trash_of
    ui.library.trash_of = lambda news: RecordingTrash()  # the store's trash (ui/changes.py), recording instead
    try:
        delete(News(), ["an-article"])  # type: ignore[arg-type]
    finally:
        ui.library.trash_of = trash_of
    st.text(st.session_state.get(REFUSAL, st.session_state.get(NOTICE)))
    st.text(repr(st.session_state.get("deleted", [])))


@pytest.mark.parametrize(("address", "outcome"), [("0.0.0.0", ["Only editors may delete articles.", "[]"]),
                                                  ("127.0.0.1", [("Deleted 1 article. It is in the trash for 30 days "
                                                                  "(TRASH_DAYS): restore it under Trash."),
                                                                 "['an-article']"])])
def test_delete_is_refused_on_the_server_for_readers(run_app: RunApp, address: str, outcome: list[str]) -> None:
    st_config.set_option("server.address", address)
    at = AppTest.from_function(forged_delete, default_timeout=30).run()
    assert not at.exception
    assert [text.value for text in at.text] == outcome


def failing_page() -> None:
    raise RuntimeError("secret detail: /srv/newsdesk/data")


def test_safe_defaults_listen_locally_and_hide_error_details(monkeypatch: pytest.MonkeyPatch) -> None:
    """.streamlit/config.toml (read by `streamlit run` from the repo root) and `make run`."""
    options = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert options["server"]["address"] == "127.0.0.1"
    assert "SERVER_ADDRESS ?= 127.0.0.1" in (ROOT / "Makefile").read_text(encoding="utf-8")
    shown_details = options["client"]["showErrorDetails"]
    assert shown_details == "none"
    monkeypatch.setattr(st_config, "get_option",
                        build_mock_config_get_option({"client.showErrorDetails": shown_details}))
    at = AppTest.from_function(failing_page, default_timeout=30).run()
    [shown] = at.exception
    assert "secret detail" not in shown.message and not shown.stack_trace
    assert shown.message.startswith("This app has encountered an error.")


@pytest.mark.slow
def test_upload_submission_limits(run_app: RunApp, tmp_path: Path, fixtures_dir: Path) -> None:
    data = ingest_fixtures(tmp_path / "data", fixtures_dir)
    at = library(run_app(data, "127.0.0.1", max_upload_files="2", max_upload_mb="0.0005"))
    three = [(f"a{n}.md", ARTICLE, "text/markdown") for n in range(3)]
    at.file_uploader[0].set_value(three)
    at.form_submit_button[0].click().run()
    assert [error.value for error in at.error] == [
        "3 files is more than one upload takes (2, MAX_UPLOAD_FILES): add them in several uploads."]
    at.file_uploader[0].set_value([("big.md", ARTICLE * 4, "text/markdown"), ("b.md", ARTICLE * 2, "text/markdown")])
    at.form_submit_button[0].click().run()
    assert [error.value for error in at.error] == [
        "The files come to 0.00057 MB, over the 0.0005 MB one upload takes (MAX_UPLOAD_MB): "
        "add them in several uploads."]
    assert at.sidebar.metric[0].value == "6", "nothing of a refused submission is stored"


@pytest.mark.slow
def test_chat_limits_questions_and_escapes_backend_errors(run_app: RunApp, store: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(store, "127.0.0.1", max_question_chars="50")
    assert at.chat_input[0].proto.max_chars == 50

    def fail(*args: object, **kwargs: object) -> Iterator[str]:
        raise ValueError("server said **bold** [click](javascript:alert(1)) <b>x</b>")

    monkeypatch.setattr(NewsAssistant, "stream_answer", fail)
    [answer] = assistant_messages(ask(at, VOLCANO_QUESTION))
    [error] = answer.error
    assert error.value == ("Could not answer\\: server said \\*\\*bold\\*\\* "
                           "\\[click\\]\\(javascript\\:alert\\(1\\)\\) "
                           "\\<b\\>x\\<\\/b\\>")


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception
    return at
