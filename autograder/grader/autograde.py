"""Running nbgrader's autograde on one submission, in a subprocess.

The subprocess (``python -I -m autograder.grader.autograde --worker``)
runs nbgrader's autograde one notebook at a time, with the kernel launched
through :mod:`autograder.sandbox.kernel`, so that a crash cannot take the
grader down and one notebook's crash keeps the other's grades.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


from typing import TYPE_CHECKING

from autograder.config import ASSIGNMENT_ID, GradingLimits
from autograder.grader import gradebook as gbook
from autograder.sandbox.watchdog import die_with_this_process

# Seconds the autograde worker may run past the submission's deadline (the
# sandbox has stopped the kernel by then) to write its results.
WORKER_GRACE_S = 60

if TYPE_CHECKING:
    from autograder.grader.submission import Submission
    from autograder.grader.template import Template

def write_nbgrader_config(root: Path, limits: GradingLimits,
                          kernel_config: dict | None = None) -> None:
    """Write the private course's nbgrader configuration.

    ``nbgrader_config.py`` holds the course layout; ``kernel_config``
    (from :mod:`autograder.sandbox.kernel`: the sandboxed Execute preprocessor,
    its kernel manager and per-cell limits) goes beside it as
    ``nbgrader_config.json``, which nbgrader reads too.
    """
    lines = [
        "c = get_config()  # noqa: F821",
        f"c.CourseDirectory.root = {str(root)!r}",
        f"c.CourseDirectory.course_id = {gbook.COURSE_ID!r}",
        "c.CourseDirectory.source_directory = 'source'",
        f"c.CourseDirectory.db_url = {f'sqlite:///{root}/gradebook.db'!r}",
        f"c.Execute.timeout = {limits.cell_timeout_s}",
        f"c.LimitOutput.max_lines = {limits.output_max_lines}",
        "c.LimitOutput.max_traceback = 50",
    ]
    (root / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    if kernel_config:
        (root / "nbgrader_config.json").write_text(json.dumps(kernel_config))


@dataclasses.dataclass
class Run:
    """What the autograde subprocess left behind."""

    status: dict[str, dict]   # notebook name -> {"success", "error", ...}
    timed_out: bool
    returncode: int
    peak_rss_bytes: int       # the worker and its reaped descendants
    wall_s: float
    kernel: dict = dataclasses.field(default_factory=dict)  # sandbox status


def prepare_scratch(sub: Submission, template: Template,
                    scratch: Path) -> None:
    """Lay out the private course: source, gradebook, the submission."""
    shutil.copytree(template.root / "source", scratch / "source")
    shutil.copy(template.root / "gradebook.db", scratch / "gradebook.db")
    dest = scratch / "submitted" / sub.student / ASSIGNMENT_ID
    dest.mkdir(parents=True)
    for name, path in sub.notebooks.items():
        shutil.copy(path, dest / name)


def run_autograde(scratch: Path, student: str, names: list[str], *,
                  env: dict, timeout_s: float) -> Run:
    """Run the autograde worker in its own session, under a time limit.

    The worker is reaped with ``os.wait4``, whose ``ru_maxrss`` is the peak
    resident memory of the worker and of its reaped descendants (the
    kernel), so the peak is measured without polling.
    """
    log = open(scratch / "autograde.log", "w")
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-m", "autograder.grader.autograde", "--worker",
         str(scratch), student, *names],
        cwd=scratch, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
        # killed with the grader (e.g. grade-all is SIGKILLed): no orphans
        preexec_fn=die_with_this_process())
    expired = threading.Event()

    def kill():
        expired.set()
        _kill_group(proc.pid)

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
        log.close()
    _kill_group(proc.pid)  # whatever the worker left behind
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(_read_status(scratch), expired.is_set(), proc.returncode,
               usage.ru_maxrss * 1024, time.monotonic() - start)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_status(scratch: Path) -> dict[str, dict]:
    status = {}
    path = scratch / "status.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                status[entry["notebook"]] = entry
    return status


def worker(scratch: str, student: str, names: list[str]) -> int:
    """Inside the subprocess: nbgrader autograde, one notebook at a time.

    Each autograded notebook is moved out of the kernel's working folder
    into ``graded/`` at once (the next notebook's kernel cannot touch it),
    and one JSON line per notebook goes to ``status.jsonl``, so that a time
    limit or a crash keeps what finished.
    """
    from nbgrader.apps.api import NbGraderAPI
    from traitlets.config.loader import (
        JSONFileConfigLoader, PyFileConfigLoader,
    )

    root = Path(scratch)
    config = PyFileConfigLoader("nbgrader_config.py",
                                path=scratch).load_config()
    if (root / "nbgrader_config.json").exists():
        config.merge(JSONFileConfigLoader(
            "nbgrader_config.json", path=scratch).load_config())
    api = NbGraderAPI(config=config)
    workdir = root / "autograded" / student / ASSIGNMENT_ID
    (root / "graded").mkdir(exist_ok=True)
    for name in names:
        api.coursedir.notebook_id = Path(name).stem
        started = time.monotonic()
        res = api.autograde(ASSIGNMENT_ID, student, force=True, create=True)
        if (workdir / name).is_file() and not (workdir / name).is_symlink():
            shutil.move(workdir / name, root / "graded" / name)
        entry = {"notebook": name, "success": bool(res.get("success")),
                 "error": res.get("error", ""),
                 "log": res.get("log", "")[-4000:],
                 "seconds": round(time.monotonic() - started, 2)}
        with open(root / "status.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    sys.exit(worker(sys.argv[2], sys.argv[3], sys.argv[4:]))
