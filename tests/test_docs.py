"""The documentation keeps up with the tree: the module map of docs/design.md names every module and
nothing else, relative links lead somewhere, the README stays a user's guide and names every setting."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from assistant.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT / "docs" / "design.md"
README = ROOT / "README.md"
PACKAGES = ("assistant", "ingest", "ui")
README_MAX_LINES = 400

FENCE = re.compile(r"^```.*?^```[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
MAP_ENTRY = re.compile(r"^\s*- `([^`]+)`:", re.MULTILINE)
MAP_PATH = re.compile(r"`((?:%s|prompts|bench|tests|docs)/[^`\s]*)`" % "|".join(PACKAGES))


def section(markdown: str, title: str) -> str:
    """The text of the `## title` section, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.MULTILINE | re.DOTALL)
    if match is None:
        raise AssertionError(f"no '## {title}' section")
    return match.group(1)


def modules(root: Path) -> list[str]:
    """Every Python module of the three packages, as a repo path (`assistant/store/server.py`)."""
    return sorted(path.relative_to(root).as_posix() for package in PACKAGES
                  for path in (root / package).rglob("*.py") if "__pycache__" not in path.parts)


def named_by_map(module: str, entries: set[str]) -> bool:
    """A module is named by its own entry; a package's `__init__.py` by its folder's (`assistant/store/`)."""
    return module in entries or (module.endswith("/__init__.py") and module[: -len("__init__.py")] in entries)


def unmapped(module_map: str, tree: list[str]) -> list[str]:
    entries = set(MAP_ENTRY.findall(module_map))
    return [module for module in tree if not named_by_map(module, entries)]


def missing_paths(module_map: str, root: Path) -> list[str]:
    return sorted({path for path in MAP_PATH.findall(module_map) if not (root / path).exists()})


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces to hyphens."""
    text = INLINE_CODE.sub(lambda m: m.group(0).strip("`"), heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    return {slug(line.lstrip("#")) for line in FENCE.sub("", markdown).splitlines() if re.match(r"#{1,6} ", line)}


def broken_links(path: Path) -> list[str]:
    """Relative links (and their #anchors) of a Markdown file that lead nowhere."""
    text = INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{path.name}: {target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
            broken.append(f"{path.name}: {target} (no such heading)")
    return broken


def undocumented_settings(documents: list[str]) -> list[str]:
    text = "\n".join(documents)
    return [name.upper() for name in Settings.model_fields if not re.search(rf"\b{name.upper()}\b", text)]


def doc_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


# The checks, on the repository.

def test_every_module_the_map_names_exists() -> None:
    module_map = section(DESIGN.read_text(encoding="utf-8"), "Module map")
    assert MAP_PATH.findall(module_map), "the map names modules as `assistant/...`"
    assert missing_paths(module_map, ROOT) == []


def test_the_map_names_every_module_of_the_tree() -> None:
    module_map = section(DESIGN.read_text(encoding="utf-8"), "Module map")
    assert unmapped(module_map, modules(ROOT)) == [], "add a line for each to docs/design.md, 'Module map'"


def test_the_maps_layer_order_is_the_import_contracts() -> None:
    """The order the map states is the one `lint-imports` enforces (pyproject.toml)."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layers = next(c["layers"] for c in contracts["contracts"] if c["type"] == "layers")
    enforced = [{name.strip().removeprefix("assistant.") for name in layer.split("|")} for layer in layers]
    stated = re.search(r"^\*\*(\w+ →[^*]+)\*\*", section(DESIGN.read_text(encoding="utf-8"), "Module map"),
                       re.MULTILINE)
    assert stated, "the map states the layer order as **following → chain → ... → infra**"
    assert [{name.strip() for name in layer.split("/")} for layer in stated.group(1).split("→")] == enforced


@pytest.mark.parametrize("path", doc_files(), ids=lambda path: path.name)
def test_relative_links_lead_to_existing_files(path: Path) -> None:
    assert broken_links(path) == []


def test_the_readme_stays_a_users_guide() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move design, operations or figures to docs/"


def test_every_setting_is_documented() -> None:
    documents = [README.read_text(encoding="utf-8"), (ROOT / ".env.example").read_text(encoding="utf-8")]
    assert undocumented_settings(documents) == []


# The checks can fail: each finds what it is for in a small made-up tree.

def test_the_checks_find_what_is_wrong(tmp_path: Path) -> None:
    for path in ("assistant/__init__.py", "assistant/store/__init__.py", "assistant/store/server.py",
                 "ingest/__init__.py", "ui/app.py", "ui/auth.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).touch()
    module_map = ("- `assistant/`: the library\n- `assistant/store/`: the store\n"
                  "  - `assistant/store/server.py`: the server\n- `assistant/store/old.py`: gone\n"
                  "- `ingest/`: the command\n- `ui/app.py`: the app, see `ui/gone.py`\n")
    assert unmapped(module_map, modules(tmp_path)) == ["ui/auth.py"]
    assert missing_paths(module_map, tmp_path) == ["assistant/store/old.py", "ui/gone.py"]

    (tmp_path / "guide.md").write_text("# Guide\n\n## One store, many processes\n\n![shot](pic.png) "
                                       "[ok](#one-store-many-processes) [bad](#sign-in) [web](https://x.org/a)\n"
                                       "```\n[not a link](nowhere.md)\n```\n[design](docs/design.md#tests)\n",
                                       encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "design.md").write_text("# Design\n\n## Module map\n", encoding="utf-8")
    assert broken_links(tmp_path / "guide.md") == ["guide.md: pic.png (no such file)",
                                                   "guide.md: #sign-in (no such heading)",
                                                   "guide.md: docs/design.md#tests (no such heading)"]
    assert slug("What `DATA_DIR` holds") == "what-data_dir-holds"

    documents = ["DATA_DIR=./data\n" + "\n".join(name.upper() for name in Settings.model_fields
                                                  if name not in ("trash_days", "editors"))]
    assert undocumented_settings(documents) == ["TRASH_DAYS", "EDITORS"]
