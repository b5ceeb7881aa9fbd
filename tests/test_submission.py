"""Tests of autograder/grader/submission.py: what the grader reads of a
submission, before any notebook is opened (issues 11 and 16).

Links, FIFOs and oversized files are made in tmp_path; nothing is graded.
"""
from __future__ import annotations

import dataclasses
import os
import stat
import sys
import time
import zipfile
from pathlib import Path

import pytest

from autograder.config import ASSIGNMENT_ID, GRADING
from autograder.grader import submission
from autograder.grader.errors import GraderError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures import tiny_course as tc  # noqa: E402

NAMES = (tc.DEEP, tc.BI)
SMALL = dataclasses.replace(GRADING, notebook_bytes=100_000,
                            zip_bytes=1_000_000)


def _open(path, tmp_path, limits=GRADING):
    return submission.open_submission(path, tmp_path / "w", names=NAMES,
                                      limits=limits)


@pytest.fixture
def solutions(tmp_path) -> Path:
    """A stand-in for the course's solutions/ notebooks (full marks)."""
    return tc.student(tmp_path / "solutions", tc.ANSWERS)


# ------------------------------------------------------------ links, FIFOs


def test_symlinked_notebooks_are_not_followed(tmp_path, solutions):
    """Issue 11: does a folder whose notebooks are links to the solutions
    grade nothing, saying each is a link?"""
    folder = tmp_path / "mallory"
    folder.mkdir()
    for name in NAMES:
        (folder / name).symlink_to(solutions / name)
    sub = _open(folder, tmp_path)
    assert not sub.notebooks
    for name in NAMES:
        assert "is a symbolic link" in sub.problems[name]
        assert "score 0" in sub.problems[name]


def test_a_regular_copy_is_graded_beside_a_link(tmp_path, solutions):
    """Is a real notebook deeper down graded when the top one is a link
    (the link counts as missing, not the submission)?"""
    folder = tc.student(tmp_path / "s" / "deeper", tc.ANSWERS).parent
    (folder / tc.DEEP).symlink_to(solutions / tc.DEEP)
    sub = _open(folder, tmp_path)
    assert sub.notebooks[tc.DEEP] == folder / "deeper" / tc.DEEP


def test_a_symlinked_folder_is_not_entered(tmp_path, solutions):
    """Is a link to a folder of notebooks inside a submission not walked?"""
    folder = tmp_path / "mallory"
    folder.mkdir()
    (folder / "work").symlink_to(solutions, target_is_directory=True)
    sub = _open(folder, tmp_path)
    assert not sub.notebooks
    assert all("missing" in why for why in sub.problems.values())


def test_a_submission_that_is_a_link_is_refused(tmp_path, solutions):
    """Is a whole submission that is a link graded as nothing, saying so?"""
    (tmp_path / "mallory").symlink_to(solutions, target_is_directory=True)
    sub = _open(tmp_path / "mallory", tmp_path)
    assert not sub.notebooks
    assert all("symbolic link" in why for why in sub.problems.values())
    assert submission.digest_of_submission(tmp_path / "mallory", NAMES)


def test_a_fifo_is_neither_read_nor_waited_on(tmp_path):
    """Does a FIFO named like a notebook count as missing, at once (reading
    it would hang the grader)?"""
    folder = tc.student(tmp_path / "s", tc.ANSWERS, skip=(tc.DEEP,))
    os.mkfifo(folder / tc.DEEP)
    start = time.monotonic()
    sub = _open(folder, tmp_path)
    digest = submission.digest_of(folder, NAMES)
    assert time.monotonic() - start < 10 and digest
    assert "a FIFO" in sub.problems[tc.DEEP]
    assert set(sub.notebooks) == {tc.BI}


def test_a_link_in_a_zip_is_not_unpacked(tmp_path, solutions):
    """Issue 11: is a .zip member that is a symbolic link (as ``zip -y``
    stores it, and ``unzip`` restores it) refused, with the reason?"""
    zpath = tmp_path / "mallory.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        info = zipfile.ZipInfo(tc.DEEP)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, str(solutions / tc.DEEP))
        zf.write(solutions / tc.BI, tc.BI)
    sub = _open(zpath, tmp_path)
    assert "symbolic link in the .zip" in sub.problems[tc.DEEP]
    assert set(sub.notebooks) == {tc.BI}
    assert not (tmp_path / "w" / "unzipped" / tc.DEEP).exists()


# ------------------------------------------------------------------ sizes


