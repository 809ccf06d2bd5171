"""Key terms of answer sentences (assistant/nlp/key_terms.py) and the house style of `[n]` markers
(assistant/answering/citations.py), in final answers and in streamed text. No model needed."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.answering.answerers.chat import lost_subject
from assistant.answering.citations import MarkerNumbering, resolve_citations, tidy_markers
from assistant.answering.history import Turn
from assistant.nlp.key_terms import KeyTerm, answer_terms, asked_kind, key_terms, occurs, proper_nouns, question_core
from assistant.types import Passage


def terms(sentence: str, names: set[str] | None = None) -> list[tuple[str, str]]:
    return [(term.text, term.kind) for term in key_terms(sentence, names or set())]


def test_names_numbers_and_dates_are_key_terms() -> None:
    assert terms("The new tram line in Brennford will open in 2026 [1].") == [("Brennford", "name"), ("2026", "date")]
    assert terms("It opened on Saturday, 14 September 2024.") == [
        ("Saturday", "date"), ("14", "number"), ("September", "date"), ("2024", "date")]
    assert terms("The Bank of England raised rates to 5.25% on Sept. 21st.") == [
        ("Bank of England", "name"), ("5.25%", "number"), ("Sept", "date"), ("21", "number")]
    assert terms("Finland, Sweden, and Norway recognised a Palestinian state.") == [
        ("Finland", "name"), ("Sweden", "name"), ("Norway", "name"), ("Palestinian", "name")]
    assert terms("Beekeepers lost 55.6 percent of 1,200 colonies.") == [("55.6 percent", "number"), ("1,200", "number")]
    assert terms("It awarded $1 trillion, up 10%.") == [("1 trillion", "number"), ("10%", "number")]


def test_the_first_word_of_a_sentence_is_a_name_only_with_evidence() -> None:
    assert terms("Glasgow hosted the games.") == []  # capitalised because it starts the sentence
    assert terms("Glasgow hosted the games.", {"glasgow"}) == [("Glasgow", "name")]  # seen mid-sentence elsewhere
    assert terms("Manchester.") == [("Manchester", "name")]  # a bare answer
    assert terms("Luke Humphries beat him at London's Alexandra Palace.") == [
        ("Luke Humphries", "name"), ("London", "name"), ("Alexandra Palace", "name")]
    assert terms("Officials said the bridge reopened.") == []


def test_matching_ignores_writing_differences() -> None:
    assert occurs(KeyTerm("Sept", "date"), "on 21 September")
    assert occurs(KeyTerm("21st", "number"), "on 21 September")
    assert occurs(KeyTerm("1,200", "number"), "1200 people")
    assert occurs(KeyTerm("5", "number"), "for five months")
    assert occurs(KeyTerm("14.2", "number"), "The 14.2-kilometre line")
    assert not occurs(KeyTerm("4", "number"), "about 1.4 cups") and not occurs(KeyTerm("10%", "number"), "10 cities")
    assert occurs(KeyTerm("10%", "number"), "rose 10 per cent") and occurs(KeyTerm("5:30", "number"), "at 5:30 on")
    assert occurs(KeyTerm("Luke Humphries", "name"), "Humphries won the final")
    assert occurs(KeyTerm("Zürich", "name"), "in ZURICH")
    assert not occurs(KeyTerm("Luke Humphries", "name"), "Luke Littler lost the final")
    assert not occurs(KeyTerm("2026", "date"), "The line opened on 14 September 2024.")
    assert occurs(KeyTerm("Iran", "name"), "Iranian officials") and occurs(KeyTerm("Angola", "name"), "Angolan port")
    assert not occurs(KeyTerm("Iran", "name"), "Iraq") and not occurs(KeyTerm("1 trillion", "number"), "$1.7 trillion")


def test_answer_terms_leave_out_what_the_question_holds_but_not_its_choices() -> None:
    question = "Which city will host the 2026 Commonwealth Games? Options: Manchester; Glasgow; Leeds; Cardiff."
    assert question_core(question) == "Which city will host the 2026 Commonwealth Games?"
    assert answer_terms("Glasgow will host the 2026 Commonwealth Games.", question, {"glasgow"}) == [
        KeyTerm("Glasgow", "name")]
    assert answer_terms("The new tram line in Brennford will open in 2026",
                        "When will the new tram line in Brennford open?") == [KeyTerm("2026", "date")]
    assert proper_nouns(["Options: Manchester; Glasgow", "The line runs to Eastmoor. Trams run late."]) == {
        "manchester", "glasgow", "eastmoor"}


def test_what_a_question_asks_for() -> None:
    assert asked_kind("When will the new tram line in Brennford open?") == "date"
    assert asked_kind("And when will it open?") == asked_kind("In which year did it open? Options: 2019; 2024.") == "date"
    assert asked_kind("How long is the new tram line?") == asked_kind("What percentage voted yes?") == "number"
    assert asked_kind("Which city will host the games?") is None


def test_a_rewrite_that_drops_the_subject_of_the_conversation_is_noticed() -> None:
    history = [Turn("user", "How long is the new tram line in Brennford?"), Turn("assistant", "14.2 km [1].")]
    assert lost_subject("And when will it open?", "When will it open?", history)
    assert not lost_subject("And when will it open?", "When will the tram line in Brennford open?", history)
    assert not lost_subject("What about Glasgow?", "What about Glasgow?", history)  # a new subject
    assert not lost_subject("And then?", "And then?", [Turn("user", "what happened next?")])  # nothing to keep


def test_markers_follow_one_house_style() -> None:
    assert tidy_markers("The US.,,, [1]") == "The US [1]."
    assert tidy_markers("It is 41 metres tall. [2]") == "It is 41 metres tall [2]."
    assert tidy_markers("It is tall[1]. It is old , [2] and grey") == "It is tall [1]. It is old [2], and grey"
    assert tidy_markers("Two sources [1] [2].") == tidy_markers("Two sources [1], [2].") == "Two sources [1][2]."
    assert tidy_markers("Two sources.[1][2]") == "Two sources [1][2]."
    assert tidy_markers("Based in the U.S. [1]") == "Based in the U.S. [1]"
    assert tidy_markers("The U.S. [1] economy grew [2].") == "The U.S. [1] economy grew [2]."
    assert tidy_markers("It costs 2.40 euros [1]and more") == "It costs 2.40 euros [1] and more"
    assert tidy_markers("No markers here, none.") == "No markers here, none."
    assert tidy_markers("Fact [1, 3].", lambda n: {1: 2}.get(n)) == "Fact [2]."
    assert tidy_markers("Invented [9].", lambda n: None) == "Invented."


def _passage(n: int) -> Passage:
    return Passage(chunk_id=f"a{n}#0", article_id=f"a{n}", title=f"Title {n}",
                   text=f"First sentence of {n}. Passage {n} says the fact number {n}.", score=0.5)


def test_final_and_streamed_text_are_cleaned_alike() -> None:
    draft = "The US.,,, [2] Fact one ; [1]and more. Done. [3]"
    text, _ = resolve_citations(draft, [_passage(1), _passage(2), _passage(3)], {})
    numbering = MarkerNumbering(3)
    streamed = "".join(numbering.feed(piece) for piece in re.findall(r".{1,3}", draft, re.DOTALL)) + numbering.flush()
    assert text == streamed == "The US [1]. Fact one [2]; and more. Done [3]."


WORDS = st.sampled_from(["The", "tower", "is", "41", "metres", "tall", "U.S.", "Inc.", "2.40", "Glasgow", "\n"])
JUNK = st.text(alphabet=" .,;:!?", max_size=4)
MARKERS = st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=3).map(
    lambda numbers: "".join(f"[{n}]" for n in numbers))
DRAFTS = st.lists(st.tuples(st.lists(WORDS, min_size=1, max_size=4), JUNK, st.one_of(st.just(""), MARKERS), JUNK),
                  min_size=1, max_size=5).map(
    lambda parts: "".join(" ".join(words) + junk + markers + tail for words, junk, markers, tail in parts))


@settings(max_examples=300, deadline=None)
@given(DRAFTS)
def test_no_stray_space_or_punctuation_around_markers(draft: str) -> None:
    numbering = MarkerNumbering(4)
    text = numbering.renumber(draft)
    words = re.sub(r"U\.S\.|Inc\.", "ABBR", text)  # an abbreviation keeps its full stop before a marker
    assert not re.search(r"[\s.,;:!?] \[|\s\s\[|\]\s+\[|\][.,;:!?]{2}", words), (draft, text)
    assert all(match.start() > 0 for match in re.finditer(r" \[", words)), (draft, text)  # a marker follows a word
    assert not re.search(r"[^ \]]\[", words), (draft, text)  # one space before a marker, none between markers
    assert tidy_markers(text) == text  # already in the house style
    assert "[5]" not in text and "[0]" not in text  # numbers naming no passage are gone


@settings(max_examples=300, deadline=None)
@given(DRAFTS, st.lists(st.integers(min_value=1, max_value=6), max_size=12))
def test_streamed_text_equals_the_final_text_however_it_is_cut(draft: str, cuts: list[int]) -> None:
    pieces, rest = [], draft
    for cut in cuts:
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    numbering = MarkerNumbering(4)
    streamed = "".join(numbering.feed(piece) for piece in pieces) + numbering.flush()
    assert streamed == MarkerNumbering(4).renumber(draft)


def test_commas_between_markers_separate_them_and_end_nothing() -> None:
    assert tidy_markers("All city employees [1], [2]") == "All city employees [1][2]"
    assert tidy_markers("All city employees, [1]") == "All city employees [1]"
    assert tidy_markers("A [1], and B [2].") == "A [1], and B [2]."
