"""Conflicting reports: passages of different articles that give different values for the same fact.

Deterministic. Each sentence yields facts: counts ("12 dead", "killed 15 people", "300 homes"),
amounts ("£4.2m", "96 million pounds"), percentages, votes ("31 votes to 12") and dates ("peaked on
28 February"), each with the words that say what it is about: the noun a count counts (for "people"
and the like, with what happened to them: killed, injured, evacuated), the words just before an
amount, percentage or date ("cost", "peaked"). Two facts are the same fact when they are of one
kind, attached to the same word, and their sentences share the story (three content words, or two
of which one is a name);
they conflict when their values cannot both be true ("at least 12" and "15" can; "12" and "15"
cannot; "about 100" allows 10% either way; a month contains its days).

`find_conflicts` compares the sentences an answer rests on with the other relevant passages and
returns each disagreement with every passage that states the fact, ordered by publication date.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import Stemmer

from assistant.answering.answerers.context import passage_sentences
from assistant.nlp.text import SMALL_NUMBERS, STOPWORDS, normalize
from assistant.nlp.text_dates import MONTH_WORDS, WEEKDAY_WORDS, DateMention, find_dates, label, published_day
from assistant.types import Conflict, ConflictSide, Passage

MAX_CONFLICTS = 3
MAX_SIDES = 4
REPORT_WINDOW_DAYS = 14
"""Reports of one fact are published within this many days of each other; further apart, a different value
is news that moved on (last year's budget, another year's speech), not outlets disagreeing."""

_DIGITS = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_TOKEN = re.compile(rf"US\$|[£$€¥]|{_DIGITS}(?:bn|m|k)?(?![\w])|\d+(?:st|nd|rd|th)\b|[A-Za-z][A-Za-z'’]*"
                    r"|%|[^\sA-Za-z\d]")
_NUMBER = re.compile(rf"{_DIGITS}(?:bn|m|k)?$")
_WORD_NUMBERS = {word: value for value, word in enumerate(SMALL_NUMBERS)}
_WORD_NUMBERS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                      "ninety": 90, "hundred": 100, "dozen": 12, "dozens": 24})
_MAGNITUDES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "k": 1e3, "m": 1e6, "bn": 1e9,
               "mn": 1e6}
_CURRENCY_SYMBOLS = {"£": "GBP", "$": "USD", "US$": "USD", "€": "EUR", "¥": "JPY"}
_CURRENCY_WORDS = {"pound": "GBP", "pounds": "GBP", "dollar": "USD", "dollars": "USD", "euro": "EUR",
                   "euros": "EUR", "yen": "JPY", "franc": "CHF", "francs": "CHF", "krona": "SEK", "kronor": "SEK",
                   "kronur": "ISK", "rupees": "INR", "yuan": "CNY"}
_PERCENT_WORDS = ("percent", "per cent", "percentage points")
_LOWER = {"at least", "more than", "over", "upwards of", "in excess of", "above", "a minimum of"}
_UPPER = {"up to", "fewer than", "less than", "under", "nearly", "almost", "as many as", "at most", "below",
          "just under"}
_ABOUT = {"about", "around", "roughly", "some", "approximately", "an estimated", "estimated", "close to",
          "nearly", "almost"}
_QUALIFIERS = sorted(_LOWER | _UPPER | _ABOUT, key=len, reverse=True)
_FUNCTION = STOPWORDS | {
    "set", "scheduled", "due", "expected", "planned", "now", "already", "still", "rose", "risen", "climbed",
    "reached", "fell", "dropped", "stood", "stands", "totalled", "totaled", "total", "estimated", "additional",
    "extra", "another", "further", "least", "than", "over", "under", "around", "nearly", "almost", "roughly",
    "approximately", "until", "since", "during", "early", "late", "mid", "later", "earlier", "last", "next",
    "while", "whereas", "however", "though", "although", "reportedly", "been", "being", "got", "get",
}
_REPORTING = {"said", "says", "say", "told", "tells", "announced", "announces", "reported", "reports", "confirmed",
              "confirms", "added", "wrote", "stated", "tweeted", "posted", "according", "claimed", "claims"}
_GENERIC = {"people", "persons", "person", "men", "women", "children", "kids", "residents", "others", "civilians",
            "individuals", "adults", "migrants", "passengers", "workers", "soldiers", "patients", "students",
            "victims", "staff", "employees", "members", "households", "families", "homes", "houses", "buildings"}
_AUX = {"were", "was", "are", "is", "have", "has", "had", "been", "being", "be", "reportedly", "also", "still", "now",
        "who", "that", "which", "believed", "thought", "feared", "confirmed", "already", "all", "later", "not", "yet"}
_COUNT_MODIFIERS = {"more", "new", "other", "additional", "extra", "confirmed", "reported", "known", "separate",
                    "further", "fresh", "local", "small", "large", "major", "minor"}
_NOT_COUNTED = {"year", "years", "month", "months", "week", "weeks", "day", "days", "hour", "hours", "minute",
                "minutes", "second", "seconds", "am", "pm", "percent", "per", "times", "time", "th", "st", "nd",
                "rd", "of", "and", "or", "to", "a", "p", "m", "votes", "vote", "game", "games", "points", "point",
                "goals", "goal", "runs", "round", "rounds", "page", "pages", "chapter", "no", "number", "grade",
                "stars", "degrees", "bc", "ad", "s"}
_UNITS = {"mile", "miles", "km", "kilometre", "kilometres", "kilometer", "kilometers", "metre", "metres", "meter",
          "meters", "m", "cm", "mm", "feet", "foot", "ft", "inch", "inches", "yard", "yards", "ton", "tons", "tonne",
          "tonnes", "kg", "kilograms", "kilogram", "grams", "gram", "lb", "lbs", "litres", "liters", "gallons", "degrees",
          "mph", "kph", "acres", "hectares", "square", "cubic", "magnitude", "percentile"}
"""Measures (distances, weights, areas) vary within one story for good reasons: they are not compared."""
_CANONICAL = {word: "dead" for word in ("dead", "killed", "kill", "kills", "killing", "died", "die", "dies", "dying",
                                        "death", "deaths", "fatalities", "fatality", "toll", "perished", "lives")}
_CANONICAL.update({word: "injured" for word in ("injured", "injuring", "injury", "injuries", "wounded", "hurt")})
_CANONICAL.update({word: "missing" for word in ("missing", "unaccounted")})
_CANONICAL.update({word: "evacuated" for word in ("evacuated", "evacuation", "evacuations", "evacuate")})
_CANONICAL.update({word: "arrested" for word in ("arrested", "arrests", "arrest", "detained")})
_MONTH_WORDS = {*MONTH_WORDS, *WEEKDAY_WORDS, "yesterday", "today", "tonight", "week", "month", "year", "day"}
_ANCHOR_SPAN = 6
_VOTE = re.compile(r"\b(\d{1,4})\s*(?:votes?\s+)?(?:to|-|–)\s*(\d{1,4})\b(?:\s+votes?)?", re.IGNORECASE)


def stem(word: str) -> str:
    """The Snowball (Porter2) English stem of a word, case and accents folded (PyStemmer): "approved",
    "approves", "approving" -> "approv", "communities" -> "communiti", "Brennford's" -> "brennford"; words
    for what happened to people map to one word ("killed", "fatalities", "toll" -> "dead")."""
    word = normalize(word).replace(" ", "")
    if word in _CANONICAL:
        return _CANONICAL[word]
    return _stemmer().stemWord(word)


_STEMMERS = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    """This thread's stemmer (a PyStemmer object keeps state while it stems: one per thread)."""
    stemmer = getattr(_STEMMERS, "english", None)
    if stemmer is None:
        stemmer = _STEMMERS.english = Stemmer.Stemmer("english")
    return stemmer


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int

    @property
    def lower(self) -> str:
        return self.text.lower()

    @property
    def is_word(self) -> bool:
        return self.text[:1].isalpha()


