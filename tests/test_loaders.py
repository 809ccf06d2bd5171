import json
from datetime import date
from pathlib import Path

from ingest.loaders import LoadError, article_id, iter_files, load_file

MAX = 10**7


def _load(path: Path) -> list:
    return list(load_file(path, MAX))


def test_plain_text_layout(fixtures_dir: Path) -> None:
    [article] = _load(fixtures_dir / "volcano.txt")
    assert article.title == "Lava Flow Stops 3.5 Kilometres Short of Grindavik After New Eruption"
    assert article.source == "Nordic Reporting Service"
    assert article.published == date(2024, 3, 17)
    assert article.url == "https://news.example.invalid/iceland/sundhnukur-eruption"
    assert article.author == "Katrin Olafsdottir"
    assert article.standfirst.startswith("A fissure on the Reykjanes peninsula")
    assert "Evacuations and Defences" in article.text
    assert article.id == article_id(None, article.url, "", "")


def test_byline_line_after_standfirst_is_not_a_section(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("A Title\nA short standfirst sentence.\nDefense & Security Editor\n"
                    "The first long paragraph of the body. It has two sentences.\nA Heading\nMore body text here.\n")
    [article] = _load(path)
    assert article.author == "Defense & Security Editor"
    assert article.standfirst == "A short standfirst sentence."
    assert article.text.splitlines()[0].startswith("The first long paragraph")


def test_markdown(fixtures_dir: Path) -> None:
    [article] = _load(fixtures_dir / "mars-rover.md")
    assert "Perseverance" in article.title and not article.title.startswith("#")
    assert article.source and article.published and article.url
    assert any(line.startswith("## ") for line in article.text.splitlines())


def test_jsonl_and_json_records(fixtures_dir: Path) -> None:
    articles = _load(fixtures_dir / "news.jsonl")
    assert [a.id for a in articles] == ["chess-2024", "coffee-2024"]
    [bees] = _load(fixtures_dir / "bees.json")
    assert bees.id == "bees-2024" and bees.published is not None


def test_id_without_url_or_id_comes_from_title_and_text(fixtures_dir: Path) -> None:
    [article] = _load(fixtures_dir / "lighthouse.txt")
    assert article.url == "" and article.id.startswith("txt-")
    assert _load(fixtures_dir / "lighthouse.txt")[0].id == article.id


def test_url_id_ignores_scheme_and_trailing_slash() -> None:
    assert article_id(None, "https://x.org/a/", "t", "x") == article_id(None, "http://X.org/a", "u", "y")


def _errors(items: list) -> list[str]:
    return [str(item) for item in items if isinstance(item, LoadError)]


def test_bad_jsonl_lines_name_the_line_and_the_rest_loads(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    good = {"id": "ok", "title": "Fine", "text": "Some text."}
    path.write_text("\n".join([
        json.dumps(good),
        "{not json",
        json.dumps({"id": "empty", "title": "No text", "text": "  "}),
        json.dumps({"id": "date", "title": "Bad date", "text": "x", "published": "last tuesday"}),
    ]))
    items = _load(path)
    assert [a.id for a in items if not isinstance(a, LoadError)] == ["ok"]
    errors = _errors(items)
    assert errors[0].startswith(f"{path}:2: invalid JSON")
    assert errors[1] == f"{path}:3: article has no text"
    assert errors[2] == f"{path}:4: invalid date 'last tuesday' (expected YYYY-MM-DD)"


def test_bad_files_get_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02PNG")
    (tmp_path / "latin1.md").write_bytes("# Caf\xe9\n\ntext".encode("latin-1"))
    (tmp_path / "notes.docx").write_text("x")
    (tmp_path / "array.json").write_text("[1, 2")
    errors = {Path(e.where.split(":")[0]).name: e.problem for path in iter_files([tmp_path])
              for e in (_load(path) if isinstance(path, Path) else [path]) if isinstance(e, LoadError)}
    assert errors == {
        "array.json": "invalid JSON (Expecting ',' delimiter, column 6)",
        "binary.txt": "binary file, not text",
        "empty.txt": "file is empty",
        "latin1.md": "not valid UTF-8 text (byte 5)",
        "notes.docx": "unknown file type '.docx'; expected one of .htm, .html, .json, .jsonl, .markdown, .md, .ndjson, .text, .txt",
    }


def test_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("Title\n" + "word " * 1000)
    [error] = list(load_file(path, max_bytes=1000))
    assert isinstance(error, LoadError) and "over the" in error.problem


def test_missing_path_is_reported() -> None:
    [error] = list(iter_files([Path("/nonexistent/file.txt")]))
    assert isinstance(error, LoadError) and error.problem == "no such file or folder"
