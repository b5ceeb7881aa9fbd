"""The self-check code in the student folder: ``rnn_checks/``.

``release`` writes it from the kit's own source, ``autograder/student``:
the modules the self-check API (the package's ``__init__.py``) imports,
directly or through one another, copied byte for byte. It is never kept
by hand, so what a student runs is what the grader runs (the grader brings
its own copy and never uses the one a student hands in).

Only relative imports are followed (``from . import checks``,
``from .errors import CheckFailed``): the student package imports nothing
of the grader's, so a module that only the grader uses is not shipped.
"""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

# The kit's student-side package and the name it has in the release.
STUDENT_DIR = Path(__file__).resolve().parent.parent / "student"
NAME = "rnn_checks"
ROOT_MODULE = "__init__"


def _relative_imports(path: Path) -> set[str]:
    """The sibling modules a module imports with ``from . import`` or
    ``from .name import`` (anywhere in it, function bodies included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        if node.module:
            found.add(node.module.split(".")[0])
        else:
            found.update(alias.name for alias in node.names)
    return found


def modules(package_dir: Path = STUDENT_DIR) -> list[str]:
    """The modules the self-checks need, by name (``"checks"``), sorted.

    Raises:
        FileNotFoundError: the package imports a module it does not have.
    """
    package_dir = Path(package_dir)
    needed, todo = set(), [ROOT_MODULE]
    while todo:
        name = todo.pop()
        path = package_dir / f"{name}.py"
        if not path.is_file():
            raise FileNotFoundError(f"{package_dir.name} imports .{name}, "
                                    f"and there is no {path}")
        needed.add(name)
        todo += sorted(_relative_imports(path) - needed)
    return sorted(needed)


def files(package_dir: Path = STUDENT_DIR) -> dict[str, Path]:
    """File name in the copy -> the kit's file it is copied from."""
    return {f"{name}.py": Path(package_dir) / f"{name}.py"
            for name in modules(package_dir)}


def write(dest: Path, package_dir: Path = STUDENT_DIR) -> Path:
    """Replace ``dest`` with a copy of the modules the self-checks need.

    Returns:
        ``dest``.
    """
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name, source in files(package_dir).items():
        shutil.copyfile(source, dest / name)
    return dest
