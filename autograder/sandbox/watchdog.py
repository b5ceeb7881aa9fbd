"""Limits on a student's kernel: time per cell, memory, processes, wall time.

Two halves:

* In the grader: :func:`cell_timeout` says how long a cell may run (ordinary
  cells vs. training cells), and :data:`MESSAGES` holds the words a failing
  test shows when a limit stopped it.
* Around the kernel: ``python -m autograder.limits [options] -- CMD...`` is
  the watchdog that :mod:`autograder.sandbox.kernel` puts between the kernel manager
  and the (sandboxed) kernel. It starts CMD in a session of its own, forwards
  interrupts to it, and every ``SANDBOX.poll_s`` seconds adds up the resident
  memory and the number of processes of CMD's whole process tree. Over a
  limit, or past the deadline, it kills the tree and writes why to its status
  file (JSON), which the grader reads to explain the dead kernel.

The watchdog imports nothing heavy: it starts once per notebook.

Resident memory is counted as anonymous + shared-memory resident pages
(``RssAnon + RssShmem`` in ``/proc/<pid>/status``), summed over the tree:
what the student's tensors occupy, without the shared libraries (torch's are
over 1 GB of file-backed pages that the page cache shares). ``RLIMIT_AS``
is not used: it breaks importing the CUDA build of torch.
"""
from __future__ import annotations

import argparse
import ctypes
import functools
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from autograder.config import GRADING, SANDBOX

# What a test shows when a limit stopped the kernel; the first words are
# stable (the corpus and results.json readers match on them).
MESSAGES = {
    "memory": "memory limit exceeded",
    "processes": "process limit exceeded",
    "deadline": "time limit exceeded",
    "exited": "the kernel died",
}
TRAINING_SUFFIX = "_perplexity"
TRAINING_TAG = "training"
_PR_SET_PDEATHSIG = 1


def is_training_cell(cell) -> bool:
    """True for a cell that trains a model (it gets the training budget).

    Training cells are the perplexity tests (grade_id ending in
    ``_perplexity``) and any cell tagged ``training`` by the instructor.
    """
    meta = cell.get("metadata", {})
    grade_id = meta.get("nbgrader", {}).get("grade_id") or ""
    return grade_id.endswith(TRAINING_SUFFIX) or TRAINING_TAG in meta.get(
        "tags", []
    )


def cell_timeout(cell, limits=GRADING) -> int:
    """Seconds the cell may run: the training budget or the ordinary limit."""
    if is_training_cell(cell):
        return int(limits.training_cell_timeout_s)
    return int(limits.cell_timeout_s)


def gib(n_bytes: float) -> str:
    """Format a byte count: '4.0 GiB', or '400 MiB' under 1 GiB."""
    if n_bytes < 1024**3:
        return f"{n_bytes / 1024**2:.0f} MiB"
    return f"{n_bytes / 1024**3:.1f} GiB"


# --------------------------------------------------------------------------
# The process tree under the watchdog (read from /proc).


def _children_map() -> dict[int, list[int]]:
    """Map every pid to its children, from /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after it.
        fields = stat[stat.rfind(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    """All processes below ``pid``, parents before their children."""
    children = _children_map()
    found, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop(0)
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def resident_bytes(pid: int) -> int:
    """Anonymous + shared-memory resident bytes of one process (0 if gone)."""
    total = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssShmem:")):
                    total += int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return total


def tree_usage(pids: list[int]) -> int:
    """Resident bytes of the processes ``pids`` together."""
    return sum(resident_bytes(p) for p in pids)


def kill_all(pids: list[int], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to each pid, ignoring those already gone."""
    for p in pids:
        try:
            os.kill(p, sig)
        except (ProcessLookupError, PermissionError):
            pass


