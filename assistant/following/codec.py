"""Answers and changes to JSON and back, as a followed question's record in Chroma keeps them.

The JSON holds the whole Answer (text, citations, passages, timeline, conflicts, freshness) and, for each
citation, the id of the passage (chunk) it quotes (`citation_chunks`), so a later answer can tell which of
its citations quote passages the earlier one could not see.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from assistant.following.types import FollowChange
from assistant.types import Answer, Citation, Conflict, ConflictSide, Freshness, Passage, TimelineEntry


def citation_chunks(answer: Answer) -> dict[int, str]:
    """Citation number -> the id of the retrieved passage it quotes (an answer's citations are made from its
    passages: same article, same text)."""
    found: dict[int, str] = {}
    for citation in answer.citations:
        for passage in answer.passages:
            if passage.article_id == citation.article_id and passage.text == citation.passage:
                found[citation.n] = passage.chunk_id
                break
    return found


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    data = asdict(answer)
    data["citation_chunks"] = {str(n): chunk_id for n, chunk_id in citation_chunks(answer).items()}
    return data


def answer_from_dict(data: dict[str, Any]) -> Answer:
    freshness = data.get("freshness")
    if freshness is not None:
        window = freshness.get("window")
        freshness = Freshness(**{**freshness, "window": tuple(window) if window else None})
    return Answer(
        question=data["question"], text=data["text"],
        citations=[Citation(**citation) for citation in data.get("citations", [])],
        passages=[Passage(**passage) for passage in data.get("passages", [])],
        backend=data.get("backend", ""), found=data.get("found", True),
        unsupported=list(data.get("unsupported", [])), mode=data.get("mode", "answer"),
        timeline=[TimelineEntry(**{**entry, "citations": tuple(entry["citations"])})
                  for entry in data.get("timeline", [])],
        conflicts=[Conflict(fact=conflict["fact"], kind=conflict["kind"],
                            sides=tuple(ConflictSide(**side) for side in conflict["sides"]))
                   for conflict in data.get("conflicts", [])],
        freshness=freshness)


def change_to_dict(change: FollowChange) -> dict[str, Any]:
    return {"kind": change.kind, "text": change.text, "citations": [asdict(c) for c in change.citations]}


def change_from_dict(data: dict[str, Any]) -> FollowChange:
    return FollowChange(data["kind"], data["text"], tuple(Citation(**c) for c in data.get("citations", [])))


def dumps_state(answer: Answer | None, previous: Answer | None, changes: tuple[FollowChange, ...]) -> str:
    """The document of a follow's record: its latest answer, the one its latest change replaced, the changes."""
    return json.dumps({"answer": answer_to_dict(answer) if answer is not None else None,
                       "previous": answer_to_dict(previous) if previous is not None else None,
                       "changes": [change_to_dict(change) for change in changes]}, ensure_ascii=False)


def loads_state(document: str | None) -> tuple[Answer | None, Answer | None, tuple[FollowChange, ...]]:
    data = json.loads(document or "{}")
    answer, previous = data.get("answer"), data.get("previous")
    return (answer_from_dict(answer) if answer else None, answer_from_dict(previous) if previous else None,
            tuple(change_from_dict(change) for change in data.get("changes", [])))
