"""Prompt templates loaded by name from the `prompts/` folder (`answer` -> `prompts/answer.md`).

A file has a `## system` and a `## user` part; text before the first part documents the prompt
and is not sent. The parts are f-string templates: `{name}` is a variable, `{{` a literal brace.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from langchain_core.prompts import ChatPromptTemplate

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_PART = re.compile(r"^## (system|user)[ \t]*$", re.MULTILINE)
_ROLES = {"system": "system", "user": "human"}


@lru_cache(maxsize=16)
def load_prompt(name: str, directory: Path = PROMPTS_DIR) -> ChatPromptTemplate:
    """The chat prompt in `<directory>/<name>.md`: its system part, then its user part."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid prompt name {name!r}")
    path = directory / f"{name}.md"
    text = path.read_text(encoding="utf-8")
    headings = list(_PART.finditer(text))
    roles = [match.group(1) for match in headings]
    if roles != ["system", "user"]:
        raise ValueError(f"{path}: expected a '## system' part then a '## user' part, found {roles}")
    bodies = [text[match.end(): following.start() if following else len(text)].strip()
              for match, following in zip(headings, [*headings[1:], None], strict=True)]
    return ChatPromptTemplate.from_messages([(_ROLES[role], body) for role, body in zip(roles, bodies, strict=True)])