@dataclass(frozen=True)
class Fact:
    """A value stated in a sentence: what it is about (`key`, `about`), the value and how to show it."""

    kind: str
    """number (counts and percentages), amount, vote or date."""
    key: str
    """The counted noun (stemmed) plus what happened to it, the currency, "%", "vote" or "date"."""
    about: frozenset[str]
    """Stems of the words that say what the value is of (empty for counts: the key says it)."""
    low: float
    high: float
    value: str
    """The value as the sentence words it ("at least 12 people", "£4.2m", "28 February 2026"); for amounts,
    percentages and dates `shown` puts a word of `about` before it."""
    words: tuple[str, ...] = ()
    """The words of `about` as written, nearest first."""
    mention: DateMention | None = None
    at: int = 0
    """Where the value starts in its sentence."""

    def named(self, shared: set[str] = frozenset()) -> str:  # type: ignore[assignment]
        """The word the value is attached to ("cost", "peaked")."""
        return self.words[0] if self.words else ""

    def shown(self, shared: set[str] = frozenset()) -> str:  # type: ignore[assignment]
        """As it reads in an answer: "12 dead", "cost £4.2m", "peaked on 28 February 2026"."""
        if self.kind == "vote" or (self.kind == "number" and not self.key.startswith("%|")):
            return self.value
        if self.mention is not None:
            preposition = "in" if self.mention.precision == "month" else "on"
            return f"{self.named(shared)} {preposition} {self.value}"
        return f"{self.named(shared)} {self.value}"

    def what(self, shared: set[str] = frozenset()) -> str:  # type: ignore[assignment]
        """What the value is of, in a word or two: "dead", "cost", "peaked"."""
        if self.kind == "vote":
            return "vote"
        return self.named(shared) or self.key

    def matches(self, other: Fact) -> bool:
        return (self.kind, self.key) == (other.kind, other.key)

    def consistent(self, other: Fact) -> bool:
        if self.mention is not None and other.mention is not None:
            return self.mention.same_period(other.mention)
        return self.low <= other.high * (1 + 1e-9) and other.low <= self.high * (1 + 1e-9)


