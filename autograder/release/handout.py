"""The student folder's README.md and requirements.txt.

``release`` writes both into the release from the kit's own files, so they
cannot drift from it:

* ``requirements.txt`` pins what the notebooks need, at the versions the
  kit pins (``requirements.txt``, ``requirements-d2l.txt``, and
  ``requirements.lock.txt`` for what the kit gets through nbgrader, such as
  JupyterLab). d2l 0.17.6 is installed on its own with ``--no-deps``, as
  the kit does: its declared pins (numpy 1.21.5, pandas 1.2.4) do not
  install on Python 3.11, so its real runtime needs are listed instead.
* ``README.md`` is ``student_readme.md`` (beside this module) with the
  install lines, the data file's SHA-1 and the points filled in.
"""
from __future__ import annotations

import string
from pathlib import Path

from packaging.requirements import Requirement

from autograder.config import COURSE_ROOT, DATA
from autograder.student import registry

TEMPLATE = Path(__file__).with_name("student_readme.md")
# The kit's repo, which holds its pin files (whatever course it releases).
KIT_ROOT = COURSE_ROOT
README = "README.md"
REQUIREMENTS = "requirements.txt"
# The kit's pin files, looked in in this order.
PIN_FILES = ("requirements.txt", "requirements-d2l.txt",
             "requirements.lock.txt")
# What the notebooks import, and what ``import d2l.torch`` imports (its
# real runtime needs, as in the kit's requirements.txt), and Jupyter.
STUDENT_PACKAGES = ("torch", "torchvision", "numpy", "pandas", "matplotlib",
                    "matplotlib-inline", "requests", "ipython", "pillow",
                    "ipykernel", "jupyterlab")
# Installed on its own, without its declared dependencies.
NO_DEPS = "d2l"


def _pins_of(path: Path) -> dict[str, str]:
    """Package name (lower case) -> ``name==version`` line of a pin file."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            pins[req.name.lower()] = str(req)
    return pins


def pins(kit_root: Path = KIT_ROOT) -> dict[str, str]:
    """Every package the student folder needs -> its kit pin.

    Raises:
        ValueError: the kit pins one of them nowhere.
    """
    found = {}
    for name in reversed(PIN_FILES):  # the first file has the last word
        path = Path(kit_root) / name
        if path.is_file():
            found.update(_pins_of(path))
    wanted = (*STUDENT_PACKAGES, NO_DEPS)
    missing = [n for n in wanted if n not in found]
    if missing:
        raise ValueError(f"the kit pins no version of {', '.join(missing)} "
                         f"in {', '.join(PIN_FILES)}")
    return {n: found[n] for n in wanted}


def requirements_text(kit_root: Path = KIT_ROOT) -> str:
    """The student folder's requirements.txt."""
    pinned = pins(kit_root)
    return "\n".join([
        "# What the notebooks need, pinned as the course's grader is.",
        f"#   pip install -r {REQUIREMENTS}",
        f"#   pip install --no-deps {pinned[NO_DEPS]}",
        f"# {pinned[NO_DEPS]} goes in without its dependencies: it pins",
        "# numpy and pandas versions that do not install on Python 3.11.",
        "# The packages below are what it really needs.",
        *(pinned[n] for n in STUDENT_PACKAGES), ""])


def _points(notebook: str) -> str:
    """``'11'``: the autograded points of one notebook."""
    return f"{sum(t.points for t in registry.of_notebook(notebook)):g}"


def readme_text(kit_root: Path = KIT_ROOT) -> str:
    """The student folder's README.md."""
    pinned = pins(kit_root)
    return string.Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        requirements=REQUIREMENTS, d2l=pinned[NO_DEPS],
        data_file=DATA.file_name, sha1=DATA.sha1,
        deep_points=_points(registry.DEEP_NB),
        bi_points=_points(registry.BI_NB))


def write(dest: Path, kit_root: Path = KIT_ROOT) -> list[Path]:
    """Write README.md and requirements.txt into the folder ``dest``.

    Returns:
        The files written.
    """
    written = []
    for name, text in ((README, readme_text(kit_root)),
                       (REQUIREMENTS, requirements_text(kit_root))):
        path = Path(dest) / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
