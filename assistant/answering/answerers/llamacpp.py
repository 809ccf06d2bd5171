"""The `local` backend's model: llama-cpp-python running a GGUF file in this process.

The model is loaded once per process and path. Its system prompt is the same for every
question, so llama.cpp reuses the already evaluated prefix; a RAM cache of evaluated states
also keeps it when the follow-up rewriting prompt runs in between.

No message text can become a control token: the prompt is rendered with the model's own chat
template, whose text is tokenized with special tokens on, while every message's content (the
prompt templates filled with article text and the question) is tokenized with special tokens off.
Before that, every string the model's tokenizer treats as special, read from its vocabulary
(control, user-defined and unknown tokens), is defanged in the content (`⟦im_end⟧`): user-defined
tokens would match even with special tokens off. A model without a chat template is prompted
through llama-cpp-python's chat handler, with the same defanged content.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from assistant.answering.answerers.untrusted import defang

logger = logging.getLogger(__name__)

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}
_STATE_CACHE_BYTES = 256 << 20
"""Room for several evaluated prompts (tens of MB each): the answer and follow-up prompts of a few sessions."""
_SAMPLING = {"top_p": 0.95, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1}
"""llama-cpp-python's chat completion defaults, kept for prompts rendered here."""
_MARK = re.compile("\ue000(\\d+)\ue001")
"""Stands for message n's content while the chat template is rendered (private-use characters)."""


@dataclass(frozen=True)
class Usage:
    """What one generation cost: prompt tokens, how many of them were evaluated (the rest were reused from
    the previous prompt or the state cache), and the time of each step (llama.cpp's own counters)."""

    prompt_tokens: int
    evaluated: int
    prompt_seconds: float
    generated: int
    generation_seconds: float
    total_seconds: float


class LoadedModel:
    """A llama.cpp model, the lock that keeps one generation at a time on it, and its special tokens."""

    def __init__(self, llama: Any, path: Path) -> None:
        self.llama = llama
        self.path = path
        self.lock = threading.Lock()
        self.last_usage: Usage | None = None
        """The latest generation's Usage (bench/answer.py reports it per question)."""
        self._specials: tuple[str, ...] | None = None
        self._formatter: Any = None

    def reset_counters(self) -> None:
        import_llama_cpp().llama_perf_context_reset(self.llama._ctx.ctx)

    def note_usage(self, prompt_tokens: int, started: float) -> None:
        """Record the generation that started at `started` (perf_counter) from llama.cpp's counters."""
        data = import_llama_cpp().llama_perf_context(self.llama._ctx.ctx)
        # llama.cpp counts a one-token decode as generation: the prompt's last token when all the rest was
        # reused, so the prompt's evaluated tokens are at least one
        evaluated = max(int(data.n_p_eval), 1)
        generated = int(data.n_eval) - (1 if data.n_p_eval == 0 else 0)
        self.last_usage = Usage(prompt_tokens, evaluated, data.t_p_eval_ms / 1000, max(generated, 0),
                                data.t_eval_ms / 1000, time.perf_counter() - started)

    @property
    def specials(self) -> tuple[str, ...]:
        """The text of every token the model's tokenizer treats as special, read once from its vocabulary."""
        if self._specials is None:
            self._specials = special_texts(self.llama)
        return self._specials

    def prompt(self, chat: list[dict[str, str]]) -> tuple[list[int], list[str], Any] | None:
        """(tokens, stop strings, stopping criteria) of the chat rendered with the model's chat template:
        the template's text with special tokens, each message's content without. None: no usable template."""
        formatter = self._chat_formatter()
        if formatter is None:
            return None
        marked = [{"role": message["role"], "content": f"\ue000{number}\ue001"} for number, message in enumerate(chat)]
        rendered = formatter(messages=marked)
        parts = _MARK.split(rendered.prompt)
        if parts[1::2] != [str(number) for number in range(len(chat))]:
            logger.warning("%s: the chat template changes message text; prompting through the chat handler",
                           self.path.name)
            self._formatter = False
            return None
        tokens: list[int] = []
        for index, part in enumerate(parts):
            if index % 2:
                content = defang(chat[int(part)]["content"], self.specials)
                tokens += self.llama.tokenize(content.encode("utf-8"), add_bos=False, special=False)
            elif part:
                tokens += self.llama.tokenize(part.encode("utf-8"), add_bos=index == 0 and not rendered.added_special,
                                              special=True)
        stop = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop] if rendered.stop else []
        return tokens, stop, rendered.stopping_criteria

    def _chat_formatter(self) -> Any:
        """The model's own chat template (GGUF metadata) as llama-cpp-python renders it; None without one."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = self.llama.metadata.get("tokenizer.chat_template")
            if not template:
                self._formatter = False
            else:
                model = self.llama._model  # the vocabulary: llama-cpp-python has no public accessor
                eos, bos = self.llama.token_eos(), self.llama.token_bos()
                self._formatter = Jinja2ChatFormatter(
                    template=template, eos_token=model.token_get_text(eos) if eos != -1 else "",
                    bos_token=model.token_get_text(bos) if bos != -1 else "", stop_token_ids=[eos])
        return self._formatter or None


def special_texts(llama: Any) -> tuple[str, ...]:
    """Every control, user-defined or unknown token of the model's vocabulary, as text (longest first).

    These are the strings its tokenizer may turn into special tokens; whitespace-only ones are left out
    (defanging them would change ordinary text, and they cannot open or close a turn)."""
    llama_cpp = import_llama_cpp()
    vocab = llama._model.vocab
    special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED \
        | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
    texts = {llama.detokenize([token], special=True).decode("utf-8", "replace")
             for token in range(llama_cpp.llama_vocab_n_tokens(vocab))
             if llama_cpp.llama_vocab_get_attr(vocab, token) & special}
    return tuple(sorted((text for text in texts if text.strip()), key=len, reverse=True))


def import_llama_cpp() -> ModuleType:
    """llama_cpp, with OpenMP worker threads that sleep rather than spin when idle.

    On 2 shared cores, spinning threads starve the thread doing the work: generation measured
    1-1.5 tokens/s with spinning and 5-8 with sleeping threads while another process was busy.
    The setting only counts before the OpenMP runtime starts; `OMP_WAIT_POLICY` set by the user wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import llama_cpp

    return llama_cpp


