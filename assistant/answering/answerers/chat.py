"""The answerer shared by every LLM backend: a langchain-core chat model prompted with numbered passages."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from datetime import date

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from assistant.answering.answerers.base import NOT_FOUND, Answerer, Capabilities, Draft
from assistant.answering.answerers.context import fit_passages, format_passages, quoted
from assistant.answering.answerers.errors import BackendError
from assistant.answering.answerers.links import drop_foreign_links
from assistant.encoders.embeddings import TextEncoder
from assistant.answering.history import Turn, looks_like_follow_up, standalone_question
from assistant.nlp.key_terms import key_terms, occurs
from assistant.answering.prompts import load_prompt
from assistant.nlp.text import normalize
from assistant.types import Passage

logger = logging.getLogger(__name__)

_NOT_FOUND = re.compile(r"\b(could not|couldn t|cannot|can t|did not|didn t|was unable to) find (an|the|any) answer")
_MARKER = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_HISTORY_TURNS = 6
_HISTORY_TURN_CHARS = 600
_PREFIX = re.compile(r"^\s*(standalone question|question)\s*:\s*", re.IGNORECASE)


def lost_subject(question: str, rewritten: str, history: Sequence[Turn]) -> bool:
    """A follow-up that names nothing itself ("And when will it open?") rewritten without any name,
    number or date of the previous question: the subject of the conversation would be lost."""
    previous = next((turn.content for turn in reversed(history) if turn.role == "user"), "")
    subject = key_terms(previous)
    if not subject or key_terms(question):
        return False
    return not any(occurs(term, rewritten) for term in subject)


def is_not_found(text: str) -> bool:
    """The model's "not in the passages" reply (the fixed sentence or a close variant) with no citation."""
    return not _MARKER.search(text) and bool(_NOT_FOUND.search(normalize(text)))


class ChatAnswerer(Answerer):
    """Answers from numbered passages with any langchain-core chat model; also rewrites follow-ups and
    writes a timeline's overview.

    Only passages at least `min_relevance` similar to the question go into the prompt (keeping
    their numbers), trimmed to `context_tokens` of text (0 = whole passages): prompt tokens are
    what a CPU model spends most of its time on. `hint` tells the user what to check when the
    backend fails.
    """

    capabilities = Capabilities(rewrites_follow_ups=True, writes_timeline_overview=True)

    def __init__(self, name: str, model: BaseChatModel, encoder: TextEncoder, hint: str, *,
                 min_relevance: float = 0.35, context_tokens: int = 200) -> None:
        self.name = name
        self.model = model
        self.encoder = encoder
        self.hint = hint
        self.min_relevance = min_relevance
        self.context_tokens = context_tokens
        self.answer_prompt = load_prompt("answer").partial(not_found=NOT_FOUND)
        self.condense_prompt = load_prompt("condense")

    def messages(self, question: str, passages: Sequence[Passage], as_of: date | None = None) -> list[BaseMessage]:
        """The answer prompt: the relevant passages, trimmed to the token budget, numbered as given."""
        shown = [(number, passage) for number, passage in enumerate(passages, start=1)
                 if passage.score >= self.min_relevance]
        numbers, relevant = [number for number, _ in shown], [passage for _, passage in shown]
        texts = fit_passages(question, relevant, self.encoder, self.context_tokens)
        return self.answer_prompt.format_messages(today=(as_of or date.today()).isoformat(),
                                                  passages=format_passages(numbers, relevant, texts),
                                                  question=quoted(question))

    def stream(self, question: str, passages: Sequence[Passage], as_of: date | None = None) -> Iterator[str | Draft]:
        """Pieces of the answer as the model writes them, then the Draft. Nothing relevant: no model call."""
        if not passages or max(passage.score for passage in passages) < self.min_relevance:
            yield NOT_FOUND
            yield Draft(NOT_FOUND, found=False)
            return
        messages = self.messages(question, passages, as_of)
        pieces: list[str] = []
        try:
            for chunk in self.model.stream(messages):
                piece = str(chunk.text)
                if piece:
                    pieces.append(piece)
                    yield piece
        except BackendError as error:
            raise error.with_passages(passages) from error
        except Exception as error:
            logger.exception("%s backend failed", self.name)
            raise self.error(error, passages) from error
        text = drop_foreign_links("".join(pieces), passages).strip()
        if not text or is_not_found(text):
            yield Draft(NOT_FOUND, found=False)
        else:
            yield Draft(text)

    def standalone_question(self, question: str, history: Sequence[Turn], as_of: date | None = None) -> str:
        """A follow-up rewritten by the model into a standalone question (the history rule if that fails).

        Questions that do not look like follow-ups are kept as they are, which saves a model call.
        """
        if not any(turn.role == "user" for turn in history) or not looks_like_follow_up(question):
            return question
        lines = [f"{'User' if turn.role == 'user' else 'Assistant'}: {quoted(turn.content)[:_HISTORY_TURN_CHARS]}"
                 for turn in history[-_HISTORY_TURNS:]]
        messages = self.condense_prompt.format_messages(today=(as_of or date.today()).isoformat(),
                                                        history="\n".join(lines), question=quoted(question))
        try:
            reply = str(self.model.invoke(messages, stop=["\n"]).text)
        except Exception:
            logger.warning("%s backend could not rewrite the follow-up; using the history rule", self.name,
                           exc_info=True)
            return standalone_question(question, history)
        rewritten = _PREFIX.sub("", reply.strip().splitlines()[0] if reply.strip() else "").strip().strip('"')
        logger.info("follow-up %r rewritten as %r", question, rewritten)
        if lost_subject(question, rewritten or question, history):
            logger.info("the rewrite %r lost the conversation's subject; using the history rule", rewritten)
            return standalone_question(question, history)
        return rewritten or question

    def error(self, error: Exception, passages: Sequence[Passage] = ()) -> BackendError:
        problem = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        return BackendError(self.name, problem, self.hint, passages)
