"""The student's side of the release: their folder and a kit-less kernel.

A student gets only ``assignments/<assignment>/`` (and, offline, the data
file in ``../data``) and has torch, d2l and Jupyter, not the kit. The kit's
venv has the kit installed in editable mode, whose ``.pth`` file makes
``autograder`` and ``rnn_checks`` importable from anywhere. The kernel
here runs the venv's Python with ``-I -S``: no ``site``, so no ``.pth``
file runs; the venv's site-packages are put on ``sys.path`` by hand, after
the notebook's folder (as a normal kernel has ``''`` first). In it,
``rnn_checks`` is the release's copy and ``autograder`` is not found.

Shared by the release-copy test and the JupyterLab browser test::

    folder = student_env.student_folder(tmp_path)
    jupyter_path = student_env.kernel(tmp_path)   # named "python3"
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
"""
from __future__ import annotations

import json
import shutil
import sys
import sysconfig
from pathlib import Path

from autograder import data
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT

RELEASE = COURSE_ROOT / "assignments" / ASSIGNMENT_ID
KERNEL_NAME = "python3"  # replaces the default kernel where JUPYTER_PATH is
# The code cell the tests put first: it fails unless the kernel is kit-less
# and the self-checks come from the student's folder.
PROBE = """\
import importlib.util, os, rnn_checks
assert importlib.util.find_spec('autograder') is None, 'the kit is importable'
assert os.path.dirname(os.path.dirname(rnn_checks.__file__)) == os.getcwd()
print('student kernel: rnn_checks from', rnn_checks.__file__)"""
_LAUNCHER = """\
import sys
sys.path[:0] = {paths!r}
from ipykernel import kernelapp
kernelapp.launch_new_instance()
"""


def student_folder(tmp_path: Path, release: Path = RELEASE) -> Path:
    """Copy the release folder alone to ``tmp_path/<assignment>``, with
    the data file in ``tmp_path/data`` (its ``../data``), as a student
    who works offline has it.

    Returns:
        The student's copy of the folder.
    """
    folder = Path(tmp_path) / release.name
    shutil.copytree(release, folder,
                    ignore=shutil.ignore_patterns("__pycache__",
                                                  ".ipynb_checkpoints"))
    data.install(folder)  # ../data/timemachine.txt, verified
    return folder


def kernel(tmp_path: Path) -> Path:
    """Write a kit-less kernel spec, named :data:`KERNEL_NAME`.

    Returns:
        The folder to put in ``$JUPYTER_PATH``.
    """
    root = Path(tmp_path) / "jupyter-path"
    spec = root / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    site = sorted({sysconfig.get_paths()[k] for k in ("purelib", "platlib")})
    launcher = spec / "launch.py"
    launcher.write_text(_LAUNCHER.format(paths=["", *site]))
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-I", "-S", str(launcher), "-f",
                 "{connection_file}"],
        "display_name": "Python 3 (student, without the kit)",
        "language": "python"}))
    return root
