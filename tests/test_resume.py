"""Is nothing lost when ``grade-all`` is SIGKILLed in the middle of a batch?

Six tiny-course submissions (tests/fixtures/tiny_course.py) are graded by
``grade-all`` in a subprocess, which is SIGKILLed as soon as the first
results.json appears. The re-run must grade exactly the ones not finished,
a third run must grade nothing, and the gradebook must open and agree with
every results.json. No kernel of the killed batch may survive it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.grader import gradebook as gbook
from autograder.sandbox import watchdog as limits
from autograder.sandbox import kernel as sandbox
from autograder.sandbox import launch
from autograder.config import ASSIGNMENT_ID

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures import tiny_course as tc  # noqa: E402

pytestmark = pytest.mark.slow
STUDENTS = [f"s{i}" for i in range(6)]
SLOW_ADD = "import time\ntime.sleep(2)\ndef add(a, b):\n    return a + b"


def _grade_all_cmd(root: Path, no_sandbox: bool) -> list[str]:
    code = ("import sys; from autograder.grader import grade_all; "
            f"sys.exit(grade_all.main({str(root / 'subs')!r}, workers=2, "
            f"course_root={str(root)!r}, source={str(root / 'src')!r}, "
            f"sandbox={not no_sandbox}, quiet=True))")
    return [sys.executable, "-c", code]


def _results(root: Path) -> dict[str, float]:
    """student -> mtime of its results.json."""
    return {p.parent.name: p.stat().st_mtime_ns
            for p in (root / "results").glob("*/results.json")}


def _alive(pids: list[int]) -> list[int]:
    """The pids of ``pids`` still running (zombies count as gone)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]
        except OSError:
            continue
        if state.split()[0] != "Z":
            alive.append(pid)
    return alive


def _wait_for_kernel(pid: int, timeout_s: float = 60) -> list[int]:
    """Processes under ``pid`` once one of them is a kernel (or at timeout)."""
    end = time.time() + timeout_s
    while True:
        tree = limits.descendants(pid)
        kernels = [p for p in _alive(tree) if _is_kernel(p)]
        if kernels or time.time() > end:
            return tree
        time.sleep(0.1)


def _is_kernel(pid: int) -> bool:
    try:
        return b"ipykernel" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.fixture
def course(tmp_path):
    tc.write_source(tmp_path / "src")
    for i, student in enumerate(STUDENTS):
        fills = dict(tc.ANSWERS)
        if i % 2:
            fills["add"] = SLOW_ADD
        tc.student(tmp_path / "subs" / student, fills)
    return tmp_path


def test_sigkill_mid_batch_then_resume(course):
    """After SIGKILL and a re-run, is every submission graded exactly once and the gradebook consistent?"""
    no_sandbox = not sandbox.available()[0]
    proc = subprocess.Popen(_grade_all_cmd(course, no_sandbox),
                            start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not _results(course) and time.time() < deadline:
        assert proc.poll() is None, "grade-all ended before it could be killed"
        time.sleep(0.2)
    tree = _wait_for_kernel(proc.pid)  # workers, watchdogs, kernels
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = _results(course)
    assert 0 < len(first) < len(STUDENTS), "the kill did not land mid-batch"
    time.sleep(3)  # kernels die with their parent (PR_SET_PDEATHSIG)
    assert _alive(tree) == []
    # SIGKILL skipped the clean-up of the kernels' runtime folders (made by
    # grade-all itself or by its workers).
    left = _runtime_dirs_of([proc.pid, *tree])
    assert left, "a kernel was running: its runtime folder should be left"

    rerun = subprocess.run(_grade_all_cmd(course, no_sandbox), timeout=600,
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    second = _results(course)
    assert set(second) == set(STUDENTS)
    for student, mtime in first.items():  # not graded a second time
        assert second[student] == mtime, student
    assert [d for d in left if d.exists()] == [], \
        "the re-run did not sweep the killed batch's runtime folders"

    third = subprocess.run(_grade_all_cmd(course, no_sandbox), timeout=600,
                           capture_output=True, text=True)
    assert third.returncode == 0
    assert _results(course) == second  # nothing graded again
    _assert_gradebook_matches(course)


def _runtime_dirs_of(pids: list[int]) -> list[Path]:
    """The sandbox runtime folders (ag-*) made by any of ``pids``."""
    found = []
    for folder in launch.runtime_base().glob("ag-*"):
        try:
            owner = int((folder / sandbox.OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if owner in pids:
            found.append(folder)
    return found


def _assert_gradebook_matches(root: Path) -> None:
    """One submission per student in the gradebook, with results.json's score."""
    from nbgrader.api import Gradebook

    url = gbook.db_url(None, root)
    with Gradebook(url, gbook.COURSE_ID) as gb:
        subs = gb.assignment_submissions(ASSIGNMENT_ID)
        assert sorted(s.student_id for s in subs) == sorted(STUDENTS)
        for s in subs:
            doc = json.loads((root / "results" / s.student_id /
                              "results.json").read_text())
            assert s.score == pytest.approx(doc["score"]), s.student_id
