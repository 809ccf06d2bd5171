from datetime import date

import pytest

from assistant.answering.citations import resolve_citations
from assistant.filters import UNKNOWN_DAY, Filters, day_number, parse_filters
from assistant.answering.history import standalone_question
from assistant.types import Passage


def test_unknown_filter_key_is_an_error() -> None:
    with pytest.raises(ValueError, match="sourc"):
        parse_filters({"sourc": "BBC"})


def test_bad_date_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="date_from"):
        parse_filters({"date_from": "2024-05-01", "date_to": "2024-01-01"})


def test_filters_become_a_chroma_where_clause() -> None:
    where = parse_filters({"source": "BBC", "date_from": "2024-01-01", "date_to": date(2024, 1, 31)}).where()
    assert where == {"$and": [
        {"source": {"$in": ["BBC"]}},
        {"day": {"$gte": day_number(date(2024, 1, 1))}},
        {"day": {"$lte": day_number(date(2024, 1, 31))}},
    ]}
    assert Filters().where() is None


def test_date_filters_exclude_undated_articles() -> None:
    where = parse_filters({"date_to": "2024-01-31"}).where()
    assert where == {"$and": [{"day": {"$gte": UNKNOWN_DAY + 1}}, {"day": {"$lte": day_number(date(2024, 1, 31))}}]}


def test_day_number_counts_from_1970() -> None:
    assert day_number(date(1970, 1, 2)) == 1


def _passage(n: int) -> Passage:
    return Passage(chunk_id=f"a{n}#0", article_id=f"a{n}", title=f"Title {n}",
                   text=f"First sentence of {n}. Passage {n} says the fact number {n}.", score=0.5)


def test_markers_are_renumbered_in_order_of_use_and_invalid_ones_dropped() -> None:
    passages = [_passage(1), _passage(2), _passage(3)]
    text, citations = resolve_citations("Fact three [3]. Fact one [1, 7]. Invented [9]. Again [3].", passages, {})
    assert text == "Fact three [1]. Fact one [2]. Invented. Again [1]."
    assert [(c.n, c.article_id) for c in citations] == [(1, "a3"), (2, "a1")]
    assert citations[0].quote == "Passage 3 says the fact number 3."


def test_given_quote_is_kept() -> None:
    _, citations = resolve_citations("Claim [1].", [_passage(1)], {1: "First sentence of 1."})
    assert citations[0].quote == "First sentence of 1."


def test_follow_up_is_joined_to_the_previous_question() -> None:
    history = [{"role": "user", "content": "Where did the volcano erupt?"}, {"role": "assistant", "content": "Iceland [1]."}]
    assert standalone_question("And when did it start?", history) == "Where did the volcano erupt? And when did it start?"
    long_question = "How many colonies did beekeepers in the United States lose last winter?"
    assert standalone_question(long_question, history) == long_question
    assert standalone_question("And when?", []) == "And when?"


def test_bad_history_role_is_an_error() -> None:
    with pytest.raises(ValueError, match="role"):
        standalone_question("And then?", [("system", "x")])


def test_streamed_markers_are_renumbered_like_the_final_text() -> None:
    from assistant.answering.citations import MarkerNumbering

    full = "Fact three [3]. Fact one [1]. Bad [9]. Again [3]."
    pieces = ["Fact three [", "3]. Fact one [1", "]. Bad [9]", ". Again", " [3]."]
    numbering = MarkerNumbering(3)
    streamed = "".join(numbering.feed(piece) for piece in pieces) + numbering.flush()
    expected, _ = resolve_citations(full, [_passage(1), _passage(2), _passage(3)], {})
    assert streamed == expected == "Fact three [1]. Fact one [2]. Bad. Again [1]."
