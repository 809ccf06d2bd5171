"""Articles for the tests of following a question (issue 23): a flood story whose death toll changes, and an
article about something else. Written to files by the tests that ingest them."""

from __future__ import annotations

from pathlib import Path

QUESTION = "How many people died in the Lowmere floods?"
FIRST_REPORT = """Floods Sweep Through Lowmere After Record Rainfall
Source: Valley Courier
Published: 2026-11-30
URL: https://courier.example.invalid/lowmere-floods

Floods swept through the town of Lowmere on Sunday after two days of record rainfall.
12 people died in the Lowmere floods, the regional fire service said on Sunday evening.
Rescue teams evacuated about 400 residents from homes along the river Low.
"""
NEW_FIGURE = """Lowmere Flood Death Toll Rises as Waters Recede
Source: Northern Wire
Published: 2026-12-02
URL: https://wire.example.invalid/lowmere-toll

The floods in Lowmere have killed 15 people, the regional fire service said on Tuesday.
Three more bodies were found as the waters of the river Low receded from the town's lower streets.
"""
IRRELEVANT = """Kelmouth Bakery Wins Regional Bread Prize
Source: Coastal Herald
Published: 2026-12-02

A small bakery in Kelmouth won the regional prize for its sourdough bread on Tuesday.
The judges praised its crust and its long fermentation.
"""
CHANGE = "Death toll: 12 dead [1] → 15 dead [2]"


def write(folder: Path, name: str, text: str) -> Path:
    """The article as a file `name` in `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
