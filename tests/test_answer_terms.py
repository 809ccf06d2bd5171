"""The citation check with key terms (assistant/answering/verification.py): an answer must name what its
citation says. Real MiniLM model, passages of the Brennford tram sample article; no store, no LLM."""

from __future__ import annotations

import pytest

from assistant.encoders.embeddings import MiniLMEmbeddings
from assistant.types import Passage
from assistant.answering.verification import CitationVerifier

pytestmark = pytest.mark.slow

OPENING = Passage("tram#0", "tram", "Brennford Opens Its First Tram Line in Six Decades", (
    "The 14.2-kilometre Riverside Line links the central station with the Eastmoor hospital campus.\n"
    "Brennford's new Riverside Line carried its first passengers at 5:30 on Saturday morning, 14 September 2024, "
    "ending a 62-year absence of trams from the city's streets. The line runs for 14.2 kilometres between "
    "Brennford Central station and the Eastmoor hospital campus, with 23 stops along the way.\n"
    "The project cost 486 million euros, about 31 million euros more than the budget approved by the city "
    "council in 2019. Construction began in March 2021."), 0.74, "Newsdesk Sample", published="2024-09-14")
NEXT_ROUTE = Passage("tram#2", "tram", "Brennford Opens Its First Tram Line in Six Decades", (
    "The council has already approved planning work on a second route, Line T2, which would run north from the "
    "central station to the university district of Holmgarth. If funding is secured, construction could begin "
    "in 2026, with the first trams on the new route expected in 2028.\n"
    "Not everyone is celebrating. Shopkeepers on Canal Street say trade fell by as much as a third."),
    0.76, "Newsdesk Sample", published="2024-09-14")
GAMES = Passage("games#0", "games", "Commonwealth Games Host Named", (
    "Glasgow will host the 2026 Commonwealth Games after Victoria pulled out, organisers said on Tuesday. "
    "The Scottish city staged the games in 2014."), 0.6, "Sample Wire", published="2024-09-17")
RAIL = Passage("rail#0", "rail", "Northern Rail Upgrade Delayed", (
    "Work on the rail line between Manchester and Leeds will be delayed by two years, the government said."),
    0.5, "Sample Wire", published="2024-09-10")
WHEN = "When will the new tram line in Brennford open?"


@pytest.fixture(scope="module")
def verifier(encoder: MiniLMEmbeddings) -> CitationVerifier:
    return CitationVerifier(encoder)


def test_a_sentence_whose_answer_its_citation_lacks_is_rewritten_from_the_cited_passage(
        verifier: CitationVerifier) -> None:
    result = verifier.verify("The new tram line in Brennford will open in 2026 [1].", [OPENING, NEXT_ROUTE], {}, WHEN)
    assert "2026" not in result.text and "14 September 2024" in result.text and result.text.endswith("[1].")
    assert "14 September 2024" in result.quotes[1] and result.quotes[1] in OPENING.text
    assert result.unsupported == []
    assert result.rewritten == [("The new tram line in Brennford will open in 2026.", result.quotes[1])]


@pytest.mark.parametrize("claim", ["The new tram line in Brennford will open in 2026 [2].",
                                   "The new tram line in Brennford is expected to open in 2028 [2]."])
def test_a_date_taken_from_a_sentence_about_something_else_is_replaced(verifier: CitationVerifier, claim: str) -> None:
    """Passage 2 holds 2026 and 2028, but as the years of another route; passage 1's opening day fits better."""
    result = verifier.verify(claim, [OPENING, NEXT_ROUTE], {}, WHEN)
    assert "14 September 2024" in result.text and "2026" not in result.text and "2028" not in result.text
    assert result.text.endswith("[1].") and result.unsupported == []


def test_a_date_the_cited_passage_lacks_moves_when_another_passage_says_it_of_the_same_thing(
        verifier: CitationVerifier) -> None:
    result = verifier.verify("Construction of the second route could begin in 2026 [1].", [OPENING, NEXT_ROUTE], {},
                             "When could construction of Brennford's second tram route begin?")
    assert result.text == "Construction of the second route could begin in 2026 [2]." and result.rewritten == []


def test_a_wrong_number_is_not_rewritten_but_dropped(verifier: CitationVerifier) -> None:
    result = verifier.verify("The new tram line in Brennford is 15 kilometres long [1].", [OPENING, NEXT_ROUTE], {},
                             "How long is the new tram line in Brennford?")
    assert (result.quotes, result.rewritten) == ({}, [])
    assert result.unsupported == ["The new tram line in Brennford is 15 kilometres long."]


def test_a_bare_answer_its_citation_does_not_name_is_dropped(verifier: CitationVerifier) -> None:
    question = "Which city will host the 2026 Commonwealth Games? Options: Manchester; Glasgow; Leeds; Cardiff."
    wrong = verifier.verify("Manchester [1].", [GAMES, RAIL], {}, question)
    assert (wrong.quotes, wrong.unsupported) == ({}, ["Manchester."])
    right = verifier.verify("Glasgow [1].", [GAMES, RAIL], {}, question)
    assert right.text == "Glasgow [1]." and right.unsupported == [] and "Glasgow" in right.quotes[1]


def test_a_citation_moves_to_the_passage_that_states_the_key_terms(verifier: CitationVerifier) -> None:
    result = verifier.verify("The project cost 486 million euros [2].", [OPENING, NEXT_ROUTE], {},
                             "How much did the Brennford tram line cost?")
    assert result.text == "The project cost 486 million euros [1]." and "486 million" in result.quotes[1]


def test_terms_the_question_holds_need_not_be_repeated_by_the_passage(verifier: CitationVerifier) -> None:
    """"Brennford" is in the question; the supporting passage sentence says "the line" (title aside)."""
    passage = Passage("t#1", "t", "Tram Line Opens", "The line runs for 14.2 kilometres with 23 stops.", 0.7)
    result = verifier.verify("The Brennford tram line is 14.2 kilometres long [1].", [passage], {},
                             "How long is the new tram line in Brennford?")
    assert result.text == "The Brennford tram line is 14.2 kilometres long [1]." and result.unsupported == []


def test_stray_punctuation_before_markers_is_cleaned(verifier: CitationVerifier) -> None:
    result = verifier.verify("The line is 14.2 kilometres long.,,, [1] It has 23 stops. [1]", [OPENING], {},
                             "How long is the new tram line in Brennford?")
    assert result.text == "The line is 14.2 kilometres long [1]. It has 23 stops [1]."
