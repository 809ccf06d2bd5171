"""Links and images in an LLM answer: a URL is kept only when a passage given to the model contains it.

An article may tell the model to add a link or an image (a phishing page, a tracking pixel). An answer is
made from the passages, so a URL that none of them contains is not theirs and is dropped: an image
(markdown or HTML) entirely, a markdown link down to its text, a bare URL entirely.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.types import Passage

_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)|<\s*img\b[^>]*>", re.IGNORECASE)
_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+[^)\n]*)?\)")
_HTML_LINK = re.compile(r"<\s*a\b[^>]*>(.*?)<\s*/\s*a\s*>", re.IGNORECASE | re.DOTALL)
_REFERENCE = re.compile(r"^[ \t]*\[[^\]\n]+\]:[ \t]*(\S+).*$\n?", re.MULTILINE)
_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)[^\s<>()\[\]\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?'\""
_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"[ \t]+([.,;:!?])")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|<\s*>")


def drop_foreign_links(text: str, passages: Sequence[Passage]) -> str:
    """`text` without the images it holds and without links and URLs that no passage contains."""
    known = "\n".join(f"{passage.text}\n{passage.url}" for passage in passages)

    def ours(url: str) -> bool:
        url = url.strip().rstrip(_TRAILING)
        return bool(url) and url.lower().startswith(("http://", "https://", "www.")) and url in known

    original = text
    text = _IMAGE.sub("", text)
    text = _HTML_LINK.sub(lambda match: match.group(1), text)
    text = _REFERENCE.sub(lambda match: match.group() if ours(match.group(1)) else "", text)
    text = _LINK.sub(lambda match: match.group() if ours(match.group(2)) else
                     f"[{match.group(1)}]" if match.group(1).strip().isdigit() else match.group(1), text)
    text = _URL.sub(lambda match: match.group() if ours(match.group()) else
                    match.group()[len(match.group().rstrip(_TRAILING)):], text)
    if text == original:
        return text
    text = _EMPTY_BRACKETS.sub("", text)
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", _SPACES.sub(" ", text))
    return "\n".join(line.strip() for line in text.splitlines()).strip()

