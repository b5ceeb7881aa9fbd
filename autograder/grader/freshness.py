"""Is a graded submission still graded up to date?

A submission counts as unchanged only when it, the solutions and tests,
and the grader are all unchanged. results.json records the three digests
in ``extra_data`` (``input_sha256``, ``solutions_sha256``,
``grader_version``); ``grade-all`` grades again whatever differs and says
why (:func:`why_regrade`).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from pathlib import Path

import autograder

# The kit's distribution name (pyproject.toml), for its version number.
DISTRIBUTION = "d2l-deep-birnn-autograder"
# Every Python source of the kit counts: a fixed check, a new judge or a
# changed recipe all change the grades.
SOURCES = Path(autograder.__file__).resolve().parent


def _digest(files: dict[str, bytes]) -> str:
    """SHA-256 over file names and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name] + b"\0")
    return h.hexdigest()


def solutions_digest(solutions: dict[str, bytes]) -> str:
    """The digest of the solution notebooks (solutions, hidden tests,
    points): file name -> bytes, as :meth:`Template.solutions` gives."""
    return _digest(solutions)


@functools.cache
def grader_version() -> str:
    """The kit's version and a digest of its Python sources, e.g.
    ``0.1.0+3f2a9c1b04de``."""
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    files = {str(p.relative_to(SOURCES)): p.read_bytes()
             for p in SOURCES.rglob("*.py") if "__pycache__" not in p.parts}
    return f"{version}+{_digest(files)[:12]}"


def stamp(solutions: dict[str, bytes]) -> dict[str, str]:
    """What results.json records, beside the input's digest, so that a
    later run can tell whether the grade is still up to date."""
    return {"solutions_sha256": solutions_digest(solutions),
            "grader_version": grader_version()}


def why_regrade(document: dict | None, input_digest: str,
                current: dict[str, str]) -> str | None:
    """Why a submission must be graded (again); None when it need not.

    Args:
        document: its results.json (None when there is none).
        input_digest: the submission's digest now.
        current: :func:`stamp` of the solutions and grader now.
    """
    if not document:
        return "not graded yet"
    extra = document.get("extra_data") or {}
    if extra.get("input_sha256") != input_digest:
        return "the submission changed"
    if extra.get("solutions_sha256") != current["solutions_sha256"]:
        return "the solutions or tests changed"
    if extra.get("grader_version") != current["grader_version"]:
        was = extra.get("grader_version") or "an unrecorded version"
        return (f"the grader changed ({was} -> "
                f"{current['grader_version']})")
    return None
