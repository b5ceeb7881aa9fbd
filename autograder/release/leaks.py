"""Release checks: nothing of the solutions or of the grader in the
student folder, and no drift.

*Leaks in the notebooks.* A line is secret when, in a source notebook, it
sits inside a solution region (``### BEGIN SOLUTION`` ... ``### END
SOLUTION``), a hidden test region (``### BEGIN HIDDEN TESTS`` ... ``###
END HIDDEN TESTS``) or a mark scheme region, or in a solution cell without
a solution region (nbgrader replaces such a cell whole), and nowhere else
in that notebook. (A hidden test that repeats the visible call's first line
does not make that line secret.) The release must contain no secret line
of its source and no delimiter.

*Leaks in the other files* (the self-check package ``rnn_checks/``, the
README, requirements.txt):

* the package holds only the kit's student-side modules, each byte for
  byte as in ``autograder/student`` (:mod:`autograder.release.package`);
* no file names the grader's secrets: its causality probe and zoo, its
  other sizes and seeds (:func:`grader_secrets`);
* no file holds solution code: :data:`SOLUTION_RUN` consecutive lines of a
  solution region (both lines of a two-line region).

*Drift.* :func:`compare_releases` tells where two release folders differ
(``release --check`` compares the committed one with a fresh one).
"""
from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

from nbgrader.preprocessors import (
    ClearHiddenTests,
    ClearMarkScheme,
    ClearSolutions,
)

from autograder import notebooks
from autograder.release import package

# What Python and Jupyter leave in a folder whose notebooks ran (a student
# may run them in place): never part of the release, never drift.
CACHES = ("__pycache__", ".ipynb_checkpoints")
# This many consecutive lines of a solution region (or the whole region,
# if it has two), found in a row in a release file, are solution code (one
# can be an ordinary line such as ``with torch.no_grad():``).
SOLUTION_RUN = 3
# The grader's secrets are the names defined by its causality probe and
# zoo and by its choice of other sizes and seeds, and the fields of the
# settings of those (with their string values, such as the seed's
# environment variable).
KIT_DIR = Path(__file__).resolve().parent.parent
SECRET_MODULES = ("grader/causality.py", "grader/verdicts.py")
SECRET_SETTINGS = ("config.py", "ChecksConfig")

# nbgrader's own delimiters (its traits' defaults; nbgrader_config.py keeps
# them), so both sides agree on what a region is: kind -> (begin, end).
REGIONS = {
    "solution": (ClearSolutions.begin_solution_delimeter.default_value,
                 ClearSolutions.end_solution_delimeter.default_value),
    "hidden test": (ClearHiddenTests.begin_test_delimeter.default_value,
                    ClearHiddenTests.end_test_delimeter.default_value),
    "mark scheme": (
        ClearMarkScheme.begin_mark_scheme_delimeter.default_value,
        ClearMarkScheme.end_mark_scheme_delimeter.default_value),
}
DELIMITERS = tuple(d for pair in REGIONS.values() for d in pair)


@dataclasses.dataclass(frozen=True)
class Secret:
    """Where a secret line comes from in the source notebook."""

    kind: str       # "solution", "hidden test" or "mark scheme"
    grade_id: str   # the source cell's grade_id (or its index)


def _cell_name(cell, index: int) -> str:
    return notebooks.grade_id(cell) or f"#{index}"


def _is_solution_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def split_cell(cell) -> tuple[list[tuple[str, str]], list[str]]:
    """Split a source cell's lines into secret and public ones.

    Returns:
        ``([(kind, line), ...], [line, ...])``: the secret lines with the
        kind of region they are in (delimiters included), and the others.
    """
    secret, public, kind = [], [], None
    for line in cell.source.splitlines():
        begins = [k for k, (begin, _) in REGIONS.items() if begin in line]
        ends = [k for k, (_, end) in REGIONS.items() if end in line]
        if begins or ends:
            secret.append((kind or (begins + ends)[0], line))
            kind = begins[0] if begins else None
        elif kind:
            secret.append((kind, line))
        else:
            public.append(line)
    has_region = any(kind == "solution" for kind, _ in secret)
    if _is_solution_cell(cell) and not has_region:
        secret += [("solution", line) for line in public]
        public = []
    return secret, public


def secret_lines(source_nb) -> dict[str, Secret]:
    """Map each secret line (stripped) of a source notebook to its origin."""
    secrets, public = {}, set()
    for index, cell in enumerate(source_nb.cells):
        cell_secret, cell_public = split_cell(cell)
        public.update(line.strip() for line in cell_public)
        for kind, line in cell_secret:
            secrets.setdefault(
                line.strip(), Secret(kind, _cell_name(cell, index)))
    return {line: origin for line, origin in secrets.items()
            if line and line not in public}


