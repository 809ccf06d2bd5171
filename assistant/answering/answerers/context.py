"""The passages as they go into an LLM prompt: numbered, delimited, and trimmed to a token budget.

When the whole passages would exceed the budget, each passage is cut down to its sentences most
relevant to the question (each with its neighbours while the budget allows; sentences far less
relevant than the best one are not added), so the prompt stays small enough for a CPU model to
read quickly. Every passage keeps at least its best sentence, so
the `[n]` numbering always matches the retrieved passages.
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant.answering.answerers.untrusted import inert
from assistant.encoders.embeddings import TextEncoder
from assistant.nlp.text import content_words, is_heading, split_sentences
from assistant.types import Passage

GAP = " … "
_KEYWORD_WEIGHT = 0.3
_FILL_MARGIN = 0.3
"""Past each passage's best sentence, only sentences within this score of the very best are added."""


def passage_sentences(passage: Passage) -> list[str]:
    """The passage's sentences in order, section headings left out."""
    return [sentence for line in passage.text.splitlines() if line.strip() and not is_heading(line)
            for sentence in split_sentences(line)]


def fit_passages(question: str, passages: Sequence[Passage], encoder: TextEncoder, budget: int) -> list[str]:
    """The text of each passage to show the model: whole if all fit in `budget` tokens (0 = no limit)."""
    whole = [" ".join(passage.text.split()) for passage in passages]
    if not budget or sum(encoder.token_counts(whole)) <= budget:
        return whole
    sentences = [passage_sentences(passage) or [text] for passage, text in zip(passages, whole, strict=True)]
    flat = [(p, i) for p, group in enumerate(sentences) for i in range(len(group))]
    texts = [sentences[p][i] for p, i in flat]
    vectors = encoder.encode([question, *texts])
    question_words = content_words(question)
    scores = {}
    for (p, i), text, vector in zip(flat, texts, vectors[1:], strict=True):
        overlap = len(question_words & content_words(text)) / max(len(question_words), 1)
        scores[p, i] = float(vector @ vectors[0]) + _KEYWORD_WEIGHT * overlap
    tokens = dict(zip(flat, encoder.token_counts(texts), strict=True))
    ranked = sorted(flat, key=lambda key: scores[key], reverse=True)
    chosen: set[tuple[int, int]] = set()
    used = 0

    def take(keys: list[tuple[int, int]]) -> bool:
        nonlocal used
        new = [key for key in keys if key not in chosen]
        cost = sum(tokens[key] for key in new)
        if used + cost > budget:
            return False
        chosen.update(new)
        used += cost
        return True

    for p in range(len(passages)):  # every passage keeps its best sentence, even past the budget
        best = max(((p, i) for i in range(len(sentences[p]))), key=lambda key: scores[key])
        chosen.add(best)
        used += tokens[best]
    floor = scores[ranked[0]] - _FILL_MARGIN
    for p, i in ranked:
        if scores[p, i] < floor:
            break
        window = [(p, j) for j in (i - 1, i, i + 1) if 0 <= j < len(sentences[p])]
        if not take(window):
            take([(p, i)])
    return [_join(group, sorted(i for q, i in chosen if q == p)) for p, group in enumerate(sentences)]


def _join(sentences: list[str], kept: list[int]) -> str:
    """The kept sentences in order, with an ellipsis where sentences were left out."""
    text = ""
    for position, index in enumerate(kept):
        if position == 0:
            text = ("… " if index > 0 else "") + sentences[index]
        else:
            text += (" " if index == kept[position - 1] + 1 else GAP) + sentences[index]
    return text + (" …" if kept and kept[-1] < len(sentences) - 1 else "")


def quoted(text: str) -> str:
    """Untrusted text (article text, title, source, question, conversation) as prompt data: on one line, with
    no delimiter, special token or citation marker of its own (assistant/answering/answerers/untrusted.py)."""
    return " ".join(inert(text).split())


def format_passages(numbers: Sequence[int], passages: Sequence[Passage], texts: Sequence[str]) -> str:
    """`[n] title | source | date` then the text, one block per passage, n from `numbers`."""
    blocks = []
    for number, passage, text in zip(numbers, passages, texts, strict=True):
        header = " | ".join(quoted(part) for part in (passage.title, passage.source, passage.published) if part)
        blocks.append(f"[{number}] {header}\n{quoted(text)}")
    return "\n\n".join(blocks)