@lru_cache(maxsize=2)
def load_model(path: Path, context_window: int, threads: int | None, batch: int = 512,
               flash_attention: bool = False) -> LoadedModel:
    """The GGUF model at `path`, loaded once per process (same path and settings)."""
    llama_cpp = import_llama_cpp()
    logger.info("loading local model %s", path)
    llama = llama_cpp.Llama(model_path=str(path), n_ctx=context_window, n_threads=threads or os.cpu_count() or 1,
                            n_batch=batch, flash_attn=flash_attention, verbose=False)
    llama.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=_STATE_CACHE_BYTES))
    atexit.register(llama.close)  # while llama_cpp is still whole: freed at shutdown, it raises "Exception ignored"
    return LoadedModel(llama, path)


class LlamaCppChatModel(BaseChatModel):
    """A langchain-core chat model over `Llama.create_chat_completion`, streaming token pieces."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    loaded: LoadedModel
    max_tokens: int = 200
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": str(self.loaded.path), "max_tokens": self.max_tokens, "temperature": self.temperature}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text = "".join(str(chunk.text) for chunk in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        chat = [{"role": _ROLES.get(message.type, "user"), "content": str(message.text)} for message in messages]
        options = {"stream": True, "max_tokens": kwargs.get("max_tokens", self.max_tokens),
                   "temperature": kwargs.get("temperature", self.temperature)}
        with self.loaded.lock:
            started = time.perf_counter()
            self.loaded.reset_counters()
            prompt = self.loaded.prompt(chat)
            if prompt is not None:
                tokens, template_stop, criteria = prompt
                parts = self.loaded.llama.create_completion(prompt=tokens, stop=[*(stop or []), *template_stop],
                                                            stopping_criteria=criteria, **_SAMPLING, **options)
            else:
                specials = self.loaded.specials
                chat = [{**message, "content": defang(message["content"], specials)} for message in chat]
                parts = self.loaded.llama.create_chat_completion(messages=chat, stop=stop, **options)
            for part in parts:
                choice = part["choices"][0]
                piece = choice["text"] if "text" in choice else choice["delta"].get("content")
                if piece:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                    if run_manager:
                        run_manager.on_llm_new_token(piece, chunk=chunk)
                    yield chunk
            self.loaded.note_usage(len(prompt[0]) if prompt is not None else 0, started)

    def get_num_tokens(self, text: str) -> int:
        """Tokens of `text` in the model's own tokenizer."""
        return len(self.loaded.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))
