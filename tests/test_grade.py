"""Tests of autograder/grader/grade.py: grading one submission.

The fast tests cover each step on its own (opening a submission, reading
cell messages, combining nbgrader's score with the re-judged verdict,
explaining failures). The slow ones grade the tiny fixture course
(tests/fixtures/tiny_course.py) end to end, in the sandbox when it is
available.
"""
from __future__ import annotations

import os
import zipfile

import pytest

from autograder.grader import gradebook as gbook
from autograder.grader import grade, publish
from autograder.grader import results
from autograder.sandbox import kernel as sandbox
from autograder.config import ASSIGNMENT_ID, GRADING
from fixtures import tiny_course as tc

NAMES = (tc.DEEP, tc.BI)


# --------------------------------------------------------------- opening

def test_student_id_from_file_name():
    """Is the student id the folder or zip name, made safe for nbgrader?"""
    assert grade.student_id("/x/alice") == "alice"
    assert grade.student_id("/x/Alice Smith.zip") == "Alice_Smith"
    assert grade.student_id("/x/../evil;rm") == "evil_rm"


def test_folder_with_both_notebooks(tmp_path):
    """Are both notebooks of a complete submission folder found?"""
    folder = tc.student(tmp_path / "alice", tc.ANSWERS)
    sub = grade.open_submission(folder, tmp_path / "w", names=NAMES)
    assert sub.student == "alice"
    assert set(sub.notebooks) == set(NAMES) and not sub.problems


def test_missing_notebook_is_a_problem_not_an_error(tmp_path):
    """Is a missing notebook reported (its tests will score 0) while the
    other is still graded?"""
    folder = tc.student(tmp_path / "bob", tc.ANSWERS, skip=(tc.BI,))
    sub = grade.open_submission(folder, tmp_path / "w", names=NAMES)
    assert list(sub.notebooks) == [tc.DEEP]
    assert "missing" in sub.problems[tc.BI]


@pytest.mark.parametrize("content,words", [
    ("{not json", "not a valid notebook"),
    ('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
     "empty notebook"),
    ("", "not a valid notebook"),
])
def test_unreadable_notebook_is_a_problem(tmp_path, content, words):
    """Is malformed JSON or an empty notebook reported as such, not
    handed to nbgrader?"""
    folder = tc.student(tmp_path / "s", tc.ANSWERS)
    (folder / tc.DEEP).write_text(content)
    sub = grade.open_submission(folder, tmp_path / "w", names=NAMES)
    assert words in sub.problems[tc.DEEP]
    assert tc.DEEP not in sub.notebooks and tc.BI in sub.notebooks


def test_zip_with_nested_folder(tmp_path):
    """Is a .zip accepted, with the notebooks in a sub-folder, and does it
    hash like the same folder?"""
    folder = tc.student(tmp_path / "alice", tc.ANSWERS)
    zpath = tmp_path / "alice.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for name in NAMES:
            zf.write(folder / name, f"alice/{name}")
    sub = grade.open_submission(zpath, tmp_path / "w", names=NAMES)
    assert sub.student == "alice" and set(sub.notebooks) == set(NAMES)
    assert sub.digest == grade.digest_of(folder, NAMES)
    assert grade.digest_of_submission(zpath, NAMES) == sub.digest


def test_broken_zip_scores_zero_with_reason(tmp_path):
    """Is a corrupt .zip graded as missing notebooks, with a reason, rather
    than stopping the grader?"""
    zpath = tmp_path / "mallory.zip"
    zpath.write_bytes(b"PK\x03\x04 this is not a zip")
    sub = grade.open_submission(zpath, tmp_path / "w", names=NAMES)
    assert not sub.notebooks
    assert all("not a .zip" in why or "unzipped" in why
               for why in sub.problems.values())


def test_nonexistent_path_is_a_grader_error(tmp_path):
    """Is a path that does not exist refused (the grader cannot grade)?"""
    with pytest.raises(grade.GraderError):
        grade.open_submission(tmp_path / "nope", tmp_path / "w", names=NAMES)


def test_digest_changes_with_content(tmp_path):
    """Does editing a notebook change the digest (so grade-all regrades)?"""
    folder = tc.student(tmp_path / "s", tc.ANSWERS)
    before = grade.digest_of(folder, NAMES)
    assert grade.digest_of(folder, NAMES) == before
    tc.student(folder, {"add": "def add(a, b):\n    return 0"})
    assert grade.digest_of(folder, NAMES) != before


# ------------------------------------------------------------- judging

def _cell(gid="test_x", manual=False):
    return grade.GradedCell("deep_rnn.ipynb", gid, 2.0, manual)


