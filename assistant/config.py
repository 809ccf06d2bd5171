"""Typed settings for every part of Newsdesk, read from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """All settings; each field is documented in `.env.example`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Path("./data")
    collection: str = "newsdesk"
    chroma_host: str | None = None
    chroma_port: int = 8000
    chroma_mode: Literal["server", "embedded"] = "server"
    index_sync_seconds: float = Field(default=1.0, ge=0)
    writer_lease_seconds: float = Field(default=30.0, gt=0)
    """With CHROMA_HOST: a machine's writer lease lapses this long after its last renewal (store/writer_lease.py)."""
    writer_lease_wait: float = Field(default=10.0, ge=0)
    """With CHROMA_HOST: how long a write waits for another machine's writer lease before it is refused."""

    embedding_provider: Literal["minilm"] = "minilm"
    embedding_backend: Literal["auto", "torch", "onnx", "onnx-int8"] = "auto"
    embedding_batch_size: int = Field(default=16, ge=1)
    chunk_max_tokens: int = Field(default=256, ge=32, le=256)

    keyword_search: bool = True
    keyword_engine: Literal["tantivy", "fts5"] = "tantivy"
    keyword_title_weight: float = Field(default=1.0, ge=0)
    keyword_max_df: float = Field(default=0.1, gt=0, le=1)
    dense_weight: float = Field(default=1.0, ge=0)
    keyword_weight: float = Field(default=4.0, ge=0)
    candidate_pool: int = Field(default=50, ge=1, le=1000)
    max_per_article: int = Field(default=2, ge=1)
    recency_weight: float = Field(default=1.0, ge=0)
    recency_prior: float = Field(default=1.0, ge=0)
    recency_half_life_days: float = Field(default=90.0, gt=0)

    llm_provider: Literal["auto", "local", "ollama", "openai", "extractive"] = "auto"
    top_k: int = Field(default=5, ge=1, le=50)
    min_relevance: float = Field(default=0.35, ge=-1.0, le=1.0)
    max_answer_sentences: int = Field(default=3, ge=1, le=3)

    local_model_path: Path | None = None
    local_context_window: int = Field(default=4096, ge=512)
    local_threads: int | None = Field(default=None, ge=1)
    local_batch: int = Field(default=512, ge=8)
    local_flash_attention: bool = False
    ollama_base_url: str = "http://127.0.0.1:11434"
    ollama_model: str = "qwen2.5:1.5b-instruct"
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"
    llm_timeout: float = Field(default=120.0, gt=0)
    llm_max_tokens: int = Field(default=200, ge=16)
    llm_context_tokens: int = Field(default=200, ge=0)
    citation_min_support: float = Field(default=0.5, ge=0.0, le=1.0)
    stale_days: float = Field(default=7.0, ge=0)
    timeline_passages: int = Field(default=12, ge=2, le=50)

    max_file_mb: float = Field(default=50.0, gt=0)
    max_article_mb: float = Field(default=1.0, gt=0)
    near_duplicate_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    trash_days: float = Field(default=30.0, gt=0)
    fetch_timeout: float = Field(default=20.0, gt=0)
    max_fetch_mb: float = Field(default=10.0, gt=0)
    fetch_max_redirects: int = Field(default=5, ge=0)
    user_agent: str = "Newsdesk/0.1 (+news archive assistant)"
    fetch_allow_hosts: Annotated[list[str], NoDecode] = []
    max_feed_entries: int = Field(default=200, ge=1)

    @field_validator("fetch_allow_hosts", mode="before")
    @classmethod
    def _allowed_hosts(cls, value: object) -> object:
        """`FETCH_ALLOW_HOSTS=intranet.example, 10.0.0.0/8` -> a list; an entry that is no host or network fails."""
        from assistant.infra.addresses import AddressPolicy  # no dependencies; checks each entry

        entries = value.replace(";", ",").split(",") if isinstance(value, str) else value
        if isinstance(entries, list | tuple):
            entries = [str(entry).strip() for entry in entries if str(entry).strip()]
            AddressPolicy.parse(entries)
        return entries

    # Web app: who may change the library (ui/auth.py) and how much one request may ask for.
    auth_required: bool = False
    editors: Annotated[list[str], NoDecode] = []
    allow_anonymous_edits: bool = False
    max_upload_files: int = Field(default=100, ge=1)
    max_upload_mb: float = Field(default=200.0, gt=0)
    max_question_chars: int = Field(default=2000, ge=1)
    # false: the first page waits for the models, as before (ui/warmup.py loads them in the background)
    ui_background_loading: bool = True

    @field_validator("editors", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """`EDITORS=alice@paper.example, @newsroom.example` -> ["alice@paper.example", "@newsroom.example"]."""
        if isinstance(value, str):
            return [entry.strip().lower() for entry in value.replace(";", ",").split(",") if entry.strip()]
        return value

    @field_validator("near_duplicate_threshold")
    @classmethod
    def _threshold_in_range(cls, value: float) -> float:
        """The candidate search (ingest/dedup.py) finds copies reliably only from a similarity of 0.5."""
        if 0 < value < 0.5:
            raise ValueError("must be 0 (off) or between 0.5 and 1")
        return value

    @field_validator("local_model_path", "local_threads", "openai_base_url", "openai_api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`OPENAI_API_KEY=` (as in .env.example) means "not set", not an empty key or path."""
        return None if isinstance(value, str) and not value.strip() else value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
