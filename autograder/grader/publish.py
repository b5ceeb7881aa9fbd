"""Publishing one graded submission, and keeping it in line with the
gradebook.

The grader's main process is the only writer: it records the grades in the
gradebook, writes the autograded notebooks and the feedback material, and
writes results.json last and atomically (``grade-all`` resumes from it).

results.json always shows the gradebook's current state: the autograder's
results merged with what the instructor set in formgrader (manual grades,
overrides, comments). :func:`refresh` redoes that merge later, without
grading, after any change to the gradebook.

Where the files go (:func:`places`): everything that goes with a gradebook
(``autograded/``, ``feedback/``, ``.grading/``, ``grades.csv``,
``results/``) goes to the gradebook's own folder, the *home*: the course
root for the course's gradebook, the folder of another SQLite file given
with ``--db``. ``--out-dir`` moves results.json and grades.csv.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

from typing import TYPE_CHECKING

import nbformat

from autograder import notebooks as nbtools
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT
from autograder.grader import gradebook as gbook
from autograder.grader import redact
from autograder.grader import results

if TYPE_CHECKING:
    from autograder.grader.grade import Graded, Outcome
    from autograder.grader.template import Template

REOPENED = ("Your answer changed since it was graded: it waits for the "
            "instructor to grade it again.")


@dataclasses.dataclass(frozen=True)
class Places:
    """Where one batch's files go.

    Attributes:
        db_url: the gradebook.
        home: the folder laid out as an nbgrader course for this gradebook
            (``autograded/``, ``feedback/``, ``.grading/``), where
            formgrader and ``nbgrader generate_feedback`` look.
        results: the folder of ``<student>/results.json``.
        grades_csv: the gradebook's CSV export.
    """

    db_url: str
    home: Path
    results: Path
    grades_csv: Path


def home_of(db_url: str, course_root: Path | str = COURSE_ROOT) -> Path:
    """The folder a gradebook's files go with: an SQLite file's own folder,
    or the course root for a database server."""
    if db_url.startswith("sqlite:///"):
        return Path(db_url.removeprefix("sqlite:///")).parent
    return Path(course_root).resolve()


def places(course_root: Path | str = COURSE_ROOT, db: str | None = None,
           out_dir: Path | str | None = None) -> Places:
    """Where the files of a batch go (see the module's docstring).

    Args:
        course_root: the nbgrader course directory.
        db: ``--db`` (None: gradebook.db at the course root).
        out_dir: ``--out-dir`` (None: ``results/`` in the home).
    """
    url = gbook.db_url(db, course_root)
    home = home_of(url, course_root)
    out = Path(out_dir) if out_dir else None
    return Places(url, home, out or home / "results",
                  (out or home) / "grades.csv")


def default_out(student: str, course_root: Path = COURSE_ROOT) -> Path:
    """Where results.json goes by default: results/<student>/results.json."""
    return Path(course_root) / "results" / student / "results.json"


def evidence_dir(student: str, course_root: Path = COURSE_ROOT) -> Path:
    """Where a student's grading evidence is kept."""
    return Path(course_root) / ".grading" / "evidence" / student


def feedback_file(student: str, course_root: Path = COURSE_ROOT) -> Path:
    """The material ``feedback`` draws from (perplexity curves, samples,
    and where results.json is)."""
    return Path(course_root) / ".grading" / "feedback" / f"{student}.json"


def autograded_dir(student: str, home: Path) -> Path:
    """Where a student's autograded notebooks go (formgrader shows them)."""
    return Path(home) / "autograded" / student / ASSIGNMENT_ID


# --------------------------------------------------------------------------
# Publishing


def publish_graded(graded: Graded, *, template_db: str, db_url: str,
                   out: Path, course_root: Path = COURSE_ROOT,
                   extra: dict | None = None,
                   notes: list[str] | tuple = ()) -> dict:
    """Record a :class:`~autograder.grader.grade.Graded`, keep its
    notebooks and feedback material, then write results.json (last and
    atomically: its presence with the digests means "graded").

    Args:
        graded: the grading's outcome (plain data and bytes).
        template_db: the gradebook of the solutions' template.
        db_url: the gradebook to record into.
        out: the results.json to write.
        course_root: the course (its files go to the gradebook's home).
        extra: added to results.json's ``extra_data`` (``grade-all``
            passes :func:`autograder.grader.freshness.stamp`).
        notes: lines about the submission's input (unrecognised notebooks).

    Returns:
        The results.json document written.
    """
    return _publish(
        graded.student, graded.tests, [*notes, *graded.messages],
        {**graded.extra, **(extra or {})}, graded.execution_time,
        graded.autograded, graded.feedback, template_db=template_db,
        db_url=db_url, out=Path(out), home=home_of(db_url, course_root))


def publish(outcome: Outcome, template: Template, *, db_url: str,
            out: Path, course_root: Path = COURSE_ROOT) -> dict:
    """Publish a submission graded in place (``grade SUBMISSION``), as
    :func:`publish_graded` does."""
    from autograder.grader import freshness

    student = outcome.submission.student
    home = home_of(db_url, course_root)
    notebooks = {p.name: p.read_bytes()
                 for p in sorted(outcome.autograded.glob("*.ipynb"))
                 if p.is_file() and not p.is_symlink()}
    return _publish(
        student, outcome.tests, outcome.messages,
        {**outcome.extra, **freshness.stamp(template.solutions())},
        outcome.execution_time, notebooks, _material_of(outcome),
        template_db=template.db_url, db_url=db_url, out=Path(out), home=home)


def _material_of(outcome: Outcome) -> dict:
    """The feedback material of an outcome (each trained model's run)."""
    return dict(getattr(outcome, "feedback", None) or {})


def _publish(student: str, tests: list, messages: list, extra: dict,
             execution_time: float, notebooks: dict, material: dict, *,
             template_db: str, db_url: str, out: Path, home: Path) -> dict:
    """Record, write the notebooks and the material, then results.json."""
    folder = autograded_dir(student, home)
    notebooks = {Path(n).name: redact.notebook_bytes(b)
                 for n, b in notebooks.items()}
    tests = [dataclasses.replace(t, output=redact.text(t.output))
             for t in tests]
    reopen = _graded_before(db_url, student) & changed_answers(
        folder, notebooks, tests)
    tests = [dataclasses.replace(t, output=REOPENED)
             if t.grade_id in reopen and t.pending else t for t in tests]
    gbook.record(db_url, student, tests, template_db=template_db,
                 reopen=reopen)
    _write_files(notebooks, folder)
    _write_json(feedback_file(student, home),
                {**material, "results": str(out.resolve())})
    document = results.build(
        current(db_url, student, tests), execution_time=execution_time,
        extra_data=extra, output=redact.text("\n".join(messages)))
    results.write(out, document)
    return document


def _graded_before(db_url: str, student: str) -> frozenset[str]:
    """The cells to which the instructor gave a score already."""
    marks, _ = gbook.marks(db_url, student)
    return frozenset(g for g, m in marks.items()
                     if m.manual_score is not None)


def current(db_url: str, student: str, tests: list) -> list:
    """``tests`` (the autograder's) as the gradebook has them now."""
    marks, comments = gbook.marks(db_url, student)
    return results.merge(tests, marks, comments)


def refresh(student: str, *, db_url: str, out: Path) -> bool:
    """Bring a results.json in line with the gradebook, without grading.

    Returns:
        True when it changed (a manual grade, an override or a comment was
        given or taken back since it was written).
    """
    document = results.read(out)
    if not document:
        return False
    tests = current(db_url, student, results.tests_from(document))
    fresh = results.rebuild(document, tests)
    if fresh == document:
        return False
    results.write(out, fresh)
    return True


def changed_answers(folder: Path, notebooks: dict[str, bytes],
                    tests: list) -> frozenset[str]:
    """The written answers whose text differs from the copy last published
    in ``folder`` (the copy the instructor graded in formgrader).

    An answer with no earlier copy counts as changed: a grade cannot be
    kept for a text nobody can show was the one graded.
    """
    manual = {t.grade_id: t.notebook for t in tests if t.manual}
    changed = set()
    for gid, name in manual.items():
        old = _answer(folder / Path(name).name, gid)
        new = _answer_in(notebooks.get(Path(name).name), gid)
        if old is None or old != new:
            changed.add(gid)
    return frozenset(changed)


def _answer(path: Path, grade_id: str) -> str | None:
    """The source of cell ``grade_id`` in the notebook at ``path``."""
    try:
        return _answer_in(path.read_bytes(), grade_id)
    except OSError:
        return None


def _answer_in(data: bytes | None, grade_id: str) -> str | None:
    if data is None:
        return None
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception:  # noqa: BLE001 - a notebook the student broke
        return None
    return next((c.source for c in nb.cells
                 if nbtools.grade_id(c) == grade_id), None)


# --------------------------------------------------------------------------
# Files


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
