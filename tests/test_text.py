from assistant.nlp.text import contains_phrase, is_heading, normalize, split_sentences


def test_sentences_keep_abbreviations_and_initials_whole() -> None:
    text = 'Mr. Kim met Dr. Lee on Jan. 5. The U.S. envoy J. Smith said "no." Talks ended at 5 p.m. Nothing followed.'
    assert split_sentences(text) == [
        "Mr. Kim met Dr. Lee on Jan. 5.",
        'The U.S. envoy J. Smith said "no."',
        "Talks ended at 5 p.m.",
        "Nothing followed.",
    ]


def test_sentence_ending_in_question_or_exclamation() -> None:
    assert split_sentences("Why now? Because it rained! 2024 was wet.") == ["Why now?", "Because it rained!", "2024 was wet."]


def test_headings_are_short_lines_that_do_not_end_like_sentences() -> None:
    assert is_heading("Historical Context and North Korea's Nuclear Stance")
    assert is_heading("Why It Matters")
    assert not is_heading("Kim's recent statements come at a crucial time.")
    assert not is_heading("Why It Matters: This development is crucial for several reasons, firstly because it shifts.")
    assert not is_heading("")


def test_normalize_and_phrase_containment() -> None:
    assert normalize("Zoë's U.S.-bound café!") == "zoe s u s bound cafe"
    assert contains_phrase("The winner was Luke Humphries, 28.", "luke humphries")
    assert not contains_phrase("Iranian officials", "Iran")
