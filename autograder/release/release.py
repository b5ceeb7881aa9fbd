"""Instructor action ``release``: write the student folder.

The source notebooks (with solutions) are in ``solutions/<assignment>/``;
the student folder, ``assignments/<assignment>/``, is committed and is all
a student needs besides torch, d2l 0.17.6 and Jupyter:

1. the source's test cells are written from the registry (what each checks
   and its points, then its self-check call: :mod:`.testcells`), so the
   notebooks and the registry cannot disagree;
2. nbgrader's ``generate_assignment`` turns the source notebooks into the
   student notebooks, in a throw-away copy of the course directory with
   nbgrader's ``--no-db`` behaviour, so releasing never creates or touches
   a gradebook;
3. the self-check package ``rnn_checks/`` is copied from the kit's
   ``autograder/student`` (:mod:`.package`);
4. the student README.md and requirements.txt are written
   (:mod:`.handout`).

Steps 2-4 make the folder (:func:`generate`); :mod:`.leaks` then checks it.
``main(check=True)`` writes nothing: it generates a fresh folder in a
temporary place and reports drift (the committed folder, or a source test
cell, differs from what ``release`` would write now) and leaks.
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

from autograder.config import ASSIGNMENT_ID, COURSE_ROOT
from autograder.release import handout, leaks, package, testcells

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


def generate_notebooks(dest: Path, source: Path, assignment_id: str) -> None:
    """Run nbgrader's GenerateAssignment on a temporary copy of ``source``
    and put its output in ``dest`` (which must not exist)."""
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        root = Path(tmp)
        shutil.copytree(source, root / SOURCE_DIR / assignment_id,
                        ignore=shutil.ignore_patterns(*leaks.CACHES))
        config = _nbgrader_config(root, assignment_id)
        converter = GenerateAssignment(
            coursedir=CourseDirectory(config=config), config=config)
        converter.log.setLevel(logging.WARNING)
        converter.start()
        shutil.copytree(root / RELEASE_DIR / assignment_id, dest)


def generate(dest: Path, *, course_root: Path = COURSE_ROOT,
             assignment_id: str = ASSIGNMENT_ID) -> Path:
    """Write the student folder of ``assignment_id`` into ``dest``.

    ``dest`` is replaced: the student notebooks, ``rnn_checks/``,
    README.md and requirements.txt.

    Returns:
        ``dest``.
    """
    source = Path(course_root) / SOURCE_DIR / assignment_id
    if not source.is_dir():
        raise FileNotFoundError(f"no source folder {source}")
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    generate_notebooks(dest, source, assignment_id)
    package.write(dest / package.NAME)
    handout.write(dest)
    return dest


def check_drift(course_root: Path | str = COURSE_ROOT, *,
                assignment_id: str = ASSIGNMENT_ID) -> list[str]:
    """Compare the committed student folder, and the source's test cells,
    with what ``release`` writes now (in a temporary folder).

    Returns:
        One message per file or test cell that differs; [] when there is
        no drift.
    """
    course_root = Path(course_root)
    committed = course_root / RELEASE_DIR / assignment_id
    problems = testcells.check_folder(course_root / SOURCE_DIR
                                      / assignment_id)
    with tempfile.TemporaryDirectory(prefix="drift-") as tmp:
        fresh = generate(Path(tmp) / assignment_id, course_root=course_root,
                         assignment_id=assignment_id)
        return problems + leaks.compare_releases(fresh, committed)


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
        problems = check_drift(course_root, assignment_id=assignment_id)
    else:
        for name, gids in testcells.stamp_folder(source).items():
            print(f"wrote {len(gids)} test cells of {source / name} from "
                  "the registry")
        generate(release, course_root=course_root,
                 assignment_id=assignment_id)
        print(f"released {source} -> {release}")
        problems = []
    problems += leaks.check_release(source, release)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"release {release} is clean: no solution line, nothing of the "
          "grader's" + (", no drift from the source" if check else ""))
    return 0
