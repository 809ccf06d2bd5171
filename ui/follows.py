"""Following questions in the web app: who follows (the signed-in user, or the local user in Local mode), the
chat's "Follow this question" control under each answer, and how a followed question's changes are shown.

Readers may follow too: following changes nothing in the library, so it needs an identity, not the editor
role. A visitor who is neither signed in nor on this computer in Local mode cannot follow (nobody could tell
their follows from another visitor's). `assistant.following` is imported on first use, not at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING

import streamlit as st

from ui.auth import Access
from ui.components import escape_markdown, one_line, source_line

if TYPE_CHECKING:
    from assistant.following.types import FollowChange

logger = logging.getLogger(__name__)

FOLLOW = "Follow this question"
UNFOLLOW = "Unfollow"
FOLLOWING_PAGE = "following.py"
FOLLOW_ERROR = "follow_error"
"""Session key: why the last follow or unfollow failed (one line), shown once at the top of the page."""
CHANGE_ICONS = {"new_fact": ":material/fiber_new:", "changed_figure": ":material/swap_horiz:",
                "new_outlet": ":material/newspaper:"}


def api() -> ModuleType:
    """The `assistant.following` package (imported on first use: it loads with the assistant)."""
    from assistant import following

    return following


def follower(current: Access) -> str | None:
    """Whose follows this visitor sees and changes: the signed-in user, the local user in Local mode, else
    None (not signed in on a shared server: following needs an identity)."""
    if current.blocked:
        return None
    if current.user:
        return current.user
    if current.local:
        return str(api().LOCAL_USER)
    return None


def why_not(current: Access) -> str:
    """Why this visitor cannot follow questions (for a visitor without `follower`)."""
    if current.sign_in.configured:
        return "Sign in to follow questions."
    return ("Following questions needs sign-in ([auth] in .streamlit/secrets.toml), or the app opened on this "
            "computer (Local mode).")


def question_key(question: str) -> str:
    """The question as compared with the followed ones: whitespace collapsed, any case."""
    return " ".join(question.split()).casefold()


@dataclass(frozen=True)
class Follows:
    """What the chat needs to draw the follow controls of one run: who follows and what they follow."""

    user: str | None
    why_not: str = ""
    followed: Mapping[str, str] = field(default_factory=dict)
    """follow id by `question_key` of each followed question."""


def chat_follows(current: Access, news: object, answered: bool) -> Follows:
    """The visitor's follows for the chat's controls (read only when the chat shows an answer)."""
    try:
        user = follower(current)
    except ImportError as error:  # assistant.following is not installed in this checkout
        logger.warning("following is unavailable: %s", error)
        return Follows(None, f"Following is unavailable: {one_line(error)}")
    if user is None:
        return Follows(None, why_not(current))
    if not answered:
        return Follows(user)
    try:
        followed = {question_key(item.question): item.follow_id for item in api().following(user, news=news)}
    except Exception as error:
        logger.exception("could not read the follows of %s", user)
        st.caption(f"Could not read the questions you follow: {escape_markdown(one_line(error))}")
        return Follows(user)
    return Follows(user, followed=followed)


def _assistant() -> object:
    """The loaded assistant (following a question answers it), waiting for the models if they still load."""
    from ui.resources import get_assistant

    return get_assistant()


def follow_question(question: str, user: str) -> None:
    """"Follow this question" (a button's callback)."""
    try:
        api().follow(question, user, news=_assistant())
    except Exception as error:
        logger.exception("could not follow %r for %s", question, user)
        st.session_state[FOLLOW_ERROR] = f"Could not follow the question: {one_line(error)}"


def unfollow_question(follow_id: str, user: str) -> None:
    """"Unfollow" (a button's callback): only this user's follow can be removed."""
    try:
        if not api().unfollow(follow_id, user, news=_assistant()):
            st.session_state[FOLLOW_ERROR] = "That question is no longer followed."
    except Exception as error:
        logger.exception("could not unfollow %s for %s", follow_id, user)
        st.session_state[FOLLOW_ERROR] = f"Could not unfollow the question: {one_line(error)}"


def follow_error() -> None:
    """Why the last follow or unfollow failed, once."""
    if problem := st.session_state.pop(FOLLOW_ERROR, None):
        st.error(escape_markdown(problem))


def follow_control(question: str, key: str, follows: Follows) -> None:
    """Under an answer: "Follow this question", or that it is followed, with "Unfollow". `key` names the
    turn (the container's CSS class is `st-key-<key>-follow`)."""
    with st.container(key=f"{key}-follow", horizontal=True, vertical_alignment="center"):
        if follows.user is None:
            st.button(FOLLOW, key=f"{key}-follow-button", icon=":material/notifications:", disabled=True,
                      help=follows.why_not)
            return
        follow_id = follows.followed.get(question_key(question))
        if follow_id is None:
            st.button(FOLLOW, key=f"{key}-follow-button", icon=":material/notifications:",
                      on_click=follow_question, args=(question, follows.user),
                      help="Answer it again as articles arrive, and show what changed on the Following page.")
            return
        st.markdown(":material/notifications_active: **Followed**")
        st.page_link(FOLLOWING_PAGE, label="See it on the Following page")
        st.button(UNFOLLOW, key=f"{key}-unfollow-button", on_click=unfollow_question, args=(follow_id, follows.user))


def moment(seconds: float) -> str:
    """Unix seconds as "2026-03-05 10:11 UTC"."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_changes(changes: Sequence[FollowChange], key: str) -> None:
    """What the latest change brought, one line each ("Death toll: 12 dead [1] → 15 dead [3]"), then the sources
    their `[n]` markers name, each once, with the sentence it is cited for."""
    st.markdown("**What changed**")
    for index, change in enumerate(changes, start=1):
        with st.container(key=f"{key}-change-{index}"):
            st.markdown(f"{CHANGE_ICONS.get(change.kind, ':material/update:')} {escape_markdown(change.text)}")
    cited = {citation.n: citation for change in changes for citation in change.citations}
    with st.container(key=f"{key}-change-sources"):
        for n in sorted(cited):
            citation = cited[n]
            quote = f" — “{escape_markdown(citation.quote.strip())}”" if citation.quote.strip() else ""
            st.caption(f"\\[{n}\\] "
                       + source_line(citation.title, citation.source, citation.published, citation.url) + quote)
