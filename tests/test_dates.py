from datetime import date

import pytest

from assistant.nlp.dates import DateWindow, time_window

AS_OF = date(2024, 3, 20)  # a Wednesday


@pytest.mark.parametrize(("question", "window"), [
    ("What happened this week in Gaza?", (date(2024, 3, 13), date(2024, 3, 20))),
    ("Who resigned last week?", (date(2024, 3, 6), date(2024, 3, 15))),
    ("What did the Fed decide yesterday?", (date(2024, 3, 19), date(2024, 3, 19))),
    ("Who won today?", (date(2024, 3, 20), date(2024, 3, 20))),
    ("Which bill passed last month?", (date(2024, 2, 1), date(2024, 2, 29))),
    ("What happened this month?", (date(2024, 3, 1), date(2024, 3, 20))),
    ("What happened in March 2023?", (date(2023, 3, 1), date(2023, 3, 31))),
    ("What happened in March?", (date(2024, 3, 1), date(2024, 3, 31))),
    ("What happened in November?", (date(2023, 11, 1), date(2023, 11, 30))),
    ("Who won on Jan. 5?", (date(2024, 1, 4), date(2024, 1, 7))),
    ("Who won on March 5, 2022?", (date(2022, 3, 4), date(2022, 3, 7))),
    ("What happened in 2021?", (date(2021, 1, 1), date(2021, 12, 31))),
    ("What happened last year?", (date(2023, 1, 1), date(2023, 12, 31))),
    ("What is the latest on the strike?", (date(2024, 2, 19), date(2024, 3, 20))),
])
def test_phrases_become_windows(question: str, window: tuple[date, date]) -> None:
    assert time_window(question, AS_OF) == DateWindow(*window)


@pytest.mark.parametrize("question", ["Who is the prime minister of Japan?", "May I ask about the 737 MAX?",
                                      "What did Mr. March say?"])
def test_questions_without_time_have_no_window(question: str) -> None:
    assert time_window(question, AS_OF) is None
