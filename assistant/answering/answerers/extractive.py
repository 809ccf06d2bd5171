"""An answerer that needs no LLM: it quotes the retrieved sentences that best answer the question."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from assistant.answering.answerers.base import NOT_FOUND, Answerer, Draft
from assistant.encoders.embeddings import TextEncoder
from assistant.nlp.text import contains_phrase, content_words, is_heading, split_sentences
from assistant.types import Passage

_OPTIONS = re.compile(r"\s*(?:options|choices)\s*:\s*(?P<options>.+?)\s*\.?\s*$", re.IGNORECASE | re.DOTALL)
_KEYWORD_WEIGHT = 0.2
_ANSWER_TYPE_BONUS = 0.15
_ASKS_NUMBER = re.compile(
    r"\bhow (many|much|tall|high|long|far|old|big|large|close|deep|fast)\b|\bwhat (percentage|share|proportion|"
    r"price|number|amount|score|rate|temperature)\b", re.IGNORECASE)
_ASKS_DATE = re.compile(r"^\s*when\b|\bwhat (year|date|day|month)\b|\bwhich (year|day|month)\b", re.IGNORECASE)
_HAS_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion|"
                         r"dozen|half)\b", re.IGNORECASE)
_HAS_DATE = re.compile(r"\b(1[89]\d\d|20\d\d|January|February|March|April|May|June|July|August|September|October|"
                       r"November|December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|today)\b")
_SECOND_SENTENCE_MARGIN = 0.2


@dataclass(frozen=True)
class _Candidate:
    passage: int  # 1-based passage number
    sentence: str
    score: float


def split_options(question: str) -> tuple[str, list[str]]:
    """A question with appended choices ("...? Options: Owl; Eeyore; Roo.") -> (question, choices)."""
    match = _OPTIONS.search(question)
    if not match:
        return question, []
    options = [option.strip() for option in match.group("options").split(";") if option.strip()]
    return (question[: match.start()].strip(), options) if len(options) >= 2 else (question, [])


class ExtractiveAnswerer(Answerer):
    """Picks the 1-3 sentences of the retrieved passages closest to the question (same embedding model).

    For a multiple-choice question it answers with the choice that the best-scoring sentence
    naming exactly one choice supports. Nothing relevant enough: it says so and cites nothing.
    It declares no capabilities: follow-ups are made standalone by the history rule, a timeline
    has no overview, and `as_of` does not change what it quotes.
    """

    name = "extractive"

    def __init__(self, encoder: TextEncoder, min_relevance: float = 0.35, max_sentences: int = 3) -> None:
        self.encoder = encoder
        self.min_relevance = min_relevance
        self.max_sentences = max_sentences

    def _candidates(self, question: str, passages: Sequence[Passage]) -> list[_Candidate]:
        pairs = [
            (number, sentence)
            for number, passage in enumerate(passages, start=1)
            for line in passage.text.splitlines()
            if not is_heading(line)
            for sentence in split_sentences(line)
            if len(sentence.split()) >= 4
        ]
        if not pairs:
            return []
        vectors = self.encoder.encode([question] + [sentence for _, sentence in pairs])
        similarities = vectors[1:] @ vectors[0]
        question_words = content_words(question)
        sentence_words = [content_words(sentence) for _, sentence in pairs]
        weights = _rarity(question_words, sentence_words)
        total = sum(weights.values()) or 1.0
        wanted = _HAS_DATE if _ASKS_DATE.search(question) else _HAS_NUMBER if _ASKS_NUMBER.search(question) else None
        candidates = []
        for (number, sentence), words, similarity in zip(pairs, sentence_words, similarities, strict=True):
            overlap = sum(weights[word] for word in question_words & words) / total
            bonus = _ANSWER_TYPE_BONUS if wanted is not None and wanted.search(sentence) else 0.0
            candidates.append(_Candidate(number, sentence, float(similarity) + _KEYWORD_WEIGHT * overlap + bonus))
        return sorted(candidates, key=lambda candidate: candidate.score, reverse=True)

    def draft(self, question: str, passages: Sequence[Passage], as_of: date | None = None) -> Draft:
        core, options = split_options(question)
        if not passages or max(passage.score for passage in passages) < self.min_relevance:
            return Draft(NOT_FOUND, found=False)
        candidates = self._candidates(core, passages)
        if not candidates or candidates[0].score < self.min_relevance:
            return Draft(NOT_FOUND, found=False)
        if options:
            return self._choose_option(options, candidates)
        chosen = [candidates[0]]
        for candidate in candidates[1:]:
            if len(chosen) == self.max_sentences or candidate.score < candidates[0].score - _SECOND_SENTENCE_MARGIN:
                break
            if all(not _near_duplicate(candidate.sentence, kept.sentence) for kept in chosen):
                chosen.append(candidate)
        text = " ".join(cite(candidate.sentence, candidate.passage) for candidate in chosen)
        quotes: dict[int, str] = {}
        for candidate in chosen:
            quotes.setdefault(candidate.passage, candidate.sentence)
        return Draft(text, quotes)

    def _choose_option(self, options: Sequence[str], candidates: Sequence[_Candidate]) -> Draft:
        for candidate in candidates:
            named = [option for option in options if contains_phrase(candidate.sentence, option)]
            if len(named) == 1:
                return Draft(f"{named[0]} [{candidate.passage}].", {candidate.passage: candidate.sentence})
        return Draft(NOT_FOUND, found=False)

    def stream(self, question: str, passages: Sequence[Passage], as_of: date | None = None) -> Iterator[str | Draft]:
        """The whole answer as one piece, then its Draft."""
        result = self.draft(question, passages, as_of)
        yield result.text
        yield result


def _rarity(question_words: set[str], sentence_words: Sequence[set[str]]) -> dict[str, float]:
    """IDF of each question word over the candidate sentences: words every sentence shares count little."""
    count = len(sentence_words)
    return {word: math.log(1 + count / (1 + sum(word in words for words in sentence_words)))
            for word in question_words}


def cite(sentence: str, number: int) -> str:
    """Put the marker before the closing full stop: "... in 2006 [1]." """
    if sentence[-1:] in ".!?":
        return f"{sentence[:-1]} [{number}]{sentence[-1]}"
    return f"{sentence} [{number}]"


def _near_duplicate(first: str, second: str) -> bool:
    a, b = content_words(first), content_words(second)
    return bool(a and b) and len(a & b) / min(len(a), len(b)) > 0.8
