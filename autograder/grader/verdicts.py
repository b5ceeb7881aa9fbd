"""Re-judge recorded evidence in the grader's own process.

Student code ran in the kernel; here none has run. Every entry a test cell
recorded is judged again with the kit's judges, and on top of that:

* the hidden call must be among the entries (its sizes re-derived from the
  grading seed), so skipping the hidden test cannot pass;
* the inputs of the reference comparison must be the ones drawn from the
  seed, and the causality zoo is re-drawn from the seed;
* the device test expects the grader's ``d2l.try_gpu()`` unless the cell
  asked for a device explicitly.

The two perplexity tests are judged by ``autograder.student.perplexity.judge``.
"""
from __future__ import annotations

import torch
from d2l import torch as d2l

from autograder import nbtests
from autograder.grader import causality
from autograder.grader import evidence
from autograder.student import reference
from autograder.contract import NOTEBOOKS
from autograder.student.errors import CheckFailed

NO_EVIDENCE = "no evidence recorded: the test cell did not run to the end"
Verdict = tuple[bool, str]


def test_ids() -> list[str]:
    """Every autograded test grade_id of the contract, in notebook order."""
    return [gid for nb in NOTEBOOKS for gid in nb.tests]


def rejudge(evidence_dir, seed) -> dict[str, Verdict]:
    """Verdict per test grade_id: ``(passed, message)``.

    Args:
        evidence_dir: the folder the kernel recorded into.
        seed: the grading seed the kernel ran with (``AUTOGRADER_SEED``).
    """
    return {gid: rejudge_one(evidence_dir, gid, str(seed))
            for gid in test_ids()}


def rejudge_one(evidence_dir, gid: str, seed: str) -> Verdict:
    """The verdict of one test; never raises."""
    try:
        entries = evidence.load(evidence_dir, gid)
    except evidence.BadEvidence as exc:
        return False, f"evidence unusable: {exc}"
    if not entries:
        return False, NO_EVIDENCE
    try:
        if gid in nbtests.PERPLEXITY_TESTS:
            return judge_perplexity(entries, nbtests.PERPLEXITY_TESTS[gid])
        with nbtests.one_thread():
            for entry in entries:
                judge_entry(gid, entry, seed)
            require_hidden(gid, entries, seed)
    except CheckFailed as exc:
        return False, str(exc)
    except Exception as exc:  # noqa: BLE001 - malformed (forged) evidence
        return False, f"evidence malformed: {type(exc).__name__}: {exc}"
    return True, f"passed ({len(entries)} call(s) re-judged)"


def judge_entry(gid: str, entry: dict, seed: str) -> None:
    """Judge one recorded entry as the grader sees it."""
    if gid == "test_leaks_future_causality":
        zoo = causality.draw_zoo(nbtests.generator_for(gid, {}, seed))
        causality.judge(entry, zoo)
    elif gid.endswith("_matches_torch"):
        require_drawn_inputs(gid, entry, seed)
        nbtests.JUDGES[gid](entry)
    elif gid.endswith("_device"):
        requested = entry.get("requested")
        expected = requested if requested is not None else str(
            d2l.try_gpu())
        nbtests.JUDGES[gid](entry, expected)
    else:
        nbtests.JUDGES[gid](entry)


def require_drawn_inputs(gid: str, entry: dict, seed: str) -> None:
    """Fail unless the entry's inputs are the ones the seed draws."""
    case = reference.draw_case(
        entry["sizes"], nbtests.generator_for(gid, entry["sizes"], seed))
    same = torch.equal(case["tokens"], entry["tokens"]) and all(
        torch.equal(a, b) for key in ("params", "state")
        for a, b in zip(case[key], entry[key], strict=True))
    if not same:
        raise CheckFailed("the recorded inputs are not the ones drawn at "
                          "grading time")


def require_hidden(gid: str, entries: list, seed: str) -> None:
    """Fail unless one entry has the hidden sizes drawn from the seed."""
    if not nbtests.SIZE_KEYS.get(gid):
        return
    hidden = nbtests.hidden_sizes(gid, seed)
    if not any(entry.get("sizes") == hidden for entry in entries):
        raise CheckFailed(f"no evidence for the hidden test "
                          f"({nbtests.sizes_text(hidden)}): the test cell did "
                          f"not run to the end")


def judge_perplexity(entries: list, kind: str) -> Verdict:
    """Hand the perplexity evidence to ``autograder.student.perplexity.judge``.

    Args:
        kind: ``"deep"`` or ``"bidirectional"``, from the grade_id (so the
            evidence cannot claim the other model's threshold).

    ``judge`` returns a message (or ``(passed, message)``) and raises
    ``CheckFailed`` to fail.
    """
    try:
        from autograder.student import perplexity
    except ImportError as exc:
        return False, f"the perplexity check is unavailable: {exc}"
    result = perplexity.judge(entries, kind=kind)
    if type(result) is tuple and len(result) == 2:
        return bool(result[0]), str(result[1])
    return True, str(result) if result else "passed"
