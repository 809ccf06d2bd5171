"""Untrusted text (article text, titles, sources, the question, the conversation) made inert for a prompt.

Strangers write articles, feeds and pages; their text reaches the model as data and must never act as
part of the prompt's structure:

- **Look-alike delimiters**: HTML entities are decoded (`&lt;/passages&gt;`), zero-width and other format
  characters removed, and every tag-like span whose name, after Unicode compatibility folding
  (fullwidth `＜／passages＞`), without spaces and slashes (`< /passages>`) and in any case, is one of the
  prompt's delimiters (`DELIMITERS`) is removed.
- **Special tokens**: every chat-template control sequence is defanged to a visible, inert `⟦name⟧`: the
  generic families of the common templates (`<|im_start|>`, `<|eot_id|>`, `<｜end▁of▁sentence｜>`, `[INST]`,
  `<<SYS>>`, `<s>`, `<start_of_turn>`, ...) for servers whose template is not known here (ollama, openai),
  plus any strings given, e.g. those the local model's own tokenizer marks special (llamacpp.py).
- **Citation look-alikes**: `[3]` or `[1, 2]` in data becomes `(3)`, `(1, 2)`: only the prompt's own
  passage numbers look like citation markers.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable

DELIMITERS = ("passages", "passage", "conversation")
"""Names of the tags the prompts (prompts/*.md) wrap data in; tests/test_injection.py keeps this in step."""

_OPEN = "<\uff1c\ufe64\u2329\u27e8\u3008\u2039\u02c2\u1438"
_CLOSE = ">\uff1e\ufe65\u232a\u27e9\u3009\u203a\u02c3\u1433"
_TAG_LIKE = re.compile(f"[{_OPEN}][^{_OPEN}{_CLOSE}\n]{{0,80}}[{_CLOSE}]")
_NOT_A_LETTER = re.compile("[^a-z]")
_LEADING_NAME = re.compile(r"[^a-z]*([a-z]+)")
_FORMAT = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]")
_SPECIAL = re.compile(
    r"<\|[^|<>\n]{0,64}\|>"                       # ChatML, Llama 3, Phi: <|im_start|>, <|eot_id|>, <|end|>
    r"|<\uff5c[^\uff5c<>\n]{0,64}\uff5c>"          # DeepSeek: <｜end▁of▁sentence｜>
    r"|\[/?[A-Z][A-Z_]{2,40}\]"                    # Mistral, Llama 2: [INST], [/INST], [SYSTEM_PROMPT]
    r"|<</?SYS>>"                                  # Llama 2
    r"|</?(?:s|bos|eos|pad|unk|mask|sep|cls|think)>"
    r"|</?[A-Za-z]+(?:_[A-Za-z]+)+>",             # Gemma and tools: <start_of_turn>, <tool_call>
)
_MARKER = re.compile(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")


def inert(text: str, specials: Iterable[str] = ()) -> str:
    """`text` with look-alike delimiters removed, special tokens defanged and citation markers turned into (n)."""
    text = _unescape(text)
    text = _FORMAT.sub("", text)
    text = _TAG_LIKE.sub(_drop_delimiter, text)
    text = _SPECIAL.sub(lambda match: _defanged(match.group()), defang(text, specials))
    return _MARKER.sub(r"(\1)", text)


def defang(text: str, specials: Iterable[str]) -> str:
    """`text` with each of the `specials` strings (longest first) replaced by its inert form; nothing else changed."""
    for special in sorted(set(specials), key=len, reverse=True):
        if special and special in text:
            text = text.replace(special, _defanged(special))
    return text


def _unescape(text: str) -> str:
    """HTML entities decoded, also when escaped twice or three times (`&amp;lt;`)."""
    for _ in range(3):
        if "&" not in text:
            break
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def _drop_delimiter(match: re.Match[str]) -> str:
    """A tag-like span removed when it names a delimiter: by its letters alone, or by its leading name."""
    inner = unicodedata.normalize("NFKC", match.group()[1:-1]).casefold()
    leading = _LEADING_NAME.match(inner)
    if _NOT_A_LETTER.sub("", inner) in DELIMITERS or (leading and leading.group(1) in DELIMITERS):
        return " "
    return match.group()


def _defanged(token: str) -> str:
    """A special token as visible, inert text: `<|im_end|>` -> `⟦im_end⟧`, `[/INST]` -> `⟦/INST⟧`."""
    inner = token.strip("<>|[]\uff5c \n")
    return f"\u27e6{inner or 'special'}\u27e7"
