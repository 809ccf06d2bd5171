"""Scoring against the hand-checked support labels (../shared/eval/realtimeqa-dev/support.jsonl), pure.

Everything here works on plain per-question records (dicts, as bench/eval_dev.py writes them to its
--out JSONL), so a later session can score or compare saved runs without the store or a model:

* `wilson`: the 95% Wilson score interval of a proportion (as the eval kit's score.py computes it);
* `mc_pick` / `normalize`: the eval kit's choice mapping, copied (see below);
* `group_of`, `outcome`: which group a question falls in and what its answer did;
* `loss_stage`: for a supported question not answered right, the first stage that lost it;
* `figures`, `report_lines`, `loss_lines`: the headline figures with intervals, and the loss table.

Record keys read here (all written by bench/eval_dev.py):
  group ("supported" | "unsupported" | "unanswerable"), gold (index of the gold choice),
  found (the final answer is not the not-found one), pick (choice index the final answer names, or None),
  draft_pick (choice index the backend's own text named, before the citation check), draft_declined,
  support_rank (1-based rank of the first supporting passage in the question-alone top 10, or None),
  support_given (a supporting passage among the passages the answerer got), support_shown (one among
  those the answerer read: an LLM's prompt holds only passages scoring MIN_RELEVANCE or more), support_in_store,
  period_rule (the "no article in this period" rule answered), evidence_given (the labels' evidence
  sentence is in a passage the answerer got), evidence_passage_read (that passage is among those it read;
  None when unknown), evidence_shown (the sentence is in what the answerer reads, after its own trimming;
  None when unknown), citations (list of dicts), min_relevance.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

Z95 = 1.959964
INTERVAL = "95% Wilson score interval"

SUPPORTED, UNSUPPORTED, UNANSWERABLE = "supported", "unsupported", "unanswerable"

STAGES: dict[str, str] = {
    "not_retrieved": "no supporting passage among the passages given to the answerer",
    "period_rule": "the 'no article in this period' rule answered instead (assistant/news/freshness.py)",
    "not_shown": "the evidence's passage (else every supporting passage) was given but not read: it scored "
                 "below MIN_RELEVANCE",
    "trimmed": "the evidence sentence was retrieved but trimmed out of the prompt (LLM_CONTEXT_TOKENS)",
    "model_declined": "the backend declined (not found) with a supporting passage given",
    "citation_check": "the backend named the right choice; the citation check dropped or changed it",
    "model_wrong": "the backend named a wrong choice (or none) with a supporting passage given",
}
"""The stages that can lose a supported question, in the order they are checked (the first that applies)."""

_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")

# ---------------------------------------------------------------- the eval kit's choice mapping
# A faithful copy of normalize() and mc_pick() from ../shared/eval/score.py (the eval kit's scorer, standard
# library only). It is copied, not imported, because the eval kit lives outside the repository: the tests of
# this module run in CI on a clean clone without it. bench/eval_dev.py checks at start-up that this copy and
# the kit's own mc_pick agree on every dev question (`agrees_with`). Keep both in step.

_WORD = re.compile(r"\w+")
_STRIP_MARKS = {c: None for c in range(0x10000) if unicodedata.combining(chr(c))}
_STOP = frozenset(
    """a an the of in on at to for and or but nor by with from as into onto over under
    about after before than then so such is are was were be been being am it its it s
    this that these those there here he she they we you i me him her his hers their
    them our us your yours my not no do does did done don doesn didn isn wasn aren
    weren has have had having will would can could cannot can t should shall may might
    must what which who whom whose when where why how all any some each both either
    neither one ones s t also just only very more most other another same up out if
    answer question context information provided retrieved mention mentions mentioned
    says say said know unknown unclear""".split()
)
_ARTICLES = frozenset(["a", "an", "the"])


def normalize(text: str) -> str:
    """Lower-case, accent-fold, keep only word tokens joined by single spaces (score.py's normalize)."""
    if not text:
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).translate(_STRIP_MARKS)
    return " ".join(_WORD.findall(text.casefold()))


def _f1(p: list[str], g: list[str]) -> float:
    if not p or not g:
        return 0.0
    counts: dict[str, int] = {}
    for t in g:
        counts[t] = counts.get(t, 0) + 1
    common = 0
    for t in p:
        if counts.get(t, 0) > 0:
            counts[t] -= 1
            common += 1
    if common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


