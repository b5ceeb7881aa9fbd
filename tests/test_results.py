"""Tests of autograder/grader/results.py: the Gradescope-format results.json."""
from __future__ import annotations

import json

from autograder.grader import results
from autograder.grader.results import Mark, TestResult


def _tests():
    return [
        TestResult("test_a", "deep_rnn.ipynb", 2, 2.0, "test_a: ok"),
        TestResult("test_b", "deep_rnn.ipynb", 3, 0.0, "CheckFailed: shape"),
        TestResult("explain", "bidirectional_rnn.ipynb", 3, None, manual=True),
    ]


def test_total_counts_only_earned_points():
    """Is the total the sum of earned points, with a failed test adding 0?"""
    doc = results.build(_tests(), execution_time=12.4, extra_data={})
    assert doc["score"] == 2.0
    assert doc["execution_time"] == 12
    assert doc["extra_data"]["max_autograded_score"] == 5
    assert doc["extra_data"]["pending_manual_points"] == 3


def test_each_test_cell_is_one_entry_named_by_grade_id():
    """Does every graded cell appear once, named by its grade_id, with
    score, max_score, output and a pass/fail status?"""
    entries = results.tests_of(results.build(_tests(), execution_time=1,
                                             extra_data={}))
    assert list(entries) == ["test_a", "test_b", "explain"]
    assert entries["test_a"]["status"] == "passed"
    assert entries["test_b"]["status"] == "failed"
    assert entries["test_b"]["score"] == 0.0
    assert entries["test_b"]["output"] == "CheckFailed: shape"


def test_manual_cell_is_pending_without_score():
    """Is an ungraded manual cell listed with max_score and marked pending,
    with no score (so no LMS reads it as zero)?"""
    entry = results.tests_of(results.build(_tests(), execution_time=1,
                                           extra_data={}))["explain"]
    assert entry["max_score"] == 3.0
    assert "score" not in entry
    assert entry["status"] == results.PENDING
    assert results.outcome(entry) == "pending"


def test_manual_cell_of_missing_notebook_scores_zero():
    """Is a manual cell whose notebook is missing scored 0, not pending?"""
    t = TestResult("explain", "b.ipynb", 3, 0.0, "missing", manual=True)
    entry = results.tests_of(results.build([t], execution_time=1,
                                           extra_data={}))["explain"]
    assert entry["score"] == 0.0 and entry["status"] == "failed"


def test_long_output_is_capped_keeping_the_end():
    """Is a flood of output cut so results.json stays small, keeping the
    error at its end?"""
    text = "x" * 100_000 + "\nCheckFailed: the real reason"
    clipped = results.clip(text, max_chars=500)
    assert len(clipped) <= 500
    assert clipped.endswith("CheckFailed: the real reason")
    assert results.clip("short", max_chars=500) == "short"


def test_write_is_atomic_and_readable(tmp_path):
    """Does write leave exactly the JSON file (no temporary file behind),
    and does read give None for a missing or corrupt file?"""
    doc = results.build(_tests(), execution_time=1, extra_data={"x": 1})
    path = results.write(tmp_path / "a" / "results.json", doc)
    assert json.loads(path.read_text()) == doc
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]
    assert results.read(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert results.read(tmp_path / "bad.json") is None


def test_score_table_marks_each_outcome():
    """Does the table show ok, FAIL and ? per test, and the total of all
    points with what is pending?"""
    doc = results.build(_tests(), execution_time=1, extra_data={})
    table = results.score_table({"alice": doc})
    row = next(line for line in table.splitlines()
               if line.startswith("alice"))
    assert row.split()[1:] == ["ok", "FAIL", "?", "2/8", "(3", "pending)"]
    assert "1: test_a" in table


def _marks(**by_id):
    return {gid: Mark(*m) for gid, m in by_id.items()}


def test_manual_grade_replaces_pending():
    """Once the instructor grades the written answer, does results.json
    show its score, count it in the total, and stop saying pending?"""
    tests = results.merge(_tests(), _marks(explain=(None, 3.0, None, False)))
    doc = results.build(tests, execution_time=1, extra_data={})
    entry = results.tests_of(doc)["explain"]
    assert entry["score"] == 3.0 and entry["status"] == "passed"
    assert "pending" not in entry["tags"]
    assert doc["score"] == 5.0
    assert doc["extra_data"]["pending_manual_points"] == 0
    assert "Graded by the instructor: 3 / 3" in entry["output"]
    row = results.score_table({"alice": doc}).splitlines()[1]
    assert row.split()[1:] == ["ok", "FAIL", "ok*", "5/8"]


def test_manual_grade_asked_again_stays_pending():
    """Is a written answer whose grade nbgrader asks for again (needs
    manual grade) still pending, whatever score it held?"""
    tests = results.merge(_tests(), _marks(explain=(None, 3.0, None, True)))
    assert results.tests_of(results.build(
        tests, execution_time=1, extra_data={}))["explain"]["status"] == \
        results.PENDING


def test_override_wins_and_says_so():
    """Does an instructor's score on an autograded test win over the
    autograder's, tagged as an override that names both scores?"""
    tests = results.merge(_tests(), _marks(test_b=(0.0, 2.0, None, False)),
                          {"test_b": "Fine: the shapes were right."})
    entry = results.tests_of(results.build(
        tests, execution_time=1, extra_data={}))["test_b"]
    assert entry["score"] == 2.0 and "override" in entry["tags"]
    assert "the autograder gave 0 / 3" in entry["output"]
    assert "CheckFailed: shape" in entry["output"]
    assert "Instructor's comment: Fine" in entry["output"]
    assert entry["extra_data"]["autograder_score"] == 0.0


def test_without_marks_nothing_changes():
    """Are the autograder's results kept as they are when the gradebook
    holds nothing beyond them (a known-good input for merge)?"""
    tests = results.merge(_tests(), _marks(test_a=(2.0, None, None, False)))
    assert [t.score for t in tests] == [2.0, 0.0, None]
    assert all(t.graded_by == results.AUTOGRADER for t in tests)


def test_round_trip_recovers_the_autograders_view():
    """Read back from results.json, are the autograder's own scores and
    messages recovered (not the instructor's), so that taking an override
    back restores the autograder's score?"""
    merged = results.merge(_tests(), _marks(
        test_b=(0.0, 2.0, None, False), explain=(None, 1.0, None, False)))
    doc = results.build(merged, execution_time=1, extra_data={})
    back = results.tests_from(json.loads(json.dumps(doc)))
    assert back == _tests()
    assert results.rebuild(doc, results.merge(back, {})) == results.build(
        _tests(), execution_time=1, extra_data={})


def test_sizes_travel_in_extra_data():
    """Are the sizes a test ran with (visible and hidden) kept per test,
    and the rest of its detail (a training curve) left out?"""
    sizes = {"sizes": {"num_hiddens": 16}, "other_sizes": {"num_hiddens": 9}}
    t = TestResult("test_a", "deep_rnn.ipynb", 2, 2.0, "ok",
                   detail={**sizes, "curve": [3.0, 2.0]})
    doc = results.build([t], execution_time=1, extra_data={})
    extra = results.tests_of(doc)["test_a"]["extra_data"]
    assert extra["other_sizes"] == {"num_hiddens": 9}
    assert "curve" not in extra
    assert results.tests_from(doc)[0].detail == sizes
