"""Gradescope-format ``results.json`` for one graded submission.

The file follows Gradescope's autograder specification: a total ``score``,
``execution_time`` (seconds), and one entry in ``tests`` per autograded test
cell, whose ``name`` is the cell's nbgrader ``grade_id``. Manually graded
cells are listed too, with their ``max_score`` and marked pending (they carry
no ``score`` until a person grades them). ``extra_data`` holds what the
grader measured: wall time, peak memory, device, whether the sandbox was on,
and the hash of the input notebooks (``grade-all`` uses it to skip
submissions already graded and unchanged).
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

from autograder.config import GRADING

PENDING = "pending manual grading"


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
    """

    __test__ = False  # not a pytest test class, despite its name

    grade_id: str
    notebook: str
    max_score: float
    score: float | None
    output: str = ""
    manual: bool = False

    @property
    def pending(self) -> bool:
        """True for a manually graded cell still waiting for a person."""
        return self.score is None

    @property
    def passed(self) -> bool:
        """True when the cell earned all its points."""
        return not self.pending and self.score >= self.max_score


def clip(text: str, max_chars: int = GRADING.output_max_chars) -> str:
    """Cap a message at ``max_chars``, keeping its end (where errors are)."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    keep = max_chars - 40
    return f"[... {len(text) - keep} characters cut ...]\n" + text[-keep:]


def _entry(result: TestResult) -> dict:
    """One element of Gradescope's ``tests`` list."""
    entry = {
        "name": result.grade_id,
        "max_score": float(result.max_score),
        "output": clip(result.output),
        "visibility": "visible",
        "extra_data": {"notebook": result.notebook},
    }
    if result.manual:
        entry["tags"] = ["manual"]
    if result.pending:
        entry["status"] = PENDING
        entry["output"] = clip(result.output or "Manually graded: pending.")
        entry["tags"] = ["manual", "pending"]
    else:
        entry["score"] = float(result.score)
        entry["status"] = "passed" if result.passed else "failed"
    return entry


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
        extra_data: measurements (wall time, peak memory, device, sandbox).
        output: a message shown above the tests (e.g. a missing notebook).

    Returns:
        A JSON-serialisable dict in Gradescope's format.
    """
    auto = [t for t in tests if not t.manual]
    pending = [t for t in tests if t.pending]
    extra = dict(extra_data)
    extra.setdefault("max_autograded_score", sum(t.max_score for t in auto))
    extra.setdefault("pending_manual_points",
                     sum(t.max_score for t in pending))
    return {
        "score": float(sum(t.score for t in tests if not t.pending)),
        "execution_time": int(round(execution_time)),
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [_entry(t) for t in tests],
        "extra_data": extra,
    }


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
        max_auto = doc.get("extra_data", {}).get("max_autograded_score", 0)
        total = f"{doc.get('score', 0):g}/{max_auto:g}"
        lines.append(student.ljust(width) + " ".join(cells) + "  " + total)
    lines.append("")
    lines += [f"  {i + 1:>2}: {n}" for i, n in enumerate(names)]
    return "\n".join(lines)


def _header(names: list[str], width: int) -> str:
    cols = " ".join(f"{i + 1:>4}" for i in range(len(names)))
    return "student".ljust(width) + cols + "  score"


def _cell(entry: dict | None) -> str:
    if entry is None:
        return "   -"
    return {"pass": "  ok", "FAIL": "FAIL", "pending": "   ?"}[outcome(entry)]
