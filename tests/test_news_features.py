"""Timelines, conflicting reports and freshness (issue 15), with the extractive backend.

The stories in tests/fixtures/stories/ are fixtures written for these tests, not real news:
- the Harbour Line tram in Brennford: six events (approval 14 Jan 2025, works begin 3 Mar 2025, sewer find
  20 Jun 2025, budget rise 8 Sep 2025, test run 25 Nov 2025, opening 16 Feb 2026) in nine articles of three
  outlets; the approval, the budget rise and the opening are each reported by two outlets in their own words;
- the Lowmere floods: Valley Post (2 March 2026) says 12 dead and that the River Lowe peaked on 28 February,
  Harbour Times (3 March 2026) says 15 dead and 1 March;
- the Skerrow ferry strike: one article of May 2025, the topic with only old news.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import streamlit as st
from conftest import make_assistant
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from assistant.chain import NewsAssistant, default_assistant
from assistant.config import Settings, get_settings
from assistant.news.conflicts import find_conflicts, same_story, sentence_facts
from assistant.nlp.dates import DateWindow
from assistant.encoders.embeddings import MiniLMEmbeddings
from assistant.news.freshness import asked_period, assess, period_without_news
from assistant.nlp.text_dates import find_dates, label
from assistant.news.timeline import (
    Event,
    is_timeline_question,
    merge_reports,
    spread_over_time,
    timeline_topic,
    timeline_window,
)
from assistant.types import Answer, Citation, Conflict, ConflictSide, Freshness, Passage, TimelineEntry
from ingest.__main__ import main as ingest_main
from ui.components import answer_body

STORIES = Path(__file__).parent / "fixtures" / "stories"
APP = Path(__file__).resolve().parent.parent / "ui" / "app.py"
AS_OF = date(2026, 3, 5)
TRAM = "How did the Brennford tram project unfold?"
TRAM_EVENTS = [  # (date, outlets reporting it, words of the event)
    ("2025-01-14", {"Brennford Courier", "Valley Post"}, "approved"),
    ("2025-03-03", {"Metro Wire"}, "Construction"),
    ("2025-06-20", {"Brennford Courier"}, "sewer"),
    ("2025-09-08", {"Valley Post", "Metro Wire"}, "14 million pounds"),
    ("2025-11-25", {"Metro Wire"}, "test run"),
    ("2026-02-16", {"Brennford Courier", "Valley Post"}, "opened to passengers"),
]


def passage(text: str, article: str, published: str, source: str = "", score: float = 0.6) -> Passage:
    return Passage(chunk_id=f"{article}#0", article_id=article, title=article, text=text, score=score,
                   source=source or article, published=published)


# --- dates named in article text -------------------------------------------------------------------


def test_dates_in_text_are_resolved_against_the_publication_date() -> None:
    published = date(2026, 3, 3)  # a Tuesday
    found = {m.text: (m.day, m.precision) for m in find_dates(
        "The river peaked on 28 February, the police said on Monday; the vote on March 12, 2025 and the "
        "works in June 2024 came first, and 2026-01-05 too; yesterday it rained. The flood of 3 January.",
        published)}
    assert found["28 February"] == (date(2026, 2, 28), "day")
    assert found["on Monday"] == (date(2026, 3, 2), "day")
    assert found["March 12, 2025"] == (date(2025, 3, 12), "day")
    assert found["June 2024"] == (date(2024, 6, 1), "month")
    assert found["2026-01-05"] == (date(2026, 1, 5), "day")
    assert found["yesterday"] == (date(2026, 3, 2), "day")
    assert found["3 January"] == (date(2026, 1, 3), "day")  # the closest 3 January to the publication
    assert [m.day for m in find_dates("on 20 December", date(2026, 1, 4))] == [date(2025, 12, 20)]
    assert [m.day for m in find_dates("She will visit the clinic on Thursday.", published)] == [date(2026, 3, 5)]
    assert [m.day for m in find_dates("She visited the clinic on Thursday.", published)] == [date(2026, 2, 26)]
    assert find_dates("It may 3 times. The 30 February date. In 2019.", published) == []
    assert [m.text for m in find_dates("on Monday", None)] == []  # without a publication date: only full dates
    assert label(date(2025, 1, 4)) == "4 January 2025" and label(date(2025, 1, 1), "month") == "January 2025"


# --- timelines: detection, spreading, merging -------------------------------------------------------


@pytest.mark.parametrize("question", [TRAM, "Timeline of the ceasefire talks", "What happened with X since March?",
                                      "Give me a chronology of the strike", "How has the dispute developed?",
                                      "What are the key developments since the election?"])
def test_timeline_questions_are_detected(question: str) -> None:
    assert is_timeline_question(question)


@pytest.mark.parametrize("question", ["How many people died in the floods?", "When did the tram open?",
                                      "What happened to the mayor?", "Since when is he mayor?",
                                      "How did the council vote?"])
def test_other_questions_are_not_timelines(question: str) -> None:
    assert not is_timeline_question(question)


def test_timeline_topic_and_window() -> None:
    assert timeline_topic(TRAM) == "the Brennford tram project"
    assert timeline_topic("Timeline of the ceasefire talks") == "the ceasefire talks"
    assert timeline_topic("Timeline?") == "Timeline?"
    assert timeline_window("What happened with X since March?", AS_OF) == DateWindow(date(2026, 3, 1), AS_OF)
    assert timeline_window("What happened since September 2025?", AS_OF) == DateWindow(date(2025, 9, 1), AS_OF)
    assert timeline_window("Developments since 2022?", AS_OF) == DateWindow(date(2022, 1, 1), AS_OF)
    assert timeline_window(TRAM, AS_OF) is None


def test_retrieval_for_a_timeline_spreads_over_days() -> None:
    one_article = [passage(f"part {n}", "big", "2026-01-10", score=0.9 - n / 100) for n in range(6)]
    others = [passage("x", f"a{day}", f"2026-01-{day:02d}", score=0.5) for day in (3, 5, 20)]
    chosen = spread_over_time([*one_article, *others, passage("y", "weak", "2026-01-07", score=0.1),
                               passage("z", "undated", "", score=0.9)], 5, 0.35)
    assert [p.published for p in chosen] == ["2026-01-03", "2026-01-05", "2026-01-10", "2026-01-10", "2026-01-20"]


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_reports_of_one_event_merge_and_cite_all_outlets() -> None:
    same = unit(1, 0.2, 0)
    events = [Event(date(2025, 1, 14), "day", "Council approved the line.", [2], "text", same, ["2025-01-15"]),
              Event(date(2025, 1, 14), "day", "Councillors approved the line.", [1], "text", unit(1, 0.3, 0),
                    ["2025-01-14"]),
              Event(date(2025, 1, 14), "day", "A cyclist was hurt.", [3], "text", unit(0, 0, 1), ["2025-01-14"]),
              Event(date(2025, 1, 20), "day", "Council approved the line!", [4], "text", same, ["2025-01-20"]),
              Event(date(2025, 3, 1), "day", "Council approved the line!", [5], "text", same, ["2025-03-01"])]
    merged = merge_reports(events)
    assert [(e.day.isoformat(), e.numbers) for e in merged] == [
        ("2025-01-14", [1, 2, 4]), ("2025-01-14", [3]), ("2025-03-01", [5])]
    assert merged[0].text == "Councillors approved the line."  # the wording of the report published first
    assert merged[0].line() == "14 January 2025: Councillors approved the line [1][2][4]."


# --- conflicting reports -----------------------------------------------------------------------------


def facts(sentence: str) -> list[tuple[str, str, float, float]]:
    return [(f.kind, f.shown(), f.low, f.high) for f in sentence_facts(sentence, date(2026, 3, 2))]


def test_values_attached_to_nouns_are_read() -> None:
    assert facts("Flooding has killed 12 people, police said on Monday.") == [("number", "12 dead", 12, 12)]
    assert facts("The death toll rose to 15.") == [("number", "15 dead", 15, 15)]
    assert facts("At least 12 people were killed and 40 injured.") == [
        ("number", "at least 12 dead", 12, float("inf")), ("number", "40 injured", 40, 40)]
    assert facts("The line will cost £96 million, up from £82m.") == [("amount", "cost £96 million", 96e6, 96e6)]
    assert facts("The council approved it by 31 votes to 12.") == [("vote", "vote 31 to 12", 3100012, 3100012)]
    assert facts("The river peaked on 28 February.") == [("date", "peaked on 28 February 2026", 0, 0)]
    assert facts("Some 300 homes were evacuated.") == [("number", "some 300 homes evacuated", 270, 330)]
    # years, ages, times, model numbers, names and measures are not counts
    assert facts("In 2024 a 45-year-old man on a Max 9 jet saw 11 Delaware teams at 9 pm, 38 miles away.") == []
    assert facts("It stored 17.9 million pounds of food.") == []


def test_different_values_for_one_fact_are_a_conflict_ordered_by_publication() -> None:
    passages = [passage("Floods in Lowmere have killed 15 people, emergency services said.", "b", "2026-03-03",
                        "Harbour Times"),
                passage("Flooding in Lowmere has killed 12 people, the county police said.", "a", "2026-03-02",
                        "Valley Post"),
                passage("Floods in Lowmere have killed at least 12 people, volunteers said.", "c", "2026-03-01")]
    found = find_conflicts(passages, {1: passages[0].text}, [1, 2, 3])
    assert len(found) == 1
    assert found[0].sentence() == "Reports differ: at least 12 dead [3], 12 dead [2], 15 dead [1]."
    assert found[0].fact == "dead" and found[0].kind == "number"


def test_agreeing_values_other_stories_and_one_article_are_no_conflict() -> None:
    agree = [passage("Floods in Lowmere have killed 15 people.", "a", "2026-03-03"),
             passage("Floods in Lowmere have killed at least 12 people.", "b", "2026-03-02"),
             passage("Floods in Lowmere have killed about 14 people.", "c", "2026-03-02")]
    assert find_conflicts(agree, {1: agree[0].text}, [1, 2, 3]) == []
    other_story = [passage("Floods in Lowmere have killed 15 people.", "a", "2026-03-03"),
                   passage("A storm in Dunmore has killed 12 people.", "b", "2026-03-02")]
    assert find_conflicts(other_story, {1: other_story[0].text}, [1, 2]) == []
    same_article = [passage("Floods in Lowmere have killed 15 people.", "a", "2026-03-03"),
                    passage("Floods in Lowmere had killed 12 people by Sunday.", "a", "2026-03-03")]
    assert find_conflicts(same_article, {1: same_article[0].text}, [1, 2]) == []
    assert same_story("The River Lowe peaked on 28 February in Lowmere.", "The River Lowe peaked on 1 March.")
    assert not same_story("Six workers died in Baltimore.", "Two workers died in a mine.", {"dead", "worker"})


def test_dates_and_amounts_conflict_too() -> None:
    dates = [passage("The River Lowe peaked on 28 February 2026, breaking the wall.", "a", "2026-03-02"),
             passage("The River Lowe peaked on 1 March 2026, when the water rose.", "b", "2026-03-03"),
             passage("The River Lowe peaked in March 2026, officials said.", "c", "2026-03-04")]
    [found] = find_conflicts(dates, {2: dates[1].text}, [1, 2, 3])
    assert found.sentence() == ("Reports differ: peaked on 28 February 2026 [1], peaked on 1 March 2026 [2], "
                                "peaked in March 2026 [3].")
    amounts = [passage("The Harbour Line tram will cost £96 million, the council said.", "a", "2025-09-09"),
               passage("The Harbour Line tram will cost £82m, its backers said.", "b", "2025-09-01")]
    [money] = find_conflicts(amounts, {1: amounts[0].text}, [1, 2])
    assert money.sentence() == "Reports differ: cost £82m [2], cost £96 million [1]."
    months_before = [amounts[0], passage("The Harbour Line tram will cost £82m, its backers said.", "b", "2025-01-14")]
    assert find_conflicts(months_before, {1: amounts[0].text}, [1, 2]) == []  # the news moved on


def test_only_the_facts_a_question_asks_about_are_compared() -> None:
    passages = [passage("Floods in Lowmere have killed 15 people and cost 4 million pounds, officials said.", "a",
                        "2026-03-03"),
                passage("Floods in Lowmere have killed 12 people and cost 9 million pounds, officials said.", "b",
                        "2026-03-02")]
    focus = {1: passages[0].text}
    assert [d.fact for d in find_conflicts(passages, focus, [1, 2], "How many people died in Lowmere?")] == ["dead"]
    assert [d.fact for d in find_conflicts(passages, focus, [1, 2], "What did the floods cost?")] == ["cost"]
    assert [d.fact for d in find_conflicts(passages, focus, [1, 2], "What happened in Lowmere?")] == ["dead", "cost"]


def test_another_year_or_a_planned_date_is_another_fact() -> None:
    years = [passage("Earlier this month, 80 people died in Lowmere after drinking spiked cider, police said.", "a",
                     "2026-03-03"),
             passage("In 2020, at least 120 people died in Lowmere after drinking spiked cider, police said.", "b",
                     "2026-03-02")]
    assert find_conflicts(years, {1: years[0].text}, [1, 2]) == []
    tenses = [passage("Lowmere council will meet on Monday to vote on the flood defences plan.", "a", "2026-03-04"),
              passage("Residents packed a Lowmere council meeting on Thursday to discuss the flood defences plan.",
                      "b", "2026-03-02")]
    assert find_conflicts(tenses, {1: tenses[0].text}, [1, 2]) == []


def test_values_of_different_subjects_or_relative_dates_are_not_compared() -> None:
    shares = [passage("The JN.1 variant made up 22% of Covid cases in Lowmere over the two weeks.", "a", "2026-03-01"),
              passage("KP.1.1, another variant, made up about 7% of Covid cases in Lowmere over the two weeks.", "b",
                      "2026-03-03"),
              passage("The JN.1 variant made up about 16% of Covid cases in Lowmere over the two weeks.", "c",
                      "2026-03-04")]
    [found] = find_conflicts(shares, {1: shares[0].text}, [1, 2, 3])
    assert found.sentence() == "Reports differ: made 22% [1], made about 16% [3]."
    weekdays = [passage("The Lowmere council said in a statement to USA TODAY on Monday that the wall held.", "a",
                        "2026-03-03"),
                passage("The Lowmere council said in a statement to USA TODAY on Monday that the wall held.", "b",
                        "2026-03-10")]
    assert find_conflicts(weekdays, {1: weekdays[0].text}, [1, 2]) == []
    assert [m.text for m in find_dates("a statement to USA TODAY", date(2026, 3, 3))] == []
    assert facts("One person is dead, and 30 are injured.") == [("number", "One dead", 1, 1),
                                                                 ("number", "30 injured", 30, 30)]


def test_rates_and_compound_nouns_are_their_own_facts() -> None:
    rates = [passage("Border agents recorded 227,547 migrant encounters along the US border in September.", "a",
                     "2023-10-02"),
             passage("Border agents recorded roughly 10,000 migrant encounters a day along the US border.", "b",
                     "2023-10-01"),
             passage("Border agents recorded 232,972 migrant encounters along the US border in September.", "c",
                     "2023-10-03")]
    [found] = find_conflicts(rates, {1: rates[0].text}, [1, 2, 3])
    assert found.sentence() == "Reports differ: 227,547 migrant encounters [1], 232,972 migrant encounters [3]."
    # "daily" is a rate too (it used to raise AttributeError: the rate's word is in the pattern's second group)
    daily = [passage("Border agents recorded 10,000 migrant encounters daily along the US border.", "d", "2023-10-02")]
    assert facts(daily[0].text) == [("number", "10,000 migrant encounters", 10000, 10000)]
    assert find_conflicts(rates + daily, {4: daily[0].text}, [1, 2, 3, 4]) == []


def test_conflict_sentence_and_answer_defaults() -> None:
    conflict = Conflict("dead", "number", (ConflictSide("12 dead", 1, "2026-03-02", "Valley Post", "q"),
                                           ConflictSide("15 dead", 3, "2026-03-03", "Harbour Times", "q")))
    assert conflict.sentence == "Reports differ: 12 dead [1], 15 dead [3]."
    plain = Answer(question="q", text="t")  # code that builds Answers without the new fields keeps working
    assert (plain.mode, plain.timeline, plain.conflicts, plain.freshness, plain.full_text) == ("answer", [], [],
                                                                                                None, "t")


# --- freshness -----------------------------------------------------------------------------------------


def test_freshness_sentences() -> None:
    fresh = assess(["2026-03-03", "2026-03-02", ""], AS_OF, 7)
    assert (fresh.sentence, fresh.stale, fresh.newest) == (
        "Based on articles published up to 3 March 2026.", False, "2026-03-03")
    old = assess(["2025-05-10"], AS_OF, 7)
    assert old.stale and old.sentence == ("Based on articles published up to 10 May 2025. That is 299 days before "
                                          "5 March 2026: the news may have moved on since.")
    assert not assess(["2026-02-26"], AS_OF, 7).stale and assess(["2026-02-25"], AS_OF, 7).stale
    assert assess([""], AS_OF, 7).sentence == "The articles it rests on carry no publication date."
    assert Answer("q", "t", freshness=fresh).full_text == "t\n\nBased on articles published up to 3 March 2026."


def test_recent_period_without_articles() -> None:
    old = [passage("Ferry crews walked out.", "a", "2025-05-10", score=0.7)]
    assert period_without_news("What happened with the ferry strike this week?", old, AS_OF, 0.35) is not None
    assert period_without_news("Why did the ferry crews strike?", old, AS_OF, 0.35) is None
    new = [*old, passage("Talks resumed.", "b", "2026-03-04", score=0.5)]
    assert period_without_news("What happened with the ferry strike this week?", new, AS_OF, 0.35) is None
    unrelated_new = [*old, passage("Weather.", "c", "2026-03-04", score=0.1)]
    assert period_without_news("What happened with the ferry strike today?", unrelated_new, AS_OF, 0.35) is not None
    assert period_without_news("What happened this week?", [passage("x", "d", "", score=0.7)], AS_OF, 0.35) is None
    latest = asked_period("What is the latest on the ferry strike?", AS_OF)
    assert latest is not None and latest.phrase == "in the past month"
    yesterday = asked_period("What did the council decide yesterday?", AS_OF)
    assert yesterday is not None and yesterday.window == DateWindow(date(2026, 3, 4), AS_OF)


# --- the chat's text of a timeline answer ----------------------------------------------------------------


def test_timeline_answer_body_leaves_the_entries_to_the_table() -> None:
    entries = [TimelineEntry("2025-01-14", "14 January 2025", "Approved.", (1,)),
               TimelineEntry("2026-02-16", "16 February 2026", "Opened.", (2,))]
    text = "The line opened after two years [2].\n\n14 January 2025: Approved [1].\n16 February 2026: Opened [2]."
    body = answer_body(Answer("q", text, timeline=entries))
    assert body == ("Timeline: 2 events, 14 January 2025 – 16 February 2026.\n\n"
                    "The line opened after two years [2].")
    assert answer_body(Answer("q", "plain [1].")) == "plain [1]."


# --- python -m ingest --list --since -----------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--list", "--since", "2026-13-01"], ["--list", "--since", "last week"],
                                  ["--since", "2026-03-01"]])
def test_a_bad_since_is_a_one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert ingest_main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("error: --since")


# --- end to end: the fixture stories with the real MiniLM model, extractive answers ------------------------


@pytest.fixture(scope="module")
def stories_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DATA_DIR holding the ingested fixture stories (through the ingest command)."""
    data_dir = tmp_path_factory.mktemp("stories-store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(data_dir))
        get_settings.cache_clear()
        assert ingest_main([*map(str, sorted(STORIES.glob("*.txt"))), "-q"]) == 0
    get_settings.cache_clear()
    return data_dir


@pytest.fixture(scope="module")
def stories(stories_dir: Path, encoder: MiniLMEmbeddings) -> NewsAssistant:
    return make_assistant(Settings(data_dir=stories_dir, llm_provider="extractive", _env_file=None),  # type: ignore[call-arg]
                          encoder)


def check_tram_timeline(result: Answer) -> None:
    """Six entries, oldest first, each quoting a passage it cites, the two-outlet events citing both."""
    assert result.found and result.mode == "timeline"
    assert [entry.day for entry in result.timeline] == [day for day, _, _ in TRAM_EVENTS]
    by_n = {citation.n: citation for citation in result.citations}
    for entry, (_, outlets, words) in zip(result.timeline, TRAM_EVENTS, strict=True):
        cited = [by_n[n] for n in entry.citations]
        assert {citation.source for citation in cited} == outlets, entry
        assert words in entry.text and entry.dated_by == "text", entry
        assert any(entry.text in citation.passage for citation in cited), entry
        assert [c.published for c in cited] == sorted(c.published for c in cited)
        assert f"{entry.label}: " in result.text
    assert {citation.source for citation in result.citations} == {"Brennford Courier", "Valley Post", "Metro Wire"}
    assert len(result.citations) == 9 and all(f"[{c.n}]" in result.text for c in result.citations)
    assert result.conflicts == []  # the outlets agree on every event
    assert result.freshness is not None and result.freshness.newest == "2026-02-17"


@pytest.mark.slow
def test_a_timeline_question_gets_dated_events_from_every_outlet(stories: NewsAssistant) -> None:
    result = stories.answer(TRAM, as_of=AS_OF)
    check_tram_timeline(result)
    assert result.text.splitlines()[0].startswith("14 January 2025: Brennford city council approved")
    *pieces, streamed = list(stories.stream_answer(TRAM, as_of=AS_OF))
    assert isinstance(streamed, Answer) and streamed.timeline == result.timeline and streamed.text == result.text
    assert all(isinstance(piece, str) for piece in pieces)
    plain = stories.answer(TRAM, as_of=AS_OF, mode="answer")
    assert plain.mode == "answer" and plain.timeline == [] and plain.found


@pytest.mark.slow
def test_timeline_since_a_date_and_forced_timeline(stories: NewsAssistant) -> None:
    since = stories.answer("What happened with the Harbour Line since September 2025?", as_of=AS_OF)
    assert [entry.day for entry in since.timeline] == ["2025-09-08", "2025-11-25", "2026-02-16"]
    back_then = stories.answer(TRAM, as_of=date(2025, 7, 1))  # reports published later did not exist yet
    assert [entry.day for entry in back_then.timeline] == ["2025-01-14", "2025-03-03", "2025-06-20"]
    assert back_then.freshness is not None and back_then.freshness.newest == "2025-06-21"
    forced = stories.answer("Brennford Harbour Line tram", as_of=AS_OF, mode="timeline")
    assert forced.mode == "timeline" and len(forced.timeline) == 6
    nothing = stories.answer("Timeline of the ceasefire talks in Geneva", as_of=AS_OF)
    assert nothing.mode == "timeline" and not nothing.found and nothing.timeline == []
    with pytest.raises(ValueError, match="mode must be one of auto, answer, timeline"):
        stories.answer(TRAM, mode="story")


@pytest.mark.slow
def test_reports_that_differ_on_a_number_are_cited_side_by_side(stories: NewsAssistant) -> None:
    result = stories.answer("How many people died in the Lowmere floods?", as_of=AS_OF)
    [conflict] = result.conflicts
    assert [side.value for side in conflict.sides] == ["12 dead", "15 dead"]
    assert [side.source for side in conflict.sides] == ["Valley Post", "Harbour Times"]  # oldest report first
    assert conflict.sentence in result.text
    by_n = {citation.n: citation for citation in result.citations}
    for side in conflict.sides:
        assert by_n[side.n].source == side.source and side.quote in by_n[side.n].passage
        assert side.value.split()[0] in side.quote


@pytest.mark.slow
def test_reports_that_differ_on_a_date_are_cited_side_by_side(stories: NewsAssistant) -> None:
    result = stories.answer("When did the River Lowe peak?", as_of=AS_OF)
    [conflict] = result.conflicts
    assert conflict.kind == "date"
    assert [side.value for side in conflict.sides] == ["peaked on 28 February 2026", "peaked on 1 March 2026"]
    assert "Reports differ: peaked on 28 February 2026 [" in result.text
    agreeing = stories.answer("By how many votes did the council approve the Harbour Line?", as_of=AS_OF)
    assert agreeing.found and agreeing.conflicts == []


@pytest.mark.slow
def test_every_answer_says_how_current_it_is(stories: NewsAssistant) -> None:
    floods = stories.answer("How many people died in the Lowmere floods?", as_of=AS_OF)
    assert floods.freshness is not None and not floods.freshness.stale
    assert floods.freshness.sentence == "Based on articles published up to 3 March 2026."
    ferry = stories.answer("Why did the Skerrow ferry crews strike?", as_of=AS_OF)
    assert ferry.found and "pay" in ferry.text
    assert ferry.freshness == Freshness("2026-03-05", "2025-05-10", True, (
        "Based on articles published up to 10 May 2025. That is 299 days before 5 March 2026: the news may have "
        "moved on since."))
    back_then = stories.answer("Why did the Skerrow ferry crews strike?", as_of=date(2025, 5, 12))
    assert back_then.freshness is not None and not back_then.freshness.stale


@pytest.mark.slow
def test_a_question_about_this_week_with_only_old_news_says_so(stories: NewsAssistant) -> None:
    result = stories.answer("What happened with the Skerrow ferry strike this week?", as_of=AS_OF)
    assert not result.found and result.citations == [] and result.conflicts == []
    assert result.text.startswith("I found no article published this week (26 February 2026 – 5 March 2026)")
    assert "the newest from 10 May 2025" in result.text
    assert result.freshness is not None and result.freshness.window_empty
    assert result.passages[0].source == "Brennford Courier"  # the older articles, for the closest matches
    today = stories.answer("What did Brennford council decide about the tram today?", as_of=AS_OF)
    assert not today.found and today.text.startswith("I found no article published today (5 March 2026)")
    recent = stories.answer("What happened in Lowmere this week?", as_of=AS_OF)
    assert recent.found and recent.freshness is not None and not recent.freshness.window_empty


@pytest.mark.slow
def test_ingest_lists_what_arrived_since_a_date(stories_dir: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", str(stories_dir))
    get_settings.cache_clear()
    try:
        today = date.today().isoformat()
        assert ingest_main(["--list", "--since", today]) == 0
        out, err = capsys.readouterr()
        rows = [line.split("\t") for line in out.splitlines()]
        assert len(rows) == 12 and all(row[-1][:10] == today for row in rows)
        assert [row[-1] for row in rows] == sorted(row[-1] for row in rows)
        assert err.strip() == f"12 articles added since {today}"
        assert ingest_main(["--list", "--since", "2999-01-01"]) == 0
        out, err = capsys.readouterr()
        assert out == "" and err.strip() == "0 articles added since 2999-01-01"
    finally:
        get_settings.cache_clear()


# --- the chat ------------------------------------------------------------------------------------------------


@pytest.fixture
def stories_app(stories_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    def clear_caches() -> None:
        get_settings.cache_clear()
        default_assistant.cache_clear()
        st.cache_resource.clear()
        st.cache_data.clear()

    monkeypatch.setenv("DATA_DIR", str(stories_dir))
    clear_caches()
    address = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception
    yield at
    st_config.set_option("server.address", address)
    clear_caches()


def shown_text(block: Any) -> str:
    sources = "\n".join(e.value for e in [*block.markdown, *block.caption, *block.warning, *block.info])
    return re.sub(r"\\(.)", r"\1", re.sub(r"(?<!\\)\*\*", "", sources))


def ask(at: AppTest, question: str) -> Any:
    at.chat_input[0].set_value(question).run()
    assert not at.exception
    return [message for message in at.chat_message if message.name == "assistant"][-1]


@pytest.mark.slow
def test_chat_shows_a_timeline_with_dates_events_and_sources(stories_app: AppTest) -> None:
    answer = ask(stories_app, TRAM)
    text = shown_text(answer)
    assert answer.markdown[0].value.replace("\\", "") == "Timeline: 6 events, 14 January 2025 – 16 February 2026."
    dates = [md.value.strip("*") for md in answer.markdown if re.fullmatch(r"\*\*\d+ \w+ \d{4}\*\*", md.value)]
    assert dates == [label(date.fromisoformat(day)) for day, _, _ in TRAM_EVENTS]
    assert "Construction of Brennford's Harbour Line tram began on 3 March 2025" in text
    assert "[1] Brennford Council Approves Harbour Line Tram — Brennford Courier, 2025-01-14" in text
    assert "Based on articles published up to 17 February 2026." in text
    assert stories_app.session_state["messages"][1]["content"].startswith("14 January 2025: ")  # history: all of it


@pytest.mark.slow
def test_chat_marks_reports_that_differ_and_the_mode_selector_is_used(stories_app: AppTest,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    answer = ask(stories_app, "How many people died in the Lowmere floods?")
    [box] = answer.warning
    shown = box.value.replace("\\", "")
    assert shown.startswith("**Reports differ** on dead (oldest report first):")
    assert re.search(r"- 12 dead \[\d\] — Valley Post, 2026-03-02\n- 15 dead \[\d\] — Harbour Times, 2026-03-03",
                     shown)
    assert "Based on articles published up to 3 March 2026." in shown_text(answer)
    modes: list[str] = []
    original = NewsAssistant.stream_answer

    def spy(self: NewsAssistant, question: str, **kwargs: Any) -> Iterator[Any]:
        modes.append(kwargs["mode"])
        return original(self, question, **kwargs)

    monkeypatch.setattr(NewsAssistant, "stream_answer", spy)
    [new_chat] = [button for button in stories_app.sidebar.button if button.label == "New chat"]
    new_chat.click().run()  # else the history rule would join the floods question to the next one
    stories_app.sidebar.radio(key="answer_mode").set_value("Timeline").run()
    timeline = ask(stories_app, "Brennford Harbour Line tram")
    assert modes == ["timeline"]
    assert timeline.markdown[0].value.replace("\\", "").startswith("Timeline: 6 events")


@pytest.mark.slow
def test_chat_escapes_timeline_and_conflict_text(stories_app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = "**bold** [x](javascript:alert(1)) <script>x</script> :red[y]"
    citation = Citation(1, "a", "T", "Wire", "", "2026-01-02", hostile, hostile, 0.9)
    answer = Answer("q", f"1 January 2026: {hostile} [1].", citations=[citation], mode="timeline",
                    timeline=[TimelineEntry("2026-01-01", "1 January 2026", hostile, (1,))],
                    conflicts=[Conflict(hostile, "number", (ConflictSide(hostile, 1, "2026-01-02", hostile, hostile),
                                                            ConflictSide("2 dead", 1, "2026-01-03", "W", "q")))],
                    freshness=Freshness("2026-03-05", "2026-01-02", True, hostile))

    def drafted(self: NewsAssistant, question: str, **kwargs: Any) -> Iterator[str | Answer]:
        yield hostile
        yield answer

    monkeypatch.setattr(NewsAssistant, "stream_answer", drafted)
    shown = ask(stories_app, "anything")
    values = [e.value for e in [*shown.markdown, *shown.caption, *shown.warning]]
    assert any(hostile in re.sub(r"\\(.)", r"\1", value) for value in values)
    for value in values:
        assert "<script>" not in value and "](javascript" not in value and ":red[" not in value
        assert not re.search(r"(?<![\\*])\*\*bold", value)