def command_name(pid: int) -> str:
    """The short command name of a process ('' if gone)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


# --------------------------------------------------------------------------
# The watchdog.


def die_with_parent(parent: int | None = None) -> None:
    """Ask Linux to SIGKILL this process when its parent dies.

    Args:
        parent: the pid that started us. A parent that died before the
            request was made would never send the signal, so if our parent
            is no longer ``parent`` we were orphaned already, and we die now.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


def die_with_this_process():
    """A Popen ``preexec_fn``: the child dies with the process calling Popen.

    The parent's pid is taken now, before the fork, so that the child can
    tell whether it was orphaned before it asked for the signal.
    """
    return functools.partial(die_with_parent, os.getpid())


def _child_setup(max_file_bytes: int):
    """Return the pre-exec hook of the watched command (runs in the child)."""

    parent = os.getpid()  # taken before the fork

    def setup():
        die_with_parent(parent)
        if max_file_bytes > 0:
            resource.setrlimit(
                resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes)
            )
        try:  # the kernel is the first victim if the machine runs out
            Path("/proc/self/oom_score_adj").write_text("1000")
        except OSError:
            pass

    return setup


class Watchdog:
    """Runs a command and stops its process tree at a limit.

    Args:
        cmd: the command (for grading: bwrap ... -- python -m ipykernel ...).
        status_file: where the JSON status goes (written on exit or kill).
        memory_bytes: resident-memory limit of the whole tree (0 = none).
        max_processes: process-count limit of the tree (0 = none).
        deadline: wall-clock time (``time.time()``) to kill at (0 = none).
    """

    def __init__(self, cmd, status_file, memory_bytes=0, max_processes=0,
                 deadline=0.0, max_file_bytes=0, poll_s=SANDBOX.poll_s,
                 cwd=None, pass_stdio=False):
        self.cmd = list(cmd)
        self.cwd = cwd
        # A kernel's output goes over ZMQ: its stdout is discarded and its
        # stderr's tail kept (sandbox start-up errors). A worker talks over
        # its standard streams: they are the grader's pipes, passed on.
        self.pass_stdio = pass_stdio
        self.stdin, self.stdout, self.stderr = (
            (None, None, None) if pass_stdio
            else (subprocess.DEVNULL, subprocess.DEVNULL, subprocess.PIPE))
        self.status_file = Path(status_file)
        self.memory_bytes = memory_bytes
        self.max_processes = max_processes
        self.deadline = deadline
        self.max_file_bytes = max_file_bytes
        self.poll_s = poll_s
        self.peak_bytes = 0
        self.peak_processes = 0
        self.proc: subprocess.Popen | None = None
        self._stderr_tail = b""

    def start(self) -> None:
        """Start the command in a session of its own, output discarded.

        ``JPY_PARENT_PID`` is dropped: in the sandbox's pid namespace the
        kernel's parent is pid 1, and ipykernel would take that for the death
        of its parent. The watchdog does that job (PR_SET_PDEATHSIG).
        """
        env = {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"}
        self.proc = subprocess.Popen(
            self.cmd, env=env, stdin=self.stdin, stdout=self.stdout,
            stderr=self.stderr, start_new_session=True, cwd=self.cwd,
            preexec_fn=_child_setup(self.max_file_bytes),
        )
        if not self.pass_stdio:
            threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _drain_stderr(self) -> None:
        """Keep the last 4 KB of stderr (sandbox start-up errors)."""
        for chunk in iter(lambda: self.proc.stderr.read1(65536), b""):
            self._stderr_tail = (self._stderr_tail + chunk)[-4096:]

    def interrupt(self, *_):
        """Forward an interrupt (SIGINT) to the kernel, not to the sandbox.

        bwrap's own processes are skipped: SIGINT would end the sandbox.
        """
        pids = descendants(os.getpid())
        kill_all([p for p in pids if command_name(p) != "bwrap"], signal.SIGINT)

    def terminate(self, *_):
        """Stop the whole tree and exit (the kernel manager asked)."""
        self._stop("terminated", None)

    def _verdict(self, pids: list[int]) -> tuple[str, str] | None:
        """Return (reason, message) when a limit is crossed, else None."""
        used = tree_usage(pids)
        self.peak_bytes = max(self.peak_bytes, used)
        self.peak_processes = max(self.peak_processes, len(pids))
        if self.memory_bytes and used > self.memory_bytes:
            return "memory", (
                f"{MESSAGES['memory']}: the kernel used {gib(used)} of "
                f"resident memory, over the {gib(self.memory_bytes)} limit "
                "(GradingLimits.memory_bytes)"
            )
        if self.max_processes and len(pids) > self.max_processes:
            return "processes", (
                f"{MESSAGES['processes']}: {len(pids)} processes, over the "
                f"{self.max_processes} allowed (SandboxConfig.max_processes)"
            )
        if self.deadline and time.time() > self.deadline:
            return "deadline", (
                f"{MESSAGES['deadline']}: the submission ran past its wall "
                "time (GradingLimits.submission_timeout_s)"
            )
        return None

    def run(self) -> int:
        """Watch until the command exits or is killed; return its status."""
        self.start()
        tick = 0
        pids: list[int] = []
        while self.proc.poll() is None:
            if tick % 10 == 0:  # the tree changes rarely: rescan every 10
                pids = descendants(os.getpid())
            tick += 1
            verdict = self._verdict(pids)
            if verdict:
                pids = descendants(os.getpid())  # catch the newest too
                self._stop(*verdict)
            time.sleep(self.poll_s)
        self._write("exited", None)
        return self.proc.returncode

    def _stop(self, reason: str, message: str | None) -> None:
        """Kill the tree, record why, and exit."""
        kill_all(descendants(os.getpid()))
        self._write(reason, message)
        os._exit(137 if reason != "terminated" else 143)

    def _write(self, reason: str, message: str | None) -> None:
        status = {
            "reason": reason,
            "message": message,
            "returncode": None if self.proc is None else self.proc.returncode,
            "peak_bytes": self.peak_bytes,
            "peak_processes": self.peak_processes,
            "stderr_tail": self._stderr_tail.decode("utf-8", "replace"),
            "time": time.time(),
        }
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(status))
        tmp.replace(self.status_file)


