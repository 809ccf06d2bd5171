"""The chat model of each LLM backend (`local`, `ollama`, `openai`), imported only when chosen."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from assistant.answering.answerers.chat import ChatAnswerer
from assistant.answering.answerers.errors import BackendError
from assistant.answering.answerers.gguf import INSTALL_HINT, ModelFileError, default_model_path
from assistant.config import Settings
from assistant.encoders.embeddings import TextEncoder

INSTALL = "install it: " + INSTALL_HINT
HINTS = {
    "local": "check LOCAL_MODEL_PATH, or install the model parts: " + INSTALL_HINT,
    "ollama": "check that Ollama runs at OLLAMA_BASE_URL and has OLLAMA_MODEL pulled",
    "openai": "check OPENAI_BASE_URL, OPENAI_API_KEY and OPENAI_MODEL",
}
DEFAULT_MODEL_NAME = "Qwen2.5-Coder-1.5B-Instruct"


def local_model(settings: Settings) -> BaseChatModel:
    """Qwen2.5-Coder-1.5B-Instruct assembled from its PyPI parts, or the GGUF at LOCAL_MODEL_PATH."""
    from assistant.answering.answerers.llamacpp import LlamaCppChatModel, import_llama_cpp, load_model

    try:
        import_llama_cpp()
    except ImportError as error:
        raise BackendError("local", f"llama-cpp-python is not installed ({error})", INSTALL) from error

    if settings.local_model_path is not None:
        path = settings.local_model_path.expanduser().resolve()
        if not path.is_file():
            raise BackendError("local", f"no model file at {path}", "check LOCAL_MODEL_PATH")
    else:
        try:
            path = default_model_path(settings.data_dir.resolve())
        except ModelFileError as error:
            raise BackendError("local", str(error), HINTS["local"]) from error
    try:
        loaded = load_model(path, settings.local_context_window, settings.local_threads, settings.local_batch,
                            settings.local_flash_attention)
    except (ValueError, RuntimeError) as error:  # llama-cpp raises ValueError for a file it cannot load
        raise BackendError("local", f"cannot load {path}: {error}", HINTS["local"]) from error
    return LlamaCppChatModel(loaded=loaded, max_tokens=settings.llm_max_tokens)


def ollama_model(settings: Settings) -> BaseChatModel:
    try:
        from langchain_ollama import ChatOllama
    except ImportError as error:
        raise BackendError("ollama", "package langchain-ollama is not installed", INSTALL) from error
    return ChatOllama(model=settings.ollama_model, base_url=settings.ollama_base_url, temperature=0.0,
                      num_predict=settings.llm_max_tokens, client_kwargs={"timeout": settings.llm_timeout})


def openai_model(settings: Settings) -> BaseChatModel:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as error:
        raise BackendError("openai", "package langchain-openai is not installed", INSTALL) from error
    if settings.openai_api_key is None and settings.openai_base_url is None:
        raise BackendError("openai", "OPENAI_API_KEY is not set",
                           "set OPENAI_API_KEY, or OPENAI_BASE_URL for a server that needs no key")
    # A server at OPENAI_BASE_URL may need no key; the client still requires one to be set.
    api_key = settings.openai_api_key or SecretStr("unused")
    return ChatOpenAI(model=settings.openai_model, base_url=settings.openai_base_url, api_key=api_key,
                      temperature=0.0, max_completion_tokens=settings.llm_max_tokens, timeout=settings.llm_timeout,
                      max_retries=1)


_MODELS = {"local": local_model, "ollama": ollama_model, "openai": openai_model}


def chat_answerer(provider: str, settings: Settings, encoder: TextEncoder) -> ChatAnswerer:
    """The ChatAnswerer of an LLM backend; BackendError when it is not installed or misconfigured."""
    model = _MODELS[provider](settings)
    model_names = {"local": settings.local_model_path.name if settings.local_model_path else DEFAULT_MODEL_NAME,
                   "ollama": settings.ollama_model, "openai": settings.openai_model}
    return ChatAnswerer(f"{provider} ({model_names[provider]})", model, encoder, HINTS[provider], min_relevance=settings.min_relevance,
                        context_tokens=settings.llm_context_tokens)