def _content(tokens: list[str]) -> list[str]:
    c = [t for t in tokens if t not in _STOP]
    return c if c else [t for t in tokens if t not in _ARTICLES]


def mc_pick(answer_text: str, choices: Sequence[str]) -> int | None:
    """The index of the choice a free-text answer states, or None (score.py's mc_pick, unchanged)."""
    ans = normalize(answer_text)
    if not ans or not choices:
        return None
    a_tok = ans.split()
    a_con = _content(a_tok)
    a_pad = " " + ans + " "
    norms = [normalize(c if isinstance(c, str) else str(c)) for c in choices]

    stated = [i for i, c in enumerate(norms) if c and (" " + c + " ") in a_pad]
    fragment = [] if stated else [i for i, c in enumerate(norms) if c and a_pad in (" " + c + " ")]

    def f1(i: int) -> float:
        return _f1(a_con, _content(norms[i].split()))

    if stated or fragment:
        cands = stated or fragment
        if len(cands) == 1:
            return cands[0]
        keyed = []
        for i in cands:
            pos = a_pad.find(" " + norms[i] + " ") if stated else 0
            keyed.append(((round(f1(i), 9), len(norms[i].split()), -pos), i))
        keyed.sort(reverse=True)
        if keyed[0][0] == keyed[1][0]:
            return None
        return keyed[0][1]

    scored = sorted(((round(f1(i), 9), i) for i in range(len(norms))), reverse=True)
    if scored[0][0] <= 0.0:
        return None
    if len(scored) > 1 and scored[1][0] == scored[0][0]:
        return None
    return scored[0][1]


def agrees_with(kit_mc_pick: Any, questions: Iterable[dict]) -> list[str]:
    """Ids of the questions on which this copy of mc_pick and the kit's differ (each choice, the gold text
    and the question itself are tried as answers); empty when the copy is faithful."""
    differ = []
    for question in questions:
        probes = [*question["choices"], question["answer_text"], question["question"],
                  f"{question['choices'][0]} and {question['choices'][-1]}"]
        if any(mc_pick(probe, question["choices"]) != kit_mc_pick(probe, question["choices"]) for probe in probes):
            differ.append(question["id"])
    return differ


def answer_pick(text: str, choices: Sequence[str]) -> int | None:
    """The choice an answer names: mc_pick on its text with the `[n]` citation markers taken out (a marker
    "[1]" would otherwise read as the number 1)."""
    return mc_pick(_MARKERS.sub("", text), choices)


def strip_markers(text: str) -> str:
    return _MARKERS.sub("", text)