def test_an_oversized_notebook_scores_zero_with_its_size(tmp_path):
    """Is a notebook over GradingLimits.notebook_bytes not opened, with
    both sizes in the message, and the other notebook graded?"""
    folder = tc.student(tmp_path / "s", tc.ANSWERS)
    with open(folder / tc.DEEP, "r+b") as f:
        f.truncate(3 * 10**9)  # sparse: 3 GB that take no disk
    sub = _open(folder, tmp_path)
    why = sub.problems[tc.DEEP]
    assert "3.0 GB" in why and "20 MB" in why
    assert "GradingLimits.notebook_bytes" in why
    assert set(sub.notebooks) == {tc.BI}


def test_a_zip_bomb_is_refused_before_unpacking(tmp_path):
    """Issue 11: is a small .zip that would unzip to 150 MB refused from
    its directory alone (nothing unpacked, quickly), naming the cap?"""
    zpath = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open(tc.DEEP, "w", force_zip64=True) as member:
            for _ in range(150):
                member.write(bytes(10**6))
    assert zpath.stat().st_size < 1_000_000
    start = time.monotonic()
    sub = _open(zpath, tmp_path)
    assert time.monotonic() - start < 5
    assert not sub.notebooks
    for why in sub.problems.values():
        assert "would unzip to 150 MB" in why and "100 MB" in why
        assert "GradingLimits.zip_bytes" in why
    assert not list((tmp_path / "w" / "unzipped").iterdir())


def test_an_oversized_zip_member_is_not_unpacked(tmp_path):
    """Under the .zip cap, is one member over the notebook cap left
    packed, and the other notebook graded?"""
    folder = tc.student(tmp_path / "s", tc.ANSWERS)
    zpath = tmp_path / "s.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(tc.DEEP, " " * 200_000)
        zf.write(folder / tc.BI, tc.BI)
    sub = _open(zpath, tmp_path, SMALL)
    assert "over the 100 kB limit" in sub.problems[tc.DEEP]
    assert set(sub.notebooks) == {tc.BI}


def test_notebooks_under_the_caps_are_graded(tmp_path):
    """Does a normal folder and its .zip pass every check, with the same
    digest?"""
    folder = tc.student(tmp_path / "alice", tc.ANSWERS)
    zpath = tmp_path / "alice.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for name in NAMES:
            zf.write(folder / name, f"alice/{name}")
    for path in (folder, zpath):
        sub = _open(path, tmp_path, SMALL)
        assert set(sub.notebooks) == set(NAMES) and not sub.problems
    assert submission.digest_of_submission(zpath, NAMES) == \
        submission.digest_of(folder, NAMES)


# ------------------------------------------------------ student ids


@pytest.mark.parametrize("first, second", [
    ("alice", "alice.zip"), ("a b", "a_b"), ("a;b.zip", "a b")])
def test_colliding_student_ids_stop_with_both_names(tmp_path, first,
                                                    second):
    """Issue 16, finding 8: do two entries that map to one student id stop
    grade-all's search with an error naming both (none dropped)?"""
    for name in (first, second):
        if name.endswith(".zip"):
            with zipfile.ZipFile(tmp_path / name, "w") as zf:
                zf.writestr(tc.DEEP, "{}")
        else:
            tc.student(tmp_path / name, tc.ANSWERS)
    with pytest.raises(GraderError) as err:
        submission.find_submissions(tmp_path)
    for name in (first, second):
        assert name in str(err.value)


def test_distinct_students_are_all_found(tmp_path):
    """Are distinct ids found each once (folders, zips, nbgrader layout)?"""
    tc.student(tmp_path / "alice", tc.ANSWERS)
    tc.student(tmp_path / "bob" / ASSIGNMENT_ID, tc.ANSWERS)
    with zipfile.ZipFile(tmp_path / "carol.zip", "w") as zf:
        zf.writestr(tc.DEEP, "{}")
    assert submission.find_submissions(tmp_path) == {
        "alice": tmp_path / "alice",
        "bob": tmp_path / "bob" / ASSIGNMENT_ID,
        "carol": tmp_path / "carol.zip"}


def test_a_linked_student_entry_is_kept_and_refused(tmp_path, solutions):
    """Is a student entry that is a link listed (not silently dropped) and
    then graded as nothing, saying it is a link?"""
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "mallory").symlink_to(solutions, target_is_directory=True)
    found = submission.find_submissions(subs)
    assert found == {"mallory": subs / "mallory"}
    sub = _open(found["mallory"], tmp_path)
    assert not sub.notebooks
