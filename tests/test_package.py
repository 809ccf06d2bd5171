"""The `assistant` package: its public names (`from assistant import answer`) and light imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import assistant
import assistant.chain
import assistant.types


def test_every_public_name_resolves_to_its_module() -> None:
    assert sorted(assistant.__all__) == sorted(assistant._HOMES)
    for name in assistant.__all__:
        assert getattr(assistant, name) is getattr(sys.modules[f"assistant.{assistant._HOMES[name]}"], name)
    from assistant import Passage, answer

    assert answer is assistant.chain.answer and Passage is assistant.types.Passage
    with pytest.raises(AttributeError, match="no attribute 'ask'"):
        assistant.ask  # noqa: B018


def test_settings_import_without_the_chain() -> None:
    """`assistant.config` (and the web app's launcher) load without LangChain and Chroma: `python -m ui`
    starts its server while the loader imports those in the background."""
    program = ("import sys, assistant.config, ui.warmup; "
               "print(sorted(name for name in ('assistant.chain', 'chromadb', 'langchain_core') if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", program], cwd=Path(__file__).parent.parent, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
