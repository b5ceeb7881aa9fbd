"""The instructor's loop, end to end, on the tiny course (slow).

A class of two is graded; the instructor then grades alice's written
answer and overrides one of bob's tests through nbgrader's Gradebook API
(as formgrader's grade API does). Do grade-all (grading nothing), feedback,
results.json, grades.csv and the gradebook then agree? Is a regrade made
when the solutions change, keeping the manual grade, and the answer asked
for again when its text changes? Does a batch graded into another
gradebook leave the course's files alone?
"""
from __future__ import annotations

import csv
import types

import pytest

from autograder.config import ASSIGNMENT_ID
from autograder.grader import feedback, grade_all, results
from autograder.grader import gradebook as gbook
from autograder.sandbox import kernel as sandbox
from fixtures import tiny_course as tc
from autograder import notebooks

pytestmark = pytest.mark.slow

SANDBOX = sandbox.available()[0]
SCRIPT = "<script>window.PWNED = 1</script>"
ALICE = {**tc.ANSWERS, "mul": (
    "from IPython.display import HTML, display\n"
    f"display(HTML({SCRIPT!r}))\n" + tc.ANSWERS["mul"])}
BOB = {**tc.ANSWERS, "mul": "def mul(a, b):\n    return 6"}
COMMENT = "Right: it reads the future."


def _grade_all(c, folder=None, **kw) -> int:
    return grade_all.main(folder or c.root / "class", workers=2,
                          course_root=c.course, source=c.source,
                          sandbox=SANDBOX, **kw)


@pytest.fixture(scope="module")
def c(tmp_path_factory):
    """The tiny course with alice and bob graded once."""
    root = tmp_path_factory.mktemp("manual")
    c = types.SimpleNamespace(root=root, course=root / "course",
                              source=tc.write_source(root / "source"))
    tc.student(root / "class" / "alice", ALICE)
    tc.student(root / "class" / "bob", BOB)
    assert _grade_all(c, quiet=True) == 0
    c.url = gbook.db_url(None, c.course)
    return c


def _by_hand(url, student, gid, notebook, score, comment_on=None):
    """Give a score (and a comment) as formgrader does."""
    with gbook.open_gradebook(url) as gb:
        grade = gb.find_grade(gid, notebook, ASSIGNMENT_ID, student)
        grade.manual_score = score
        grade.needs_manual_grade = False
        if comment_on:
            gb.find_comment(comment_on, notebook, ASSIGNMENT_ID,
                            student).manual_comment = COMMENT
        gb.db.commit()


def _doc(c, student):
    return results.read(c.course / "results" / student / "results.json")


def _csv(path):
    return {r["student_id"]: r for r in csv.DictReader(path.open())}


def test_manual_grades_reach_results_csv_feedback(c, capsys):
    """After a manual grade and an override in the gradebook, does a
    grade-all that grades nothing bring results.json, its table and
    grades.csv in line, and feedback show the score and the comment?"""
    _by_hand(c.url, "alice", "explain", "bidirectional_rnn", 3.0, "explain")
    _by_hand(c.url, "bob", "test_mul", "bidirectional_rnn", 1.0)
    capsys.readouterr()
    assert _grade_all(c) == 0
    out = capsys.readouterr().out
    assert "graded 0 submission(s), skipped 2" in out
    assert "updated from the gradebook (manual grades): alice, bob" in out
    alice_row = next(li for li in out.splitlines() if li.startswith("alice"))
    assert alice_row.split()[1:] == ["ok", "ok", "ok", "ok*", "8/8"]

    alice, bob = _doc(c, "alice"), _doc(c, "bob")
    explain = results.tests_of(alice)["explain"]
    assert (alice["score"], explain["score"]) == (8.0, 3.0)
    assert COMMENT in explain["output"]
    mul = results.tests_of(bob)["test_mul"]
    assert mul["score"] == 1.0 and "override" in mul["tags"]
    assert results.tests_of(bob)["explain"]["status"] == results.PENDING

    rows = _csv(c.course / "grades.csv")
    assert float(rows["alice"]["score"]) == 8.0
    assert rows["alice"]["set_by_instructor"] == "explain"
    assert rows["bob"]["set_by_instructor"] == "test_mul"
    assert rows["bob"]["pending_manual_grading"] == "explain"
    with gbook.open_gradebook(c.url) as gb:
        sub = gb.find_submission(ASSIGNMENT_ID, "alice")
        assert (sub.score, sub.needs_manual_grade) == (8.0, False)

    assert feedback.main(course_root=c.course, student="alice",
                         quiet=True) == 0
    folder = c.course / "feedback" / "alice" / ASSIGNMENT_ID
    page = (folder / "index.html").read_text()
    assert "Score: <b>8 / 8</b>" in page and COMMENT in page
    assert "Graded by the instructor." in page
    notebook_page = (folder / "bidirectional_rnn.html").read_text()
    assert "&lt;script&gt;window.PWNED" in notebook_page
    assert SCRIPT not in notebook_page
    for path in [*folder.glob("*.html"),
                 *(c.course / "autograded").rglob("*.ipynb")]:
        assert "/autograder-" not in path.read_text(), path


def test_solutions_change_regrades_keeping_manual_grade(c, capsys):
    """When a solution notebook changes (a fixed hidden test), is every
    submission graded again, with the reason, and alice's manual grade
    kept; and when her answer then changes, is it asked for again?"""
    _by_hand(c.url, "alice", "explain", "bidirectional_rnn", 3.0)
    deep = notebooks.read(c.source / tc.DEEP)
    notebooks.cell(deep, "test_add").source = \
        notebooks.cell(deep, "test_add").source.replace(
            "add(5, 7) == 12", "add(-5, 7) == 2")
    notebooks.write(deep, c.source / tc.DEEP)
    capsys.readouterr()
    assert _grade_all(c) == 0
    out = capsys.readouterr().out
    assert "graded 2 submission(s), skipped 0" in out
    assert "alice: graded: the solutions or tests changed" in out
    explain = results.tests_of(_doc(c, "alice"))["explain"]
    assert explain["score"] == 3.0

    tc.student(c.root / "class" / "alice",
               {**ALICE, "explain": "It sees both directions."})
    capsys.readouterr()
    assert _grade_all(c) == 0
    assert "alice: graded: the submission changed" in capsys.readouterr().out
    explain = results.tests_of(_doc(c, "alice"))["explain"]
    assert explain["status"] == results.PENDING
    assert "changed since it was graded" in explain["output"]
    assert gbook.recorded(c.url, "alice")["explain"] is None


def test_other_gradebook_leaves_the_course_alone(c):
    """Graded into another gradebook (--db), does a batch write its
    grades.csv, autograded notebooks and results beside that gradebook,
    leaving the course's grades.csv and autograded/ untouched?"""
    before = {p: p.stat().st_mtime_ns for p in
              [c.course / "grades.csv",
               *(c.course / "autograded").rglob("*")]}
    tc.student(c.root / "class2" / "carol", tc.ANSWERS)
    other = c.root / "other"
    assert _grade_all(c, c.root / "class2", db=str(other / "gradebook.db"),
                      quiet=True) == 0
    assert before == {p: p.stat().st_mtime_ns for p in before}
    assert not (c.course / "autograded" / "carol").exists()
    assert not (c.course / "results" / "carol").exists()
    assert set(_csv(other / "grades.csv")) == {"carol"}
    assert (other / "autograded" / "carol" / ASSIGNMENT_ID / tc.DEEP).is_file()
    assert results.read(other / "results" / "carol" / "results.json")