def _release_lines(cell):
    """Yield every line a student can read in a release cell: its source,
    then the text of its outputs (streams, rich data, tracebacks)."""
    yield from cell.source.splitlines()
    for output in cell.get("outputs", []):
        texts = [output.get("text", ""), *output.get("data", {}).values(),
                 *output.get("traceback", [])]
        for text in texts:
            text = "".join(text) if isinstance(text, list) else text
            if isinstance(text, str):
                yield from text.splitlines()


def find_leaks(source_nb, release_nb, name: str = "notebook") -> list[str]:
    """Return one message per leaked line of ``release_nb``; [] if none."""
    secrets = secret_lines(source_nb)
    problems = []
    for index, cell in enumerate(release_nb.cells):
        where = f"{name}, cell {_cell_name(cell, index)}"
        for number, line in enumerate(_release_lines(cell), start=1):
            origin = secrets.get(line.strip())
            if origin is not None:
                problems.append(
                    f"leak: {where}, line {number} is a {origin.kind} line "
                    f"of source cell {origin.grade_id}: {line.strip()!r}")
            elif any(d in line for d in DELIMITERS):
                problems.append(
                    f"leak: {where}, line {number} keeps an nbgrader "
                    f"delimiter: {line.strip()!r}")
    return problems


def _notebook_names(folder: Path) -> set[str]:
    return {p.name for p in Path(folder).glob("*.ipynb")}


def check_leaks(source_dir: Path, release_dir: Path) -> list[str]:
    """Compare every release notebook with its source notebook.

    Returns:
        Messages for leaked lines and for notebooks present on one side
        only; [] when the release is clean.
    """
    source_dir, release_dir = Path(source_dir), Path(release_dir)
    names = _notebook_names(source_dir)
    problems = [f"missing: {release_dir / n} (the source has it)"
                for n in sorted(names - _notebook_names(release_dir))]
    problems += [f"unexpected: {release_dir / n} has no source notebook"
                 for n in sorted(_notebook_names(release_dir) - names)]
    for name in sorted(names & _notebook_names(release_dir)):
        problems += find_leaks(notebooks.read(source_dir / name),
                               notebooks.read(release_dir / name), name)
    return problems


