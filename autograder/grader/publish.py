"""Publishing one graded submission into the course.

The grader's main process is the only writer: it records the grades in the
gradebook, copies the autograded notebooks and the evidence, and writes
results.json last and atomically (``grade-all`` resumes from it).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path


from typing import TYPE_CHECKING

from autograder.config import ASSIGNMENT_ID, COURSE_ROOT
from autograder.grader import gradebook as gbook
from autograder.grader import results

if TYPE_CHECKING:
    from autograder.grader.grade import Graded, Outcome
    from autograder.grader.template import Template


def default_out(student: str, course_root: Path = COURSE_ROOT) -> Path:
    """Where results.json goes by default: results/<student>/results.json."""
    return Path(course_root) / "results" / student / "results.json"


def evidence_dir(student: str, course_root: Path = COURSE_ROOT) -> Path:
    """Where a student's grading evidence is kept (read by ``feedback``)."""
    return Path(course_root) / ".grading" / "evidence" / student


def feedback_file(student: str, course_root: Path = COURSE_ROOT) -> Path:
    """The material ``feedback`` draws from (perplexity curves, samples)."""
    return Path(course_root) / ".grading" / "feedback" / f"{student}.json"


def publish_graded(graded: Graded, *, template_db: str, db_url: str,
                   out: Path, course_root: Path = COURSE_ROOT) -> dict:
    """Record a :class:`~autograder.grader.grade.Graded`, keep its
    notebooks and feedback material, then write results.json (last and
    atomically: its presence with the input digest means "graded")."""
    student = graded.student
    gbook.record(db_url, student, graded.tests, template_db=template_db)
    _write_files(graded.autograded,
                 Path(course_root) / "autograded" / student / ASSIGNMENT_ID)
    _write_json(feedback_file(student, course_root), graded.feedback)
    document = results.build(
        graded.tests, execution_time=graded.execution_time,
        extra_data=graded.extra, output="\n".join(graded.messages))
    results.write(out, document)
    return document


def _write_files(files: dict, dest: Path) -> None:
    """Make ``dest`` hold exactly ``files`` (name -> bytes), atomically."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, data in files.items():
        (tmp / Path(name).name).write_bytes(data)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def publish(outcome: Outcome, template: Template, *, db_url: str,
            out: Path, course_root: Path = COURSE_ROOT) -> dict:
    """Record, keep the notebooks and evidence, then write results.json.

    results.json is written last and atomically: its presence (with the
    input digest) means the submission is fully graded.
    """
    student = outcome.submission.student
    gbook.record(db_url, student, outcome.tests, template_db=template.db_url)
    _replace_dir(outcome.autograded,
                 Path(course_root) / "autograded" / student / ASSIGNMENT_ID)
    _replace_dir(outcome.evidence, evidence_dir(student, course_root))
    document = results.build(
        outcome.tests, execution_time=outcome.execution_time,
        extra_data=outcome.extra, output="\n".join(outcome.messages))
    results.write(out, document)
    return document


def _only_plain(folder: str, names: list[str]) -> list[str]:
    """copytree ``ignore``: skip symlinks, FIFOs, sockets and devices.

    The folder was written by student code: a symlink could point anywhere
    and a FIFO would block the copy.
    """
    skip = []
    for name in names:
        path = Path(folder) / name
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            skip.append(name)
    return skip


def _replace_dir(src: Path, dest: Path) -> None:
    """Make ``dest`` a copy of ``src`` (empty when ``src`` is missing)."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if src.is_dir():
        shutil.copytree(src, tmp, ignore=_only_plain)
    else:
        tmp.mkdir(parents=True)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def cleanup(outcome: Outcome) -> None:
    """Remove the outcome's scratch folder."""
    shutil.rmtree(outcome.scratch.parent, ignore_errors=True)
