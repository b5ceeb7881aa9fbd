"""Reading and editing notebooks by nbgrader ``grade_id``, never by index.

This is the one seam through which the kit (release checks, example
submissions, tests) touches notebook cells.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

NB_VERSION = 4


def read(path: Path | str) -> nbformat.NotebookNode:
    """Read a notebook as nbformat v4."""
    return nbformat.read(str(path), as_version=NB_VERSION)


def write(nb: nbformat.NotebookNode, path: Path | str) -> None:
    """Write a notebook (creating its folder)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def grade_id(cell) -> str | None:
    """Return the cell's nbgrader grade_id, or None."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def grade_ids(nb) -> list[str]:
    """All grade_ids of a notebook, in order."""
    return [g for g in map(grade_id, nb.cells) if g]


def cell(nb, gid: str):
    """Return the cell whose grade_id is ``gid``.

    Raises:
        KeyError: no cell (or more than one) has that grade_id.
    """
    found = [c for c in nb.cells if grade_id(c) == gid]
    if len(found) != 1:
        raise KeyError(
            f"expected exactly one cell with grade_id {gid!r}, "
            f"found {len(found)}"
        )
    return found[0]


def set_source(nb, gid: str, source: str) -> None:
    """Replace the source of the cell ``gid`` (e.g. to fill a stub)."""
    cell(nb, gid)["source"] = source


def source(nb, gid: str) -> str:
    """Return the source of the cell ``gid``."""
    return cell(nb, gid)["source"]


def exec_cells(nb, gids, namespace: dict | None = None) -> dict:
    """Execute the code cells ``gids`` (in that order) in ``namespace``.

    Only for trusted notebooks (the solutions, in tests and tools).

    Returns:
        The namespace, holding what the cells defined.
    """
    namespace = {} if namespace is None else namespace
    for gid in gids:
        code = compile(source(nb, gid), f"<cell {gid}>", "exec")
        exec(code, namespace)  # noqa: S102 - trusted instructor notebooks
    return namespace
