"""Who may change the library: the one decision every page consults.

Sign-in is Streamlit's OpenID Connect sign-in (`st.login`, `st.user`, `st.logout`), configured in
`.streamlit/secrets.toml` `[auth]`. With it, signed-in users listed in EDITORS (e-mail addresses or
domains) are editors and everybody else is a reader. Without it, whoever reaches the app is an editor
only while the server listens on a loopback address (`server.address`) and the page was asked for by a
loopback name (the request's Host, and Origin when sent: 127.0.0.1, localhost, [::1], any port; another
name resolved to 127.0.0.1 is a DNS-rebinding page of another site), or when ALLOW_ANONYMOUS_EDITS=true.
AUTH_REQUIRED=true keeps everyone who is not signed in out.

Pages hide what a reader cannot do, and every change checks `require_editor()` on the server too.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import streamlit as st

from assistant.config import Settings, get_settings
from ui.components import escape_markdown

logger = logging.getLogger(__name__)

SHARED_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
SECRETS_FILE = ".streamlit/secrets.toml"


class Role(StrEnum):
    EDITOR = "editor"
    """Asks, browses and changes the library (upload, delete)."""
    READER = "reader"
    """Asks and browses."""


@dataclass(frozen=True)
class SignIn:
    """What `[auth]` in the secrets configures: the providers to offer, or why sign-in cannot work."""

    providers: tuple[str | None, ...] = ()
    """None for the unnamed provider of `[auth]` itself, else the names of `[auth.NAME]` sections."""
    problem: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.providers) and self.problem is None


@dataclass(frozen=True)
class Access:
    """What the current visitor may do, and the one line that tells them why."""

    role: Role
    mode: str
    """Shown in the sidebar: who the visitor is, what they may do and why (markdown; names escaped)."""
    sign_in: SignIn
    user: str | None = None
    """The signed-in user's e-mail address (else their subject id); None when not signed in."""
    blocked: str | None = None
    """Set when the visitor may not use the app at all (sign in first, or sign-in is misconfigured)."""
    local: bool = False
    """Local mode: no sign-in, and the page was asked for on this computer (its one user follows questions as
    LOCAL_USER)."""

    @property
    def can_edit(self) -> bool:
        return self.role is Role.EDITOR and self.blocked is None

    @property
    def signed_in(self) -> bool:
        return self.user is not None

    @property
    def actor(self) -> str:
        """Who a change is recorded as: the signed-in user, else "anonymous"."""
        return self.user or "anonymous"