def test_score_is_the_verdict_alone():
    """Does a contract test score its points when its verdict passed and
    0 when it failed, whatever nbgrader's cell did (stderr, a warning)?"""
    from autograder.grader.verdicts import Verdict

    gid = "test_deep_rnn_shapes"
    ok = grade._verdict_cell(_cell(gid), Verdict(True, "right shapes",
                                                 {"sizes": {"v": 1}}))
    assert ok.score == 2.0 and ok.output == "right shapes"
    assert ok.detail == {"sizes": {"v": 1}}
    bad = grade._verdict_cell(_cell(gid), Verdict(
        False, "output shape (3, 4) != (5, 4)"))
    assert bad.score == 0.0 and "(3, 4)" in bad.output


def test_missing_verdict_fails():
    """Does a contract test without a verdict score 0, saying why?"""
    got = grade._verdict_cell(_cell("test_deep_rnn_params"), None)
    assert got.score == 0.0 and "not run" in got.output


def test_nbgrader_refusal_zeroes_the_notebook_but_not_a_dead_kernel():
    """Is a notebook nbgrader refused (a test cell renamed or deleted) worth
    0, while a kernel that died while nbgrader executed it is not a
    refusal (the verdicts stand)?"""
    refused = {"success": False, "error": "MissingEntry: No such grade "
               "cell", "log": ""}
    died = {"success": False, "error": "", "log": "DeadKernelError: Kernel "
            "died"}
    assert "could not grade" in grade.rejected_by_nbgrader(refused)
    assert grade.rejected_by_nbgrader(died) is None
    assert grade.rejected_by_nbgrader({"success": True}) is None
    assert grade.rejected_by_nbgrader(None) is None


def test_manual_cell_is_pending_unless_left_as_released():
    """Is a written answer left pending for a person, with its points,
    except one left as released, which nbgrader scores 0?"""
    cell = _cell("explain", manual=True)
    got = grade._manual_cell(cell, {"auto_score": None,
                                    "needs_manual": True})
    assert got.pending and got.manual and got.max_score == 2.0
    stub = grade._manual_cell(cell, {"auto_score": 0.0,
                                     "needs_manual": False})
    assert stub.score == 0.0 and not stub.pending
    assert "left as released" in stub.output


def test_cell_message_reads_stdout_and_error():
    """Is a test's message its printed line and its error, without the
    terminal colour codes of the traceback?"""
    cell = {"outputs": [
        {"output_type": "stream", "name": "stdout", "text": "visible ok\n"},
        {"output_type": "error", "ename": "CheckFailed",
         "evalue": "\x1b[0;31mshape (1, 2) != (2, 2)\x1b[0m",
         "traceback": []}]}
    assert grade.cell_message(cell) == \
        "visible ok\nCheckFailed: shape (1, 2) != (2, 2)"
    assert grade.cell_message({"outputs": []}) == ""


def _run(status=None, timed_out=False, hits=()):
    return grade.Run(status or {}, timed_out, 0, 0, 0.0,
                     {"limit_hits": list(hits)})


def test_failure_reasons_are_in_words():
    """Does a notebook without grades get a reason a student understands:
    time limit, memory limit, dead kernel, or nbgrader's error line?"""
    ok = {"success": True, "error": "", "log": ""}
    assert grade.notebook_failure(ok, _run(), GRADING) is None
    assert "time limit exceeded" in grade.notebook_failure(
        None, _run(timed_out=True), GRADING)
    assert "memory limit exceeded" in grade.notebook_failure(
        {"success": False, "error": "", "log": ""},
        _run(hits=["memory limit exceeded: 5.0 GiB"]), GRADING)
    dead = {"success": False, "log": "", "error": "nbclient.exceptions."
            "DeadKernelError: Kernel died"}
    assert "kernel died" in grade.notebook_failure(dead, _run(), GRADING)
    other = {"success": False, "log": "", "error": "Traceback\n  x\n"
             "ValueError: bad metadata"}
    assert grade.notebook_failure(other, _run(), GRADING).endswith(
        "ValueError: bad metadata")


def test_error_line_picks_the_exception():
    """Is the one-line reason the last 'SomeError: ...' line of a log?"""
    log = ("[ERROR] x\nTraceback:\n  File y\n"
           "FileNotFoundError: alembic\n[ERROR] see above")
    assert grade.error_line(log) == "FileNotFoundError: alembic"
    assert grade.error_line("just text") == "just text"


# -------------------------------------------------------------- the command

def test_nonexistent_submission_exits_non_zero(tmp_path, capsys):
    """Does grading a path that does not exist exit non-zero with a
    one-line reason, and write nothing?"""
    code = grade.main(tmp_path / "nope", course_root=tmp_path)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and "no such file" in err
    assert not (tmp_path / "gradebook.db").exists()