def _tokens(sentence: str) -> list[_Token]:
    return [_Token(match.group(), match.start(), match.end()) for match in _TOKEN.finditer(sentence)]


def _number(token: _Token) -> float | None:
    text = token.lower
    if text in _WORD_NUMBERS:
        return float(_WORD_NUMBERS[text])
    if not _NUMBER.match(text):
        return None
    multiplier = 1.0
    for suffix in ("bn", "m", "k"):
        if text.endswith(suffix):
            text, multiplier = text[: -len(suffix)], _MAGNITUDES[suffix]
            break
    try:
        return float(text.replace(",", "")) * multiplier
    except ValueError:
        return None


def _qualifier(sentence: str, start: int) -> str:
    """The hedge just before position `start` ("at least", "about"), or ""."""
    before = sentence[max(0, start - 24):start].lower().rstrip(" £$€¥")
    before = re.sub(r"\bus$", "", before).rstrip()
    return next((q for q in _QUALIFIERS if before.endswith(" " + q) or before == q), "")


def _interval(value: float, qualifier: str) -> tuple[float, float]:
    if qualifier in _ABOUT:
        return value * 0.9, value * 1.1
    if qualifier in _LOWER:
        return value, math.inf
    if qualifier in _UPPER:
        return -math.inf, value
    return value, value


def _before_words(tokens: Sequence[_Token], index: int, span: int = _ANCHOR_SPAN) -> list[_Token]:
    """Content words before tokens[index], nearest first, up to a clause break or a reporting verb."""
    words: list[_Token] = []
    for token in reversed(tokens[max(0, index - span):index]):
        if token.text in (",", ";", ":", "(", ")", "\"", "“", "”", "—", "–") and words:
            break
        if token.lower in _REPORTING:
            break
        if token.is_word and token.lower not in _FUNCTION and token.lower not in _MONTH_WORDS \
                and token.lower not in _QUALIFIERS and token.lower not in _MAGNITUDES \
                and token.lower not in _CURRENCY_WORDS and token.lower not in _WORD_NUMBERS:
            words.append(token)
    return words


