"""bench/support_scoring.py: intervals, the eval kit's choice mapping, and the loss stages, on hand-made records."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

import pytest

_PATH = Path(__file__).resolve().parent.parent / "bench" / "support_scoring.py"
_SPEC = importlib.util.spec_from_file_location("support_scoring", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
scoring = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("support_scoring", scoring)  # dataclasses look their module up while it loads
_SPEC.loader.exec_module(scoring)

CHOICES = ["Severance", "The White Lotus", "Shogun", "The Bear"]


def record(**changes: Any) -> dict[str, Any]:
    """A supported question answered right with the supporting passage given and read; `changes` break it."""
    base = {"id": "q", "group": "supported", "choices": CHOICES, "gold": 0, "found": True, "pick": 0,
            "draft_text": "Severance [1].", "draft_declined": False, "draft_pick": 0,
            "answer_text": "Severance [1].", "support_rank": 1, "support_given": True, "support_in_store": True,
            "support_shown": True, "support_score": 0.6, "period_rule": False, "asked_period": None,
            "evidence": "Severance led the nominations.", "evidence_given": True, "evidence_passage_read": True,
            "evidence_shown": True,
            "citations": [{"n": 1, "passage": 2, "article_id": "a1", "title": "Emmys", "published": "2024-07-17",
                           "score": 0.6, "quote": "Severance led the nominations.", "names_pick": True}],
            "unsupported": [], "key_terms": [], "min_relevance": 0.35}
    return {**base, **changes}


# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Statistics in Medicine 17,
# table I, method 3 (Wilson score interval without continuity correction).
@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_published_values(k: int, n: int, low: float, high: float) -> None:
    got = scoring.wilson(k, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_edges_and_share_text() -> None:
    assert all(math.isnan(bound) for bound in scoring.wilson(0, 0))
    low, high = scoring.wilson(10, 10)
    assert (low, high) == pytest.approx((0.7225, 1.0), abs=5e-5)
    assert str(scoring.Share(81, 263)) == "0.31 [0.26, 0.37] (81/263)"
    assert scoring.Share(3, 4).as_dict()["ci95"] == list(scoring.wilson(3, 4))


def test_mc_pick_as_the_eval_kit_maps_answers() -> None:
    assert scoring.mc_pick("The White Lotus received the most nominations.", CHOICES) == 1
    assert scoring.mc_pick("Lotus", CHOICES) == 1  # a fragment of one choice
    assert scoring.mc_pick("I could not find an answer to that in the stored articles.", CHOICES) is None
    assert scoring.mc_pick("Shogun and The Bear tied", CHOICES) == 3  # two stated: the longer choice wins
    assert scoring.mc_pick("Nobody said", CHOICES) is None  # no content word shared
    assert scoring.mc_pick("Lotus or Bear", ["White Lotus", "Black Bear"]) is None  # an exact tie
    assert scoring.normalize("Café  U.S.!") == "cafe u s"


def test_answer_pick_ignores_citation_markers() -> None:
    numbers = ["1", "2", "3", "4"]
    assert scoring.mc_pick("Two people were hurt [1].", numbers) == 0  # the kit reads the marker as "1"
    assert scoring.answer_pick("Two people were hurt [1].", numbers) is None
    assert scoring.answer_pick("3 people were hurt [1][2].", numbers) == 2


def test_agrees_with_finds_a_differing_copy() -> None:
    questions = [{"id": "q1", "question": "Which show led the Emmy nominations?", "choices": CHOICES,
                  "answer_text": "Severance"}]
    assert scoring.agrees_with(scoring.mc_pick, questions) == []
    assert scoring.agrees_with(lambda text, choices: 0, questions) == ["q1"]


def test_group_and_outcome() -> None:
    assert scoring.group_of({"answerable": True}, {"supported": True}) == "supported"
    assert scoring.group_of({"answerable": True}, {"supported": False}) == "unsupported"
    assert scoring.group_of({"answerable": False}, None) == "unanswerable"
    assert scoring.outcome(record()) == "right"
    assert scoring.outcome(record(pick=1)) == "wrong"
    assert scoring.outcome(record(pick=None)) == "wrong"  # found, but names no choice
    assert scoring.outcome(record(found=False, pick=None)) == "declined"


@pytest.mark.parametrize(("changes", "stage"), [
    ({}, None),
    ({"group": "unsupported", "pick": 1}, None),  # not a supported question: no loss stage
    ({"found": False, "pick": None, "support_given": False, "support_rank": None}, "not_retrieved"),
    ({"found": False, "pick": None, "period_rule": True}, "period_rule"),
    ({"found": False, "pick": None, "draft_declined": True, "evidence_passage_read": False}, "not_shown"),
    ({"found": False, "pick": None, "draft_declined": True, "evidence_given": False, "evidence_shown": None,
      "support_shown": False}, "not_shown"),  # no evidence given: judged by every supporting passage
    ({"found": False, "pick": None, "draft_declined": True, "support_shown": True, "evidence_passage_read": False},
     "not_shown"),  # another supporting passage was read, not the evidence's
    ({"found": False, "pick": None, "draft_declined": True, "evidence_shown": False}, "trimmed"),
    ({"found": False, "pick": None, "draft_declined": True}, "model_declined"),
    ({"found": False, "pick": None, "draft_declined": True, "evidence_given": False, "evidence_shown": None},
     "model_declined"),  # the evidence was never retrieved, so nothing was trimmed
    ({"found": False, "pick": None, "unsupported": ["Severance [1]."]}, "citation_check"),
    ({"pick": 1, "draft_pick": 0}, "citation_check"),  # the check rewrote a right draft into a wrong answer
    ({"pick": 1, "draft_pick": 1}, "model_wrong"),
    ({"found": False, "pick": None, "draft_pick": 1}, "model_wrong"),  # the check dropped a wrong sentence
    ({"pick": None, "draft_pick": None}, "model_wrong"),  # named no choice
])
def test_each_loss_stage_is_reachable(changes: dict[str, Any], stage: str | None) -> None:
    assert scoring.loss_stage(record(**changes)) == stage


def test_every_stage_has_a_test_case() -> None:
    tested = {"not_retrieved", "period_rule", "not_shown", "trimmed", "model_declined", "citation_check",
              "model_wrong"}
    assert tested == set(scoring.STAGES)


def test_wrong_but_cited() -> None:
    assert scoring.wrong_but_cited(record(pick=1))
    assert not scoring.wrong_but_cited(record())  # right
    assert not scoring.wrong_but_cited(record(pick=None))  # names no choice
    assert not scoring.wrong_but_cited(record(found=False, pick=None))
    assert not scoring.wrong_but_cited(record(pick=1, citations=[]))


def test_figures_count_each_group() -> None:
    records = [
        record(id="s1"),
        record(id="s2", support_rank=4, pick=1, draft_pick=1),
        record(id="s3", support_rank=None, support_given=False, found=False, pick=None, draft_declined=True),
        record(id="u1", group="unsupported", found=False, pick=None),
        record(id="u2", group="unanswerable", pick=2),
    ]
    f = scoring.figures(records)
    assert (f["support_recall@1"].k, f["support_recall@1"].n) == (1, 3)
    assert (f["support_recall@5"].k, f["support_recall@10"].k) == (2, 2)
    assert [f[f"supported_{name}"].k for name in ("right", "wrong", "declined")] == [1, 1, 1]
    assert (f["rest_declined"].k, f["rest_declined"].n, f["rest_answered"].k) == (1, 2, 1)
    assert (f["wrong_but_cited"].k, f["wrong_but_cited"].n) == (2, 3)  # s2 and u2, of s1, s2, u2 found


def test_loss_lines_name_the_stage_and_why_an_unsupported_answer_passed() -> None:
    records = [
        record(id="s1"),
        record(id="s2", pick=1, draft_pick=1, answer_text="The White Lotus led [1]."),
        record(id="u1", group="unsupported", date="2024-07-19", pick=2, answer_text="Shogun won [1].",
               asked_period="2024-07-13..2024-07-19", key_terms=[{"text": "Shogun", "kind": "name", "held": True}]),
    ]
    lines = scoring.loss_lines(records)
    text = "\n".join(lines)
    assert lines[0] == "loss table: 1 supported questions not answered right"
    assert any(line.split()[:2] == ["model_wrong", "1"] for line in lines)
    assert "s2 [model_wrong] wrong: gold 'Severance'; evidence read; draft named 'The White Lotus'" in text
    assert "s1" not in text
    assert "u1 (unsupported) 'Shogun won.' cites [1] = passage #2 a1 2024-07-17 'Emmys'" in text
    why = scoring.why_not_stopped(records[2])
    assert "cited score 0.60 >= MIN_RELEVANCE 0.35" in why
    assert "a relevant passage from 2024-07-13..2024-07-19" in why
    assert "key terms held by the cited passage (Shogun)" in why
    assert "cited article 2 days older than the question" in why
    assert why.endswith("names a wrong choice")


def test_holds_evidence() -> None:
    evidence = "“Severance” led all shows with 27 nominations, Apple TV+ said."
    assert scoring.holds_evidence("Intro. Severance led all shows with 27 nominations - Apple TV+ said. More.",
                                  evidence)
    assert not scoring.holds_evidence("Severance led all shows with 25 nominations.", evidence)
    long = " ".join(f"w{i}" for i in range(30))
    assert scoring.holds_evidence("start " + " ".join(f"w{i}" for i in range(12)), long)  # cut by a boundary
    assert not scoring.holds_evidence("anything", "")
