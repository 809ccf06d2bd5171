"""The `local` backend's model: llama-cpp-python running a GGUF file in this process.

The model is loaded once per process and path. Its system prompt is the same for every
question, so llama.cpp reuses the already evaluated prefix; a RAM cache of evaluated states
also keeps it when the follow-up rewriting prompt runs in between.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

logger = logging.getLogger(__name__)

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}
_STATE_CACHE_BYTES = 256 << 20
"""Room for several evaluated prompts (tens of MB each): the answer and follow-up prompts of a few sessions."""


class LoadedModel:
    """A llama.cpp model and the lock that keeps one generation at a time on it."""

    def __init__(self, llama: Any, path: Path) -> None:
        self.llama = llama
        self.path = path
        self.lock = threading.Lock()


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
def load_model(path: Path, context_window: int, threads: int | None) -> LoadedModel:
    """The GGUF model at `path`, loaded once per process (same path and settings)."""
    llama_cpp = import_llama_cpp()
    logger.info("loading local model %s", path)
    llama = llama_cpp.Llama(model_path=str(path), n_ctx=context_window, n_threads=threads or os.cpu_count() or 1,
                            n_batch=256, verbose=False)  # 512 took 0.16 GiB more RSS (bench/ui_sessions.py)
    llama.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=_STATE_CACHE_BYTES))
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
        with self.loaded.lock:
            for part in self.loaded.llama.create_chat_completion(
                    messages=chat, stream=True, stop=stop, max_tokens=kwargs.get("max_tokens", self.max_tokens),
                    temperature=kwargs.get("temperature", self.temperature)):
                piece = part["choices"][0]["delta"].get("content")
                if piece:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                    if run_manager:
                        run_manager.on_llm_new_token(piece, chunk=chunk)
                    yield chunk

    def get_num_tokens(self, text: str) -> int:
        """Tokens of `text` in the model's own tokenizer."""
        return len(self.loaded.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))