def _attached(words: Sequence[_Token]) -> list[_Token]:
    """The words before a value starting from the one it is attached to: the nearest that is no name
    ("cost" in "Brennford's tram will cost £96m"); empty when all are names."""
    for index, word in enumerate(words):
        if not (word.text[:1].isupper() and word.start > 0):
            return list(words[index:])
    return []


def _about(words: Iterable[_Token]) -> frozenset[str]:
    return frozenset(stem(word.text) for word in words)


def _masked(tokens: Sequence[_Token], spans: Sequence[tuple[int, int]]) -> list[bool]:
    return [any(start <= token.start < end for start, end in spans) for token in tokens]


def sentence_facts(sentence: str, published: date | None) -> list[Fact]:
    """The counts, amounts, percentages, votes and dates a sentence states (see the module docstring)."""
    tokens = _tokens(sentence)
    facts: list[Fact] = []
    dates = find_dates(sentence, published)
    votes = [match for match in _VOTE.finditer(sentence)
             if re.search(r"\bvot(e|es|ed|ing)\b|\bballot", sentence[max(0, match.start() - 40):match.end() + 20],
                          re.IGNORECASE)]
    masked = _masked(tokens, [(m.start, m.end) for m in dates] + [(v.start(), v.end()) for v in votes])
    for vote in votes:
        yes, no = int(vote.group(1)), int(vote.group(2))
        facts.append(Fact("vote", "vote", frozenset(), yes * 1e5 + no, yes * 1e5 + no, f"vote {yes} to {no}",
                          at=vote.start()))
    for mention in dates:
        if mention.relative:
            continue  # "on Monday" in two reports a week apart: two Mondays, and no disagreement
        index = next(i for i, token in enumerate(tokens) if token.start >= mention.start)
        words = _attached(_before_words(tokens, index))
        if not words:
            continue
        facts.append(Fact("date", f"date|{stem(words[0].text)}", _about(words), 0, 0,
                          label(mention.day, mention.precision), tuple(word.text for word in words), mention,
                          mention.start))
    index = 0
    while index < len(tokens):
        token = tokens[index]
        value = None if masked[index] else _number(token)
        if value is None or (token.text.isdigit() and len(token.text) == 4 and 1800 <= value <= 2100):
            index += 1
            continue
        fact, used = _fact_at(sentence, tokens, index, value)
        if fact is not None:
            facts.append(replace(fact, at=token.start))
        index += max(used, 1)
    return facts


