import pytest

from assistant.encoders.embeddings import MiniLMEmbeddings
from assistant.nlp.text import split_sentences
from assistant.types import Article
from ingest.chunking import chunk_article, sections

pytestmark = pytest.mark.slow

SENTENCES = [f"Sentence number {i} reports that the council met on Tuesday to discuss budget item {i}." for i in range(80)]


def _article(text: str, **extra: str) -> Article:
    return Article(id="a1", title="Council Budget Talks Drag On Into the Night", text=text, **extra)


def test_chunks_fit_the_model_window_and_never_cut_a_sentence(encoder: MiniLMEmbeddings) -> None:
    text = "\n".join(" ".join(SENTENCES[i:i + 5]) for i in range(0, 80, 5))
    chunks = chunk_article(_article(text), encoder.token_counts, 256)
    assert len(chunks) > 3
    for chunk in chunks:
        tokens = len(encoder.model.tokenizer(chunk.embed_text)["input_ids"])  # with [CLS] and [SEP]
        assert tokens <= 256
        assert chunk.embed_text.startswith("Council Budget Talks Drag On Into the Night\n")
    stored = [s for chunk in chunks for line in chunk.text.splitlines() for s in split_sentences(line)]
    assert stored == SENTENCES


def test_sections_and_positions_are_kept(encoder: MiniLMEmbeddings) -> None:
    body = ("Opening paragraph. " * 30 + "\nBudget Vote Delayed\n" + " ".join(SENTENCES[:20])
            + "\nWhat Comes Next\n" + " ".join(SENTENCES[20:40]))
    chunks = chunk_article(_article(body, standfirst="The standfirst."), encoder.token_counts, 256,
                           {"article_id": "a1"})
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert chunks[0].text.startswith("The standfirst.")
    headings = [c.section for c in chunks]
    assert "Budget Vote Delayed" in headings and "What Comes Next" in headings
    for chunk in chunks:
        assert chunk.metadata["article_id"] == "a1"
        assert chunk.metadata["section"] == chunk.section and chunk.metadata["position"] == chunk.position
        assert chunk.id == f"a1#{chunk.position}"
        if chunk.section:
            assert chunk.embed_text.split("\n")[1] == chunk.section


def test_a_sentence_longer_than_the_window_is_split_to_fit(encoder: MiniLMEmbeddings) -> None:
    monster = "and then " * 400 + "it ended."
    chunks = chunk_article(_article(monster), encoder.token_counts, 256)
    assert len(chunks) >= 3
    assert all(len(encoder.model.tokenizer(c.embed_text)["input_ids"]) <= 256 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == monster.split()


def test_short_section_is_merged_rather_than_left_tiny(encoder: MiniLMEmbeddings) -> None:
    chunks = chunk_article(_article("One short paragraph.\nTiny Heading\nAnother short one."), encoder.token_counts)
    assert len(chunks) == 1
    assert chunks[0].text == "One short paragraph.\nTiny Heading\nAnother short one."


def test_markdown_headings_become_sections() -> None:
    article = _article("Intro text here.\n## The Heading\nBody under it.")
    assert sections(article) == [("", ["Intro text here."]), ("The Heading", ["Body under it."])]
