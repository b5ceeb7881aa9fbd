"""Tests of autograder/grader/grade_all.py: a whole class, in parallel, resumably.

The slow test grades a batch of seven tiny submissions (a good one, wrong
ones, a zip, a malformed notebook, a crashing kernel, a corrupt zip) with
two workers, then re-runs the batch and checks that nothing is re-graded.
"""
from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from autograder.grader import freshness
from autograder.grader import grade
from autograder.grader import grade_all
from autograder.grader import results
from autograder.sandbox import kernel as sandbox
from autograder.grader import gradebook as gbook
from autograder.config import ASSIGNMENT_ID
from fixtures import tiny_course as tc


def test_nbgrader_layout(tmp_path):
    """Is nbgrader's submitted/<student>/<assignment>/ layout read, from
    the course root or from submitted/ itself?"""
    for s in ("alice", "bob"):
        tc.student(tmp_path / "submitted" / s / ASSIGNMENT_ID, tc.ANSWERS)
    want = {s: tmp_path / "submitted" / s / ASSIGNMENT_ID
            for s in ("alice", "bob")}
    assert grade_all.find_submissions(tmp_path) == want
    assert grade_all.find_submissions(tmp_path / "submitted") == want


def test_folder_and_zip_per_student(tmp_path):
    """Are a folder per student and a zip per student both found, with
    hidden folders ignored?"""
    tc.student(tmp_path / "alice", tc.ANSWERS)
    with zipfile.ZipFile(tmp_path / "bob.zip", "w") as zf:
        zf.writestr("deep_rnn.ipynb", "{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / "notes.txt").write_text("not a submission")
    assert grade_all.find_submissions(tmp_path) == {
        "alice": tmp_path / "alice", "bob": tmp_path / "bob.zip"}


def test_skipped_only_when_input_solutions_and_grader_are_the_same(
        tmp_path):
    """Is a submission skipped only when its results.json records the
    same notebooks, solutions and grader, and otherwise graded with the
    reason (known-bad inputs: a changed notebook, changed solutions)?"""
    sub = tc.student(tmp_path / "alice", tc.ANSWERS)
    out = tmp_path / "results.json"
    stamp = freshness.stamp({"deep_rnn.ipynb": b"1"})
    assert grade_all.why_grade(sub, out, stamp) == "not graded yet"
    digest = grade.digest_of_submission(sub)
    results.write(out, results.build([], execution_time=1, extra_data={
        "input_sha256": digest, **stamp}))
    assert grade_all.why_grade(sub, out, stamp) is None
    assert grade_all.why_grade(sub, out, stamp, force=True) == "--force"
    assert grade_all.why_grade(sub, out, freshness.stamp(
        {"deep_rnn.ipynb": b"2"})) == "the solutions or tests changed"
    tc.student(sub, {"add": "def add(a, b):\n    return 0"})
    assert grade_all.why_grade(sub, out, stamp) == "the submission changed"


def test_empty_folder_exits_with_a_reason(tmp_path, capsys):
    """Does grade-all on an empty folder exit 2 with a reason, instead of
    an empty table and exit 0?"""
    (tmp_path / "class").mkdir()
    code = grade_all.main(tmp_path / "class", course_root=tmp_path,
                          source=tc.write_source(tmp_path / "source"),
                          sandbox=False, quiet=True)
    assert code == 2
    assert "is empty: expected" in capsys.readouterr().err


def _class(folder):
    """Seven submissions; returns student -> expected outcomes."""
    ok = {"test_add": "pass", "test_add_twice": "pass", "test_mul": "pass",
          "explain": "pending"}
    tc.student(folder / "alice", tc.ANSWERS)
    tc.student(folder / "bob", {**tc.ANSWERS, "add": "def add(a, b):\n"
                                "    return a - b"}, skip=(tc.BI,))
    tc.student(folder / "carol", {**tc.ANSWERS, "mul": "def mul(a, b):\n"
                                  "    return 6"})
    dave = tc.student(folder / "dave_src", tc.ANSWERS)
    with zipfile.ZipFile(folder / "dave.zip", "w") as zf:
        for name in (tc.DEEP, tc.BI):
            zf.write(dave / name, f"dave/{name}")
    shutil.rmtree(dave)
    tc.student(folder / "erin", tc.ANSWERS)
    (folder / "erin" / tc.DEEP).write_text('{"cells": [')
    tc.student(folder / "frank", {**tc.ANSWERS, "mul": "import os\n"
                                  "os._exit(3)"})
    (folder / "gina.zip").write_bytes(b"PK\x03\x04garbage")
    fail = "FAIL"
    return {
        "alice": ok,
        "bob": {"test_add": fail, "test_add_twice": fail, "test_mul": fail,
                "explain": fail},
        "carol": {**ok, "test_mul": fail},
        "dave": ok,
        "erin": {**ok, "test_add": fail, "test_add_twice": fail},
        "frank": {**ok, "test_mul": fail},
        "gina": {"test_add": fail, "test_add_twice": fail, "test_mul": fail,
                 "explain": fail},
    }


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """The class graded once with two workers."""
    root = tmp_path_factory.mktemp("batch")
    expected = _class(root / "class")
    source = tc.write_source(root / "source")
    course = root / "course"
    code = grade_all.main(root / "class", workers=2, course_root=course,
                          source=source, sandbox=sandbox.available()[0],
                          quiet=True)
    return root, course, source, expected, code


@pytest.mark.slow
def test_batch_grades_everyone_with_exact_outcomes(batch):
    """Does a batch with broken and crashing submissions finish, giving
    every student their exact per-test outcome?"""
    _, course, _, expected, code = batch
    assert code == 0
    for student, want in expected.items():
        doc = results.read(course / "results" / student / "results.json")
        got = {n: results.outcome(t) for n, t in
               results.tests_of(doc).items()}
        assert got == want, student
    frank = results.tests_of(results.read(
        course / "results" / "frank" / "results.json"))
    assert "kernel died" in frank["test_mul"]["output"]
    erin = results.tests_of(results.read(
        course / "results" / "erin" / "results.json"))
    assert "not a valid notebook" in erin["test_add"]["output"]


@pytest.mark.slow
def test_batch_writes_grades_csv_and_gradebook(batch):
    """Is grades.csv nbgrader's export with one row per student, matching
    the gradebook?"""
    _, course, _, expected, _ = batch
    rows = {r["student_id"]: r for r in
            csv.DictReader((course / "grades.csv").open())}
    assert set(rows) == set(expected)
    assert float(rows["alice"]["score"]) == 5.0
    assert float(rows["bob"]["score"]) == 0.0
    url = gbook.db_url(None, course)
    assert gbook.recorded(url, "carol")["test_mul"] == 0.0


@pytest.mark.slow
def test_rerun_grades_nothing_new(batch, capsys):
    """Does re-running the batch skip every submission already graded and
    unchanged, and re-grade only one that changed?"""
    root, course, source, _, _ = batch
    stamps = {p: p.stat().st_mtime_ns
              for p in (course / "results").glob("*/results.json")}
    capsys.readouterr()
    assert grade_all.main(root / "class", workers=2, course_root=course,
                          source=source, sandbox=sandbox.available()[0]) == 0
    assert "graded 0 submission(s), skipped 7" in capsys.readouterr().out
    assert stamps == {p: p.stat().st_mtime_ns for p in stamps}


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention ``text``."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmd = open(f"/proc/{entry.name}/cmdline", "rb").read()
            except OSError:
                continue
            if text.encode() in cmd:
                found.append(cmd.replace(b"\0", b" ").decode(errors="replace"))
    return found


@pytest.mark.slow
def test_sigkill_then_resume_loses_nothing(tmp_path):
    """SIGKILL grade-all mid-batch, then run it again: does every
    submission end up graded exactly once, with no grader process left
    behind and a consistent gradebook?"""
    students = ["s1", "s2", "s3", "s4"]
    for s in students:
        tc.student(tmp_path / "class" / s, tc.ANSWERS)
    source = tc.write_source(tmp_path / "source")
    course = tmp_path / "course"
    scratch = tmp_path / "scratch"  # TMPDIR: the batch's scratch folders
    scratch.mkdir()
    script = ("import sys; from autograder.grader import grade_all; sys.exit("
              f"grade_all.main({str(tmp_path / 'class')!r}, workers=2, "
              f"course_root={str(course)!r}, source={str(source)!r}, "
              f"sandbox={sandbox.available()[0]}, quiet=True))")
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.monotonic() + 600
    while not list((course / "results").glob("*/results.json")):
        assert proc.poll() is None, "the batch ended before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.parent.name for p in
                   (course / "results").glob("*/results.json")}
    assert done_before < set(students), "killed too late to test resuming"
    time.sleep(3)  # PR_SET_PDEATHSIG needs a moment to reach everyone
    assert _processes_mentioning(str(scratch)) == []
    stamps = {s: (course / "results" / s / "results.json").stat().st_mtime_ns
              for s in done_before}
    proc = subprocess.run([sys.executable, "-c", script], env=env)
    assert proc.returncode == 0
    for s in students:
        doc = results.read(course / "results" / s / "results.json")
        assert doc["score"] == 5.0, s
    # graded exactly once: the finished ones were not re-graded
    assert stamps == {s: (course / "results" / s / "results.json")
                      .stat().st_mtime_ns for s in done_before}
    url = gbook.db_url(None, course)
    with gbook.open_gradebook(url) as gb:
        subs = gb.assignment_submissions(ASSIGNMENT_ID)
        assert sorted(sub.student.id for sub in subs) == students
    assert all(gbook.recorded(url, s)["test_add"] == 1.0 for s in students)
