"""An article's fields as they may be stored: checked once, whatever the article came from (file, page, feed,
upload), before anything else looks at it.

- Every stored field counts towards MAX_ARTICLE_MB (title, source, author, URL and id as well as the text).
- Single-line fields (id, title, source, author, URL) lose control and format characters (a newline or tab
  in a title cannot forge a row of `--list`) and have length caps; beyond one, the article is refused.
- The text keeps its line breaks but loses other control characters; a lone surrogate (possible in JSON,
  `"\\ud800"`) becomes U+FFFD in every field, so every field can be encoded as UTF-8.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from datetime import date

from assistant.types import Article

FIELD_LIMITS = {"id": 500, "title": 1000, "source": 300, "author": 500, "url": 4000}
"""Most characters of each single-line field (a headline is rarely over 150)."""
_SURROGATE = re.compile("[\ud800-\udfff]")
_TEXT_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAK = re.compile("\r\n?|[\x85\u2028\u2029]")
_BETWEEN_WORDS = re.compile(f"(?<=\\S){_TEXT_CONTROL.pattern}+(?=\\S)")


class FieldError(ValueError):
    """Why an article cannot be stored; the message is the one-line reason."""


def one_line(value: str) -> str:
    """`value` on one line: control and format characters (tabs, newlines, zero-width, bidi) out, spaces collapsed."""
    value = _SURROGATE.sub("\ufffd", value)
    if value.isprintable():
        return " ".join(value.split())
    kept = [" " if unicodedata.category(character) in ("Cc", "Zl", "Zp") else
            "" if unicodedata.category(character) == "Cf" else character
            for character in value]
    return " ".join("".join(kept).split())


def clean_text(value: str) -> str:
    """Multi-line text without control characters other than line breaks and tabs (one between two words
    becomes a space, so it still separates them); lone surrogates replaced."""
    text = _LINE_BREAK.sub("\n", _SURROGATE.sub("\ufffd", value))
    return _TEXT_CONTROL.sub("", _BETWEEN_WORDS.sub(" ", text))


def checked_article(article: Article, max_bytes: int) -> Article:
    """The article with its fields cleaned; FieldError when it is too large, a field too long or of a wrong type."""
    if not isinstance(article, Article):
        raise FieldError(f"not an article but {type(article).__name__}")
    texts = {name: getattr(article, name) for name in (*FIELD_LIMITS, "text", "standfirst", "origin")}
    for name, value in texts.items():
        if not isinstance(value, str):
            raise FieldError(f"field {name!r} must be text, not {type(value).__name__}")
    if article.published is not None and not isinstance(article.published, date):
        raise FieldError(f"field 'published' must be a date, not {type(article.published).__name__}")
    size = sum(len(value.encode("utf-8", "surrogatepass")) for name, value in texts.items() if name != "origin")
    if size > max_bytes:
        raise FieldError(f"article is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB limit (MAX_ARTICLE_MB)")
    fields = {name: one_line(texts[name]) for name in FIELD_LIMITS}
    for name, limit in FIELD_LIMITS.items():
        if len(fields[name]) > limit:
            raise FieldError(f"{name} is {len(fields[name]):,} characters long, over the {limit:,} allowed")
    if not fields["id"]:
        raise FieldError("article has no id")
    if not fields["title"]:
        raise FieldError("article has no title")
    text, standfirst = clean_text(article.text), clean_text(article.standfirst)
    if not text.strip() and not standfirst.strip():
        raise FieldError("article has no text")
    return replace(article, **fields, text=text, standfirst=standfirst,
                   origin=_SURROGATE.sub("\ufffd", article.origin))
