"""Tests of autograder/grader/gradebook.py: recording into nbgrader's gradebook."""
from __future__ import annotations

import csv
import shutil

import pytest
from nbgrader.api import MissingEntry

from autograder.grader import gradebook as gbook
from autograder.config import ASSIGNMENT_ID
from autograder.grader.results import TestResult


@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    """An empty gradebook file, made once (nbgrader runs alembic to make
    one, which takes seconds); tests copy it."""
    path = tmp_path_factory.mktemp("blank") / "gradebook.db"
    gbook.open_gradebook(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def new_db(blank, tmp_path):
    """Return a function making a fresh gradebook at tmp_path/<name>."""
    def make(name):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(blank, tmp_path / name)
        return f"sqlite:///{tmp_path / name}"
    return make


@pytest.fixture
def template_db(new_db):
    """A gradebook holding the assignment's structure, as nbgrader's
    generate_assignment would leave it (two notebooks, three cells)."""
    url = new_db("template.db")
    with gbook.open_gradebook(url) as gb:
        gb.add_assignment(ASSIGNMENT_ID)
        gb.add_notebook("deep_rnn", ASSIGNMENT_ID)
        gb.add_notebook("bidirectional_rnn", ASSIGNMENT_ID)
        gb.add_grade_cell("test_a", "deep_rnn", ASSIGNMENT_ID,
                          max_score=2, cell_type="code")
        gb.add_grade_cell("test_b", "bidirectional_rnn", ASSIGNMENT_ID,
                          max_score=3, cell_type="code")
        gb.add_grade_cell("explain", "bidirectional_rnn", ASSIGNMENT_ID,
                          max_score=3, cell_type="markdown")
        gb.add_solution_cell("explain", "bidirectional_rnn", ASSIGNMENT_ID)
        gb.add_source_cell("test_a", "deep_rnn", ASSIGNMENT_ID,
                           cell_type="code", source="assert True",
                           locked=True, checksum="abc")
    return url


def _tests(a=2.0, b=0.0):
    return [TestResult("test_a", "deep_rnn.ipynb", 2, a, ""),
            TestResult("test_b", "bidirectional_rnn.ipynb", 3, b, ""),
            TestResult("explain", "bidirectional_rnn.ipynb", 3, None,
                       manual=True)]


def test_db_url_accepts_default_path_and_url(tmp_path):
    """Is --db a file path or any SQLAlchemy URL, defaulting to
    gradebook.db at the course root?"""
    assert gbook.db_url(None, tmp_path) == \
        f"sqlite:///{tmp_path.resolve() / 'gradebook.db'}"
    assert gbook.db_url(str(tmp_path / "g.db")) == \
        f"sqlite:///{(tmp_path / 'g.db').resolve()}"
    assert gbook.db_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_record_creates_assignment_and_scores(new_db, template_db):
    """Does recording into an empty gradebook create the assignment from
    the template and store each autograded score, leaving the manual cell
    for a person?"""
    url = new_db("course/gradebook.db")
    gbook.record(url, "alice", _tests(), template_db=template_db)
    assert gbook.recorded(url, "alice") == {
        "test_a": 2.0, "test_b": 0.0, "explain": None}
    with gbook.open_gradebook(url) as gb:
        grade = gb.find_grade("explain", "bidirectional_rnn", ASSIGNMENT_ID,
                              "alice")
        assert grade.needs_manual_grade
        src = gb.find_source_cell("test_a", "deep_rnn", ASSIGNMENT_ID)
        assert src.checksum == "abc"


def test_re_recording_replaces_not_duplicates(new_db, template_db):
    """Does grading a student again update the one submission (no second
    row), so a resumed batch leaves the gradebook consistent?"""
    url = new_db("gradebook.db")
    gbook.record(url, "alice", _tests(b=0.0), template_db=template_db)
    gbook.record(url, "alice", _tests(b=3.0), template_db=template_db)
    with gbook.open_gradebook(url) as gb:
        assert len(gb.assignment_submissions(ASSIGNMENT_ID)) == 1
    assert gbook.recorded(url, "alice")["test_b"] == 3.0


def test_unknown_student_has_no_record(new_db, template_db):
    """Is a student never graded reported as having no grades?"""
    url = new_db("gradebook.db")
    gbook.record(url, "alice", _tests(), template_db=template_db)
    assert gbook.recorded(url, "bob") == {}
    with gbook.open_gradebook(url) as gb, pytest.raises(MissingEntry):
        gb.find_submission(ASSIGNMENT_ID, "bob")


def test_export_csv_is_nbgraders(tmp_path, new_db, template_db):
    """Is grades.csv nbgrader's CSV export, one row per student, with the
    autograded points as the score?"""
    url = new_db("gradebook.db")
    gbook.record(url, "alice", _tests(a=2.0, b=3.0), template_db=template_db)
    gbook.record(url, "bob", _tests(a=0.0, b=0.0), template_db=template_db)
    path = gbook.export_csv(url, tmp_path / "out" / "grades.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(path.open())}
    assert set(rows) == {"alice", "bob"}
    assert float(rows["alice"]["score"]) == 5.0
    assert float(rows["bob"]["score"]) == 0.0
    assert float(rows["alice"]["max_score"]) == 8.0


def _grade_by_hand(url, student, gid, notebook, score, comment=None):
    """Give a score as formgrader's grade API does (PUT /api/grade)."""
    with gbook.open_gradebook(url) as gb:
        grade = gb.find_grade(gid, notebook, ASSIGNMENT_ID, student)
        grade.manual_score = score
        grade.needs_manual_grade = False
        if comment:
            gb.find_comment(gid, notebook, ASSIGNMENT_ID,
                            student).manual_comment = comment
        gb.db.commit()


def test_regrade_keeps_a_manual_grade(new_db, template_db):
    """After the instructor grades the written answer, does a regrade
    keep the grade (not ask for it again), as long as the answer is the
    same?"""
    url = new_db("gradebook.db")
    gbook.record(url, "alice", _tests(), template_db=template_db)
    _grade_by_hand(url, "alice", "explain", "bidirectional_rnn", 3.0,
                   "Right: it sees the future.")
    gbook.record(url, "alice", _tests(b=3.0), template_db=template_db)
    assert gbook.recorded(url, "alice") == {
        "test_a": 2.0, "test_b": 3.0, "explain": 3.0}
    marks, comments = gbook.marks(url, "alice")
    assert marks["explain"].manual_score == 3.0
    assert not marks["explain"].needs_manual_grade
    assert comments == {"explain": "Right: it sees the future."}


def test_changed_answer_is_asked_again(new_db, template_db):
    """Is a written answer reopened (its manual grade cleared, waiting for
    a person) when the regrade says its text changed?"""
    url = new_db("gradebook.db")
    gbook.record(url, "alice", _tests(), template_db=template_db)
    _grade_by_hand(url, "alice", "explain", "bidirectional_rnn", 3.0)
    gbook.record(url, "alice", _tests(), template_db=template_db,
                 reopen=frozenset({"explain"}))
    marks, _ = gbook.marks(url, "alice")
    assert marks["explain"].manual_score is None
    assert marks["explain"].needs_manual_grade
    assert gbook.recorded(url, "alice")["explain"] is None


def test_override_survives_a_regrade(new_db, template_db):
    """Does an instructor's score on an autograded test keep winning over
    the autograder after a regrade, as in nbgrader?"""
    url = new_db("gradebook.db")
    gbook.record(url, "alice", _tests(b=0.0), template_db=template_db)
    _grade_by_hand(url, "alice", "test_b", "bidirectional_rnn", 2.0)
    gbook.record(url, "alice", _tests(b=0.0), template_db=template_db)
    marks, _ = gbook.marks(url, "alice")
    assert marks["test_b"].auto_score == 0.0
    assert marks["test_b"].manual_score == 2.0
    assert gbook.recorded(url, "alice")["test_b"] == 2.0


def test_marks_of_a_missing_gradebook_are_empty(tmp_path):
    """Is a gradebook file that does not exist read as empty, without
    being created?"""
    url = f"sqlite:///{tmp_path / 'none.db'}"
    assert gbook.marks(url, "alice") == ({}, {})
    assert not (tmp_path / "none.db").exists()


def test_grades_csv_shows_manual_grades_and_overrides(tmp_path, new_db,
                                                       template_db):
    """Does grades.csv keep nbgrader's columns, add each cell's score, and
    name the cells waiting for a person and those the instructor set?"""
    url = new_db("gradebook.db")
    gbook.record(url, "alice", _tests(b=0.0), template_db=template_db)
    gbook.record(url, "bob", _tests(), template_db=template_db)
    _grade_by_hand(url, "alice", "test_b", "bidirectional_rnn", 2.0)
    _grade_by_hand(url, "alice", "explain", "bidirectional_rnn", 3.0)
    path = gbook.export_csv(url, tmp_path / "grades.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(path.open())}
    assert list(rows["alice"])[:3] == ["assignment", "duedate", "timestamp"]
    assert float(rows["alice"]["score"]) == 7.0
    assert rows["alice"]["test_b"] == "2" and rows["alice"]["explain"] == "3"
    assert rows["alice"]["set_by_instructor"] == "test_b explain"
    assert rows["alice"]["pending_manual_grading"] == ""
    assert rows["bob"]["explain"] == ""
    assert rows["bob"]["pending_manual_grading"] == "explain"
    assert rows["bob"]["set_by_instructor"] == ""
