"""What the grader reads from a submission: a folder or a .zip of notebooks.

A missing or unreadable notebook scores zero on its tests, with a message
that says why (:class:`Submission`.problems). The grader reads only what a
submission holds, and only so much of it (issue 11), before any notebook is
opened:

* a symbolic link, FIFO, socket or device file is never followed or read,
  in a folder or in a .zip: the notebook counts as missing, and the message
  says what it was;
* a notebook over ``GradingLimits.notebook_bytes``, or a .zip that would
  unzip to more than ``GradingLimits.zip_bytes`` (read from its directory,
  before anything is unpacked), scores 0 on its tests, with the sizes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import stat
import tempfile
import zipfile
from pathlib import Path

import nbformat

from autograder import contract
from autograder.config import ASSIGNMENT_ID, GRADING, GradingLimits
from autograder.grader.errors import GraderError

NOTEBOOK_NAMES = tuple(nb.name for nb in contract.NOTEBOOKS)
# What a file that is not a regular file is, by its type.
SPECIAL = {stat.S_IFLNK: "a symbolic link", stat.S_IFIFO: "a FIFO",
           stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device file",
           stat.S_IFBLK: "a device file", stat.S_IFDIR: "a folder"}


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
                    names=NOTEBOOK_NAMES,
                    limits: GradingLimits = GRADING) -> Submission:
    """Find the notebooks of a submission folder or .zip.

    Args:
        path: a folder holding the notebooks, or a .zip of one.
        workdir: where a .zip is extracted.
        student: the student id (default: from the file name).
        names: the notebook file names to look for.
        limits: the caps on a notebook's and a .zip's size.

    Raises:
        GraderError: ``path`` does not exist.
    """
    path = Path(path)
    student = student or student_id(path)
    kind = _kind(path)
    if kind is None:
        raise GraderError(f"{path} is neither a folder nor a .zip file")
    if kind not in (stat.S_IFDIR, stat.S_IFREG):
        why = (f"the submission {path.name} is {SPECIAL[kind]}, which the "
               "grader does not follow")
        return Submission(student, {}, {n: f"{why}: {n} scores 0"
                                        for n in names},
                          _marker_digest(why), path)
    problems = {}
    if kind == stat.S_IFDIR:
        folder = path
    else:
        try:
            folder, problems = _extract(path, workdir / "unzipped", names,
                                        limits)
        except GraderError as err:  # the student's broken upload
            return Submission(student, {}, {n: f"{err}: {n} scores 0"
                                            for n in names},
                              _file_digest(path), path)
    found = {}
    for name in names:
        nb_path, problem = _find(folder, name, limits)
        problem = problems.get(name) or problem or _unreadable(nb_path, name)
        if problem:
            problems[name] = problem
        else:
            found[name] = nb_path
    return Submission(student, found, problems,
                      digest_of(folder, names, limits), path)


def _kind(path: Path) -> int | None:
    """The file type of ``path`` itself (``stat.S_IF*``; links not
    followed), or None when there is nothing there."""
    try:
        return stat.S_IFMT(os.lstat(path).st_mode)
    except OSError:
        return None


def _extract(zip_path: Path, dest: Path, names,
             limits: GradingLimits = GRADING) -> tuple[Path, dict]:
    """Extract only the wanted notebooks (by base name) from a .zip.

    Nothing is unpacked when the members' sizes, as the .zip's directory
    gives them, add up to more than ``limits.zip_bytes``. A wanted member
    that is a link or a special file, or over ``limits.notebook_bytes``,
    is not unpacked either: it becomes a problem.

    Returns:
        (the folder, notebook name -> problem).

    Raises:
        GraderError: not a .zip, unreadable, or over the size cap.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if not zipfile.is_zipfile(zip_path):
        raise GraderError(f"{zip_path.name} is not a .zip file")
    problems = {}
    try:
        with zipfile.ZipFile(zip_path) as zf:
            _check_zip_size(zip_path, zf, limits)
            members = [m for m in zf.infolist()
                       if Path(m.filename).name in names
                       and "__MACOSX" not in m.filename
                       and not m.is_dir()]
            for m in sorted(members, key=lambda m: m.filename.count("/")):
                name = Path(m.filename).name
                if name in problems or (dest / name).exists():
                    continue
                problem = _member_problem(m, name, limits)
                if problem:
                    problems[name] = problem
                    continue
                with zf.open(m) as src:
                    (dest / name).write_bytes(src.read(m.file_size))
    except GraderError:
        raise
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError,
            ValueError) as err:
        raise GraderError(f"{zip_path.name} could not be unzipped "
                          f"({err})") from err
    return dest, problems


def _check_zip_size(zip_path: Path, zf: zipfile.ZipFile,
                    limits: GradingLimits) -> None:
    """Refuse a .zip whose members add up to more than the cap."""
    total = sum(m.file_size for m in zf.infolist())
    if total > limits.zip_bytes:
        raise GraderError(
            f"{zip_path.name} would unzip to {_size(total)}, over the "
            f"{_size(limits.zip_bytes)} limit (GradingLimits.zip_bytes); "
            "it was not unzipped")


def _member_problem(m: zipfile.ZipInfo, name: str,
                    limits: GradingLimits) -> str | None:
    """Why a wanted .zip member is not unpacked, or None."""
    kind = stat.S_IFMT(m.external_attr >> 16)
    if kind and kind != stat.S_IFREG:
        return (f"{name} is {SPECIAL.get(kind, 'a special file')} in the "
                ".zip, which the grader does not follow: its tests score 0")
    if m.file_size > limits.notebook_bytes:
        return _too_large(name, m.file_size, limits)
    return None


