"""Rendering helpers for the chat: answers, their timelines, conflicting reports, freshness, numbered
sources and closest passages.

Article text (titles, passages, quotes, and the extractive answers made of them) is untrusted:
it is always escaped before it reaches `st.markdown`, and never rendered as HTML.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import streamlit as st

from assistant.store.chunk_store import AlternativeSource
from assistant.types import Answer, Citation, Conflict, Freshness, Passage, TimelineEntry

_PUNCTUATION = re.compile(f"([{re.escape(string.punctuation)}])")
CLOSEST_PASSAGES = 3


def escape_markdown(text: str) -> str:
    """Backslash-escape every ASCII punctuation character, so the text renders literally.

    CommonMark allows escaping any of them; this defuses emphasis, links, headings, lists,
    HTML, code, LaTeX (`$`) and Streamlit directives (`:red[...]`) alike.
    """
    return _PUNCTUATION.sub(r"\\\1", text)


def one_line(error: Exception) -> str:
    """An error message on one line (never a traceback)."""
    return " ".join(str(error).split()) or type(error).__name__


def utc_time(iso: str) -> str:
    """An ISO 8601 time as "2025-01-20 10:11 UTC" (a value that is no time is shown as it is)."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _paragraphs(text: str) -> list[str]:
    """Non-empty lines without their indentation (which markdown would read as code blocks)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def emphasised_passage(passage: str, quote_text: str) -> str:
    """The passage as safe markdown, one paragraph per line, with the quoted sentence in bold.

    A quote that is not found verbatim in any line is shown in bold above the passage.
    """
    quote_text = quote_text.strip()
    rendered, quoted = [], False
    for line in _paragraphs(passage):
        start = line.find(quote_text) if quote_text and not quoted else -1
        if start < 0:
            rendered.append(escape_markdown(line))
            continue
        quoted = True
        end = start + len(quote_text)
        rendered.append(f"{escape_markdown(line[:start])}**{escape_markdown(quote_text)}**"
                        f"{escape_markdown(line[end:])}")
    if quote_text and not quoted:
        rendered.insert(0, f"**{escape_markdown(quote_text)}**")
    return "\n\n".join(rendered)


def safe_url(url: str) -> str | None:
    """An http(s) URL percent-encoded so it cannot break out of a markdown link; None otherwise."""
    url = url.strip()
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    return quote(url, safe=":/?#@!$&'*+,;=%~")


def source_line(title: str, source: str, published: str, url: str) -> str:
    """`title — source, date · open article` as safe markdown."""
    details = ", ".join(escape_markdown(part) for part in (source, published) if part)
    line = f"**{escape_markdown(title) or 'Untitled'}**" + (f" — {details}" if details else "")
    link = safe_url(url)
    return line + (f" · [open article]({link})" if link else "")


def also_published(alternatives: Sequence[AlternativeSource]) -> str:
    """`Also published by source, date · open` for each near-duplicate copy, as safe markdown."""
    parts = []
    for copy in alternatives:
        name = ", ".join(escape_markdown(part) for part in (copy.source or copy.title, copy.published) if part)
        link = safe_url(copy.url)
        parts.append((name or "another outlet") + (f" · [open]({link})" if link else ""))
    return "Also published by " + "; ".join(parts)


def render_passage(text: str, quote: str) -> None:
    """The paragraph holding the quote (else the first) with the quote in bold; the whole passage folded below."""
    paragraphs = _paragraphs(text)
    quote = quote.strip()
    focus = next((paragraph for paragraph in paragraphs if quote and quote in paragraph), None)
    if len(paragraphs) <= 1 or (quote and focus is None):
        st.markdown(emphasised_passage(text, quote))
        return
    st.markdown(emphasised_passage(focus or paragraphs[0], quote))
    with st.expander("Whole passage"):
        st.markdown(emphasised_passage(text, quote))


def render_citations(citations: Sequence[Citation], key: str,
                     copies: Mapping[str, Sequence[AlternativeSource]]) -> None:
    """One card per citation, numbered as the answer's `[n]` markers; `key` names the cards (CSS class).

    `copies` holds the near-duplicate copies (other outlets) of cited articles, by article id.
    """
    st.caption("Sources")
    for citation in citations:
        with st.container(border=True, key=f"{key}-source-{citation.n}"):
            st.markdown(f"\\[{citation.n}\\] "
                        + source_line(citation.title, citation.source, citation.published, citation.url))
            if copies.get(citation.article_id):
                st.caption(also_published(copies[citation.article_id]))
            render_passage(citation.passage, citation.quote)


def render_closest_passages(passages: Sequence[Passage], key: str) -> None:
    if not passages:
        return
    st.caption("Closest matches")
    for number, passage in enumerate(passages[:CLOSEST_PASSAGES], start=1):
        with st.container(border=True, key=f"{key}-closest-{number}"):
            st.markdown(source_line(passage.title, passage.source, passage.published, passage.url))
            render_passage(passage.text, "")


def markers(numbers: Sequence[int]) -> str:
    """`\\[1\\]\\[2\\]`: citation markers as literal text in markdown."""
    return "".join(f"\\[{n}\\]" for n in numbers)


def answer_body(answer: Answer) -> str:
    """The answer's text as the chat shows it above the details: for a timeline, without the entries' lines
    (the table shows them), or a heading when nothing else is left."""
    if not answer.timeline:
        return answer.text
    labels = tuple(f"{entry.label}: " for entry in answer.timeline)
    body = "\n".join(line for line in answer.text.splitlines() if not line.startswith(labels)).strip()
    first, last = answer.timeline[0].label, answer.timeline[-1].label
    events = f"{len(answer.timeline)} event{'s' if len(answer.timeline) != 1 else ''}"
    heading = f"Timeline: {events}, {first} – {last}." if first != last else f"Timeline: {events}, {first}."
    return f"{heading}\n\n{body}" if body else heading


def render_timeline(entries: Sequence[TimelineEntry], key: str) -> None:
    """One row per event, oldest first: the date, then the event and the markers of its source cards."""
    for index, entry in enumerate(entries, start=1):
        with st.container(key=f"{key}-event-{index}"):
            when, what = st.columns([1, 4], vertical_alignment="top")
            when.markdown(f"**{escape_markdown(entry.label)}**")
            what.markdown(f"{escape_markdown(entry.text)} {markers(entry.citations)}")


def render_conflicts(conflicts: Sequence[Conflict], key: str) -> None:
    """A "Reports differ" box per disputed fact: each side's value, citation, outlet and date."""
    for index, conflict in enumerate(conflicts, start=1):
        with st.container(key=f"{key}-conflict-{index}"):
            sides = "\n".join(f"- {escape_markdown(side.value)} {markers([side.n])} — "
                               + ", ".join(escape_markdown(part) for part in (side.source, side.published) if part)
                               for side in conflict.sides)
            st.warning(f"**Reports differ** on {escape_markdown(conflict.fact)} (oldest report first):\n\n{sides}",
                       icon=":material/compare_arrows:")


def render_freshness(freshness: Freshness | None) -> None:
    """The line saying how current the answer is (marked when the news may have moved on)."""
    if freshness is None or not freshness.sentence:
        return
    icon = ":material/history: " if freshness.stale or freshness.window_empty else ":material/schedule: "
    st.caption(icon + escape_markdown(freshness.sentence))


def render_answer_details(answer: Answer, key: str,
                          copies: Mapping[str, Sequence[AlternativeSource]] | None = None) -> None:
    """What goes under an answer's text: a timeline's events, the reports that differ, how current it is,
    then its sources, or the closest matches when nothing was found.

    Only citations that passed the check reach `answer.citations`; `key` is unique per chat turn.
    """
    if answer.found and answer.timeline:
        render_timeline(answer.timeline, key)
    if answer.found and answer.conflicts:
        render_conflicts(answer.conflicts, key)
    render_freshness(answer.freshness)
    if answer.found:
        render_citations(answer.citations, key, copies or {})
        if answer.unsupported:
            st.caption("Not confirmed by any passage, so shown without a source: "
                       + " ".join(escape_markdown(sentence) for sentence in answer.unsupported))
    else:
        render_closest_passages(answer.passages, key)
