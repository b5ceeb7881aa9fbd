"""Tests of autograder/grader/freshness.py: is a grade still up to date?"""
from __future__ import annotations

from autograder.grader import freshness

SOLUTIONS = {"deep_rnn.ipynb": b"{}", "bidirectional_rnn.ipynb": b"[]"}


def _doc(digest="in", solutions=SOLUTIONS):
    return {"extra_data": {"input_sha256": digest,
                           **freshness.stamp(solutions)}}


def test_unchanged_needs_no_regrade():
    """Is a submission with the same input, solutions and grader left as
    it is?"""
    assert freshness.why_regrade(_doc(), "in",
                                 freshness.stamp(SOLUTIONS)) is None


def test_each_change_is_named():
    """Is a regrade asked for, with its reason, when the submission, the
    solutions or the grader changed, or there is no results.json?"""
    now = freshness.stamp(SOLUTIONS)
    assert freshness.why_regrade(None, "in", now) == "not graded yet"
    assert freshness.why_regrade(_doc("old"), "in", now) == \
        "the submission changed"
    changed = _doc(solutions={**SOLUTIONS, "deep_rnn.ipynb": b"{ }"})
    assert freshness.why_regrade(changed, "in", now) == \
        "the solutions or tests changed"
    older = _doc()
    older["extra_data"]["grader_version"] = "0.0.9+abc"
    assert freshness.why_regrade(older, "in", now).startswith(
        "the grader changed (0.0.9+abc -> ")


def test_grader_version_names_the_package_and_its_sources():
    """Is the grader's version the package version plus a source digest?"""
    version, _, digest = freshness.grader_version().partition("+")
    assert version and len(digest) == 12
