"""Turn a backend's `[n]` markers (numbers of retrieved passages) into numbered Citations."""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.text import split_sentences
from assistant.types import Citation, Passage

_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")


def _best_quote(passage: Passage, claim: str) -> str:
    """The sentence of the passage sharing most words with the claim (when the backend gave no quote)."""
    claim_words = set(claim.lower().split())
    sentences = [s for line in passage.text.splitlines() for s in split_sentences(line)] or [passage.text]
    return max(sentences, key=lambda sentence: len(claim_words & set(sentence.lower().split())))


def resolve_citations(text: str, passages: Sequence[Passage], quotes: dict[int, str]) -> tuple[str, list[Citation]]:
    """Renumber markers 1, 2, ... in order of first use; markers naming no passage are removed.

    Returns the answer text with the new markers and one Citation per cited passage.
    """
    renumbered: dict[int, int] = {}
    citations: list[Citation] = []

    def replace(match: re.Match[str]) -> str:
        markers = []
        for token in match.group(1).split(","):
            number = int(token)
            if not 1 <= number <= len(passages):
                continue
            if number not in renumbered:
                renumbered[number] = len(renumbered) + 1
                passage = passages[number - 1]
                claim = (split_sentences(_MARKER.sub("", text[: match.start()])) or [text])[-1]
                citations.append(Citation(
                    n=renumbered[number],
                    article_id=passage.article_id,
                    title=passage.title,
                    source=passage.source,
                    url=passage.url,
                    published=passage.published,
                    passage=passage.text,
                    quote=quotes.get(number) or _best_quote(passage, claim),
                    score=passage.score,
                ))
            markers.append(f"[{renumbered[number]}]")
        return (" " + "".join(markers)) if markers else ""

    return _MARKER.sub(replace, text).strip(), citations
