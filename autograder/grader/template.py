"""The grading template: a private nbgrader course holding the solutions.

Built once per version of the solutions (cached by their hash, outside the
course tree) with ``nbgrader generate_assignment``; every submission is
graded in a scratch copy of it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


from autograder import contract, notebooks
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT, GRADING
from autograder.grader import gradebook as gbook
from autograder.grader.autograde import write_nbgrader_config
from autograder.grader.errors import GraderError, error_line

NOTEBOOK_NAMES = tuple(nb.name for nb in contract.NOTEBOOKS)
# Test cells whose verdict the grader re-judges from recorded evidence.
REJUDGED = frozenset(t for nb in contract.NOTEBOOKS for t in nb.tests)

@dataclasses.dataclass(frozen=True)
class GradedCell:
    """A cell that carries points, in notebook order."""

    notebook: str     # file name, e.g. "deep_rnn.ipynb"
    grade_id: str
    max_score: float
    manual: bool      # graded by a person (the written answer)


@dataclasses.dataclass(frozen=True)
class Template:
    """The solutions, made into nbgrader's source and a gradebook."""

    root: Path
    cells: tuple[GradedCell, ...]

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    @property
    def notebook_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.notebook for c in self.cells))

    def setup_source(self, notebook: str) -> str:
        """The kit's own setup cell of ``notebook`` (never the student's)."""
        path = self.root / "source" / ASSIGNMENT_ID / notebook
        nb = notebooks.read(path)
        return notebooks.source(nb, "setup") if "setup" in \
            notebooks.grade_ids(nb) else ""

    def solutions(self) -> dict[str, bytes]:
        """File name -> bytes of the solution notebooks it was built from."""
        folder = self.root / "source" / ASSIGNMENT_ID
        return {p.name: p.read_bytes() for p in sorted(folder.glob("*.ipynb"))}


def require_data(template: "Template") -> None:
    """Make sure the grader itself can read the Time Machine text.

    Re-judging the perplexity evidence evaluates the trained model on the
    data in this process; without the data every student would fail those
    tests, so the grader refuses to start instead.

    Raises:
        GraderError: with where it looked, in one line.
    """
    if not {c.grade_id for c in template.cells} & REJUDGED:
        return
    from autograder import data

    try:
        data.export_env()
    except data.DataNotFoundError as err:
        raise GraderError(
            "the Time Machine text (timemachine.txt) was not found: run "
            "`python -m autograder data --install` here or set "
            f"${data.DATA.env_var}") from err


def default_source(course_root: Path = COURSE_ROOT) -> Path:
    """nbgrader's source folder of the assignment (the solutions)."""
    return Path(course_root) / "solutions" / ASSIGNMENT_ID


def build_template(source: Path | str | None = None,
                   cache: Path | None = None) -> Template:
    """Return the grading template of ``source``, building it once.

    The template is cached (outside the course tree) under the hash of the
    source notebooks, so a batch builds it once and a changed solution
    rebuilds it.

    Raises:
        GraderError: no source notebooks, or nbgrader could not read them.
    """
    source = Path(source or default_source())
    files = sorted(source.glob("*.ipynb"))
    if not files:
        raise GraderError(f"no solution notebooks in {source}")
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + f.read_bytes())
    cache = cache or Path(tempfile.gettempdir()) / "autograder-templates"
    root = cache / h.hexdigest()[:20]
    if not (root / "gradebook.db").is_file():
        _build_template_at(root, files)
    return Template(root, _graded_cells(root / "source" / ASSIGNMENT_ID))


def _build_template_at(root: Path, files: list[Path]) -> None:
    """Run ``nbgrader generate_assignment`` in a fresh folder, then publish
    it at ``root`` with one rename (concurrent builders cannot clash)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=root.parent))
    src = tmp / "source" / ASSIGNMENT_ID
    src.mkdir(parents=True)
    for f in files:
        shutil.copy(f, src / f.name)
    write_nbgrader_config(tmp, GRADING)
    gbook.tools_on_path()
    proc = subprocess.run(
        [sys.executable, "-I", "-m", "nbgrader", "generate_assignment",
         ASSIGNMENT_ID, "--force"],
        cwd=tmp, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise GraderError("nbgrader generate_assignment failed on the "
                          f"solutions: {error_line(proc.stderr)}")
    shutil.rmtree(tmp / "release", ignore_errors=True)
    try:
        tmp.rename(root)
    except OSError:  # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)


def _in_contract_order(paths) -> list[Path]:
    """The contract's notebooks in its order, then any others by name."""
    rank = {name: i for i, name in enumerate(NOTEBOOK_NAMES)}
    return sorted(paths, key=lambda p: (rank.get(p.name, len(rank)), p.name))


def _graded_cells(source: Path) -> tuple[GradedCell, ...]:
    """Every cell with points, in notebook order."""
    cells = []
    for path in _in_contract_order(source.glob("*.ipynb")):
        for c in notebooks.read(path).cells:
            meta = c.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") or meta.get("task"):
                cells.append(GradedCell(
                    path.name, meta["grade_id"], float(meta.get("points", 0)),
                    manual=c.cell_type != "code"))
    return tuple(cells)