def _fact_at(sentence: str, tokens: Sequence[_Token], index: int, value: float) -> tuple[Fact | None, int]:
    """The count, amount or percentage whose number is tokens[index]; how many tokens it spans."""
    token = tokens[index]
    previous = tokens[index - 1] if index else None
    following = list(tokens[index + 1:index + 6])
    if previous is not None and previous.text in ("-", "–", "/", ":", ".") and sentence[previous.end:token.start] == "":
        return None, 1  # part of "7-4", "3/4", "9:30", "No.5"
    if following and following[0].text in ("-", "–", "/", ":") and sentence[token.end:following[0].start] == "":
        return None, 1  # "45-year-old", "7-4"
    if previous is not None and previous.is_word and previous.text[:1].isupper() and previous.start > 0:
        return None, 1  # part of a name: "Max 9", "Route 66", "Apollo 11"
    used = 1
    surface_end = token.end
    if following and following[0].lower in _MAGNITUDES and following[0].lower not in ("m", "k", "bn"):
        value *= _MAGNITUDES[following[0].lower]
        surface_end = following[0].end
        following, used = following[1:], used + 1
    currency, start = None, token.start
    if previous is not None and previous.text in _CURRENCY_SYMBOLS:
        currency, start = _CURRENCY_SYMBOLS[previous.text], previous.start
    elif following and following[0].lower in _CURRENCY_WORDS:
        if following[0].lower == "pounds" and len(following) > 1 and following[1].lower == "of":
            return None, used  # "17.9 million pounds of food": a weight
        currency, surface_end = _CURRENCY_WORDS[following[0].lower], following[0].end
        following, used = following[1:], used + 1
    if re.search(r"\bfrom\s*$", sentence[:start], re.IGNORECASE):
        return None, used  # "up from £82m", "from 12 to 15": an earlier value, not the one reported
    qualifier = _qualifier(sentence, start)
    low, high = _interval(value, qualifier)
    shown = (qualifier + " " if qualifier else "") + sentence[start:surface_end]
    before = _before_words(tokens, index - 1 if start < token.start else index)
    if currency:
        words = before
        if following and following[0].is_word and following[0].lower not in _FUNCTION \
                and following[0].lower not in _REPORTING and following[0].lower not in _MAGNITUDES \
                and following[0].lower not in _PREPOSITIONS:
            words = [following[0], *words]
        words = _attached(words)
        if not words:
            return None, used
        return Fact("amount", f"{currency}|{stem(words[0].text)}", _about(words), low, high, shown,
                    tuple(w.text for w in words)), used
    after = sentence[surface_end:].lstrip()
    percent = re.match(r"(%|percent\b|per cent\b)(?:\s+of\s+(?:the\s+)?([A-Za-z]+))?", after, re.IGNORECASE)
    if percent and (percent.group(1) != "%" or sentence[surface_end:surface_end + 1] == "%"):
        attached = _attached(before)
        words = [w.text for w in attached] or ([percent.group(2)] if percent.group(2) else [])
        if not words:
            return None, used
        about = _about(before) | ({stem(percent.group(2))} if percent.group(2) else frozenset())
        unit = "%" if percent.group(1) == "%" else " " + percent.group(1)
        return Fact("number", f"%|{stem(words[0])}", frozenset(about), low, high, shown + unit, tuple(words)), used + 1
    modifiers = 0
    while modifiers < min(2, len(following)) and following[modifiers].lower in _COUNT_MODIFIERS:
        modifiers += 1
    noun = following[modifiers] if modifiers < len(following) else None
    if noun is None or not noun.is_word or noun.lower in _FUNCTION:
        # no counted noun: "30 are injured", and "the death toll rose to 15", still count something
        after = [t for t in following[:4] if t.is_word and t.lower not in _AUX]
        if following and following[0].lower in _AUX and after and after[0].lower in _CANONICAL:
            happened = _CANONICAL[after[0].lower]
            return Fact("number", happened, frozenset(), low, high, f"{shown} {happened}", (happened,)), used
        counted = next((_CANONICAL[word.lower] for word in _before_words(tokens, index, 10)
                        if word.lower in _COUNT_NOUNS), None)
        if counted is not None:
            return Fact("number", counted, frozenset(), low, high, f"{shown} {counted}", (counted,)), used
        return None, used
    if noun.lower in _NOT_COUNTED or noun.lower in _MONTH_WORDS or noun.lower in _REPORTING \
            or noun.lower in _MAGNITUDES or noun.lower in _UNITS or noun.text[:1].isupper():
        return None, used  # a measure, or a name ("11 Delaware ...")
    extra = 0
    while extra < 2 and modifiers + extra + 1 < len(following) and _compound(following[modifiers + extra + 1]):
        extra += 1  # "227,547 migrant encounters": the last noun is the one counted
    if extra:
        noun = following[modifiers + extra]
        if noun.lower in _NOT_COUNTED or noun.lower in _UNITS:
            return None, used
    key, shown_noun = stem(noun.text), " ".join(t.text for t in following[modifiers:modifiers + extra + 1])
    if noun.lower in _GENERIC:
        predicate = _predicate(tokens, index + used + modifiers + 1, index)
        if predicate is not None:
            happened = stem(predicate.text)
            if happened in ("dead", "injured", "missing", "evacuated", "arrested") and noun.lower in _PEOPLE:
                key, shown_noun = happened, happened
            else:
                key, shown_noun = f"{key} {happened}", f"{noun.text} {predicate.text}"
    elif key in ("dead", "injured", "missing", "evacuated", "arrested"):
        shown_noun = key
    rate = _RATE.match(sentence[following[modifiers + extra].end:])
    if rate:  # "10,000 encounters a day" is no count of all encounters
        key += "/" + (rate.group(1) or rate.group(2)).lower()
    return Fact("number", key, frozenset(), low, high, f"{shown} {shown_noun}", (shown_noun,)), \
        used + modifiers + extra + 1