def read_status(status_file: Path) -> dict | None:
    """The watchdog's status (see ``Watchdog._write``), or None if absent."""
    try:
        return json.loads(Path(status_file).read_text())
    except (OSError, ValueError):
        return None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder.limits")
    p.add_argument("--status", required=True, help="JSON status file")
    p.add_argument("--memory-bytes", type=int, default=GRADING.memory_bytes)
    p.add_argument("--max-processes", type=int, default=SANDBOX.max_processes)
    p.add_argument("--max-file-bytes", type=int, default=SANDBOX.max_file_bytes)
    p.add_argument("--deadline", type=float, default=0.0,
                   help="time.time() at which to kill (0: none)")
    p.add_argument("--cwd", default=None,
                   help="working directory of the command (default: ours)")
    p.add_argument("--pass-stdio", action="store_true",
                   help="the command inherits our stdin, stdout and stderr")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the watchdog: ``python -m autograder.limits ... -- CMD``."""
    args = _parser().parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    # The grader died: so do we, and the sandbox with us. jupyter_client
    # names the process that launched us in JPY_PARENT_PID.
    launcher = os.environ.get("JPY_PARENT_PID", "")
    die_with_parent(int(launcher) if launcher.isdigit() else None)
    dog = Watchdog(cmd, args.status, args.memory_bytes, args.max_processes,
                   args.deadline, args.max_file_bytes, cwd=args.cwd,
                   pass_stdio=args.pass_stdio)
    signal.signal(signal.SIGINT, dog.interrupt)
    signal.signal(signal.SIGTERM, dog.terminate)
    return dog.run()


if __name__ == "__main__":
    sys.exit(main())
