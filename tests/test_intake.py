"""Tests of autograder/grader/intake.py: odd input to grade-all, in words."""
from __future__ import annotations

import zipfile

import pytest

from autograder.grader import intake
from autograder.grader.errors import GraderError
from autograder.grader.submission import find_submissions
from fixtures import tiny_course as tc

NAMES = (tc.DEEP, tc.BI)


def _check(folder):
    return intake.check(folder, find_submissions(folder), NAMES)


def test_empty_folder_is_refused(tmp_path):
    """Does an empty folder stop the batch, saying it is empty and which
    layouts are expected?"""
    with pytest.raises(GraderError, match="is empty: expected nbgrader's"):
        _check(tmp_path)


def test_folder_of_loose_files_is_refused(tmp_path):
    """Does a folder holding only loose files (no folder or .zip per
    student) stop the batch, naming what it holds?"""
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(GraderError, match=r"holds notes\.txt, but no folder"):
        _check(tmp_path)


def test_no_recognisable_submission_is_refused(tmp_path):
    """Is a folder whose subfolders hold none of the assignment's
    notebooks refused, naming where it looked?"""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "Untitled.ipynb").write_text("{}")
    with pytest.raises(GraderError, match="holds deep_rnn.ipynb or "
                       "bidirectional_rnn.ipynb: looked in data"):
        _check(tmp_path)


def test_unrecognised_notebooks_are_listed(tmp_path):
    """Are a submission's notebooks that will not be graded listed (an
    extra notebook, a copy, a deeper duplicate), and a good one left
    without notes?"""
    tc.student(tmp_path / "alice", tc.ANSWERS)
    bob = tc.student(tmp_path / "bob", tc.ANSWERS)
    (bob / "Untitled.ipynb").write_text("{}")
    (bob / "old").mkdir()
    (bob / "old" / tc.DEEP).write_text("{}")
    (bob / ".ipynb_checkpoints").mkdir()
    (bob / ".ipynb_checkpoints" / tc.DEEP).write_text("{}")
    notes = _check(tmp_path)
    assert notes["alice"] == []
    assert notes["bob"] == ["not graded: Untitled.ipynb, old/deep_rnn.ipynb "
                            "(only deep_rnn.ipynb and bidirectional_rnn.ipynb"
                            " are graded, the shallowest copy of each)"]


def test_zip_contents_and_a_student_with_nothing(tmp_path):
    """Are a .zip's extra notebooks listed, and a student folder without
    the assignment's notebooks noted (while others have them)?"""
    src = tc.student(tmp_path / "src", tc.ANSWERS)
    with zipfile.ZipFile(tmp_path / "dave.zip", "w") as zf:
        zf.write(src / tc.DEEP, f"dave/{tc.DEEP}")
        zf.writestr("dave/scratch.ipynb", "{}")
    (tmp_path / "src" / "x.ipynb").write_text("{}")
    (tmp_path / "erin").mkdir()
    (tmp_path / "erin" / "answers.ipynb").write_text("{}")
    notes = _check(tmp_path)
    assert notes["dave"][0].startswith("not graded: dave/scratch.ipynb")
    assert notes["erin"] == ["no notebook of the assignment was found "
                             "(expected deep_rnn.ipynb and "
                             "bidirectional_rnn.ipynb); found answers.ipynb"]
    assert notes["src"][0].startswith("not graded: x.ipynb")