_RATE = re.compile(r"\s*(?:\w+\s+){0,2}?(?:a|an|per|each|every)\s+(day|week|month|year|hour|minute|second|person|capita)\b"
                   r"|\s*(daily|weekly|monthly|annually|yearly|hourly)\b", re.IGNORECASE)


def _compound(token: _Token) -> bool:
    """A word that continues a noun phrase after the counted noun ("migrant encounters")."""
    word = token.lower
    return (token.is_word and not token.text[:1].isupper() and word not in _FUNCTION and word not in _AUX
            and word not in _REPORTING and word not in _CANONICAL and word not in _QUALIFIERS
            and word not in _PREPOSITIONS and not word.endswith(("ed", "ing", "ly")) and word not in _MONTH_WORDS)


_PREPOSITIONS = {"along", "across", "through", "near", "around", "between", "among", "within", "without", "against",
                 "toward", "towards", "per", "via", "including", "like", "despite", "during", "inside", "outside",
                 "beyond", "behind", "below", "beneath", "above", "under", "over", "off", "onto", "upon", "amid",
                 "versus", "plus", "minus", "each", "every", "apiece", "total", "overall", "combined", "altogether"}


_COUNT_NOUNS = {"toll", "deaths", "fatalities", "injuries", "arrests", "evacuations"}
_PEOPLE = {"people", "persons", "person", "others", "civilians", "individuals", "victims", "men", "women", "children",
           "residents", "adults", "kids"}


def _predicate(tokens: Sequence[_Token], after: int, number_index: int) -> _Token | None:
    """What happened to the counted: the content word after the noun ("were killed"), else before the number
    ("killed 12 people")."""
    for token in tokens[after:after + 4]:
        if not token.is_word or token.lower in ("in", "on", "at", "by", "from", "and", "or", "to"):
            break
        if token.lower in _AUX:
            continue
        if token.lower not in _FUNCTION and token.lower not in _REPORTING:
            return token
        break
    for token in reversed(tokens[max(0, number_index - 4):number_index]):
        if not token.is_word:
            break
        if token.lower in _QUALIFIERS or token.lower in ("at", "least", "more", "than", "some", "about", "the", "an",
                                                        "a", "as", "many", "over", "nearly", "almost", "estimated",
                                                        "up", "to"):
            continue
        if token.lower in _REPORTING or token.lower in _FUNCTION:
            return None
        return token
    return None


_CONTEXT_EXCLUDED = _MONTH_WORDS | _FUNCTION | _REPORTING


def _context(sentence: str) -> tuple[set[str], set[str]]:
    """(stems of the sentence's content words, stems of the names in it), numbers and dates left out."""
    words, names = set(), set()
    for position, match in enumerate(re.finditer(r"[A-Za-z][A-Za-z'’]+", sentence)):
        word = match.group()
        if word.lower() in _CONTEXT_EXCLUDED or word.lower() in _WORD_NUMBERS or len(word) < 3:
            continue
        stemmed = stem(word)
        words.add(stemmed)
        if word[0].isupper() and position > 0:
            names.add(stemmed)
    return words, names


def same_story(first: str, second: str, ignore: Iterable[str] = ()) -> bool:
    """Whether two sentences are about the same thing: three content words in common, or two of which
    one is a name (besides the words naming the fact itself)."""
    (words_a, names_a), (words_b, names_b) = _context(first), _context(second)
    shared = (words_a & words_b) - set(ignore)
    return len(shared) >= 3 or (len(shared) >= 2 and bool(shared & names_a & names_b))


