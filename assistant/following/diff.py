"""What a new answer to a followed question brings that the earlier one did not, each change cited.

- new facts: the new answer's sentences citing a passage the earlier answer could not see;
- changed figures and dates: a value the new answer's sources state (a count, amount, vote or date, as
  assistant/news/conflicts.py reads them) that differs from the earlier answer's value of the same fact,
  shown as "Death toll: 12 dead [1] → 15 dead [3]";
- new outlets: sources the new answer cites and the earlier one did not.

Markers: the new answer's citations keep their numbers; a passage only the earlier answer cited (the old
side of a changed figure) gets a number after the new answer's last.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace

from assistant.following.codec import citation_chunks
from assistant.following.types import FollowChange
from assistant.news.conflicts import Fact, same_fact, sentence_facts
from assistant.nlp.text import split_sentences
from assistant.nlp.text_dates import published_day
from assistant.types import Answer, Citation

_MARKER = re.compile(r"\[(\d+)\]")
_LABELS = {"dead": "Death toll", "injured": "Injured", "missing": "Missing", "evacuated": "Evacuated",
           "arrested": "Arrested", "vote": "Vote"}


@dataclass(frozen=True)
class _Stated:
    fact: Fact
    sentence: str
    citation: Citation


def answer_changes(old: Answer | None, new: Answer, old_seen: Collection[str]) -> tuple[FollowChange, ...]:
    """The changes `new` brings over `old`; `old_seen`: ids of the passages the old answer could see."""
    if old is None or not new.found:
        return ()
    numbered = _Numbering(old, new)
    return (*_new_facts(new, old_seen, numbered), *_changed_figures(old, new, numbered), *_new_outlets(old, new))


class _Numbering:
    """Citations under one numbering: the new answer's, then the old answer's citations it does not cite."""

    def __init__(self, old: Answer, new: Answer) -> None:
        self.new = {citation.n: citation for citation in new.citations}
        cited = {(c.article_id, c.passage) for c in new.citations}
        by_passage = {(c.article_id, c.passage): c for c in new.citations}
        self.old: dict[int, Citation] = {}
        extra = max(self.new, default=0)
        for citation in old.citations:
            key = (citation.article_id, citation.passage)
            if key in cited:
                self.old[citation.n] = by_passage[key]
            else:
                extra += 1
                self.old[citation.n] = replace(citation, n=extra)


def _sentences(text: str) -> list[str]:
    return [sentence for block in text.split("\n") for sentence in split_sentences(block)]


def _cited(sentence: str, citations: dict[int, Citation]) -> tuple[Citation, ...]:
    numbers = dict.fromkeys(int(n) for n in _MARKER.findall(sentence))
    return tuple(citations[n] for n in numbers if n in citations)


def _new_facts(new: Answer, old_seen: Collection[str], numbered: _Numbering) -> list[FollowChange]:
    chunks = citation_chunks(new)
    fresh = {n for n, chunk_id in chunks.items() if chunk_id not in old_seen}
    changes = []
    for sentence in _sentences(new.text):
        if sentence.startswith("Reports differ"):
            continue  # its values are compared as figures
        cited = _cited(sentence, numbered.new)
        if any(citation.n in fresh for citation in cited):
            changes.append(FollowChange("new_fact", sentence, cited))
    return changes


def _stated(answer: Answer, citations: dict[int, Citation]) -> list[_Stated]:
    """The values the sentences an answer rests on state (its citations' quotes and its conflicts' sides)."""
    sentences = [(citation.quote or citation.passage, citation.published, citations[citation.n])
                 for citation in answer.citations if citation.n in citations]
    sentences += [(side.quote, side.published, citations[side.n]) for conflict in answer.conflicts
                  for side in conflict.sides if side.n in citations]
    stated, done = [], set()
    for sentence, published, citation in sentences:
        if (sentence, citation.n) in done:
            continue
        done.add((sentence, citation.n))
        stated += [_Stated(fact, sentence, citation) for fact in sentence_facts(sentence, published_day(published))]
    return stated


def _changed_figures(old: Answer, new: Answer, numbered: _Numbering) -> list[FollowChange]:
    before = _stated(old, numbered.old)
    changes, shown = [], set()
    for now in _stated(new, numbered.new):
        same = [then for then in before if same_fact(then.fact, then.sentence, now.fact, now.sentence)]
        if not same or any(then.fact.consistent(now.fact) for then in same):
            continue
        then = max(same, key=lambda stated: (stated.citation.published, stated.citation.n))
        key = (now.fact.kind, now.fact.key, then.fact.value, now.fact.value)
        if key in shown:
            continue
        shown.add(key)
        what = now.fact.what()
        label = _LABELS.get(what, what[:1].upper() + what[1:])
        text = f"{label}: {then.fact.value} [{then.citation.n}] → {now.fact.value} [{now.citation.n}]"
        changes.append(FollowChange("changed_figure", text, (then.citation, now.citation)))
    return changes


def _new_outlets(old: Answer, new: Answer) -> list[FollowChange]:
    before = {citation.source or citation.title for citation in old.citations}
    changes, shown = [], set()
    for citation in new.citations:
        outlet = citation.source or citation.title
        if outlet in before or outlet in shown:
            continue
        shown.add(outlet)
        changes.append(FollowChange("new_outlet", f"New outlet: {outlet} [{citation.n}]", (citation,)))
    return changes
