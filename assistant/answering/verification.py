"""Check an answer's `[n]` citations against the passages they name, after generation.

Each sentence of the answer is compared with every sentence of every passage: support is the
embedding similarity (same model as retrieval) blended with the share of the claim's new content
words (those not already in the question: what the claim adds) that the passage sentence contains
(a word also counts in a longer form: "Angola" in "Angolan"). A cited passage whose best sentence supports the
claim keeps the citation, with that sentence as its quote. Otherwise the citation moves to the
passage that does support the claim, or is dropped; numbers naming no passage never survive.
An uncited claim that a passage supports gets that passage's marker. Sentences left without
support are listed in `Verified.unsupported`.

A quote the backend gave itself (the extractive backend quotes passages verbatim) is trusted
when it occurs in the passage and contains every content word of the claim.

Support is needed twice: counting the claim's words the question does not hold (what it adds), and
counting all its words (with the question's for a bare answer such as "Glasgow"): a sentence that
merely names the answer ("Glasgow staged the games in 2014" for "Which city will host the games?
Glasgow") does not support it.

**The answer must name what its citation says.** A sentence's answer terms (its names, numbers
and dates that the question does not hold, `assistant/nlp/key_terms.py`) must occur in the passage
it cites (text, title or date). When they do not, the sentence is not verified by that passage:

1. when the question asks for a date and the cited passage has a sentence that states another date
   and fits the rest of the claim better than the sentence of any passage stating the claim's date,
   the sentence is rewritten as that passage sentence ("... will open in 2026 [1]" for "When will the
   tram line open?" becomes passage 1's "... carried its first passengers on 14 September 2024 [1]",
   not a move to passage 2's "construction of another route could begin in 2026");
2. else the citation moves to a passage that holds every answer term and supports the sentence;
3. else the citation is dropped and the sentence is listed as unsupported.

For a question asking when, a sentence whose cited passage states its date is still rewritten when
another passage sentence, stating another date, fits the whole claim better than the cited one: the
claim took its date from the wrong sentence ("the new line is expected to open in 2028", citing "the
first trams on the new route [a second route] expected in 2028").

Markers are first put in the house style (`assistant/answering/citations.py`: `US.,,, [1]` -> `US [1].`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.answering.answerers.context import passage_sentences
from assistant.answering.citations import tidy_markers
from assistant.encoders.embeddings import TextEncoder
from assistant.nlp.key_terms import (
    MONTHS,
    KeyTerm,
    answer_terms,
    asked_kind,
    key_terms,
    occurs,
    proper_nouns,
    question_core,
)
from assistant.nlp.text import content_words, split_sentences
from assistant.types import Passage

logger = logging.getLogger(__name__)

_MARKERS = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_MARKERS_AFTER_STOP = re.compile(r"([.!?])((?:[ \t]*\[\d+(?:\s*,\s*\d+)*\])+)")
_EMBEDDING_WEIGHT = 0.5
_MIN_CLAIM_WORDS = 2
_MIN_STEM = 4
_LONGEST_ENDING = 3


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
    rewritten: list[tuple[str, str]] = field(default_factory=list)
    """(the backend's sentence, the passage sentence that replaced it) for each rewritten sentence."""


@dataclass(frozen=True)
class _Sentence:
    claim: str
    numbers: list[int]
    end: str


@dataclass(frozen=True)
class _Decision:
    """What a sentence keeps: passage numbers, and the passage sentence it is rewritten as (if any)."""

    numbers: list[int]
    rewrite: str = ""


class CitationVerifier:
    """Keeps, moves or drops each citation by whether the cited passage supports its sentence."""

    def __init__(self, encoder: TextEncoder, min_support: float = 0.5) -> None:
        self.encoder = encoder
        self.min_support = min_support

    def verify(self, text: str, passages: Sequence[Passage], quotes: dict[int, str] | None = None,
               question: str = "") -> Verified:
        quotes = quotes or {}
        question = question_core(question)
        lines = [[_parse(sentence) for sentence in split_sentences(line)]
                 for line in _MARKERS_AFTER_STOP.sub(r"\2\1", tidy_markers(text)).splitlines()]
        sentences = [sentence for line in lines for sentence in line]
        claims = [sentence.claim for sentence in sentences]
        groups = [passage_sentences(passage) or [passage.text] for passage in passages]
        support, whole = self._support(claims, groups, question)
        names = proper_nouns([question, *(passage.text for passage in passages)])
        haystacks = [_haystack(passage) for passage in passages]
        kept: dict[int, str] = {}
        unsupported: list[str] = []
        rewritten: list[tuple[str, str]] = []
        rebuilt_lines, index = [], 0
        for line in lines:
            rebuilt = []
            for sentence in line:
                c, index = index, index + 1
                if not sentence.claim:  # a marker standing alone
                    continue
                terms = answer_terms(sentence.claim, question, names)
                decision = self._check(sentence, terms, support[c], whole[c], groups, haystacks, passages, quotes,
                                       kept, question)
                if decision.rewrite:
                    rewritten.append((sentence.claim + sentence.end, decision.rewrite))
                    sentence = _parse(decision.rewrite)
                if not decision.numbers and (len(content_words(sentence.claim)) >= _MIN_CLAIM_WORDS or terms):
                    unsupported.append(sentence.claim + sentence.end)
                markers = "".join(f"[{number}]" for number in decision.numbers)
                rebuilt.append(f"{sentence.claim} {markers}{sentence.end}" if markers
                               else sentence.claim + sentence.end)
            rebuilt_lines.append(" ".join(rebuilt))
        return Verified("\n".join(rebuilt_lines).strip(), kept, unsupported, rewritten)

    def _check(self, sentence: _Sentence, terms: list[KeyTerm], support: list[Support], whole: list[Support],
               groups: Sequence[Sequence[str]], haystacks: Sequence[str], passages: Sequence[Passage],
               quotes: dict[int, str], kept: dict[int, str], question: str) -> _Decision:
        """The passage numbers this sentence keeps (or a rewrite); records each kept passage's quote in `kept`."""
        holds = [all(occurs(term, haystack) for term in terms) for haystack in haystacks]
        movable = [p for p in range(len(support))
                   if holds[p] and support[p].score >= self.min_support and whole[p].score >= self.min_support]
        fallback = max(movable, key=lambda p: support[p].score, default=None)
        numbers: list[int] = []
        cited = sentence.numbers or (
            [fallback + 1] if fallback is not None and (len(content_words(sentence.claim)) >= _MIN_CLAIM_WORDS
                                                        or terms) else [])
        for number in cited:
            p = number - 1
            valid = 0 <= p < len(passages)
            if valid and holds[p] and _trusted(quotes.get(number), passages[p], sentence.claim):
                chosen, quote = number, quotes[number]
            elif valid and holds[p] and min(support[p].score, whole[p].score) >= self.min_support:
                chosen, quote = number, support[p].sentence
            elif valid and not holds[p] and not numbers and (rewrite := self._rewrite(
                    sentence.claim, terms, groups[p], haystacks[p], question,
                    support[fallback].sentence if fallback is not None else "")):
                logger.info("[%d] does not state %s of %r: rewritten as %r", number,
                            ", ".join(term.text for term in terms if not occurs(term, haystacks[p])),
                            sentence.claim, rewrite)
                kept.setdefault(number, rewrite)
                return _Decision([number], rewrite)
            elif fallback is not None:
                chosen, quote = fallback + 1, support[fallback].sentence
                logger.info("citation [%d] does not support %r: moved to [%d]", number, sentence.claim, chosen)
            else:
                logger.info("citation [%d] does not support %r: dropped", number, sentence.claim)
                continue
            if chosen not in numbers:
                numbers.append(chosen)
                kept.setdefault(chosen, quote)
        rival = _better_dated(terms, whole, numbers, question, self.min_support)
        if rival is not None:
            logger.info("%r: [%d] fits it better with another date: rewritten as %r", sentence.claim, rival + 1,
                        whole[rival].sentence)
            kept.setdefault(rival + 1, whole[rival].sentence)
            return _Decision([rival + 1], whole[rival].sentence)
        return _Decision(numbers)

    def _rewrite(self, claim: str, terms: list[KeyTerm], sentences: Sequence[str], haystack: str,
                 question: str, rival: str) -> str:
        """The passage sentence to say instead of a claim that got the asked date wrong: for "When will the
        line open?", "... will open in 2026 [1]" becomes the sentence of passage 1 that supports the rest of
        the claim and states a date the question does not hold; "" if there is none, or if `rival` (the
        sentence of another passage that states the claim's terms) supports the rest of the claim at least
        as well: then the citation was only misnumbered and moves there.
        Only dates are rewritten: a passage sentence with another number or name (a time for a length,
        someone else) would answer nothing."""
        if asked_kind(question) != "date" or all(term.kind != "date" or occurs(term, haystack) for term in terms):
            return ""
        rest = _without(claim, terms)
        rest_words = content_words(rest)
        if len(rest_words) < _MIN_CLAIM_WORDS:
            return ""  # a bare answer ("2026"): nothing to rewrite it from
        candidates = [sentence for sentence in sentences if len(sentence.split()) >= 4 and any(
            term.kind == "date" and not occurs(term, question) for term in key_terms(sentence))]
        if not candidates:
            return ""
        texts = [*candidates, rival] if rival else candidates
        vectors = self.encoder.encode([rest, *texts])
        scores = [_EMBEDDING_WEIGHT * float(vectors[0] @ vector)
                  + (1 - _EMBEDDING_WEIGHT) * _shared(rest_words, content_words(sentence)) / len(rest_words)
                  for vector, sentence in zip(vectors[1:], texts, strict=True)]
        best = int(np.argmax(scores[: len(candidates)]))
        if scores[best] < self.min_support or (rival and scores[-1] >= scores[best]):
            return ""
        return candidates[best]

    def _support(self, claims: Sequence[str], groups: Sequence[Sequence[str]],
                 question: str) -> tuple[list[list[Support]], list[list[Support]]]:
        """support[c][p]: the best sentence of passage p for claim c and its score, counting the claim's
        words the question does not hold; whole[c][p]: the same counting all the claim's words, and for a
        bare answer ("Glasgow") the question's words too: the sentence must say what the answer answers."""
        flat = [sentence for group in groups for sentence in group]
        if not claims or not flat:
            return [[] for _ in claims], [[] for _ in claims]
        question_words = content_words(question)
        wholes = [f"{question} {claim}" if _is_bare(claim) else claim for claim in claims]
        vectors = self.encoder.encode([*claims, *wholes, *flat])
        n = len(claims)
        similarities = (vectors[:n] @ vectors[2 * n:].T, vectors[n: 2 * n] @ vectors[2 * n:].T)
        sentence_words = [content_words(sentence) for sentence in flat]
        tables: tuple[list[list[Support]], list[list[Support]]] = ([], [])
        for c, claim in enumerate(claims):
            every = content_words(claim)
            for table, words, similarity in zip(tables, (every - question_words or every, content_words(wholes[c])),
                                                similarities, strict=True):
                overlap = np.array([_shared(words, other) / max(len(words), 1) for other in sentence_words])
                scores = _EMBEDDING_WEIGHT * similarity[c] + (1 - _EMBEDDING_WEIGHT) * overlap
                row, start = [], 0
                for group in groups:
                    best = start + int(np.argmax(scores[start: start + len(group)]))
                    row.append(Support(float(scores[best]), flat[best]))
                    start += len(group)
                table.append(row)
        return tables


def _parse(sentence: str) -> _Sentence:
    """A sentence's claim (markers removed), its cited numbers in order, and its closing punctuation."""
    numbers: list[int] = []
    for match in _MARKERS.finditer(sentence):
        numbers += [int(token) for token in match.group(1).split(",") if int(token) not in numbers]
    claim = _MARKERS.sub("", sentence).strip()
    end = claim[-1] if claim and claim[-1] in ".!?" else ""
    return _Sentence(claim[: len(claim) - len(end)].rstrip(), numbers, end)


def _better_dated(terms: Sequence[KeyTerm], whole: Sequence[Support], numbers: Sequence[int], question: str,
                  min_support: float) -> int | None:
    """For a question asking when: the passage whose sentence fits the whole claim best, when that sentence
    states another date than the claim and fits it better than the sentences the claim cites. "The new
    line is expected to open in 2028", citing "construction of a second route could begin in 2026, with
    the first trams on the new route expected in 2028", fits "the new line carried its first passengers
    on 14 September 2024" better: the claim took its date from the wrong sentence."""
    stated = [term for term in terms if term.kind == "date"]
    if not numbers or not stated or asked_kind(question) != "date":
        return None
    best = max(range(len(whole)), key=lambda p: whole[p].score)
    sentence = whole[best].sentence
    if (whole[best].score < min_support or all(occurs(term, sentence) for term in stated)
            or not any(term.kind == "date" and not occurs(term, question) for term in key_terms(sentence))):
        return None
    cited = max(whole[number - 1].score for number in numbers)
    return best if whole[best].score > cited else None


def _without(claim: str, terms: Sequence[KeyTerm]) -> str:
    """The claim with its answer terms taken out: what it says about them."""
    for term in terms:
        claim = claim.replace(term.text, " ")
    return claim


def _shared(words: set[str], other: set[str]) -> int:
    """How many of the words the other set holds, also as a longer form ("Angola": "Angolan"; "tram": "trams")."""
    count = 0
    for word in words:
        if word in other or (len(word) >= _MIN_STEM and any(
                _same_stem(word, candidate) for candidate in other if candidate[:_MIN_STEM] == word[:_MIN_STEM])):
            count += 1
    return count


def _same_stem(first: str, second: str) -> bool:
    short, long = sorted((first, second), key=len)
    return long.startswith(short) and len(long) - len(short) <= _LONGEST_ENDING


def _is_bare(claim: str) -> bool:
    """A bare answer ("Glasgow", "$1 trillion"): fewer content words than a claim of its own needs."""
    return len(content_words(claim)) <= _MIN_CLAIM_WORDS


def _haystack(passage: Passage) -> str:
    """Where a passage states its terms: title, source, publication date (also spelled out) and text."""
    published = passage.published
    try:
        year, month, day = (int(part) for part in published[:10].split("-"))
        published += f" {day} {MONTHS[month - 1]} {year}"
    except (ValueError, IndexError):
        pass
    return f"{passage.title}\n{passage.source}\n{published}\n{passage.text}"


def _trusted(quote: str | None, passage: Passage, claim: str) -> bool:
    """A backend's own quote: verbatim in the passage and saying everything the claim says."""
    if not quote:
        return False
    return " ".join(quote.split()) in " ".join(passage.text.split()) and content_words(claim) <= content_words(quote)