@dataclass
class _Side:
    number: int  # passage number, 1-based
    fact: Fact
    sentence: str


@dataclass
class Disagreement:
    """A fact the passages give different values for: one side per passage (passage numbers, 1-based)."""

    kind: str
    fact: str
    sides: list[tuple[int, str, str]] = field(default_factory=list)
    """(passage number, value as shown, the sentence stating it), ordered by publication date."""

    def sentence(self) -> str:
        """"Reports differ: 12 dead [1], 15 dead [3]." with passage numbers as markers."""
        return "Reports differ: " + ", ".join(f"{value} [{number}]" for number, value, _ in self.sides) + "."


def _facts_of(passages: Sequence[Passage], numbers: Iterable[int]) -> list[_Side]:
    sides = []
    for number in numbers:
        passage = passages[number - 1]
        day = published_day(passage.published)
        for sentence in passage_sentences(passage):
            sides.extend(_Side(number, fact, sentence) for fact in sentence_facts(sentence, day))
    return sides


def find_conflicts(passages: Sequence[Passage], focus: Mapping[int, str], compare: Iterable[int],
                   question: str = "") -> list[Disagreement]:
    """Disagreements between the sentences an answer rests on (`focus`: passage number -> sentence) and the
    passages numbered in `compare` (and among the focus sentences themselves); passages of one article
    never disagree with each other here. At most MAX_CONFLICTS, each with at most MAX_SIDES sides.

    With a `question`, only the facts it asks about are compared when it names any ("How many people died":
    the dead, not the injured or a budget in the same sentence); an open question ("What happened?")
    compares them all."""
    focus_sides = [_Side(number, fact, sentence) for number, sentence in focus.items()
                   for fact in sentence_facts(sentence, published_day(passages[number - 1].published))]
    asked = {stem(word) for word in re.findall(r"[A-Za-z]+", question)}
    if asked and any(_fact_stems(side.fact) & asked for side in focus_sides):
        focus_sides = [side for side in focus_sides if _fact_stems(side.fact) & asked]
    others = _facts_of(passages, sorted(set(compare) | set(focus)))
    found: list[Disagreement] = []
    covered: set[tuple[str, str, frozenset[str]]] = set()
    for side in focus_sides:
        signature = (side.fact.kind, side.fact.key, side.fact.about)
        if signature in covered:
            continue
        article, day = passages[side.number - 1].article_id, published_day(passages[side.number - 1].published)
        if day is None:
            continue
        stated = [side] + [other for other in others if other.fact.matches(side.fact)
                           and passages[other.number - 1].article_id != article
                           and _same_subject(side, other)
                           and _near(day, other_day := published_day(passages[other.number - 1].published))
                           and _same_time(side, day, other, other_day)
                           and same_story(side.sentence, other.sentence, _fact_words(side.fact, other.fact))]
        by_passage: dict[int, _Side] = {}
        for candidate in stated:
            by_passage.setdefault(candidate.number, candidate)
        if len({passages[n - 1].article_id for n in by_passage}) < 2:
            continue
        values = list(by_passage.values())
        if all(a.fact.consistent(b.fact) for a in values for b in values):
            continue
        covered.add(signature)
        ordered = sorted(values, key=lambda s: (passages[s.number - 1].published or "9999", s.number))
        ordered = _keep_disagreeing(ordered)[:MAX_SIDES]
        disagreement = Disagreement(side.fact.kind, side.fact.what(),
                                    [(s.number, s.fact.shown(), s.sentence) for s in ordered])
        if any(kept.sides == disagreement.sides for kept in found):
            continue
        found.append(disagreement)
        if len(found) == MAX_CONFLICTS:
            break
    return found


def same_fact(first: Fact, first_sentence: str, second: Fact, second_sentence: str) -> bool:
    """Whether two sentences state a value of one fact, as `find_conflicts` compares them (same kind and
    word, same subject, same story); whether the values differ is `Fact.consistent`. Also used to tell a
    figure that changed between two answers to a followed question (assistant/following/diff.py)."""
    return (first.matches(second)
            and _same_subject(_Side(0, first, first_sentence), _Side(0, second, second_sentence))
            and same_story(first_sentence, second_sentence, _fact_words(first, second)))


