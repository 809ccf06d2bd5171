"""Split an article into passages that never cut a sentence and fit the embedding model's window."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.nlp.text import is_heading, split_sentences
from assistant.types import Article, Chunk

TokenCounter = Callable[[Sequence[str]], list[int]]

_SPECIAL_TOKENS = 2  # [CLS] and [SEP], added by the model around every text


@dataclass(frozen=True)
class _Sentence:
    text: str
    tokens: int
    section: str
    paragraph: int


def chunk_id(article_id: str, position: int) -> str:
    return f"{article_id}#{position}"


def sections(article: Article) -> list[tuple[str, list[str]]]:
    """The article's body as (heading, paragraphs) pairs; the standfirst opens the first one."""
    result: list[tuple[str, list[str]]] = [("", [article.standfirst] if article.standfirst else [])]
    lines = [line.strip() for line in article.text.splitlines()]
    lines = [line for line in lines if line]
    for index, line in enumerate(lines):
        markdown_heading = line.startswith("#")
        heading_text = line.lstrip("#").strip()
        has_more = index + 1 < len(lines)
        if heading_text and has_more and (markdown_heading or is_heading(line)):
            result.append((heading_text, []))
        elif heading_text:
            result[-1][1].append(heading_text)
    return [(heading, paragraphs) for heading, paragraphs in result if paragraphs]


def embed_text(title: str, section: str, body: str) -> str:
    """What a passage is embedded from: its article's title (when it fits), its section heading, its text."""
    return "\n".join(part for part in (title, section, body) if part)


_MIN_BUDGET = 16  # fewest tokens of text a passage must have room for


def title_fits(title_tokens: int, longest_heading: int, max_tokens: int) -> bool:
    """Whether the title goes into every passage's embedded text: only when it and the article's longest
    heading leave room for at least _MIN_BUDGET tokens of text."""
    return max_tokens - _SPECIAL_TOKENS - title_tokens - longest_heading - 2 >= _MIN_BUDGET


def _split_long_sentence(sentence: str, budget: int, count_tokens: TokenCounter) -> list[tuple[str, int]]:
    """Cut a sentence longer than the whole window at word boundaries (the only way it can fit)."""
    words = sentence.split()
    pieces: list[tuple[str, int]] = []
    current: list[str] = []
    used = 0
    for word, tokens in zip(words, count_tokens(words), strict=True):
        if current and used + tokens > budget:
            pieces.append((" ".join(current), used))
            current, used = [], 0
        current.append(word)
        used += tokens
    if current:
        pieces.append((" ".join(current), used))
    return pieces


def _sentences(article: Article, count_tokens: TokenCounter, budget: int) -> list[_Sentence]:
    raw: list[tuple[str, str, int]] = []
    paragraph_number = 0
    for heading, paragraphs in sections(article):
        for paragraph in paragraphs:
            raw.extend((sentence, heading, paragraph_number) for sentence in split_sentences(paragraph))
            paragraph_number += 1
    counts = count_tokens([text for text, _, _ in raw])
    result: list[_Sentence] = []
    for (text, section, index), tokens in zip(raw, counts, strict=True):
        if tokens <= budget:
            result.append(_Sentence(text, tokens, section, index))
        else:
            result.extend(
                _Sentence(piece, piece_tokens, section, index)
                for piece, piece_tokens in _split_long_sentence(text, budget, count_tokens)
            )
    return result


def _join(sentences: Sequence[_Sentence]) -> str:
    """Sentences of one paragraph joined by spaces, paragraphs and headings by new lines."""
    lines: list[str] = []
    previous: _Sentence | None = None
    for sentence in sentences:
        if previous is not None and sentence.section != previous.section:
            lines.append(sentence.section)
            lines.append(sentence.text)
        elif previous is not None and sentence.paragraph == previous.paragraph:
            lines[-1] += " " + sentence.text
        else:
            lines.append(sentence.text)
        previous = sentence
    return "\n".join(lines)


def chunk_article(
    article: Article,
    count_tokens: TokenCounter,
    max_tokens: int = 256,
    metadata: dict[str, str | int | float] | None = None,
) -> list[Chunk]:
    """Pack whole sentences into passages of at most `max_tokens` model tokens, title included.

    A section heading starts a new passage unless the current one is less than half full
    (then the heading is kept inline), so short sections do not make tiny passages.
    """
    title_tokens, *_ = count_tokens([article.title])
    heading_tokens = dict(zip(*_heading_counts(article, count_tokens), strict=True))
    longest_heading = max(heading_tokens.values(), default=0)
    budget = max_tokens - _SPECIAL_TOKENS - title_tokens - longest_heading - 2
    if not title_fits(title_tokens, longest_heading, max_tokens):
        budget = max_tokens - _SPECIAL_TOKENS - 2
        title_tokens, heading_tokens = 0, {}
    groups: list[list[_Sentence]] = []
    used = 0
    for sentence in _sentences(article, count_tokens, budget):
        new_section = bool(groups) and sentence.section != groups[-1][-1].section
        inline_cost = heading_tokens.get(sentence.section, 0) if new_section else 0
        if not groups or used + sentence.tokens + inline_cost > budget or (new_section and used >= budget // 2):
            groups.append([sentence])
            used = sentence.tokens
        else:
            groups[-1].append(sentence)
            used += sentence.tokens + inline_cost
    title = article.title if title_tokens else ""
    chunks = []
    for position, group in enumerate(groups):
        body = _join(group)
        section = group[0].section
        chunks.append(
            Chunk(
                id=chunk_id(article.id, position),
                article_id=article.id,
                position=position,
                text=body,
                embed_text=embed_text(title, section, body),
                section=section,
                metadata={**(metadata or {}), "section": section, "position": position},
            )
        )
    return chunks


def _heading_counts(article: Article, count_tokens: TokenCounter) -> tuple[list[str], list[int]]:
    headings = [heading for heading, _ in sections(article) if heading]
    return headings, count_tokens(headings)