def _files(folder: Path) -> dict[str, Path]:
    """Relative path -> path of every file under ``folder`` but caches."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*"))
            if p.is_file()
            and not set(p.relative_to(folder).parts) & set(CACHES)}


def _first_difference(expected, got) -> str:
    """Name the first cell where two notebooks differ."""
    e_cells, g_cells = expected.get("cells", []), got.get("cells", [])
    for index, (e, g) in enumerate(zip(e_cells, g_cells)):
        if e != g:
            return f"first at cell {_cell_name(e, index)}"
    if len(e_cells) != len(g_cells):
        return f"{len(g_cells)} cells != expected {len(e_cells)}"
    return "in the notebook metadata"


def compare_releases(expected_dir: Path, release_dir: Path) -> list[str]:
    """Return one message per file that differs between the two folders."""
    expected, got = _files(expected_dir), _files(release_dir)
    fix = "run `python -m autograder release` and commit the result"
    problems = [f"drift: {release_dir / n} is missing; {fix}"
                for n in sorted(expected.keys() - got.keys())]
    problems += [f"drift: {release_dir / n} is not generated by release; "
                 f"{fix}" for n in sorted(got.keys() - expected.keys())]
    for name in sorted(expected.keys() & got.keys()):
        e_bytes, g_bytes = expected[name].read_bytes(), got[name].read_bytes()
        if name.endswith(".ipynb"):
            e_nb, g_nb = json.loads(e_bytes), json.loads(g_bytes)
            if e_nb != g_nb:
                problems.append(f"drift: {release_dir / name} differs from "
                                f"its source ({_first_difference(e_nb, g_nb)}"
                                f"); {fix}")
        elif e_bytes != g_bytes:
            problems.append(f"drift: {release_dir / name} differs from what "
                            f"release writes; {fix}")
    return problems


# ------------------------------------------------------ the other files

def _defined_names(tree: ast.Module) -> set[str]:
    """The names a module defines at its top level."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets
                         if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and \
                isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _settings(tree: ast.Module, class_name: str) -> set[str]:
    """The field names of a settings class and its string defaults."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.AnnAssign):
                    found.add(item.target.id)
                    if isinstance(item.value, ast.Constant) and \
                            isinstance(item.value.value, str):
                        found.add(item.value.value)
    return found


def _distinctive(name: str) -> bool:
    """True for a name that is no plain word: ``first_leak``,
    ``ModelServer``, ``AUTOGRADER_SEED`` (not ``Grading``, ``_draw``)."""
    core = name.strip("_")
    return "_" in core or len(re.findall(r"[A-Z][a-z]", core)) > 1


def _parse(path: Path) -> ast.Module:
    return ast.parse(Path(path).read_text(encoding="utf-8"))


def grader_secrets(kit_dir: Path = KIT_DIR,
                   student_dir: Path = package.STUDENT_DIR) -> set[str]:
    """The names no student file may hold: what the grader's probe, zoo,
    other sizes and seeds are called (:data:`SECRET_MODULES`,
    :data:`SECRET_SETTINGS`), less what the student package defines too."""
    kit_dir = Path(kit_dir)
    names = set()
    for module in SECRET_MODULES:
        names |= _defined_names(_parse(kit_dir / module))
    config, class_name = SECRET_SETTINGS
    names |= _settings(_parse(kit_dir / config), class_name)
    shared = set()
    for path in Path(student_dir).glob("*.py"):
        tree = _parse(path)
        shared |= _defined_names(tree) | {
            n for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
            for n in _settings(tree, node.name)}
    return {n for n in names - shared if _distinctive(n)}


def _windows(lines: list[str], n: int) -> dict[tuple[str, ...], int]:
    """Each run of ``n`` consecutive non-blank lines (stripped) -> the
    1-based number of its first line."""
    numbered = [(i, line.strip()) for i, line in enumerate(lines, start=1)
                if line.strip()]
    runs = {}
    for k in range(len(numbered) - n + 1):
        window = numbered[k:k + n]
        runs.setdefault(tuple(line for _, line in window), window[0][0])
    return runs


def solution_runs(source_nb) -> set[tuple[str, ...]]:
    """The runs of :data:`SOLUTION_RUN` lines of the solution regions (and
    whole solution cells) of a source notebook; a region of two lines is
    one run of two."""
    runs = set()
    for cell in source_nb.cells:
        secret, _ = split_cell(cell)
        region = []
        for kind, line in secret + [("", REGIONS["solution"][1])]:
            if any(d in line for d in DELIMITERS):
                size = min(SOLUTION_RUN, len([x for x in region if x.strip()]))
                if size >= 2:
                    runs.update(_windows(region, size))
                region = []
            elif kind == "solution":
                region.append(line)
    return runs


def find_text_leaks(text: str, name: str, secrets: set[str],
                    runs: set[tuple[str, ...]]) -> list[str]:
    """One message per grader secret named, and per run of solution code,
    in the text of a release file ``name``."""
    problems = []
    lines = text.splitlines()
    if secrets:
        pattern = re.compile(r"(?<!\w)(" + "|".join(
            map(re.escape, sorted(secrets, key=len, reverse=True)))
            + r")(?!\w)")
        for number, line in enumerate(lines, start=1):
            for found in sorted(set(pattern.findall(line))):
                problems.append(f"leak: {name}, line {number} names the "
                                f"grader's {found!r}, which students never "
                                f"see")
    for size in sorted({len(run) for run in runs}):
        for run, number in _windows(lines, size).items():
            if run in runs:
                problems.append(f"leak: {name}, lines {number}-"
                                f"{number + size - 1}... are solution "
                                f"code: {run[0]!r}")
    return problems


def check_package(package_dir: Path,
                  student_dir: Path = package.STUDENT_DIR) -> list[str]:
    """The release's ``rnn_checks/`` holds exactly the student-side
    modules the self-checks need, each as in ``autograder/student``.

    Returns:
        One message per missing, extra or changed file; [] when clean.
    """
    package_dir = Path(package_dir)
    expected, got = package.files(student_dir), _files(package_dir)
    problems = [f"missing: {package_dir / n} (the self-checks import it)"
                for n in sorted(expected.keys() - got.keys())]
    problems += [f"leak: {package_dir / n} is not one of the modules of "
                 f"autograder/student the self-checks need"
                 for n in sorted(got.keys() - expected.keys())]
    problems += [f"leak: {package_dir / n} is not autograder/student/{n} "
                 f"byte for byte"
                 for n in sorted(expected.keys() & got.keys())
                 if expected[n].read_bytes() != got[n].read_bytes()]
    return problems


def check_files(source_dir: Path, release_dir: Path) -> list[str]:
    """Check every release file that is not a notebook: the package's
    modules are the kit's own, and no file names a grader secret or holds
    solution code.

    Returns:
        One message per problem; [] when clean.
    """
    source_dir, release_dir = Path(source_dir), Path(release_dir)
    runs = set()
    for path in sorted(source_dir.glob("*.ipynb")):
        runs |= solution_runs(notebooks.read(path))
    secrets = grader_secrets()
    problems = check_package(release_dir / package.NAME)
    for name, path in _files(release_dir).items():
        if name.endswith(".ipynb"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            problems.append(f"leak: {release_dir / name} is not text; the "
                            f"release writes only text files")
            continue
        problems += find_text_leaks(text, str(release_dir / name), secrets,
                                    runs)
    return problems


def check_release(source_dir: Path, release_dir: Path) -> list[str]:
    """Every leak check of a release folder: its notebooks
    (:func:`check_leaks`) and its other files (:func:`check_files`)."""
    return check_leaks(source_dir, release_dir) + check_files(source_dir,
                                                              release_dir)
