"""Check an answer's `[n]` citations against the passages they name, after generation.

Each sentence of the answer is compared with every sentence of every passage: support is the
embedding similarity (same model as retrieval) blended with the share of the claim's new content
words (those not already in the question: what the claim adds) that the passage sentence contains. A cited passage whose best sentence supports the
claim keeps the citation, with that sentence as its quote. Otherwise the citation moves to the
passage that does support the claim, or is dropped; numbers naming no passage never survive.
An uncited claim that a passage supports gets that passage's marker. Sentences left without
support are listed in `Verified.unsupported`.

A quote the backend gave itself (the extractive backend quotes passages verbatim) is trusted
when it occurs in the passage and contains every content word of the claim.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.answerers.context import passage_sentences
from assistant.embeddings import TextEncoder
from assistant.text import content_words, split_sentences
from assistant.types import Passage

logger = logging.getLogger(__name__)

_MARKERS = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_MARKERS_AFTER_STOP = re.compile(r"([.!?])((?:[ \t]*\[\d+(?:\s*,\s*\d+)*\])+)")
_EMBEDDING_WEIGHT = 0.5
_MIN_CLAIM_WORDS = 2


@dataclass(frozen=True)
class Support:
    """How well a passage's best sentence supports a claim."""

    score: float
    sentence: str


@dataclass(frozen=True)
class Verified:
    """The answer with checked markers (passage numbers as given), a quote per cited passage, unsupported claims."""

    text: str
    quotes: dict[int, str] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Sentence:
    claim: str
    numbers: list[int]
    end: str


class CitationVerifier:
    """Keeps, moves or drops each citation by whether the cited passage supports its sentence."""

    def __init__(self, encoder: TextEncoder, min_support: float = 0.5) -> None:
        self.encoder = encoder
        self.min_support = min_support

    def verify(self, text: str, passages: Sequence[Passage], quotes: dict[int, str] | None = None,
               question: str = "") -> Verified:
        quotes = quotes or {}
        lines = [[_parse(sentence) for sentence in split_sentences(line)]
                 for line in _MARKERS_AFTER_STOP.sub(r"\2\1", text).splitlines()]
        sentences = [sentence for line in lines for sentence in line]
        support = self._support([sentence.claim for sentence in sentences], passages, content_words(question))
        rows = iter(support)
        kept: dict[int, str] = {}
        unsupported: list[str] = []
        rebuilt_lines = []
        for line in lines:
            rebuilt = []
            for sentence in line:
                row = next(rows)
                if not sentence.claim:  # a marker standing alone
                    continue
                numbers = self._check(sentence, row, passages, quotes, kept)
                if not numbers and len(content_words(sentence.claim)) >= _MIN_CLAIM_WORDS:
                    unsupported.append(sentence.claim + sentence.end)
                markers = "".join(f"[{number}]" for number in numbers)
                rebuilt.append(f"{sentence.claim} {markers}{sentence.end}" if markers
                               else sentence.claim + sentence.end)
            rebuilt_lines.append(" ".join(rebuilt))
        return Verified("\n".join(rebuilt_lines).strip(), kept, unsupported)

    def _check(self, sentence: _Sentence, support: list[Support], passages: Sequence[Passage],
               quotes: dict[int, str], kept: dict[int, str]) -> list[int]:
        """The passage numbers this sentence keeps; records each kept passage's quote in `kept`."""
        best = max(range(len(support)), key=lambda p: support[p].score, default=None)
        fallback = best if best is not None and support[best].score >= self.min_support else None
        numbers: list[int] = []
        cited = sentence.numbers or (
            [fallback + 1] if fallback is not None and len(content_words(sentence.claim)) >= _MIN_CLAIM_WORDS else [])
        for number in cited:
            p = number - 1
            if 0 <= p < len(passages) and _trusted(quotes.get(number), passages[p], sentence.claim):
                chosen, quote = number, quotes[number]
            elif 0 <= p < len(passages) and support[p].score >= self.min_support:
                chosen, quote = number, support[p].sentence
            elif fallback is not None:
                chosen, quote = fallback + 1, support[fallback].sentence
                logger.info("citation [%d] does not support %r: moved to [%d]", number, sentence.claim, chosen)
            else:
                logger.info("citation [%d] does not support %r: dropped", number, sentence.claim)
                continue
            if chosen not in numbers:
                numbers.append(chosen)
                kept.setdefault(chosen, quote)
        return numbers

    def _support(self, claims: Sequence[str], passages: Sequence[Passage],
                 question_words: set[str]) -> list[list[Support]]:
        """support[c][p]: the best sentence of passage p for claim c, and its score."""
        groups = [passage_sentences(passage) or [passage.text] for passage in passages]
        flat = [sentence for group in groups for sentence in group]
        if not claims or not flat:
            return [[] for _ in claims]
        vectors = self.encoder.encode([*claims, *flat])
        similarity = vectors[: len(claims)] @ vectors[len(claims):].T
        sentence_words = [content_words(sentence) for sentence in flat]
        table = []
        for c, claim in enumerate(claims):
            words = content_words(claim) - question_words or content_words(claim)
            overlap = np.array([len(words & other) / max(len(words), 1) for other in sentence_words])
            scores = _EMBEDDING_WEIGHT * similarity[c] + (1 - _EMBEDDING_WEIGHT) * overlap
            row, start = [], 0
            for group in groups:
                best = start + int(np.argmax(scores[start: start + len(group)]))
                row.append(Support(float(scores[best]), flat[best]))
                start += len(group)
            table.append(row)
        return table


def _parse(sentence: str) -> _Sentence:
    """A sentence's claim (markers removed), its cited numbers in order, and its closing punctuation."""
    numbers: list[int] = []
    for match in _MARKERS.finditer(sentence):
        numbers += [int(token) for token in match.group(1).split(",") if int(token) not in numbers]
    claim = _MARKERS.sub("", sentence).strip()
    end = claim[-1] if claim and claim[-1] in ".!?" else ""
    return _Sentence(claim[: len(claim) - len(end)].rstrip(), numbers, end)


def _trusted(quote: str | None, passage: Passage, claim: str) -> bool:
    """A backend's own quote: verbatim in the passage and saying everything the claim says."""
    if not quote:
        return False
    return " ".join(quote.split()) in " ".join(passage.text.split()) and content_words(claim) <= content_words(quote)
