"""Recording grades into nbgrader's gradebook.

The gradebook is nbgrader's own database: by default the SQLite file
``gradebook.db`` at the course root, or any SQLAlchemy URL (``--db``). One
process writes to it: the grader's main process. Workers of ``grade-all``
only grade; their results are recorded one at a time, under a file lock, so
that two ``grade`` commands run by hand cannot interleave either.

People's grades stay: recording a regrade never touches a manual score
given in formgrader (nbgrader's ``Grade.manual_score``), except for a
written answer whose text changed, which goes back to "needs manual
grading". An override of an autograded test keeps winning, as in nbgrader.
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from sqlalchemy import exc as sa_exc

from nbgrader.api import Gradebook, MissingEntry

from autograder.config import ASSIGNMENT_ID, COURSE_ROOT
from autograder.grader.results import Mark, TestResult

# Must equal c.CourseDirectory.course_id in nbgrader_config.py, so that
# nbgrader's own commands (generate_feedback, export, formgrader) see the
# grades recorded here.
COURSE_ID = "d2l-deep-bidirectional-rnn"


def db_url(db: str | None = None,
           course_root: Path | str = COURSE_ROOT) -> str:
    """Return the SQLAlchemy URL of the gradebook.

    Args:
        db: None (``gradebook.db`` at the course root), a file path (an
            SQLite file there), or any SQLAlchemy URL (``postgresql://...``).
        course_root: the nbgrader course directory.
    """
    if db is None:
        return f"sqlite:///{Path(course_root).resolve() / 'gradebook.db'}"
    if "://" in str(db):
        return str(db)
    return f"sqlite:///{Path(db).resolve()}"


def _make_sqlite_folder(url: str) -> None:
    """Create the folder of an SQLite gradebook file (sqlite cannot)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True)


