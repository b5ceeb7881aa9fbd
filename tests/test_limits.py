"""Tests of autograder/sandbox/watchdog.py: cell budgets and the kernel watchdog.

The watchdog tests run tiny Python children (no kernel, no sandbox): each
takes about a second.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from nbformat.v4 import new_code_cell

from autograder.sandbox import watchdog as limits
from autograder.config import GRADING


def _cell(grade_id=None, tags=()):
    meta = {"tags": list(tags)}
    if grade_id:
        meta["nbgrader"] = {"grade_id": grade_id}
    return new_code_cell("pass", metadata=meta)


def test_training_cells_get_the_training_budget():
    """Does a perplexity test get the training budget, and an ordinary test not?"""
    train = _cell("test_build_deep_lstm_perplexity")
    plain = _cell("test_build_deep_lstm_shapes")
    assert limits.cell_timeout(train) == GRADING.training_cell_timeout_s
    assert limits.cell_timeout(plain) == GRADING.cell_timeout_s
    assert limits.cell_timeout(_cell()) == GRADING.cell_timeout_s


def test_a_students_training_tag_buys_no_time():
    """Issue 16, finding 5: does a cell the student tagged ``training`` keep
    the ordinary limit, whatever its tags?"""
    for tags in (["training"], ["training", "slow"]):
        cell = _cell("deep_rnn", tags=tags)
        assert not limits.is_training_cell(cell)
        assert limits.cell_timeout(cell) == GRADING.cell_timeout_s


def test_only_the_graders_grade_ids_are_training_cells():
    """Given the grader's training grade_ids, is exactly a cell with one of
    them a training cell (a student's ``*_perplexity`` id or tag is not)?"""
    ids = limits.training_grade_ids(["test_deep_rnn_shapes",
                                     "test_build_deep_lstm_perplexity"])
    assert ids == {"test_build_deep_lstm_perplexity"}
    assert limits.is_training_cell(
        _cell("test_build_deep_lstm_perplexity"), ids)
    assert not limits.is_training_cell(_cell("my_perplexity"), ids)
    assert not limits.is_training_cell(_cell("deep_rnn", ["training"]), ids)
    assert limits.cell_timeout(_cell("my_perplexity"), GRADING, ids) == \
        GRADING.cell_timeout_s


@pytest.mark.parametrize("text, full", [
    ("OSError: [Errno 28] No space left on device: '/tmp/x'", True),
    ("OSError: [Errno 27] File too large", True),
    ("RuntimeError: File too large", True),
    ("OSError: [Errno 13] Permission denied: '/x'", False),
])
def test_a_full_disk_is_recognised(text, full):
    """Is ENOSPC or EFBIG told apart from other errors?"""
    assert limits.is_disk_full(text) is full


def test_disk_message_names_the_limit():
    """Does the disk message start with the stable words and name the
    limit and its config field?"""
    msg = limits.disk_message(1024**3)
    assert msg.startswith("disk limit exceeded")
    assert "1.0 GiB" in msg and "GradingLimits.disk_bytes" in msg


def _watch(code, tmp_path, **kw):
    """Run ``python -c code`` under the watchdog; return (exit, status)."""
    status = tmp_path / "status.json"
    args = [sys.executable, "-I", "-m", "autograder.sandbox.watchdog",
            "--status", str(status)]
    for key, value in kw.items():
        for one in (value if isinstance(value, list) else [value]):
            args += [f"--{key.replace('_', '-')}", str(one)]
    proc = subprocess.run([*args, "--", sys.executable, "-c", code],
                          timeout=60, capture_output=True)
    return proc.returncode, json.loads(status.read_text())


def test_memory_hog_is_killed_with_a_clear_reason(tmp_path):
    """Is a child that fills 400 MB killed at a 200 MiB limit, and says so?"""
    code = "import time\nx = b'x' * 400_000_000\ntime.sleep(30)"
    code_rc, status = _watch(code, tmp_path, memory_bytes=200 * 2**20)
    assert code_rc == 137
    assert status["reason"] == "memory"
    assert status["message"].startswith("memory limit exceeded")
    assert status["peak_bytes"] > 200 * 2**20


def test_small_child_runs_to_its_end(tmp_path):
    """Does a child well under every limit keep its own exit status?"""
    code_rc, status = _watch("x = b'x' * 10_000_000\nraise SystemExit(3)",
                             tmp_path, memory_bytes=200 * 2**20)
    assert code_rc == 3
    assert status["reason"] == "exited" and status["message"] is None
    assert status["peak_bytes"] < 200 * 2**20  # sampled: may miss the end


def test_fork_bomb_is_stopped(tmp_path):
    """Is a tree of more processes than allowed killed ("process limit")?"""
    code = ("import os, time\n"
            "for _ in range(20):\n"
            "    if os.fork() == 0:\n"
            "        time.sleep(30); os._exit(0)\n"
            "time.sleep(30)")
    code_rc, status = _watch(code, tmp_path, max_processes=8)
    assert code_rc == 137
    assert status["message"].startswith("process limit exceeded")


THREADS = ("import threading, time\n"
           "for _ in range({n}):\n"
           "    threading.Thread(target=time.sleep, args=(30,),"
           " daemon=True).start()\n"
           "time.sleep(30)")


def test_threads_count_against_the_task_limit(tmp_path):
    """Issue 16, finding 4: is a child running 200 threads stopped at a
    100-task limit ("process limit exceeded"), without any cgroup?"""
    code_rc, status = _watch(THREADS.format(n=200), tmp_path, max_tasks=100)
    assert code_rc == 137
    assert status["message"].startswith("process limit exceeded")
    assert "SandboxConfig.max_tasks" in status["message"]


def test_a_few_threads_are_allowed(tmp_path):
    """Does a child with 10 threads run to its end under a 100-task limit?"""
    code = THREADS.format(n=10).replace("30", "0.5")
    code_rc, status = _watch(code, tmp_path, max_tasks=100)
    assert code_rc == 0 and status["reason"] == "exited"
    assert 10 < status["peak_tasks"] <= 100


def test_host_folders_count_as_disk(tmp_path):
    """Is a child that writes 30 MB into a watched host folder stopped at a
    10 MB disk limit ("disk limit exceeded")?"""
    out = tmp_path / "out"
    out.mkdir()
    code = (f"import time\nopen({str(out / 'f')!r}, 'wb').write(b'x' * "
            "30_000_000)\ntime.sleep(30)")
    code_rc, status = _watch(code, tmp_path, watch_dir=str(out),
                             disk_bytes=10_000_000)
    assert code_rc == 137
    assert status["message"].startswith("disk limit exceeded")


def test_deadline_kills_a_sleeper(tmp_path):
    """Is a child still running at the deadline killed ("time limit")?"""
    start = time.time()
    code_rc, status = _watch("import time; time.sleep(60)", tmp_path,
                             deadline=time.time() + 1.5)
    assert code_rc == 137 and time.time() - start < 20
    assert status["message"].startswith("time limit exceeded")


def test_interrupt_reaches_the_child(tmp_path):
    """Does SIGINT to the watchdog reach the child (KeyboardInterrupt)?"""
    status = tmp_path / "status.json"
    code = ("import time\ntry:\n    time.sleep(30)\n"
            "except KeyboardInterrupt:\n    raise SystemExit(42)")
    proc = subprocess.Popen([sys.executable, "-I", "-m",
                             "autograder.sandbox.watchdog",
                             "--status", str(status), "--", sys.executable,
                             "-c", code])
    time.sleep(2)
    proc.send_signal(2)
    assert proc.wait(timeout=30) == 42


def test_descendants_and_usage_of_a_real_tree():
    """Are a child's pid and memory found, and a dead pid counted as 0?"""
    child = subprocess.Popen([sys.executable, "-c", "import time; "
                              "x = b'x' * 50_000_000; time.sleep(20)"])
    try:
        time.sleep(1.5)
        import os

        assert child.pid in limits.descendants(os.getpid())
        assert limits.tree_usage([child.pid]) > 40_000_000
    finally:
        child.kill()
        child.wait()
    assert limits.resident_bytes(child.pid) == 0


@pytest.mark.parametrize("n, text", [(4 * 1024**3, "4.0 GiB"),
                                     (1536 * 1024**2, "1.5 GiB"),
                                     (400 * 1024**2, "400 MiB")])
def test_gib_formats_limits(n, text):
    """Are byte counts shown in GiB as the messages quote them?"""
    assert limits.gib(n) == text


@pytest.mark.parametrize("orphaned", [False, True])
def test_a_child_orphaned_before_asking_dies_at_once(orphaned):
    """Does die_with_parent kill a process whose parent is already gone
    (it is no longer the pid it was started by), and spare the others?"""
    code = ("import os, sys; from autograder.sandbox.watchdog import die_with_parent; "
            "die_with_parent(1 if sys.argv[1] == 'yes' else os.getppid()); "
            "print('alive')")
    run = subprocess.run(
        [sys.executable, "-c", code, "yes" if orphaned else "no"],
        capture_output=True, text=True, timeout=60)
    if orphaned:
        assert run.returncode == -signal.SIGKILL and run.stdout == ""
    else:
        assert run.returncode == 0 and run.stdout.strip() == "alive"
