"""Release checks: no leaks of solutions or hidden tests, and no drift.

*Leaks.* A line is secret when, in a source notebook, it sits inside a
solution region (``### BEGIN SOLUTION`` ... ``### END SOLUTION``), a hidden
test region (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``) or a
mark scheme region, or in a solution cell without a solution region
(nbgrader replaces such a cell whole), and nowhere else in that notebook.
(A hidden test that repeats the visible call's first line does not make
that line secret.) The release must contain
no secret line of its source and no delimiter.

*Drift.* The committed release must equal what ``release`` generates from
the source now, notebook by notebook.
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

from nbgrader.preprocessors import (
    ClearHiddenTests,
    ClearMarkScheme,
    ClearSolutions,
)

from autograder import notebooks
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT

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
    return {str(p.relative_to(folder)): p
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


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
        e_text = expected[name].read_text(encoding="utf-8")
        g_text = got[name].read_text(encoding="utf-8")
        if name.endswith(".ipynb"):
            e_nb, g_nb = json.loads(e_text), json.loads(g_text)
            if e_nb != g_nb:
                problems.append(f"drift: {release_dir / name} differs from "
                                f"its source ({_first_difference(e_nb, g_nb)}"
                                f"); {fix}")
        elif e_text != g_text:
            problems.append(f"drift: {release_dir / name} differs; {fix}")
    return problems


def check_drift(course_root: Path | str = COURSE_ROOT, *,
                assignment_id: str = ASSIGNMENT_ID) -> list[str]:
    """Regenerate the release in a temporary folder and compare.

    Returns:
        Messages for every file of the committed release that differs from
        what ``release`` generates now; [] when there is no drift.
    """
    from autograder.release import release  # release imports this module

    course_root = Path(course_root)
    committed = course_root / release.RELEASE_DIR / assignment_id
    with tempfile.TemporaryDirectory(prefix="drift-") as tmp:
        fresh = release.generate(Path(tmp) / assignment_id,
                                 course_root=course_root,
                                 assignment_id=assignment_id)
        return compare_releases(fresh, committed)
