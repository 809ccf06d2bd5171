"""Sentence splitting and section-heading detection shared by chunking and answering."""

from __future__ import annotations

import re
import unicodedata

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sen", "rep", "gov", "gen", "lt", "col", "sgt", "capt",
    "st", "jr", "sr", "inc", "co", "corp", "ltd", "vs", "etc", "no", "nos", "vol", "fig",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "mt", "ft", "approx", "est", "dept", "univ", "pres", "rev", "u.s", "u.k", "u.n", "e.g", "i.e",
}
# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) before
# white space and a capital letter, digit or opening quote.
_BOUNDARY = re.compile(r"(?<=[.!?])([\"'\u201d\u2019)\]]*)\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
_SENTENCE_END = re.compile(r"[.!?:;,][\"'\u201d\u2019)\]]*$")


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph into sentences, keeping abbreviations and initials ("Mr. Kim", "J. Smith") whole."""
    text = " ".join(paragraph.split())
    if not text:
        return []
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end(1)
        candidate = text[start:end]
        last_word = candidate.rstrip("\"'\u201d\u2019)]").rsplit(" ", 1)[-1].rstrip(".!?").lower()
        if candidate.endswith(".") and (last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha())):
            continue
        sentences.append(candidate.strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def is_heading(line: str, max_words: int = 12) -> bool:
    """A short line that does not end like a sentence: a section heading such as "The Regional Perspective"."""
    stripped = line.strip()
    if not stripped or len(stripped) > 100:
        return False
    words = stripped.split()
    return len(words) <= max_words and not _SENTENCE_END.search(stripped) and stripped[0].isalnum()


_WORD = re.compile(r"\w+")
SMALL_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty")
"""The numbers 0-20 as words, in order (index = value)."""

STOPWORDS = frozenset(
    """a an the of in on at to for and or but by with from as into about after before than then
    is are was were be been being it its this that these those there he she they we you i his her
    their them our your not no do does did has have had will would can could should may might
    what which who whom whose when where why how all any some each one also just only more most
    other up out if so say said says""".split()
)


def normalize(text: str) -> str:
    """Lower-case, accent-folded word tokens joined by single spaces ("U.S." -> "u s")."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(char for char in folded if not unicodedata.combining(char))
    return " ".join(_WORD.findall(folded.casefold()))


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether the normalized phrase occurs in the normalized text on word boundaries."""
    needle = normalize(phrase)
    return bool(needle) and f" {needle} " in f" {normalize(text)} "


def content_words(text: str) -> set[str]:
    return {word for word in normalize(text).split() if word not in STOPWORDS}
