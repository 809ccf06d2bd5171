"""The keyword engine KEYWORD_ENGINE names, opened at its own path in DATA_DIR (imported only when chosen).

Each engine keeps its index under a name of its own (`<collection>_keywords.sqlite3` for fts5,
`<collection>_keywords.tantivy/`), so switching engines starts from an
empty index, which the first index sync of the process fills from Chroma (assistant/store/index_sync.py: a
full reconcile), without embedding anything.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from assistant.config import Settings
from assistant.store.keyword_common import PRUNE_FROM, KeywordEngine

ENGINES = {
    "fts5": ("assistant.store.keyword_index", "KeywordIndex", "{collection}_keywords.sqlite3", None),
    "tantivy": ("assistant.store.keyword_tantivy", "TantivyKeywordIndex", "{collection}_keywords.tantivy", "tantivy"),
}
"""Engine: (module, class, index path in DATA_DIR, the PyPI package it needs)."""


class EngineMissing(RuntimeError):
    """The chosen engine's package is not installed."""


def keyword_index_path(data_dir: Path, collection: str, engine: str) -> Path:
    return data_dir / ENGINES[engine][2].format(collection=collection)


def open_engine(engine: str, path: Path | str, title_weight: float = 1.0, max_df: float = 1.0,
                prune_from: int = PRUNE_FROM) -> KeywordEngine:
    """The engine's index at `path` (":memory:" for one kept in memory, where the engine allows)."""
    if engine not in ENGINES:
        raise ValueError(f"KEYWORD_ENGINE={engine!r}: expected one of {', '.join(ENGINES)}")
    module_name, class_name, _, package = ENGINES[engine]
    try:
        module = importlib.import_module(module_name)
        engine_class = getattr(module, class_name)
        return engine_class(path, title_weight, max_df, prune_from)  # type: ignore[no-any-return]
    except ModuleNotFoundError as error:
        if package is None or error.name not in (package, "Stemmer"):
            raise
        needed = "PyStemmer" if error.name == "Stemmer" else package
        raise EngineMissing(f"KEYWORD_ENGINE={engine} needs the {needed} package: "
                            f".venv/bin/pip install {needed} (see requirements.txt)") from None


def open_keyword_index(settings: Settings) -> KeywordEngine | None:
    """The keyword index of these settings (None with KEYWORD_SEARCH=false)."""
    if not settings.keyword_search:
        return None
    return open_engine(settings.keyword_engine, keyword_index_path(settings.data_dir, settings.collection,
                                                                   settings.keyword_engine),
                       settings.keyword_title_weight, settings.keyword_max_df)
