"""The key terms of a sentence: the names, numbers and dates it states, and whether a text holds them.

A claim such as "Glasgow will host the games in 2026 [1]" is only as good as its key terms:
the cited passage must contain "Glasgow" and "2026". The terms that answer a question are the
sentence's terms the question does not already hold (`answer_terms`).

Deterministic and small on purpose:

- **numbers**: digit groups ("14.2", "5:30", "1,200", "23rd" -> "23"); four-digit years count as dates;
- **dates**: month and weekday names (abbreviations folded: "Sept." -> "September"), years;
- **names**: runs of capitalised words ("Luke Humphries", "Bank of England"; possessive "'s" dropped).
  The first word of a sentence is capitalised anyway, so it counts as a name only when another
  capitalised word follows it, when the sentence is a bare answer of at most three words
  ("Glasgow."), or when `names` (words seen capitalised mid-sentence elsewhere, see
  `proper_nouns`) holds it.

Matching (`occurs`) ignores case, accents, punctuation, thousands separators, ordinal suffixes
and small number words ("five" = "5"); a number keeps its decimals ("1.4" is not "4") and its scale
("1 trillion", "10%" = "10 percent"); a name of several
words also matches when all its words but the first occur ("Humphries" for "Luke Humphries",
"Halvorsen" for "Mayor Halvorsen"), a one-word name also in its adjective or plural forms
("Angolan", "Iranians" for "Angola", "Iran").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from assistant.nlp.text import SMALL_NUMBERS, STOPWORDS, normalize

Kind = Literal["number", "date", "name"]

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH_ABBREVIATIONS = {"jan": "january", "feb": "february", "mar": "march", "apr": "april", "jun": "june",
                        "jul": "july", "aug": "august", "sep": "september", "sept": "september",
                        "oct": "october", "nov": "november", "dec": "december"}
_NUMBER_WORDS = {word: str(n) for n, word in enumerate(SMALL_NUMBERS)}
_CONNECTORS = frozenset({"of", "de", "del", "der", "van", "von", "la", "le", "du", "da", "bin", "al", "el"})
_NOT_NAMES = frozenset({"i", "mr", "mrs", "ms", "dr", "options", "option"})
_BARE_ANSWER_WORDS = 3

_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,:/]\d+)*")
_WORD = re.compile(r"[^\W\d_][\w'’.\-]*")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s?$")
_OPTIONS = re.compile(r"\s*(?:options|choices)\s*:\s*.+$", re.IGNORECASE | re.DOTALL)
_YEAR = re.compile(r"^(1[5-9]\d\d|20\d\d)$")
_MARKERS = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_SCALE = re.compile(r"\s*(?:%|\s(?:thousand|million|billion|trillion|bn|percent|per cent)\b)", re.IGNORECASE)
_DECIMAL = re.compile(r"(?<=\d)[.:](?=\d)")
_PERCENT = re.compile(r"\s*%|\s+per cent\b", re.IGNORECASE)
_ASKS_DATE = re.compile(r"^\s*(?:and\s+|so\s+)?when\b|\b(?:what|which) (?:year|date|day|month)\b|\bsince when\b",
                        re.IGNORECASE)
_ASKS_NUMBER = re.compile(
    r"\bhow (?:many|much|long|far|old|tall|high|big|large|deep|fast|often)\b|\bwhat (?:percentage|share|"
    r"proportion|price|number|amount|score|rate|temperature|age|size)\b", re.IGNORECASE)
_NAME_SUFFIXES = ("n", "an", "ian", "ans", "ians", "ns", "ese", "i", "is", "s", "es")


@dataclass(frozen=True)
class KeyTerm:
    """A name, number or date as the sentence writes it."""

    text: str
    kind: Kind


def canonical(text: str) -> str:
    """The matching form of a text: normalized words, months spelled out, numbers without separators."""
    text = _ORDINAL.sub(r"\1", _THOUSANDS.sub("", text))
    text = _PERCENT.sub(" percent", _DECIMAL.sub("_", text))  # "1.4" is not "1 4"; "10%" is "10 percent"
    words = normalize(text).split()
    return " ".join(_MONTH_ABBREVIATIONS.get(word) or _NUMBER_WORDS.get(word) or word for word in words)


def question_core(question: str) -> str:
    """The question without choices appended to it ("... Options: Owl; Roo.")."""
    return _OPTIONS.sub("", question).strip()


def proper_nouns(texts: Iterable[str]) -> set[str]:
    """Words (canonical, lower case) written capitalised somewhere other than a sentence's first word."""
    found: set[str] = set()
    for text in texts:
        for sentence in re.split(r"(?<=[.!?])\s+|\n", text):
            for match in list(_WORD.finditer(sentence))[1:]:
                word = _strip(match.group())
                if word[:1].isupper() and canonical(word) not in STOPWORDS:
                    found.add(canonical(word))
    return found


