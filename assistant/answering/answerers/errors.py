"""The error an LLM backend raises when it is down, missing or misconfigured."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.types import Passage


class BackendError(RuntimeError):
    """An answering backend could not answer: names the backend, the problem and what to check or do.

    `passages` holds what was retrieved before the backend failed, so they can still be shown.
    """

    def __init__(self, backend: str, problem: str, hint: str, passages: Sequence[Passage] = ()) -> None:
        self.backend = backend
        self.problem = problem
        self.hint = hint
        self.passages = list(passages)
        super().__init__(f"{backend} backend: {problem} — {hint}")

    def with_passages(self, passages: Sequence[Passage]) -> BackendError:
        return BackendError(self.backend, self.problem, self.hint, passages)
