"""What ``grade-all`` found in DIR, in clear words.

Odd input is never passed over in silence: an empty folder or a folder
holding no recognisable submission stops the batch with a reason, and a
submission's notebooks that will not be graded (an ``Untitled.ipynb``, a
``deep_rnn-Copy1.ipynb``, a second copy deeper down) are listed in its
notes (printed, and kept in its results.json).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from autograder.config import ASSIGNMENT_ID
from autograder.grader.errors import GraderError

LAYOUTS = (f"nbgrader's submitted/<student>/{ASSIGNMENT_ID}/, a folder per "
           "student, or a .zip per student")


def notebooks_in(path: Path) -> list[str] | None:
    """Every notebook of a submission folder or .zip, as relative paths
    (checkpoints and hidden files left out); None for an unreadable .zip
    (the grader reports that itself)."""
    path = Path(path)
    if path.is_dir():
        found = [p.relative_to(path).as_posix() for p in path.rglob("*.ipynb")
                 if not any(part.startswith(".")
                            for part in p.relative_to(path).parts)]
    else:
        try:
            with zipfile.ZipFile(path) as zf:
                found = [n for n in zf.namelist() if n.endswith(".ipynb")
                         and "__MACOSX" not in n and not any(
                             part.startswith(".") for part in n.split("/"))]
        except (zipfile.BadZipFile, OSError):
            return None
    return sorted(found, key=lambda n: (n.count("/"), n))


def notes_for(path: Path, names: tuple[str, ...]) -> list[str]:
    """What will not be graded in one submission, in words."""
    found = notebooks_in(path)
    if found is None:
        return []
    graded, others = set(), []
    for rel in found:
        base = rel.rsplit("/", 1)[-1]
        if base in names and base not in graded:
            graded.add(base)
        else:
            others.append(rel)
    expected = " and ".join(names)
    notes = []
    if not graded:
        notes.append(f"no notebook of the assignment was found (expected "
                     f"{expected})" + (f"; found {', '.join(found)}"
                                       if found else ""))
    elif others:
        notes.append(f"not graded: {', '.join(others)} (only {expected} "
                     "are graded, the shallowest copy of each)")
    return notes


def check(directory: Path, submissions: dict[str, Path],
          names: tuple[str, ...]) -> dict[str, list[str]]:
    """Notes per student; refuse a batch with nothing to grade.

    Args:
        directory: the DIR given to ``grade-all``.
        submissions: student id -> submission, as found in it.
        names: the notebooks of the assignment.

    Raises:
        GraderError: DIR is empty, or holds no recognisable submission.
    """
    directory = Path(directory)
    if not submissions:
        entries = sorted(p.name for p in directory.iterdir()
                         if not p.name.startswith("."))
        if not entries:
            raise GraderError(f"{directory} is empty: expected {LAYOUTS}")
        raise GraderError(
            f"no submission in {directory}: it holds {_some(entries)}, but "
            f"no folder or .zip per student; expected {LAYOUTS}")
    notes = {s: notes_for(p, names) for s, p in submissions.items()}
    if all(_nothing_graded(n) for n in notes.values()):
        raise GraderError(
            f"no submission in {directory} holds {' or '.join(names)}: "
            f"looked in {_some(sorted(submissions))}; expected {LAYOUTS}")
    return notes


def _nothing_graded(notes: list[str]) -> bool:
    return any(n.startswith("no notebook of the assignment") for n in notes)


def _some(items: list[str], shown: int = 5) -> str:
    """'a, b, c' or 'a, b, c, d, e and 3 more'."""
    head = ", ".join(items[:shown])
    return head + (f" and {len(items) - shown} more"
                   if len(items) > shown else "")