class NotAnEditor(PermissionError):
    """A change asked for by a visitor who may not change the library."""


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.1 (any 127.x), ::1 and localhost; False for an unset address (every interface)."""
    host = (address or "").strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def foreign_page(headers: Mapping[str, str]) -> str | None:
    """How the browser named the server when that was not a loopback name (the request's Host, or its Origin
    when sent), e.g. "attacker.example:8501"; None for a loopback name, and for no request at all (no
    headers: a script run without a browser session, such as AppTest)."""
    if not headers:
        return None
    host = headers.get("Host")
    if not host:
        return "a request without a Host header"
    if not _loopback_name(f"//{host}"):
        return host
    origin = headers.get("Origin")
    if origin is not None and not _loopback_name(origin):
        return f"a page of {origin}"
    return None


def _loopback_name(address: str) -> bool:
    """Whether a URL ("http://localhost:8501", "//[::1]:8501") names a loopback host."""
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018  (a port that is no number is no loopback name)
    except ValueError:
        return False
    return parts.username is None and parts.password is None and is_loopback((parts.hostname or "").rstrip("."))


def is_editor(email: str, editors: Sequence[str]) -> bool:
    """Whether the address is one of `editors`: e-mail addresses, or domains as `@domain` or `domain`."""
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        return False
    for entry in editors:
        entry = entry.strip().lower()
        if entry.startswith("@"):
            entry = entry[1:]
        if entry and (email == entry if "@" in entry else domain == entry):
            return True
    return False


def read_sign_in(auth: Mapping[str, Any] | None) -> SignIn:
    """The providers an `[auth]` secrets section configures, or what is missing from it."""
    if not auth:
        return SignIn()
    if missing := [key for key in SHARED_KEYS if not auth.get(key)]:
        return SignIn(problem=f"[auth] in {SECRETS_FILE} lacks {', '.join(missing)}")
    providers: list[str | None] = [None] if any(key in auth for key in PROVIDER_KEYS) else []
    providers += [name for name, section in auth.items() if isinstance(section, Mapping)
                  and any(key in section for key in PROVIDER_KEYS)]
    if not providers:
        return SignIn(problem=f"[auth] in {SECRETS_FILE} names no provider ({', '.join(PROVIDER_KEYS)})")
    for name in providers:
        section = auth if name is None else auth[name]
        if missing := [key for key in PROVIDER_KEYS if not section.get(key)]:
            where = "[auth]" if name is None else f"[auth.{name}]"
            return SignIn(problem=f"{where} in {SECRETS_FILE} lacks {', '.join(missing)}")
    return SignIn(tuple(providers))


def _where(address: str | None) -> str:
    return f"listens on {escape_markdown(address)}" if address else "listens on every network interface"


def decide(settings: Settings, sign_in: SignIn, address: str | None, user: Mapping[str, Any],
           foreign: str | None = None) -> Access:
    """The visitor's role from the settings, the sign-in configuration, `server.address`, `st.user` and
    `foreign`: how the page's request named the server when that was not a loopback name (`foreign_page`)."""
    if not sign_in.configured:
        why = (f"sign-in is misconfigured ({sign_in.problem})" if sign_in.problem
               else "no sign-in is configured")
        if settings.auth_required:
            return Access(Role.READER, f"Sign-in is required but {why}.", sign_in,
                          blocked=(f"This Newsdesk requires sign-in (AUTH_REQUIRED) but {why}: "
                                   f"an administrator must set up [auth] in {SECRETS_FILE}."))
        if is_loopback(address) and foreign is None:
            return Access(Role.EDITOR, f"**Local mode**: {why} and the server {_where(address)} only, "
                          "so whoever uses this computer may add and delete articles.", sign_in, local=True)
        if settings.allow_anonymous_edits:
            return Access(Role.EDITOR, f"**Open mode**: {why}, the server {_where(address)} and "
                          "ALLOW_ANONYMOUS_EDITS=true: anyone who reaches it may add and delete articles.", sign_in)
        if is_loopback(address):
            return Access(Role.READER, f"**Read-only**: {why} and this page was reached as "
                          f"{escape_markdown(foreign or '')}, not as this computer (127.0.0.1, localhost or [::1]): "
                          "it may be another site's page, so nobody may change the library through it. Open the "
                          "app as http://127.0.0.1 or http://localhost (with its port) to add or delete articles.",
                          sign_in)
        return Access(Role.READER, f"**Read-only**: {why} and the server {_where(address)}, so nobody may "
                      f"change the library here. Set up sign-in ([auth] in {SECRETS_FILE}) and EDITORS, "
                      "or set ALLOW_ANONYMOUS_EDITS=true.", sign_in)
    if user.get("is_logged_in") is not True:
        if settings.auth_required:
            return Access(Role.READER, "Not signed in.", sign_in, blocked="Sign in to use Newsdesk.")
        return Access(Role.READER, "Not signed in: **reader** (ask and browse). "
                      "Editors sign in to add or delete articles.", sign_in)
    email = str(user.get("email") or "").strip()
    who = email or str(user.get("sub") or "unknown user")
    if not email:
        reason = "your sign-in gave no e-mail address"
    elif not _verified(user.get("email_verified")):
        reason = "your identity provider has not verified your e-mail address"
    elif not settings.editors:
        reason = "no editors are set (EDITORS)"
    elif is_editor(email, settings.editors):
        return Access(Role.EDITOR, f"Signed in as {escape_markdown(who)}: **editor** (EDITORS): "
                      "you may add and delete articles.", sign_in, user=who)
    else:
        reason = "only editors (EDITORS) change the library"
    return Access(Role.READER, f"Signed in as {escape_markdown(who)}: **reader** (ask and browse): {reason}.",
                  sign_in, user=who)


def _verified(claim: Any) -> bool:
    """The provider's `email_verified` claim says yes (true, or the string "true"); absent is not verified."""
    return claim is True or (isinstance(claim, str) and claim.strip().lower() == "true")


def current_sign_in() -> SignIn:
    """The sign-in configured in the secrets Streamlit reads (`.streamlit/secrets.toml`, `secrets.files`)."""
    secrets = st.secrets
    if not secrets.load_if_toml_exists() or "auth" not in secrets:
        return SignIn()
    auth = secrets["auth"]
    return read_sign_in(auth.to_dict() if hasattr(auth, "to_dict") else dict(auth))


def access() -> Access:
    """The current visitor's access, in this script run."""
    return decide(get_settings(), current_sign_in(), st.get_option("server.address"), st.user.to_dict(),
                  foreign_page(st.context.headers))


def can_edit() -> bool:
    return access().can_edit


def require_editor(action: str) -> Access:
    """The current access when the visitor may change the library; else NotAnEditor (logged), for the
    server-side check of every change (`action` names it: "delete articles")."""
    current = access()
    if not current.can_edit:
        logger.warning("refused to %s for %s (%s)", action, current.actor, current.role)
        raise NotAnEditor(f"Only editors may {action}.")
    return current
