"""The project's own text processing against the libraries issue 21 names, on the same sentences.

Sentences: those of the fixture stories and articles (tests/fixtures) and a seeded sample of sentences of
dev articles, each with its article's publication date. For each it prints the time per 1,000 sentences
(after one warm-up call: first-call loading is printed apart) and how the outputs compare:

- dates: `text_dates.find_dates` against dateparser's `search_dates` (languages en, RELATIVE_BASE the
  publication date, PREFER_DATES_FROM past); a mention agrees when both name the same day (the same month
  for a month), and the date cases of tests/test_news_features.py are run against both;
- quantities: the values `conflicts.sentence_facts` reads (counts, amounts, percentages) against
  quantulum3's `parse` (its scikit-learn classifier off: the pickled model does not load with the
  installed scikit-learn): a value agrees when quantulum3 finds a quantity starting within its surface
  with the same value, and for amounts a currency unit;
- stems: PyStemmer (C) against snowballstemmer's pure-Python English stemmer (one algorithm, Porter2).

dateparser and quantulum3 are not requirements of the project: `pip install quantulum3` to run this.

    python bench/nlp_libraries.py [--articles 60] [--sentences 1000] [--only dates|quantities|stems]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from common import ROOT, dev_articles_path

from assistant.news.conflicts import sentence_facts
from assistant.nlp.text import split_sentences
from assistant.nlp.text_dates import DateMention, Precision, find_dates, published_day

Dated = tuple[str, date | None]

DATE_CASES: list[tuple[str, date, list[tuple[date, Precision]]]] = [  # from tests/test_news_features.py
    ("The river peaked on 28 February, the police said on Monday; the vote on March 12, 2025 and the works in June "
     "2024 came first, and 2026-01-05 too; yesterday it rained. The flood of 3 January.", date(2026, 3, 3),
     [(date(2026, 2, 28), "day"), (date(2026, 3, 2), "day"), (date(2025, 3, 12), "day"), (date(2024, 6, 1), "month"),
      (date(2026, 1, 5), "day"), (date(2026, 3, 2), "day"), (date(2026, 1, 3), "day")]),
    ("on 20 December", date(2026, 1, 4), [(date(2025, 12, 20), "day")]),
    ("She will visit the clinic on Thursday.", date(2026, 3, 3), [(date(2026, 3, 5), "day")]),
    ("She visited the clinic on Thursday.", date(2026, 3, 3), [(date(2026, 2, 26), "day")]),
    ("It may 3 times. The 30 February date. In 2019.", date(2026, 3, 3), []),
    ("a statement to USA TODAY", date(2026, 3, 3), []),
]


TEST_SENTENCES = [  # the sentences tests/test_news_features.py reads facts from (published 2 March 2026)
    "Flooding has killed 12 people, police said on Monday.", "The death toll rose to 15.",
    "At least 12 people were killed and 40 injured.", "The line will cost £96 million, up from £82m.",
    "The council approved it by 31 votes to 12.", "The river peaked on 28 February.", "Some 300 homes were evacuated.",
    "In 2024 a 45-year-old man on a Max 9 jet saw 11 Delaware teams at 9 pm, 38 miles away.",
    "It stored 17.9 million pounds of food.", "One person is dead, and 30 are injured.",
    "The Harbour Line tram will cost £82m, its backers said.", "The JN.1 variant made up 22% of Covid cases.",
    "Border agents recorded 227,547 migrant encounters along the US border in September.",
    "Floods in Lowmere have killed 12 people and cost 9 million pounds, officials said.",
]


def fixture_sentences() -> list[Dated]:
    sentences: list[Dated] = []
    for path in sorted((ROOT / "tests" / "fixtures" / "stories").glob("*.txt")):
        head, _, body = path.read_text(encoding="utf-8").partition("\nURL:")
        published = re.search(r"Published: (\S+)", head)
        day = published_day(published.group(1)) if published else None
        sentences += [(s, day) for line in body.splitlines()[1:] for s in split_sentences(line)]
    return sentences


def dev_sentences(articles: int, limit: int) -> list[Dated]:
    lines = dev_articles_path().read_text(encoding="utf-8").splitlines()
    sentences: list[Dated] = []
    for line in random.Random(0).sample(lines, articles):
        article = json.loads(line)
        day = published_day(article.get("published") or "")
        sentences += [(s, day) for paragraph in article["text"].split("\n") for s in split_sentences(paragraph)]
    return random.Random(1).sample(sentences, min(limit, len(sentences)))


def timed(call: Callable[[str, date | None], Any], sentences: list[Dated]) -> tuple[list[Any], float]:
    """The outputs, and milliseconds per 1,000 sentences."""
    started = time.perf_counter()
    outputs = [call(text, day) for text, day in sentences]
    return outputs, (time.perf_counter() - started) / len(sentences) * 1e6


def first_call(label: str, call: Callable[[], object]) -> None:
    started = time.perf_counter()
    call()
    print(f"  {label}: import and first call {time.perf_counter() - started:.1f} s")


# --- dates ---------------------------------------------------------------------------------------


def dateparser_dates(text: str, published: date | None) -> list[DateMention]:
    """dateparser's `search_dates` as `find_dates` mentions (dateparser names no precision: "day")."""
    from dateparser.search import search_dates

    settings = {"PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False}
    if published is not None:
        settings["RELATIVE_BASE"] = datetime(published.year, published.month, published.day)  # type: ignore[assignment]
    found = search_dates(text, languages=["en"], settings=settings) or []
    mentions, cursor = [], 0
    for phrase, moment in found:
        start = text.find(phrase, cursor)
        cursor = start + len(phrase) if start >= 0 else cursor
        mentions.append(DateMention(moment.date(), "day", max(start, 0), cursor, phrase))
    return mentions


def _same(own: DateMention, other: DateMention) -> bool:
    if own.precision == "month":
        return (own.day.year, own.day.month) == (other.day.year, other.day.month)
    return own.day == other.day


def _date_cases(finder: Callable[[str, date | None], list[DateMention]]) -> tuple[int, int]:
    """(cases passed, cases): a case passes when the finder names the expected dates and no others."""
    passed = 0
    for text, published, expected in DATE_CASES:
        found = finder(text, published)
        wanted = [DateMention(day, precision, 0, 0, "") for day, precision in expected]
        passed += len(found) == len(wanted) and all(any(_same(w, m) for m in found) for w in wanted)
    return passed, len(DATE_CASES)


def compare_dates(sentences: list[Dated], name: str) -> None:
    own, own_ms = timed(find_dates, sentences)
    other, other_ms = timed(dateparser_dates, sentences)
    both = sum(1 for a, b in zip(own, other) for m in a if any(_same(m, n) for n in b))
    only_own = [(m.text, s) for a, b, (s, _) in zip(own, other, sentences) for m in a if not any(_same(m, n) for n in b)]
    only_other = [(n.text, s) for a, b, (s, _) in zip(own, other, sentences) for n in b if not any(_same(m, n) for m in a)]
    print(f"  {name}, {len(sentences)} sentences: find_dates {own_ms:.0f} ms per 1,000 sentences, "
          f"dateparser {other_ms:.0f} ms ({other_ms / max(own_ms, 1e-9):.0f}x); mentions: find_dates "
          f"{sum(map(len, own))}, dateparser {sum(map(len, other))}, the same date in both {both}, "
          f"only find_dates {len(only_own)}, only dateparser {len(only_other)}")
    for label, examples in (("only find_dates", only_own), ("only dateparser", only_other)):
        for phrase, sentence in random.Random(2).sample(examples, min(6, len(examples))):
            print(f"    {label}: {phrase!r} in {' '.join(sentence.split())[:110]!r}")


def dates(sentence_sets: Iterable[tuple[str, list[Dated]]]) -> None:
    print("dates: text_dates.find_dates vs dateparser.search.search_dates")
    first_call("dateparser", lambda: dateparser_dates("on 3 May", date(2024, 5, 9)))
    for finder, label in ((find_dates, "find_dates"), (dateparser_dates, "dateparser")):
        passed, cases = _date_cases(finder)
        print(f"  test cases (tests/test_news_features.py): {label} {passed} of {cases}")
    for name, sentences in sentence_sets:
        compare_dates(sentences, name)


# --- quantities ----------------------------------------------------------------------------------


def _parse_quantities(text: str, published: date | None) -> list[Any]:
    from quantulum3 import parser

    return parser.parse(text)  # type: ignore[no-any-return]


def _own_values(text: str, published: date | None) -> list[tuple[int, float, str]]:
    """(start, value, kind) of the counts, amounts and percentages the conflict detector reads, with the
    value as written ("at least 12" is 12, "about 100" is 100)."""
    values = []
    for fact in sentence_facts(text, published):
        if fact.kind in ("number", "amount"):
            if math.isinf(fact.low) or math.isinf(fact.high):
                value = fact.high if math.isinf(fact.low) else fact.low
            else:
                value = (fact.low + fact.high) / 2
            values.append((fact.at, value, fact.kind))
    return values


def _agrees(own: tuple[int, float, str], quantities: list[Any]) -> bool:
    """Whether quantulum3 read the value at that place (a currency for an amount)."""
    start, value, kind = own
    for quantity in quantities:
        if quantity.span[0] - 3 <= start <= quantity.span[1] and abs(quantity.value - value) <= 1e-6 * max(value, 1):
            return kind != "amount" or quantity.unit.entity.name == "currency"
    return False


def quantities(sentence_sets: Iterable[tuple[str, list[Dated]]]) -> None:
    from quantulum3 import classifier

    classifier.USE_CLF = False
    print("quantities: conflicts.sentence_facts values vs quantulum3.parser.parse")
    first_call("quantulum3", lambda: _parse_quantities("It cost £4m.", None))
    for name, sentences in sentence_sets:
        own, own_ms = timed(_own_values, sentences)
        other, other_ms = timed(_parse_quantities, sentences)
        read = [(value, quantities_, text) for values, quantities_, (text, _) in zip(own, other, sentences)
                for value in values]
        missed = [(value, quantities_, text) for value, quantities_, text in read if not _agrees(value, quantities_)]
        print(f"  {name}, {len(sentences)} sentences: sentence_facts {own_ms:.0f} ms per 1,000 sentences (all facts, "
              f"dates included), quantulum3 {other_ms:.0f} ms; values read by sentence_facts {len(read)}, "
              f"of which quantulum3 reads the same value {len(read) - len(missed)}; quantities quantulum3 finds "
              f"{sum(map(len, other))}")
        for (start, value, kind), quantities_, text in missed[:6]:
            found = [(q.surface, q.value, q.unit.name) for q in quantities_]
            print(f"    {kind} {value:g} at {text[start:start + 16]!r}: quantulum3 {found}")


# --- stems ---------------------------------------------------------------------------------------


def stems(sentence_sets: Iterable[tuple[str, list[Dated]]]) -> None:
    import Stemmer
    from snowballstemmer.english_stemmer import EnglishStemmer

    print("stems: PyStemmer vs snowballstemmer (pure Python), lower-case words")
    for name, sentences in sentence_sets:
        words = [w.lower() for text, _ in sentences for w in re.findall(r"[A-Za-z]+", text)]
        results = {}
        for label, stemmer in (("PyStemmer", Stemmer.Stemmer("english")), ("snowballstemmer", EnglishStemmer())):
            started = time.perf_counter()
            results[label] = [stemmer.stemWord(word) for word in words]
            print(f"  {name}, {len(words)} words: {label} "
                  f"{(time.perf_counter() - started) / len(words) * 1e6:.2f} µs per word")
        print(f"  {name}: words stemmed differently {sum(a != b for a, b in zip(*results.values()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=60, help="dev articles sampled (seeded)")
    parser.add_argument("--sentences", type=int, default=1000, help="dev sentences sampled from them (seeded)")
    parser.add_argument("--only", choices=("dates", "quantities", "stems"), help="one comparison only")
    args = parser.parse_args()
    sentence_sets = [("test sentences", [(text, date(2026, 3, 2)) for text in TEST_SENTENCES]),
                     ("fixture stories", fixture_sentences())]
    if args.articles and args.sentences:
        sentence_sets.append(("dev sample", dev_sentences(args.articles, args.sentences)))
    for name, run in (("stems", stems), ("dates", dates), ("quantities", quantities)):
        if args.only in (None, name):
            run(sentence_sets)


if __name__ == "__main__":
    main()