def key_terms(sentence: str, names: set[str] | frozenset[str] = frozenset()) -> list[KeyTerm]:
    """The numbers, dates and names a sentence states, in order of appearance, without repeats."""
    sentence = _MARKERS.sub(lambda marker: " " * len(marker.group()), sentence)
    spans: list[tuple[int, KeyTerm]] = []
    for match in _NUMBER.finditer(sentence):
        token = match.group().rstrip(".,:/")
        digits = _THOUSANDS.sub("", token)
        scale = _SCALE.match(sentence, match.start() + len(token))
        if scale:  # "$1 trillion" is not "$1 billion", "10%" not "10 cities"
            token += scale.group()
        spans.append((match.start(), KeyTerm(token, "date" if _YEAR.match(digits) and not scale else "number")))
    words = list(_WORD.finditer(sentence))
    bare = len(sentence.split()) <= _BARE_ANSWER_WORDS
    run: list[str] = []
    start = 0

    def close() -> None:
        while run and run[-1].lower() in _CONNECTORS:
            run.pop()
        if run:
            spans.append((start, KeyTerm(" ".join(run), "name")))
        run.clear()

    for index, match in enumerate(words):
        word = _strip(match.group())
        lower = canonical(word)
        if lower in MONTHS or lower in WEEKDAYS:
            close()
            spans.append((match.start(), KeyTerm(word, "date")))
            continue
        capital = word[:1].isupper() and lower not in STOPWORDS and lower not in _NOT_NAMES
        if capital and index == 0 and not bare and lower not in names:
            following = words[1].group() if len(words) > 1 else ""
            capital = following[:1].isupper() and canonical(_strip(following)) not in MONTHS + WEEKDAYS
        if capital:
            if not run:
                start = match.start()
            run.append(word)
        elif run and lower in _CONNECTORS and not _ends_run(sentence, match):
            run.append(word)
        else:
            close()
        if _ends_run(sentence, match) or _POSSESSIVE.search(match.group()):
            close()
    close()
    seen: set[str] = set()
    terms = []
    for _, term in sorted(spans, key=lambda span: span[0]):
        key = canonical(term.text)
        if key and key not in seen:
            seen.add(key)
            terms.append(term)
    return terms


def occurs(term: KeyTerm, text: str) -> bool:
    """Whether the text states the term (see the module's matching rules)."""
    needle, haystack = canonical(term.text), f" {canonical(text)} "
    if not needle:
        return True
    if f" {needle} " in haystack:
        return True
    words = needle.split()
    if term.kind != "name":
        return False
    if len(words) > 1:
        return all(f" {word} " in haystack for word in words[1:] if word not in _CONNECTORS)
    return any(f" {needle}{suffix} " in haystack for suffix in _NAME_SUFFIXES)  # "Angolan", "Iranians"


def asked_kind(question: str) -> Kind | None:
    """What a question asks for when it asks for a date ("When ...?") or a number ("How many ...?")."""
    core = question_core(question)
    if _ASKS_DATE.search(core):
        return "date"
    if _ASKS_NUMBER.search(core):
        return "number"
    return None


def answer_terms(sentence: str, question: str, names: set[str] | frozenset[str] = frozenset()) -> list[KeyTerm]:
    """The key terms of the sentence that the question (its choices left out) does not hold."""
    core = question_core(question)
    return [term for term in key_terms(sentence, names) if not occurs(term, core)]


def _strip(word: str) -> str:
    """A word without a trailing possessive or full stop ("Brennford's" -> "Brennford")."""
    word = word.rstrip(".-")
    return _POSSESSIVE.sub("", word) if len(word) > 2 else word


def _ends_run(sentence: str, match: re.Match[str]) -> bool:
    """A comma, semicolon, colon or sentence end right after the word ends a run of capitalised words."""
    rest = sentence[match.end():]
    return bool(re.match(r"\s*[,;:!?()\"“”]", rest)) or match.group().endswith(".")