def test_unusable_solutions_exit_non_zero(tmp_path, capsys):
    """Does a course without solution notebooks exit non-zero with a
    one-line reason?"""
    sub = tc.student(tmp_path / "alice", tc.ANSWERS)
    code = grade.main(sub, course_root=tmp_path, source=tmp_path / "empty")
    err = capsys.readouterr().err.strip()
    assert code == 2 and "no solution notebooks" in err
    assert len(err.splitlines()) == 1


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny source notebooks, and whether the sandbox is usable."""
    root = tmp_path_factory.mktemp("tiny")
    return tc.write_source(root / "source"), sandbox.available()[0]


@pytest.mark.slow
def test_grade_complete_submission_end_to_end(tmp_path, tiny, capsys):
    """Does a correct submission get full autograded points, its manual
    cell pending, a results.json with measurements, a gradebook record,
    and its autograded notebooks in the course?"""
    source, sandboxed = tiny
    sub = tc.student(tmp_path / "alice", tc.ANSWERS)
    course = tmp_path / "course"
    code = grade.main(sub, course_root=course, source=source,
                      sandbox=sandboxed)
    assert code == 0
    doc = results.read(course / "results" / "alice" / "results.json")
    assert {n: results.outcome(t) for n, t in
            results.tests_of(doc).items()} == {
        "test_add": "pass", "test_add_twice": "pass", "test_mul": "pass",
        "explain": "pending"}
    assert doc["score"] == 5.0
    extra = doc["extra_data"]
    assert extra["sandbox"] == ("bubblewrap" if sandboxed else "off")
    assert extra["wall_time_s"] > 0 and extra["peak_memory_mb"] > 0
    assert extra["device"]
    assert gbook.recorded(gbook.db_url(None, course), "alice") == {
        "test_add": 1.0, "test_add_twice": 2.0, "test_mul": 2.0,
        "explain": None}
    graded = course / "autograded" / "alice" / ASSIGNMENT_ID
    assert sorted(p.name for p in graded.glob("*.ipynb")) == sorted(NAMES)
    assert "alice" in capsys.readouterr().out


@pytest.mark.slow
def test_grade_restores_hidden_tests_and_missing_notebook(tmp_path, tiny):
    """Does a hard-coded answer fail the restored hidden test, an edited
    test cell get overwritten, and a missing notebook score 0 with a
    message, while grading still exits 0?"""
    source, sandboxed = tiny
    sub = tc.student(tmp_path / "carol", {
        "add": "def add(a, b):\n    return 3",       # passes visible only
        "test_add_twice": "print('tests? what tests?')",  # edited test
    }, skip=(tc.BI,))
    course = tmp_path / "course"
    assert grade.main(sub, course_root=course, source=source,
                      sandbox=sandboxed) == 0
    tests = results.tests_of(results.read(
        course / "results" / "carol" / "results.json"))
    assert tests["test_add"]["status"] == "failed"
    assert "hidden test failed" in tests["test_add"]["output"]
    assert tests["test_add_twice"]["status"] == "failed"
    for gid in ("test_mul", "explain"):
        assert tests[gid]["score"] == 0.0
        assert "bidirectional_rnn.ipynb is missing" in tests[gid]["output"]


def test_grader_refuses_without_the_data(monkeypatch):
    """Does the grader refuse to start, rather than fail every student's
    perplexity tests, when it cannot read the Time Machine text itself?"""
    from autograder import data

    def missing(*args, **kwargs):
        raise data.DataNotFoundError("not here")

    monkeypatch.setattr(data, "locate", missing)
    real = grade.Template(None, (grade.GradedCell(
        tc.DEEP, "test_build_deep_lstm_perplexity", 2.0, False),))
    with pytest.raises(grade.GraderError, match="timemachine.txt"):
        grade.require_data(real)
    tiny = grade.Template(None, (grade.GradedCell(tc.DEEP, "test_add", 1.0,
                                                  False),))
    grade.require_data(tiny)  # nothing to re-judge: no data needed


def test_publishing_skips_symlinks_and_fifos(tmp_path):
    """Are symlinks and FIFOs a student left behind kept out of the copy?"""
    src = tmp_path / "scratch"
    src.mkdir()
    (src / "deep_rnn.ipynb").write_text("{}")
    (src / "peek").symlink_to("/etc/hostname")
    os.mkfifo(src / "pipe")
    dest = tmp_path / "autograded"
    publish._replace_dir(src, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["deep_rnn.ipynb"]
