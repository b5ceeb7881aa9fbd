"""Instructor action ``release``: regenerate the student notebooks.

The source notebooks (with solutions and hidden tests) are in
``solutions/<assignment>/``; nbgrader's ``generate_assignment`` turns them
into the student release in ``assignments/<assignment>/``, which is
committed. Generation runs in a throw-away copy of the course directory
with nbgrader's ``--no-db`` behaviour, so releasing never creates or touches
a gradebook. The release is then checked by :mod:`autograder.release.leaks`.

``main(check=True)`` writes nothing: it regenerates into a temporary folder
and reports drift (the committed release differs from what ``release``
would write now) and leaks.
"""
from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from pathlib import Path

from nbgrader.converters import GenerateAssignment
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from autograder.release import leaks
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT

SOURCE_DIR = "solutions"      # nbgrader's source_directory (nbgrader_config)
RELEASE_DIR = "assignments"   # nbgrader's release_directory


def _nbgrader_config(root: Path, assignment_id: str) -> Config:
    """nbgrader settings equal to ``generate_assignment --no-db --force``."""
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.source_directory = SOURCE_DIR
    c.CourseDirectory.release_directory = RELEASE_DIR
    c.CourseDirectory.assignment_id = assignment_id
    c.GenerateAssignment.no_database = True   # --no-db
    c.SaveCells.enabled = False               # --no-db
    c.BaseConverter.force = True              # --force
    return c


def generate(dest: Path, *, course_root: Path = COURSE_ROOT,
             assignment_id: str = ASSIGNMENT_ID) -> Path:
    """Generate the student release of ``assignment_id`` into ``dest``.

    Runs nbgrader's GenerateAssignment on a temporary copy of the source
    folder, then replaces ``dest`` with its output.

    Returns:
        ``dest``, now holding the release notebooks.
    """
    source = Path(course_root) / SOURCE_DIR / assignment_id
    if not source.is_dir():
        raise FileNotFoundError(f"no source folder {source}")
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        root = Path(tmp)
        shutil.copytree(source, root / SOURCE_DIR / assignment_id,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        config = _nbgrader_config(root, assignment_id)
        converter = GenerateAssignment(
            coursedir=CourseDirectory(config=config), config=config)
        converter.log.setLevel(logging.WARNING)
        converter.start()
        dest = Path(dest)
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(root / RELEASE_DIR / assignment_id, dest)
    return dest


def main(*, course_root: Path | str = COURSE_ROOT,
         assignment_id: str = ASSIGNMENT_ID, check: bool = False) -> int:
    """Regenerate (or, with ``check``, verify) the committed release.

    Args:
        course_root: the nbgrader course directory (the repo root).
        assignment_id: the assignment to release.
        check: write nothing; report drift and leaks of the committed
            release instead.

    Returns:
        0 when the release is clean, 1 when a problem was found.
    """
    course_root = Path(course_root)
    release = course_root / RELEASE_DIR / assignment_id
    source = course_root / SOURCE_DIR / assignment_id
    if check:
        problems = leaks.check_drift(course_root, assignment_id=assignment_id)
    else:
        generate(release, course_root=course_root,
                 assignment_id=assignment_id)
        print(f"released {source} -> {release}")
        problems = []
    problems += leaks.check_leaks(source, release)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"release {release} is clean: no solution or hidden-test line"
          + (", no drift from the source" if check else ""))
    return 0
