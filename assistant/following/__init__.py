"""Follow a story: saved questions answered again as articles arrive, with what changed, cited.

    from assistant.following import follow, updates
    follow("How many people died in the Lowmere floods?")        # answered now, saved in the store
    for followed in updates():                                    # after an ingest: the answers that changed
        print(followed.answer.text, [change.text for change in followed.changes])

Follows live in Chroma beside the catalogue (store.py), per user: one user never sees, marks or removes
another's. The process that writes articles checks them (`check_after_write`, called by the ingest pipeline),
and `updates()` first checks what any process wrote since the last check (check.py); a question is answered
again only when its passages changed, and the changes are worked out without a model (diff.py).
A layer above `assistant.chain`: nothing below imports it.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

from assistant.following.check import check_follows, dense_floor
from assistant.following.store import FollowStore, answer_metadata, follow_id, has_follows, now
from assistant.following.types import CHANGE_KINDS, CheckReport, FollowChange, Followed

if TYPE_CHECKING:
    from collections.abc import Collection

    from assistant.chain import NewsAssistant
    from assistant.config import Settings
    from assistant.encoders.embeddings import TextEncoder
    from assistant.store.chunk_store import ChunkStore

__all__ = ["CHANGE_KINDS", "LOCAL_USER", "CheckReport", "FollowChange", "Followed", "check_after_write",
           "check_follows", "follow", "following", "mark_seen", "unfollow", "updates"]

logger = logging.getLogger(__name__)

LOCAL_USER = "local"
"""Whose follows they are in local mode (no sign-in) and on the command line."""


def _news(news: NewsAssistant | None) -> NewsAssistant:
    if news is not None:
        return news
    from assistant.chain import default_assistant

    return default_assistant()


def _user(user: str) -> str:
    if not isinstance(user, str) or not user.strip():
        raise ValueError(f"user must be a non-empty string, not {user!r}")
    return user.strip()


def follow(question: str, user: str = LOCAL_USER, *, news: NewsAssistant | None = None) -> Followed:
    """Save the question for this user, answered now; following it again returns the saved follow."""
    news, user = _news(news), _user(user)
    question = (question or "").strip()
    follows = FollowStore(news.store)
    key = follow_id(user, question)
    existing = follows.followed(ids=[key])
    if existing:
        return existing[0]
    answer = news.answer(question)  # ValueError for an empty or too long question
    vector = news.encoder.encode([question])[0]
    at = now()
    metadata = {"user": user, "question": question, "created_at": at, "seen_at": at,
                "vectors": str(getattr(news.encoder, "vectors", "")),
                **answer_metadata(answer, at, dense_floor(news, vector, answer))}
    follows.add(key, vector, metadata, answer)
    return Followed(follow_id=key, user=user, question=question, created_at=at, answer=answer, answered_at=at,
                    changed_at=None, seen_at=at, changes=())


def _own(follows: FollowStore, key: str, user: str) -> bool:
    records = follows.records(ids=[key])
    return bool(records) and records[0].user == user


def unfollow(follow_id: str, user: str = LOCAL_USER, *, news: NewsAssistant | None = None) -> bool:
    """Stop following; False when there is no such follow of this user (another user's stays)."""
    follows = FollowStore(_news(news).store)
    if not _own(follows, follow_id, _user(user)):
        return False
    follows.delete(follow_id)
    return True


def following(user: str = LOCAL_USER, *, news: NewsAssistant | None = None) -> list[Followed]:
    """This user's follows, the latest change (else the newest follow) first; no check is run."""
    found = FollowStore(_news(news).store).followed(user=_user(user))
    return sorted(found, key=lambda f: (f.changed_at or f.created_at, f.created_at), reverse=True)


def mark_seen(follow_id: str, user: str = LOCAL_USER, *, news: NewsAssistant | None = None) -> None:
    """The user has seen the follow's latest answer: it is no longer `updated` (another user's: nothing done)."""
    follows = FollowStore(_news(news).store)
    if _own(follows, follow_id, _user(user)):
        follows.update(follow_id, {"seen_at": now()})


def _timestamp(since: float | datetime | date) -> float:
    """Unix seconds; a date is its midnight UTC, a naive datetime local time."""
    if isinstance(since, datetime):
        return since.timestamp()
    if isinstance(since, date):
        return datetime(since.year, since.month, since.day, tzinfo=timezone.utc).timestamp()
    return float(since)


def updates(since: float | datetime | date | None = None, user: str | None = None, *,
            news: NewsAssistant | None = None) -> list[Followed]:
    """Check what was written since the last check (by any process), then the follows (of `user`, or of every
    user when None) whose answer changed after `since`; `since` None: those whose change is not seen yet."""
    news = _news(news)
    check_follows(news)
    found = following(user, news=news) if user is not None else sorted(
        FollowStore(news.store).followed(), key=lambda f: f.changed_at or f.created_at, reverse=True)
    if since is None:
        return [f for f in found if f.updated]
    after = _timestamp(since)
    return [f for f in found if f.changed_at is not None and f.changed_at > after]


def check_after_write(settings: Settings, store: ChunkStore, encoder: TextEncoder,
                      article_ids: Collection[str] | None = None,
                      news: NewsAssistant | None = None) -> CheckReport | None:
    """For the process that just wrote articles: check the store's follows (None when it has none: one count).
    `news`: the process's assistant when it has one (else one is built on these settings, store and encoder)."""
    if not has_follows(store):
        return None
    if news is None:
        from assistant.chain import NewsAssistant

        news = NewsAssistant.from_settings(settings, encoder, store)
    return check_follows(news, article_ids)
