"""The Following page: the questions this visitor follows, each with its latest answer (cited as in the chat),
when it last changed, what changed (cited), and an "Updated" mark for changes not seen yet.

While the page is open it asks `assistant.following.updates` every few seconds, which first checks the articles
written since the last check by any process (an ingest command, a feed, an upload) and answers again the
questions they concern: new articles show up here without a daemon. A change shown is marked seen
(`mark_seen`); it keeps its mark until the visitor leaves the page. Only the visitor's own follows are read.

Run by `st.navigation` in ui/app.py; importing it has no side effects.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import streamlit as st

from ui.auth import access
from ui.components import answer_body, escape_markdown, one_line, render_answer_details
from ui.follows import UNFOLLOW, api, follow_error, follower, moment, render_changes, unfollow_question, why_not
from ui.resources import loading, open_assistant

if TYPE_CHECKING:
    from assistant.following.types import Followed

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 3
"""How often the open page checks for new articles (the issue asks for changes shown within 10 s)."""
SHOWN = "following_shown"
"""Session key: the changes (follow id → changed_at) this visit marked seen; they keep their mark until the
visitor leaves the page."""
UPDATED = "Updated"


def follow_key(follow_id: str) -> str:
    """The follow id as part of a widget key and CSS class (`st-key-follow-<id>`)."""
    return "follow-" + re.sub(r"[^A-Za-z0-9_-]", "-", follow_id)


def marked(item: Followed, shown: dict[str, float]) -> bool:
    """Whether the item carries the "Updated" mark: a change not seen yet, or one first seen in this visit."""
    return item.updated or (item.changed_at is not None and shown.get(item.follow_id) == item.changed_at)


def render_followed(item: Followed, updated: bool, user: str) -> None:
    """One followed question: the question, its "Updated" mark, when it changed, what changed, the latest answer."""
    key = follow_key(item.follow_id)
    with st.container(border=True, key=key):
        st.markdown(f"#### {escape_markdown(item.question)}")
        if updated:
            with st.container(key=f"{key}-updated"):
                st.badge(UPDATED, icon=":material/fiber_new:", color="orange")
        times = [f"followed {moment(item.created_at)}"]
        if item.changed_at is not None:
            times.insert(0, f"last changed {moment(item.changed_at)}")
        elif item.answered_at is not None:
            times.insert(0, "unchanged since you followed it")
        if item.answered_at is not None:
            times.append(f"answered {moment(item.answered_at)}")
        line = " · ".join(times)
        st.caption(line[:1].upper() + line[1:])
        if item.changes:
            render_changes(item.changes, key)
        if item.answer is None:
            st.caption("Not answered yet: it is answered when the models have loaded.")
        else:
            st.markdown("**Latest answer**")
            st.markdown(escape_markdown(answer_body(item.answer)))
            render_answer_details(item.answer, key)
        st.button(UNFOLLOW, key=f"{key}-unfollow", on_click=unfollow_question, args=(item.follow_id, user))


@st.fragment(run_every=timedelta(seconds=REFRESH_SECONDS))
def followed_list(user: str) -> None:
    """The user's follows, after checking for articles written since the last check (drawn again every few
    seconds); marks the changes it shows as seen."""
    following = api()
    news = open_assistant()
    checked = "."
    if loading(news):  # answering again needs the models
        checked = " · new articles are checked once the models have loaded."
    else:
        try:
            following.updates(user=user, news=news)
            checked = f" · checked for new articles at {datetime.now(UTC):%H:%M:%S} UTC."
        except Exception as error:  # e.g. the answering backend is down: the saved answers are still shown
            logger.warning("could not check the follows of %s: %s", user, one_line(error))
            st.warning(f"Could not check for new articles: {escape_markdown(one_line(error))}")
    try:
        items = following.following(user, news=news)
    except Exception as error:
        logger.exception("could not read the follows of %s", user)
        st.error(f"Could not read the questions you follow: {escape_markdown(one_line(error))}")
        return
    follow_error()
    if not items:
        st.info("You follow no questions yet. In the chat, press **Follow this question** under an answer.")
        st.page_link("chat.py", label="Open the chat", icon=":material/chat:")
        return
    shown: dict[str, float] = st.session_state.setdefault(SHOWN, {})
    fresh = sum(marked(item, shown) for item in items)
    with st.container(key="following-status"):
        st.caption(f"{len(items)} question{'s' if len(items) != 1 else ''} followed"
                   + (f", {fresh} updated" if fresh else ", no change since you last looked")
                   + checked)
    for item in items:
        render_followed(item, marked(item, shown), user)
        if item.updated and item.changed_at is not None:
            try:
                following.mark_seen(item.follow_id, user, news=news)
            except Exception:
                logger.exception("could not mark %s seen for %s", item.follow_id, user)
                continue
            shown[item.follow_id] = item.changed_at


def following_page() -> None:
    st.set_page_config(layout="centered")
    st.title("Following")
    current = access()
    try:
        user = follower(current)
    except ImportError as error:
        st.error(f"Following is unavailable: {escape_markdown(one_line(error))}")
        return
    if user is None:
        st.info(why_not(current))
        return
    st.caption("The questions you follow are answered again when articles about them arrive; this page checks "
               f"every {REFRESH_SECONDS} seconds and says what changed, citing the reports.")
    st.session_state[SHOWN] = {}  # a new visit: only the changes seen from now on keep their mark
    followed_list(user)


if __name__ == "__main__":
    following_page()