# ---------------------------------------------------------------- intervals


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of k successes in n trials (nan, nan when n is 0)."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Share:
    """k of n, with its 95% Wilson interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    def __str__(self) -> str:
        if not self.n:
            return "-    (n=0)"
        low, high = self.interval
        return f"{self.value:.2f} [{low:.2f}, {high:.2f}] ({self.k}/{self.n})"

    def as_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {"k": self.k, "n": self.n, "value": self.value, "ci95": [low, high]}


def share(records: Sequence[dict], test: Any) -> Share:
    return Share(sum(1 for record in records if test(record)), len(records))


# ---------------------------------------------------------------- classification


def group_of(question: dict, label: dict | None) -> str:
    """supported (the labels say an article published by the question's date states the answer),
    unsupported (an "answerable" question no article answers), or unanswerable (the split's own flag)."""
    if label is not None and label.get("supported"):
        return SUPPORTED
    return UNSUPPORTED if question.get("answerable") else UNANSWERABLE


def outcome(record: dict) -> str:
    """right (a found answer naming the gold choice), wrong (a found answer naming another choice or
    none), or declined (the not-found answer, the period rule's included)."""
    if not record["found"]:
        return "declined"
    return "right" if record["pick"] == record["gold"] else "wrong"


def is_right(record: dict) -> bool:
    return outcome(record) == "right"


def wrong_but_cited(record: dict) -> bool:
    """A found answer (its citations passed verification) that names a choice other than the gold one."""
    return bool(record["found"] and record.get("citations") and record["pick"] is not None
                and record["pick"] != record["gold"])


def loss_stage(record: dict) -> str | None:
    """For a supported question not answered right, the first stage (STAGES) that lost it; None otherwise."""
    if record["group"] != SUPPORTED or outcome(record) == "right":
        return None
    if not record["support_given"]:
        return "not_retrieved"
    if record["period_rule"]:
        return "period_rule"
    if record.get("evidence_given"):  # judged by the passage holding the labels' evidence sentence
        if record.get("evidence_passage_read") is False:
            return "not_shown"
        if record.get("evidence_shown") is False:
            return "trimmed"
    elif record.get("support_shown") is False:
        return "not_shown"
    if record["draft_declined"]:
        return "model_declined"
    if record["draft_pick"] == record["gold"]:
        return "citation_check"
    return "model_wrong"


def why_not_stopped(record: dict) -> str:
    """For an answered question no article answers: what let the answer through, from the record's checks."""
    cited = record.get("citations") or []
    parts = []
    scores = [citation["score"] for citation in cited]
    if scores:
        gate = record["min_relevance"]
        parts.append(f"cited score {max(scores):.2f} {'>=' if max(scores) >= gate else '<'} "
                     f"MIN_RELEVANCE {gate:.2f}")
    period = record.get("asked_period")
    parts.append(f"period rule: {'a relevant passage from ' + period if period else 'no period named'}")
    ages = [age for citation in cited if (age := _days_before(citation.get("published"), record.get("date")))
            is not None]
    if ages:
        parts.append(f"cited article {min(ages)} days older than the question")
    terms = record.get("key_terms") or []
    if terms:
        held = [term["text"] for term in terms if term["held"]]
        missing = [term["text"] for term in terms if not term["held"]]
        parts.append("key terms " + (f"held by the cited passage ({', '.join(held)})" if not missing
                                     else f"partly held: {', '.join(held) or '-'}; missing {', '.join(missing)}"))
    else:
        parts.append("no key terms to check (the claim states no name, number or date the question lacks)")
    if any(citation.get("names_pick") for citation in cited):
        parts.append("the cited passage names the picked choice")
    pick = record["pick"]
    parts.append("names no choice" if pick is None else
                 "names the gold choice (by chance)" if pick == record["gold"] else "names a wrong choice")
    return "; ".join(parts)


# ---------------------------------------------------------------- figures and tables


def recall_figures(records: Sequence[dict]) -> dict[str, Share]:
    """Support recall@1/5/10 over the supported questions: a supporting passage among the first k."""
    supported = [record for record in records if record["group"] == SUPPORTED]
    return {f"support_recall@{k}": share(supported, lambda r, k=k: r["support_rank"] is not None
                                         and r["support_rank"] <= k) for k in (1, 5, 10)}


def figures(records: Sequence[dict]) -> dict[str, Share]:
    """The headline figures of answered records, each a Share (k of n with its interval)."""
    supported = [record for record in records if record["group"] == SUPPORTED]
    rest = [record for record in records if record["group"] != SUPPORTED]
    found = [record for record in records if record["found"]]
    result = recall_figures(records)
    for name in ("right", "wrong", "declined"):
        result[f"supported_{name}"] = share(supported, lambda r, name=name: outcome(r) == name)
    result["rest_declined"] = share(rest, lambda r: not r["found"])
    result["rest_answered"] = share(rest, lambda r: r["found"])
    result["wrong_but_cited"] = share(found, wrong_but_cited)
    return result


def report_lines(records: Sequence[dict]) -> list[str]:
    """The figures against the support labels, one per line, with their intervals."""
    f = figures(records)
    supported = sum(1 for record in records if record["group"] == SUPPORTED)
    unsupported = sum(1 for record in records if record["group"] == UNSUPPORTED)
    unanswerable = len(records) - supported - unsupported
    rest = [record for record in records if record["group"] != SUPPORTED and record["found"]]
    by_chance = sum(1 for record in rest if record["pick"] == record["gold"])
    named_wrong = sum(1 for record in rest if record["pick"] is not None and record["pick"] != record["gold"])
    return [
        f"against support.jsonl: {supported} supported, {unsupported} unsupported 'answerable', "
        f"{unanswerable} unanswerable; figures are share [{INTERVAL}] (k/n)",
        "  support recall, question alone: " + "  ".join(f"@{k} {f[f'support_recall@{k}']}" for k in (1, 5, 10)),
        f"  supported: right {f['supported_right']}  wrong {f['supported_wrong']}  "
        f"declined {f['supported_declined']}",
        f"  the rest (unsupported + unanswerable): declined {f['rest_declined']}  answered {f['rest_answered']} "
        f"(named the gold choice by chance {by_chance}, a wrong choice {named_wrong}, no choice "
        f"{len(rest) - by_chance - named_wrong})",
        f"  wrong-but-cited (found answers naming a wrong choice): {f['wrong_but_cited']}",
    ]


def loss_lines(records: Sequence[dict]) -> list[str]:
    """The loss table: each supported question not answered right and the stage that lost it, then each
    question no article answers that was answered, with the passage it cited and why nothing stopped it."""
    lost = [(record, loss_stage(record)) for record in records]
    lost = [(record, stage) for record, stage in lost if stage is not None]
    lines = [f"loss table: {len(lost)} supported questions not answered right"]
    for stage, meaning in STAGES.items():
        count = sum(1 for _, s in lost if s == stage)
        lines.append(f"  {stage:<15} {count:>3}  {meaning}")
    for record, stage in sorted(lost, key=lambda item: list(STAGES).index(item[1])):
        lines.append(f"  - {record['id']} [{stage}] {outcome(record)}: {_detail(record, stage)}")
    answered = [record for record in records if record["group"] != SUPPORTED and record["found"]]
    lines.append(f"answered without support: {len(answered)} questions")
    for record in answered:
        for citation in record.get("citations") or [{}]:
            lines.append(f"  - {record['id']} ({record['group']}) {_short(strip_markers(record['answer_text']), 60)!r} "
                         f"cites [{citation.get('n', '-')}] = passage #{citation.get('passage') or '-'} "
                         f"{citation.get('article_id', '-')} "
                         f"{citation.get('published') or 'undated'} {_short(citation.get('title', ''), 50)!r} "
                         f"quote {_short(citation.get('quote', ''), 90)!r}")
        lines.append(f"    why nothing stopped it: {why_not_stopped(record)}")
    return lines


def _detail(record: dict, stage: str) -> str:
    choices = record["choices"]
    gold = f"gold {choices[record['gold']]!r}"
    if stage == "not_retrieved":
        where = "in the store" if record.get("support_in_store", True) else "NOT in this store"
        rank = record["support_rank"]
        return f"{gold}; supporting article {where}; question-alone rank {rank if rank else '>10'}"
    if stage == "period_rule":
        return f"{gold}; asked period {record.get('asked_period')!r}"
    if stage == "not_shown":
        score = record.get("support_score")
        return f"{gold}; best supporting passage score {'-' if score is None else f'{score:.2f}'}, " \
               f"MIN_RELEVANCE {record['min_relevance']:.2f}"
    if stage == "trimmed":
        return f"{gold}; evidence {_short(record.get('evidence', ''), 80)!r}"
    draft = _short(strip_markers(record.get("draft_text", "")), 80)
    if stage == "model_declined":
        return f"{gold}; evidence {'given' if record.get('evidence_given') else 'not in the passages given'}; " \
               f"draft {draft!r}"
    final = _short(strip_markers(record.get("answer_text", "")), 80)
    if stage == "citation_check":
        return f"{gold}; draft {draft!r} -> answer {final!r}; unsupported {record.get('unsupported')}"
    named = "no choice" if record["draft_pick"] is None else repr(choices[record["draft_pick"]])
    evidence = "evidence read" if record.get("evidence_shown") else \
        "evidence given, not read" if record.get("evidence_given") else "evidence not in the passages given"
    return f"{gold}; {evidence}; draft named {named}: {draft!r}; final {final!r}"


def _days_before(published: str | None, asked: str | None) -> int | None:
    """Days from an ISO publication date to the question's date; None when either is missing or bad."""
    try:
        return (date.fromisoformat(str(asked)[:10]) - date.fromisoformat(str(published)[:10])).days
    except ValueError:
        return None


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def holds_evidence(text: str, evidence: str) -> bool:
    """The labels' evidence sentence occurs in the text (normalized: case, accents, punctuation ignored).
    A sentence cut by a passage boundary counts when its first or last ten words occur."""
    words = normalize(evidence).split()
    if not words:
        return False
    haystack = " " + normalize(text) + " "
    if " " + " ".join(words) + " " in haystack:
        return True
    edge = 10
    return len(words) > 2 * edge and any(" " + " ".join(part) + " " in haystack
                                         for part in (words[:edge], words[-edge:]))
