"""Gradescope-format ``results.json`` for one graded submission.

The file follows Gradescope's autograder specification: a total ``score``,
``execution_time`` (seconds), and one entry in ``tests`` per graded cell,
whose ``name`` is the cell's nbgrader ``grade_id``. The written answer is
listed too: pending (no ``score``) until a person grades it, then with the
person's score. A score the instructor set in formgrader for an autograded
test (an override) wins over the autograder's, as in nbgrader, and is
tagged ``override``. ``extra_data`` holds what the grader measured (wall
time, peak memory, device, sandbox) and what ``grade-all`` needs to know
whether a submission is still graded up to date (the digests of the input,
the solutions and the grader).

Each entry keeps the autograder's own score (``extra_data.autograder_score``)
so that the document can be brought back in line with the gradebook at any
time (:func:`tests_from`, :func:`merge`), without grading again.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

from autograder.config import GRADING

PENDING = "pending manual grading"
# The parts of a test's detail that results.json keeps (in the test's
# extra_data): the sizes of the visible test and of the hidden test.
DETAIL_KEYS = ("sizes", "other_sizes")
AUTOGRADER, INSTRUCTOR = "autograder", "instructor"


@dataclasses.dataclass(frozen=True)
class TestResult:
    """The outcome of one graded cell.

    Attributes:
        grade_id: the cell's nbgrader grade_id.
        notebook: the notebook file name, e.g. "deep_rnn.ipynb".
        max_score: the points the cell carries.
        score: the points earned; None for a manual cell not yet graded.
        output: the check's message (success line or why it failed).
        manual: graded by a person (the written answer).
        detail: what the test ran with: ``{"sizes": {...}, "other_sizes":
            {...}}`` (the visible and the hidden test's sizes).
        graded_by: who set ``score``: "autograder" or "instructor" (a
            manual grade, or an override of an autograded test).
        auto_score: the autograder's own score, kept when the instructor's
            replaced it (None otherwise).
        comment: the instructor's comment on the cell (formgrader).
    """

    __test__ = False  # not a pytest test class, despite its name

    grade_id: str
    notebook: str
    max_score: float
    score: float | None
    output: str = ""
    manual: bool = False
    detail: dict = dataclasses.field(default_factory=dict)
    graded_by: str = AUTOGRADER
    auto_score: float | None = None
    comment: str = ""

    @property
    def pending(self) -> bool:
        """True for a manually graded cell still waiting for a person."""
        return self.score is None

    @property
    def passed(self) -> bool:
        """True when the cell earned all its points."""
        return not self.pending and self.score >= self.max_score

    @property
    def overridden(self) -> bool:
        """True for an autograded test whose score the instructor set."""
        return not self.manual and self.graded_by == INSTRUCTOR


@dataclasses.dataclass(frozen=True)
class Mark:
    """A cell's grade as the gradebook holds it (nbgrader's ``Grade``).

    Attributes:
        auto_score: the autograder's score (None for a written answer).
        manual_score: the instructor's score, which wins (None if none).
        extra_credit: points on top, given in formgrader (None if none).
        needs_manual_grade: nbgrader's flag: waiting for a person.
    """

    auto_score: float | None
    manual_score: float | None
    extra_credit: float | None = None
    needs_manual_grade: bool = False


def clip(text: str, max_chars: int = GRADING.output_max_chars) -> str:
    """Cap a message at ``max_chars``, keeping its end (where errors are)."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    keep = max_chars - 40
    return f"[... {len(text) - keep} characters cut ...]\n" + text[-keep:]


def merge(tests: list[TestResult], marks: dict[str, Mark],
          comments: dict[str, str] | None = None) -> list[TestResult]:
    """The tests as the gradebook has them now.

    nbgrader's rule decides (``Grade.score``): the instructor's manual
    score, where there is one and nobody asked for it again, wins over the
    autograder's; extra credit adds to either.

    Args:
        tests: the autograder's results (see :func:`tests_from`).
        marks: grade_id -> the gradebook's grade (a cell it lacks keeps
            the autograder's result).
        comments: grade_id -> the instructor's comment.
    """
    comments = comments or {}
    return [_merged(t, marks.get(t.grade_id), comments.get(t.grade_id, ""))
            for t in tests]


