"""What the grader reads from a submission: a folder or a .zip of notebooks.

A missing or unreadable notebook scores zero on its tests, with a message
that says why (:class:`Submission`.problems).
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
import tempfile
import zipfile
from pathlib import Path

import nbformat

from autograder import contract
from autograder.config import ASSIGNMENT_ID
from autograder.grader.errors import GraderError

NOTEBOOK_NAMES = tuple(nb.name for nb in contract.NOTEBOOKS)

@dataclasses.dataclass
class Submission:
    """A student's notebooks, read from a folder or a .zip.

    Attributes:
        student: the student id (nbgrader's).
        notebooks: file name -> path, for each notebook found and readable.
        problems: file name -> why it is not graded ("missing", ...).
        digest: SHA-256 over the input notebooks (name and bytes).
        origin: the path given on the command line.
    """

    student: str
    notebooks: dict[str, Path]
    problems: dict[str, str]
    digest: str
    origin: Path


def student_id(path: Path | str) -> str:
    """Derive an nbgrader student id from a submission's file name."""
    stem = Path(path).name
    for ext in (".zip", ".ipynb"):
        stem = stem.removesuffix(ext)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "student"


def open_submission(path: Path | str, workdir: Path, *, student=None,
                    names=NOTEBOOK_NAMES) -> Submission:
    """Find the notebooks of a submission folder or .zip.

    Args:
        path: a folder holding the notebooks, or a .zip of one.
        workdir: where a .zip is extracted.
        student: the student id (default: from the file name).
        names: the notebook file names to look for.

    Raises:
        GraderError: ``path`` is neither a folder nor a readable .zip.
    """
    path = Path(path)
    student = student or student_id(path)
    if path.is_dir():
        folder = path
    elif path.is_file():
        try:
            folder = _extract(path, workdir / "unzipped", names)
        except GraderError as err:  # the student's broken upload
            return Submission(student, {}, {n: f"{err}: {n} scores 0"
                                            for n in names},
                              _file_digest(path), path)
    else:
        raise GraderError(f"{path} is neither a folder nor a .zip file")
    found, problems = {}, {}
    for name in names:
        nb_path = _find(folder, name)
        problem = _unreadable(nb_path, name)
        if problem:
            problems[name] = problem
        else:
            found[name] = nb_path
    return Submission(student, found, problems, digest_of(folder, names), path)


def _extract(zip_path: Path, dest: Path, names) -> Path:
    """Extract only the wanted notebooks (by base name) from a .zip."""
    dest.mkdir(parents=True, exist_ok=True)
    if not zipfile.is_zipfile(zip_path):
        raise GraderError(f"{zip_path.name} is not a .zip file")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = [m for m in zf.infolist()
                       if Path(m.filename).name in names
                       and "__MACOSX" not in m.filename
                       and not m.is_dir()]
            for m in sorted(members, key=lambda m: m.filename.count("/")):
                target = dest / Path(m.filename).name
                if not target.exists():
                    target.write_bytes(zf.read(m))
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as err:
        raise GraderError(f"{zip_path.name} could not be unzipped "
                          f"({err})") from err
    return dest


def _find(folder: Path, name: str) -> Path | None:
    """``folder/name``, else the shallowest ``**/name`` below it."""
    if (folder / name).is_file():
        return folder / name
    hits = sorted(folder.rglob(name), key=lambda p: len(p.parts))
    hits = [p for p in hits if ".ipynb_checkpoints" not in p.parts]
    return hits[0] if hits else None


def _unreadable(path: Path | None, name: str) -> str | None:
    """Say why a notebook cannot be graded, or None when it can."""
    if path is None:
        return f"{name} is missing from the submission: its tests score 0"
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 - any parse error = unreadable
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return (f"{name} is not a valid notebook ({type(err).__name__}: "
                f"{first[:200]}): its tests score 0")
    if not nb.cells:
        return f"{name} is an empty notebook: its tests score 0"
    return None


def digest_of(folder: Path, names=NOTEBOOK_NAMES) -> str:
    """SHA-256 over the submission's notebooks (name and bytes)."""
    h = hashlib.sha256()
    for name in names:
        path = _find(folder, name)
        h.update(name.encode() + b"\0")
        h.update(path.read_bytes() if path else b"<missing>")
        h.update(b"\0")
    return h.hexdigest()


def digest_of_submission(path: Path | str, names=NOTEBOOK_NAMES) -> str:
    """The digest of a submission folder or .zip, without grading it."""
    path = Path(path)
    if path.is_dir():
        return digest_of(path, names)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return digest_of(_extract(path, Path(tmp), names), names)
        except GraderError:
            return _file_digest(path)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def find_submissions(directory: Path | str) -> dict[str, Path]:
    """Student id -> submission, for the layouts ``grade-all`` accepts.

    * nbgrader's ``submitted/<student>/<assignment>/`` (DIR may be the
      course root, its ``submitted/`` folder, or any folder laid out so);
    * one folder per student, holding the notebooks (at any depth);
    * one .zip per student.
    """
    directory = Path(directory)
    if (directory / "submitted").is_dir():
        directory = directory / "submitted"
    found = {}
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            nested = entry / ASSIGNMENT_ID
            found[student_id(entry)] = (
                nested if nested.is_dir() else entry)
        elif entry.suffix == ".zip":
            found[student_id(entry)] = entry
    return found