def _too_large(name: str, size: int, limits: GradingLimits) -> str:
    return (f"{name} is {_size(size)}, over the "
            f"{_size(limits.notebook_bytes)} limit for a notebook "
            "(GradingLimits.notebook_bytes): its tests score 0")


def _size(n_bytes: int) -> str:
    """'3.0 GB', '20 MB', '512 bytes' (powers of 1000, as files are sold)."""
    for unit, scale in (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if n_bytes >= scale:
            value = n_bytes / scale
            return f"{value:.1f} {unit}" if value < 10 else \
                f"{value:.0f} {unit}"
    return f"{n_bytes} bytes"


def _candidates(folder: Path, name: str) -> list[Path]:
    """Every entry called ``name`` under ``folder``, shallowest first,
    found without following links (checkpoints left out)."""
    hits = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != ".ipynb_checkpoints")
        if name in files or name in dirs:
            hits.append(Path(root) / name)
    return sorted(hits, key=lambda p: len(p.parts))


def _find(folder: Path, name: str, limits: GradingLimits = GRADING
          ) -> tuple[Path | None, str | None]:
    """The shallowest regular file ``name`` under ``folder``, or why none.

    Returns:
        (its path, None); (None, why) when the only ones found are links,
        special files or over the size cap; (None, None) when none is.
    """
    problem = None
    for path in _candidates(folder, name):
        st = os.lstat(path)
        kind = stat.S_IFMT(st.st_mode)
        if kind != stat.S_IFREG:
            problem = problem or (
                f"{name} is {SPECIAL.get(kind, 'a special file')} in the "
                "submission, which the grader does not follow: its tests "
                "score 0")
        elif st.st_size > limits.notebook_bytes:
            problem = problem or _too_large(name, st.st_size, limits)
        else:
            return path, None
    return None, problem


def _unreadable(path: Path | None, name: str) -> str | None:
    """Say why a notebook cannot be graded, or None when it can."""
    if path is None:
        return f"{name} is missing from the submission: its tests score 0"
    try:
        nb = nbformat.reads(_read_regular(path).decode("utf-8"),
                            as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 - any parse error = unreadable
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return (f"{name} is not a valid notebook ({type(err).__name__}: "
                f"{first[:200]}): its tests score 0")
    if not nb.cells:
        return f"{name} is an empty notebook: its tests score 0"
    return None


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file, never through a link or from a FIFO.

    Raises:
        OSError: ``path`` is a link or not a regular file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        return f.read()


def digest_of(folder: Path, names=NOTEBOOK_NAMES,
              limits: GradingLimits = GRADING) -> str:
    """SHA-256 over the submission's notebooks (name and bytes).

    A notebook that is not graded (missing, a link, over the cap) counts by
    what it is, not by its bytes.
    """
    h = hashlib.sha256()
    for name in names:
        path, problem = _find(folder, name, limits)
        h.update(name.encode() + b"\0")
        h.update(_read_regular(path) if path else
                 f"<{problem or 'missing'}>".encode())
        h.update(b"\0")
    return h.hexdigest()


def digest_of_submission(path: Path | str, names=NOTEBOOK_NAMES,
                         limits: GradingLimits = GRADING) -> str:
    """The digest of a submission folder or .zip, without grading it."""
    path = Path(path)
    kind = _kind(path)
    if kind == stat.S_IFDIR:
        return digest_of(path, names, limits)
    if kind != stat.S_IFREG:
        return _marker_digest(f"{path.name}: {SPECIAL.get(kind, 'missing')}")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder, _ = _extract(path, Path(tmp), names, limits)
            return digest_of(folder, names, limits)
        except GraderError:
            return _file_digest(path)


def _file_digest(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _marker_digest(what: str) -> str:
    return hashlib.sha256(f"<{what}>".encode()).hexdigest()


def find_submissions(directory: Path | str) -> dict[str, Path]:
    """Student id -> submission, for the layouts ``grade-all`` accepts.

    * nbgrader's ``submitted/<student>/<assignment>/`` (DIR may be the
      course root, its ``submitted/`` folder, or any folder laid out so);
    * one folder per student, holding the notebooks (at any depth);
    * one .zip per student.

    A link or special file in DIR is kept as a submission (grading it says
    what it is; it is never followed).

    Raises:
        GraderError: two entries give the same student id (``alice/`` and
            ``alice.zip``, ``a b/`` and ``a_b/``); the message names them.
    """
    directory = Path(directory)
    if _kind(directory / "submitted") == stat.S_IFDIR:
        directory = directory / "submitted"
    claims: dict[str, list[tuple[str, Path]]] = {}
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        kind = _kind(entry)
        if kind == stat.S_IFDIR:
            nested = entry / ASSIGNMENT_ID
            claims.setdefault(student_id(entry), []).append(
                (f"{entry.name}/",
                 nested if _kind(nested) is not None else entry))
        elif entry.suffix == ".zip" or kind == stat.S_IFLNK:
            claims.setdefault(student_id(entry), []).append(
                (entry.name, entry))
    clashes = [f"'{sid}' from " + " and ".join(shown for shown, _ in found)
               for sid, found in claims.items() if len(found) > 1]
    if clashes:
        raise GraderError(
            "two submissions would be graded as the same student: "
            + "; ".join(clashes) + ". Rename one of each (a student id "
            "keeps letters, digits, '_', '.' and '-'; other characters "
            "become '_', and .zip is dropped)")
    return {sid: found[0][1] for sid, found in claims.items()}