def _merged(t: TestResult, mark: Mark | None, comment: str) -> TestResult:
    t = dataclasses.replace(t, comment=comment, graded_by=AUTOGRADER,
                            auto_score=None)
    if mark is None:
        return t
    bonus = mark.extra_credit or 0.0
    if mark.manual_score is not None and not mark.needs_manual_grade:
        return dataclasses.replace(
            t, score=float(mark.manual_score) + bonus,
            graded_by=INSTRUCTOR, auto_score=t.score)
    if t.pending or (t.manual and mark.needs_manual_grade):
        return dataclasses.replace(t, score=None)
    if bonus:
        return dataclasses.replace(t, score=t.score + bonus,
                                   graded_by=INSTRUCTOR, auto_score=t.score)
    return t


def _shown_output(t: TestResult) -> str:
    """The message a student reads: who set the score, then the check's
    message, then the instructor's comment."""
    parts = []
    if t.pending:
        parts.append(t.output or "Manually graded: pending.")
    elif t.manual and t.graded_by == INSTRUCTOR:
        parts.append(f"Graded by the instructor: {t.score:g} / "
                     f"{t.max_score:g}.")
    elif t.overridden:
        auto = "no score" if t.auto_score is None else \
            f"{t.auto_score:g} / {t.max_score:g}"
        parts += [f"Score set by the instructor: {t.score:g} / "
                  f"{t.max_score:g} (the autograder gave {auto}).", t.output]
    else:
        parts.append(t.output)
    if t.comment:
        parts.append(f"Instructor's comment: {t.comment}")
    return "\n".join(p for p in parts if p)


def _entry(result: TestResult) -> dict:
    """One element of Gradescope's ``tests`` list."""
    extra = {"notebook": result.notebook, "graded_by": result.graded_by,
             "autograder_score": (result.auto_score
                                  if result.graded_by == INSTRUCTOR
                                  else result.score)}
    extra.update({k: result.detail[k] for k in DETAIL_KEYS
                  if result.detail.get(k)})
    shown = clip(_shown_output(result))
    if shown != clip(result.output):
        extra["message"] = clip(result.output)
    if result.comment:
        extra["comment"] = result.comment
    entry = {"name": result.grade_id, "max_score": float(result.max_score),
             "output": shown, "visibility": "visible", "extra_data": extra}
    tags = (["manual"] if result.manual else []) + (
        ["override"] if result.overridden else [])
    if result.pending:
        entry["status"] = PENDING
        tags.append("pending")
    else:
        entry["score"] = float(result.score)
        entry["status"] = "passed" if result.passed else "failed"
    if tags:
        entry["tags"] = tags
    return entry


def tests_from(document: dict) -> list[TestResult]:
    """The autograder's own results, read back from a results.json.

    What the instructor set (manual scores, overrides, comments) is left
    out: :func:`merge` puts the gradebook's current state back in.
    """
    tests = []
    for entry in document.get("tests", []):
        extra = entry.get("extra_data") or {}
        tags = entry.get("tags") or []
        auto = extra.get("autograder_score",
                         None if entry.get("status") == PENDING
                         else entry.get("score"))
        tests.append(TestResult(
            entry["name"], extra.get("notebook", ""),
            float(entry.get("max_score", 0)),
            None if auto is None else float(auto),
            extra.get("message", entry.get("output", "")),
            manual="manual" in tags,
            detail={k: extra[k] for k in DETAIL_KEYS if extra.get(k)}))
    return tests


