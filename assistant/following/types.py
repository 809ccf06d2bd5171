"""What a followed question is to its reader: the saved question, its latest answer, and what changed, cited."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.types import Answer, Citation

CHANGE_KINDS = ("new_fact", "changed_figure", "new_outlet")


@dataclass(frozen=True)
class FollowChange:
    """One cited change shown to the reader.

    Its `[n]` markers name `citations` by their `n`: the new answer's own numbers, and for passages only the
    earlier answer cited (the old side of a changed figure), numbers after the new answer's last."""

    kind: str
    """"new_fact", "changed_figure" or "new_outlet"."""
    text: str
    """The line shown, with [n] markers: "Death toll: 12 dead [1] → 15 dead [3]"."""
    citations: tuple[Citation, ...]


@dataclass(frozen=True)
class Followed:
    """A question one user follows, with its latest answer."""

    follow_id: str
    user: str
    """The signed-in user's id (email); LOCAL_USER ("local") in local mode and on the command line."""
    question: str
    created_at: float
    """Unix seconds."""
    answer: Answer | None
    answered_at: float | None
    changed_at: float | None
    """When the latest answer last brought a change (None: nothing changed since following)."""
    seen_at: float
    """When this user last looked at it (mark_seen)."""
    changes: tuple[FollowChange, ...]
    """What the latest change brought; () when nothing changed."""
    previous: Answer | None = None
    """The answer the latest change replaced (None: nothing changed since following)."""

    @property
    def updated(self) -> bool:
        """A change the user has not seen yet."""
        return self.changed_at is not None and self.changed_at > self.seen_at


@dataclass
class CheckReport:
    """What one check of the followed questions did."""

    checked: int = 0
    """Follows whose top passages were searched again (the retrieval-only check)."""
    re_answered: int = 0
    """Follows answered again with the chain (their top passages changed)."""
    changed: int = 0
    """Follows whose new answer brought a change (new fact, changed figure, new outlet)."""
    follows: int = 0
    """Follows looked at (most are settled by comparing the changed articles' passages, without a search)."""
    seconds: float = 0.0
    answer_seconds: float = 0.0
    """Of `seconds`, the time spent answering again (the rest is the checks that decide whom to answer)."""
    search_seconds: float = 0.0
    """Of `seconds`, the retrieval-only checks (the searches again)."""

    def summary(self) -> str:
        return (f"followed questions: {self.follows}, searched again {self.checked}, re-answered {self.re_answered}, "
                f"changed {self.changed}, {self.seconds:.2f} s ({self.answer_seconds:.2f} s of it answering again)")
