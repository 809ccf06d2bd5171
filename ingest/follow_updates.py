"""`python -m ingest --updates [--since DATE]`: the followed questions whose answers changed, with what changed.

The command line follows questions as the local user (assistant.following.LOCAL_USER), as the web app does
in local mode. The check runs first (what any process stored since the last check); nothing is marked seen.
"""

from __future__ import annotations

from datetime import date

from assistant.following import LOCAL_USER, Followed, updates
from assistant.types import Citation


def _source(citation: Citation) -> str:
    """"[2] Title (Source, 2026-03-03)"."""
    details = ", ".join(part for part in (citation.source, citation.published) if part)
    return f"[{citation.n}] {citation.title}" + (f" ({details})" if details else "")


def format_update(followed: Followed) -> str:
    """The question, the new answer, the change lines, then the sources their [n] markers name."""
    answer = followed.answer
    lines = [f"Question: {followed.question}"]
    if answer is not None:
        lines += ["", answer.full_text]
    if followed.changes:
        lines += ["", "What changed:", *(f"  - {change.text}" for change in followed.changes)]
    cited = {c.n: c for c in (answer.citations if answer is not None else [])}
    for change in followed.changes:
        for citation in change.citations:
            cited.setdefault(citation.n, citation)
    if cited:
        lines += ["", "Sources:", *(f"  {_source(cited[n])}" for n in sorted(cited))]
    return "\n".join(lines)


def print_updates(since: date | None = None, user: str = LOCAL_USER) -> int:
    """Print the changed answers of the user's follows (0 also when nothing changed: one line says so)."""
    changed = updates(since, user)
    if not changed:
        print("nothing changed in the followed questions" + (f" since {since.isoformat()}" if since else ""))
        return 0
    print("\n\n".join(format_update(followed) for followed in changed))
    return 0