def build(
    tests: list[TestResult],
    *,
    execution_time: float,
    extra_data: dict,
    output: str = "",
) -> dict:
    """Assemble the results.json document.

    Args:
        tests: one result per graded cell, in notebook order.
        execution_time: seconds spent grading the submission.
        extra_data: measurements (wall time, peak memory, device, sandbox)
            and digests (input, solutions, grader).
        output: a message shown above the tests (e.g. a missing notebook).

    Returns:
        A JSON-serialisable dict in Gradescope's format.
    """
    extra = dict(extra_data)
    extra["max_autograded_score"] = sum(t.max_score for t in tests
                                        if not t.manual)
    extra["max_score"] = sum(t.max_score for t in tests)
    extra["pending_manual_points"] = sum(t.max_score for t in tests
                                         if t.pending)
    extra["set_by_instructor"] = [t.grade_id for t in tests
                                  if t.graded_by == INSTRUCTOR]
    return {
        "score": float(sum(t.score for t in tests if not t.pending)),
        "execution_time": int(round(execution_time)),
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [_entry(t) for t in tests],
        "extra_data": extra,
    }


def rebuild(document: dict, tests: list[TestResult]) -> dict:
    """``document`` with ``tests`` in place of its own (same timings,
    measurements and message)."""
    return build(tests, execution_time=document.get("execution_time", 0),
                 extra_data=document.get("extra_data", {}),
                 output=document.get("output", ""))


def write(path: Path | str, document: dict) -> Path:
    """Write ``document`` to ``path`` atomically (a crash leaves no half file).

    The JSON goes to a temporary file in the same folder, which then replaces
    ``path`` in one ``os.replace``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".results-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(document, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read(path: Path | str) -> dict | None:
    """Read a results.json; None when it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def tests_of(document: dict) -> dict[str, dict]:
    """Map grade_id to its entry in a results.json document."""
    return {t["name"]: t for t in document.get("tests", [])}


def outcome(entry: dict) -> str:
    """Short outcome of one test entry: "pass", "FAIL" or "pending"."""
    if entry.get("status") == PENDING:
        return "pending"
    return "pass" if entry.get("status") == "passed" else "FAIL"


def score_table(documents: dict[str, dict]) -> str:
    """A plain-text table: one row per student, one column per test.

    Cells: ``ok``, ``FAIL``, ``?`` (waiting for manual grading); a ``*``
    marks a score the instructor set. The total counts every graded cell,
    the written answer included once it is graded.

    Args:
        documents: student id -> results.json document.
    """
    if not documents:
        return "(no submissions)"
    names = []
    for doc in documents.values():
        names += [n for n in tests_of(doc) if n not in names]
    width = max(len(s) for s in documents) + 2
    lines = [_header(names, width)]
    for student, doc in documents.items():
        tests = tests_of(doc)
        cells = [_cell(tests.get(n)) for n in names]
        lines.append(student.ljust(width) + " ".join(cells) + "  "
                     + _total(doc))
    lines.append("")
    lines += [f"  {i + 1:>2}: {n}" for i, n in enumerate(names)]
    lines.append("   ?: waiting for manual grading; *: set by the instructor")
    return "\n".join(lines)


def _total(doc: dict) -> str:
    """"27/30 (3 pending)": earned of all points, and what is pending."""
    extra = doc.get("extra_data", {})
    top = extra.get("max_score", extra.get("max_autograded_score", 0))
    text = f"{doc.get('score', 0):g}/{top:g}"
    pending = extra.get("pending_manual_points", 0)
    return text + (f" ({pending:g} pending)" if pending else "")


def _header(names: list[str], width: int) -> str:
    cols = " ".join(f"{i + 1:>5}" for i in range(len(names)))
    return "student".ljust(width) + cols + "  score"


def _cell(entry: dict | None) -> str:
    if entry is None:
        return "    -"
    word = {"pass": "ok", "FAIL": "FAIL", "pending": "?"}[outcome(entry)]
    if (entry.get("extra_data") or {}).get("graded_by") == INSTRUCTOR:
        word += "*"
    return f"{word:>5}"