def _fact_stems(fact: Fact) -> set[str]:
    """The stems that say what a fact is about: the counted noun and what happened, or the attached word."""
    words = set(fact.key.split("|")[-1].split("/")[0].split())
    return words | ({stem(fact.named())} if fact.words else set())


_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_NAME = re.compile(r"\b(?:[A-Z][\w'’.-]*\d[\w.]*|[A-Z][a-z'’]*[A-Z][\w'’]*|[A-Z][a-z'’]+|[A-Z]{2,})\b")


def _names_before(side: _Side) -> set[str]:
    """The names before a value in its sentence (its subject, often): "JN.1", "Lowmere"; dates, and the
    sentence's first word unless it is a code ("KP.1.1", "NASA"), left out."""
    names = set()
    for match in _NAME.finditer(side.sentence[: side.fact.at]):
        word = match.group().rstrip(".")
        coded = any(char.isdigit() for char in word) or any(char.isupper() for char in word[1:])
        if (match.start() > 0 or coded) and word.lower() not in _MONTH_WORDS and word.lower() not in _FUNCTION:
            names.add(stem(word))
    return names


def _same_subject(first: _Side, second: _Side) -> bool:
    """Two values of different subjects ("JN.1 made up 22%", "KP.1.1 made up 7%") are not one fact."""
    names_a, names_b = _names_before(first), _names_before(second)
    return not (names_a and names_b) or bool(names_a & names_b)


def _same_time(first: _Side, first_day: date, second: _Side, second_day: date | None) -> bool:
    """Whether two statements can be about the same moment: the years their sentences name (else the year
    of publication) meet ("In 2020, 120 died" is another event than this month's 80 dead), and a date
    is, in both, either past or still to come when reported ("met on Thursday" and "will meet Monday")."""
    if second_day is None:
        return False
    years_a = {int(y) for y in _YEAR.findall(first.sentence)} or {first_day.year}
    years_b = {int(y) for y in _YEAR.findall(second.sentence)} or {second_day.year}
    if not years_a & years_b:
        return False
    if first.fact.mention is not None and second.fact.mention is not None:
        return (first.fact.mention.day > first_day) == (second.fact.mention.day > second_day)
    return True


def _near(day: date, other: date | None) -> bool:
    return other is not None and abs((day - other).days) <= REPORT_WINDOW_DAYS


def _fact_words(first: Fact, second: Fact) -> set[str]:
    """Words that name the fact itself ("dead", "peaked", "cost"), which two sentences sharing does not
    make one story; the other words before the value ("River Lowe peaked") still do."""
    named = {stem(fact.named()) for fact in (first, second) if fact.words}
    return named | set(first.key.split()) | set(second.key.split())


def _keep_disagreeing(sides: list[_Side]) -> list[_Side]:
    """When there are more sides than fit, keep at least one side of each value."""
    if len(sides) <= MAX_SIDES:
        return sides
    kept: list[_Side] = []
    for side in sides:
        if all(not side.fact.consistent(other.fact) for other in kept):
            kept.append(side)
    return sorted(kept + [s for s in sides if s not in kept][: MAX_SIDES - len(kept)],
                  key=lambda s: sides.index(s))


def as_conflicts(found: Sequence[Disagreement], passages: Sequence[Passage],
                 citation_of: Mapping[int, int]) -> list[Conflict]:
    """The disagreements as Conflicts, with citation numbers (`citation_of`: passage number -> n)."""
    conflicts = []
    for disagreement in found:
        sides = tuple(ConflictSide(value=value, n=citation_of[number], published=passages[number - 1].published,
                                   source=passages[number - 1].source or passages[number - 1].title, quote=sentence)
                      for number, value, sentence in disagreement.sides if number in citation_of)
        if len(sides) >= 2:
            conflicts.append(Conflict(fact=disagreement.fact, kind=disagreement.kind, sides=sides))
    return conflicts