@contextlib.contextmanager
def single_writer(url: str):
    """Hold an exclusive lock for writing to the gradebook at ``url``."""
    key = hashlib.sha1(url.encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / f"autograder-gradebook-{key}.lock"
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def tools_on_path() -> None:
    """Put this Python's ``bin/`` on PATH.

    nbgrader runs the ``alembic`` command when it creates a gradebook; it
    sits beside the interpreter in the venv, which is not on PATH when the
    venv's python is run by its full path.
    """
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + path


def exists(url: str) -> bool:
    """False for an SQLite gradebook whose file is not made yet (opening
    it would make it, which takes nbgrader seconds)."""
    return not url.startswith("sqlite:///") or Path(
        url.removeprefix("sqlite:///")).is_file()


def open_gradebook(url: str) -> Gradebook:
    """Open (creating if needed) the gradebook at ``url`` for this course."""
    tools_on_path()
    _make_sqlite_folder(url)
    return Gradebook(url, course_id=COURSE_ID)


def copy_assignment(source: Gradebook, dest: Gradebook,
                    assignment: str = ASSIGNMENT_ID) -> None:
    """Make ``dest`` hold the same assignment structure as ``source``.

    The structure (notebooks, grade, solution, task and source cells with
    their points and checksums) comes from ``nbgrader generate_assignment``;
    copying it lets any gradebook record submissions without a release run
    against it first. Existing entries are updated, never duplicated.
    """
    a = source.find_assignment(assignment)
    dest.update_or_create_assignment(assignment)
    for nb in a.notebooks:
        dest.update_or_create_notebook(nb.name, assignment)
        for c in nb.grade_cells:
            dest.update_or_create_grade_cell(
                c.name, nb.name, assignment,
                max_score=c.max_score, cell_type=c.cell_type)
        for c in nb.solution_cells:
            dest.update_or_create_solution_cell(c.name, nb.name, assignment)
        for c in nb.task_cells:
            dest.update_or_create_task_cell(
                c.name, nb.name, assignment,
                max_score=c.max_score, cell_type=c.cell_type)
        for c in nb.source_cells:
            dest.update_or_create_source_cell(
                c.name, nb.name, assignment, cell_type=c.cell_type,
                locked=c.locked, source=c.source, checksum=c.checksum)


def record(url: str, student: str, tests: list[TestResult], *,
           template_db: str, assignment: str = ASSIGNMENT_ID,
           reopen: frozenset[str] = frozenset()) -> None:
    """Record one student's autograded scores (replacing earlier ones).

    Args:
        url: the course gradebook.
        student: the student id.
        tests: every graded cell; a pending manual cell keeps the grade a
            person gave it, unless its grade_id is in ``reopen``.
        template_db: a gradebook holding the assignment's structure
            (created from the solutions for this grading run).
        assignment: the assignment id.
        reopen: written answers whose text changed since they were graded:
            their manual grade is cleared and asked for again.
    """
    with single_writer(url):
        _seed_from_template(url, template_db)
        _record(url, student, tests, template_db, assignment, reopen)


def _seed_from_template(url: str, template_db: str) -> None:
    """Start a new SQLite gradebook as a copy of the template's.

    The template is a valid nbgrader gradebook holding the assignment and
    no student; copying it saves nbgrader's ``alembic`` run (seconds).
    """
    path, src = url.removeprefix("sqlite:///"), template_db.removeprefix(
        "sqlite:///")
    if url.startswith("sqlite:///") and template_db.startswith("sqlite:///") \
            and not Path(path).exists() and Path(src).is_file():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{path}.seed")
        shutil.copy(src, tmp)
        os.replace(tmp, path)


def _record(url: str, student: str, tests: list[TestResult],
            template_db: str, assignment: str, reopen: frozenset[str]) -> None:
    with open_gradebook(template_db) as src, open_gradebook(url) as gb:
        copy_assignment(src, gb, assignment)
        gb.update_or_create_student(student)
        with warnings.catch_warnings():
            # nbgrader's add_submission trips SQLAlchemy 2's autoflush
            # warnings; the rows it creates are committed all the same.
            warnings.simplefilter("ignore", sa_exc.SAWarning)
            gb.update_or_create_submission(assignment, student)
        for t in tests:
            _set_grade(gb, t, student, assignment, t.grade_id in reopen)
        gb.db.commit()


def _set_grade(gb: Gradebook, t: TestResult, student: str,
               assignment: str, reopen: bool) -> None:
    """Store the autograder's score; leave a person's grade alone."""
    notebook = Path(t.notebook).stem
    try:
        grade = gb.find_grade(t.grade_id, notebook, assignment, student)
    except MissingEntry:
        return  # a cell the course gradebook does not know: not recorded
    if reopen:
        grade.manual_score = grade.extra_credit = None
    if t.pending:
        grade.auto_score = None
        grade.needs_manual_grade = grade.manual_score is None
    else:
        grade.auto_score = float(t.score)
        grade.needs_manual_grade = False


def marks(url: str, student: str, assignment: str = ASSIGNMENT_ID
          ) -> tuple[dict[str, Mark], dict[str, str]]:
    """A student's grades and the instructor's comments, as recorded now.

    Returns:
        (grade_id -> :class:`~autograder.grader.results.Mark`, cell name ->
        the instructor's comment); both empty for a student never graded.
    """
    if not exists(url):
        return {}, {}
    with open_gradebook(url) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return {}, {}
        grades = {g.name: Mark(g.auto_score, g.manual_score, g.extra_credit,
                               bool(g.needs_manual_grade))
                  for nb in sub.notebooks for g in nb.grades}
        comments = {c.name: c.manual_comment.strip()
                    for nb in sub.notebooks for c in nb.comments
                    if c.manual_comment and c.manual_comment.strip()}
    return grades, comments


def recorded(url: str, student: str,
             assignment: str = ASSIGNMENT_ID) -> dict[str, float | None]:
    """Return grade_id -> recorded score of a student (empty if none)."""
    with open_gradebook(url) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return {}
        return {g.name: g.score if not g.needs_manual_grade else None
                for nb in sub.notebooks for g in nb.grades}


# Columns grades.csv adds after nbgrader's own (which come first, unchanged).
CSV_EXTRA = ("pending_manual_grading", "set_by_instructor")


def export_csv(url: str, dest: Path | str,
               assignment: str = ASSIGNMENT_ID) -> Path:
    """Write ``grades.csv``: nbgrader's CSV export, then who set what.

    nbgrader's columns come first and unchanged (``score`` is its total,
    manual grades and overrides included). Then one column per graded
    cell (its score; empty while it waits for manual grading), and
    :data:`CSV_EXTRA`: the cells waiting for a person, and the cells whose
    score the instructor set (a manual grade or an override), each a
    space-separated list of grade_ids.
    """
    from nbgrader.plugins.export import CsvExportPlugin

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    with open_gradebook(url) as gb:
        CsvExportPlugin(to=str(tmp)).export(gb)
        cells = _cell_names(gb, assignment)
        per_student = {s.id: _cell_columns(gb, s.id, cells, assignment)
                       for s in gb.students}
    with open(tmp, newline="") as f:
        rows = list(csv.DictReader(f))
        columns = list(rows[0]) if rows else []
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, columns + cells + list(CSV_EXTRA))
        writer.writeheader()
        for row in rows:
            extra = (per_student.get(row["student_id"], {})
                     if row.get("assignment") == assignment else {})
            writer.writerow({**row, **extra})
    os.replace(tmp, dest)
    return dest


def _cell_names(gb: Gradebook, assignment: str) -> list[str]:
    """The assignment's graded cells, notebook by notebook."""
    try:
        a = gb.find_assignment(assignment)
    except MissingEntry:
        return []
    return [c.name for nb in a.notebooks for c in nb.grade_cells]


def _cell_columns(gb: Gradebook, student: str, cells: list[str],
                  assignment: str) -> dict[str, str]:
    """One student's per-cell columns of grades.csv."""
    try:
        sub = gb.find_submission(assignment, student)
    except MissingEntry:
        return {}
    grades = {g.name: g for nb in sub.notebooks for g in nb.grades}
    row = {name: "" if grades[name].needs_manual_grade
           or grades[name].score is None else f"{grades[name].score:g}"
           for name in cells if name in grades}
    row["pending_manual_grading"] = " ".join(
        n for n in cells if n in grades and grades[n].needs_manual_grade)
    row["set_by_instructor"] = " ".join(
        n for n in cells if n in grades and not grades[n].needs_manual_grade
        and (grades[n].manual_score is not None or grades[n].extra_credit))
    return row
