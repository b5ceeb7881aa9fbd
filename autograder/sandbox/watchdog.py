"""Limits on a box: time per cell, memory, processes, disk, wall time.

Two halves:

* In the grader: :func:`cell_timeout` says how long a cell may run (ordinary
  cells vs. training cells, which the grader names by grade_id), and
  :data:`MESSAGES` holds the words a failing test shows when a limit stopped
  it (:func:`disk_message` for a full disk).
* Around the box: ``python -I -m autograder.sandbox.watchdog [options] --
  CMD...`` is the watchdog that :class:`autograder.sandbox.launch.Box` puts
  in front of bubblewrap. It starts CMD in a session of its own, set up in
  the child before CMD starts (:class:`ChildSetup`: the box's cgroups, a
  private mount namespace for the folders only root can reach, rlimits,
  then the box's own uid, no new privileges), forwards interrupts to it,
  and every ``SANDBOX.poll_s`` seconds reads what the box uses. Over a
  limit, or past the deadline, it kills the tree and writes why to its
  status file (JSON), which the grader reads to explain the dead process.

The watchdog imports nothing heavy, not even :mod:`autograder.config`
(which imports the student-side package, torch and d2l): it starts once
per box, and :class:`~autograder.sandbox.launch.Box` passes it every
value. The grader-side helpers read the config when called.

Memory is what the box's memory cgroup holds of anonymous and shared pages
(``memory.stat``: the processes' memory, files in the box's tmpfs, memfds);
without a cgroup, ``RssAnon + RssShmem`` of ``/proc/<pid>/status`` summed
over the tree (what the student's tensors occupy, without torch's 1 GB of
shared libraries; tmpfs files and unmapped memfds are not seen). Processes
and threads are the pids cgroup's count, else the tree's ``Threads``.
``RLIMIT_AS`` is not used: it breaks importing the CUDA build of torch.
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

from autograder.sandbox import cgroups

# What a test shows when a limit stopped the kernel; the first words are
# stable (the corpus and results.json readers match on them).
MESSAGES = {
    "memory": "memory limit exceeded",
    "processes": "process limit exceeded",
    "deadline": "time limit exceeded",
    "disk": "disk limit exceeded",
    "exited": "the kernel died",
}
TRAINING_SUFFIX = "_perplexity"
# How a full disk shows in an error: ENOSPC (the box's tmpfs is full) and
# EFBIG (one file over RLIMIT_FSIZE).
DISK_FULL = ("No space left on device", "[Errno 28]", "File too large",
             "[Errno 27]")
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_CLONE_NEWNS = 0x00020000
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18
# How often the box is read, unless told (SandboxConfig.poll_s, which Box
# passes as --poll-s).
POLL_S = 0.05


def _grading():
    """The kit's GradingLimits (imported when a grader-side helper needs
    them, never by the watchdog process)."""
    from autograder.config import GRADING

    return GRADING


def training_grade_ids(grade_ids) -> frozenset[str]:
    """The training cells among the grader's own grade_ids: the perplexity
    tests (``*_perplexity``). They get the training budget."""
    return frozenset(g for g in grade_ids if g.endswith(TRAINING_SUFFIX))


def is_training_cell(cell, training_ids=None) -> bool:
    """True for a cell the grader names as training (by grade_id).

    Args:
        cell: a notebook cell (its grade_id is nbgrader's, restored from
            the gradebook; its tags are the student's and never read).
        training_ids: the grader's training grade_ids (default: any
            grade_id ending in ``_perplexity``).
    """
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get(
        "grade_id") or ""
    if training_ids is None:
        return grade_id.endswith(TRAINING_SUFFIX)
    return grade_id in training_ids


def cell_timeout(cell, limits=None, training_ids=None) -> int:
    """Seconds the cell may run: the training budget or the ordinary limit
    (of ``limits``, default the kit's GradingLimits)."""
    limits = limits or _grading()
    if is_training_cell(cell, training_ids):
        return int(limits.training_cell_timeout_s)
    return int(limits.cell_timeout_s)


def disk_message(limit_bytes: int | None = None) -> str:
    """What a cell that filled the box's disk shows (``limit_bytes``:
    default GradingLimits.disk_bytes)."""
    limit_bytes = limit_bytes or _grading().disk_bytes
    return (f"{MESSAGES['disk']}: the notebook wrote more than "
            f"{gib(limit_bytes)} (its files in /box, /tmp and /dev/shm "
            "together; GradingLimits.disk_bytes)")


def is_disk_full(text: str) -> bool:
    """Does an error's text say the disk was full (ENOSPC, EFBIG)?"""
    return any(sign in text for sign in DISK_FULL)


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


def _status_numbers(pid: int) -> tuple[int, int]:
    """(anonymous + shared-memory resident bytes, threads) of one process;
    (0, 0) if it is gone."""
    rss = threads = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssShmem:")):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0, 0
    return rss, threads


def resident_bytes(pid: int) -> int:
    """Anonymous + shared-memory resident bytes of one process (0 if gone)."""
    return _status_numbers(pid)[0]


def tree_usage(pids: list[int]) -> int:
    """Resident bytes of the processes ``pids`` together."""
    return sum(resident_bytes(p) for p in pids)


def tree_tasks(pids: list[int]) -> int:
    """Threads of the processes ``pids`` together (a process is 1+)."""
    return sum(_status_numbers(p)[1] for p in pids)


def folder_bytes(folders) -> int:
    """Bytes of the regular files under ``folders`` (links not followed)."""
    total = 0
    todo = [str(f) for f in folders]
    while todo:
        try:
            entries = list(os.scandir(todo.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    todo.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
    return total


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


class ChildSetup:
    """The watched command's ``preexec_fn``: runs in the child, before exec.

    In order: join the box's cgroups; (root) bind the folders only root can
    reach onto staging points in a private mount namespace, so that the
    unprivileged bubblewrap can bind them in turn; rlimits (file size,
    processes and threads, no core dumps); first victim of the OOM killer;
    drop to the box's uid and gid with no supplementary groups; no new
    privileges (setuid binaries stay unprivileged); die with the watchdog.
    A failure is written to stderr and the child exits 126: the watchdog
    reports it as the box failing to start.

    Args:
        max_file_bytes: RLIMIT_FSIZE (0: none).
        cgroup_dirs: the box's cgroup folders, joined first.
        stage: (host folder or file, staging point) pairs to bind-mount.
        uid, gid: the box's own ids (None: keep ours).
        nproc: RLIMIT_NPROC, processes and threads of the uid (0: none).
    """

    def __init__(self, max_file_bytes: int = 0, *, cgroup_dirs=(),
                 stage=(), uid: int | None = None, gid: int | None = None,
                 nproc: int = 0):
        self.max_file_bytes = max_file_bytes
        self.cgroup_dirs = list(cgroup_dirs)
        self.stage = [(str(a), str(b)) for a, b in stage]
        self.uid, self.gid, self.nproc = uid, gid, nproc
        self.parent = os.getpid()  # taken before the fork
        # loaded before the fork: no dlopen in the child
        self.libc = ctypes.CDLL(None, use_errno=True)

    def __call__(self) -> None:
        try:
            cgroups.join(self.cgroup_dirs)
            self._stage()
            self._rlimits()
            _write_quietly("/proc/self/oom_score_adj", "1000")
            self._drop()
            self._call(self.libc.prctl, _PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            die_with_parent(self.parent)
        except Exception as err:  # noqa: BLE001 - reported, then exit
            os.write(2, f"sandbox set-up failed: {err}\n".encode())
            os._exit(126)

    def _call(self, fn, *args) -> None:
        if fn(*args) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"{fn.__name__}: {os.strerror(errno)}")

    def _stage(self) -> None:
        """Bind each staged source onto its point, in a private namespace."""
        if not self.stage:
            return
        self._call(self.libc.unshare, _CLONE_NEWNS)
        self._call(self.libc.mount, b"none", b"/", None,
                   _MS_REC | _MS_PRIVATE, None)
        for src, dest in self.stage:
            self._call(self.libc.mount, os.fsencode(src), os.fsencode(dest),
                       None, _MS_BIND | _MS_REC, None)

    def _rlimits(self) -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if self.max_file_bytes > 0:
            resource.setrlimit(resource.RLIMIT_FSIZE,
                               (self.max_file_bytes, self.max_file_bytes))
        if self.nproc > 0:
            resource.setrlimit(resource.RLIMIT_NPROC, (self.nproc,
                                                       self.nproc))

    def _drop(self) -> None:
        """Become the box's uid and gid, with no other groups."""
        if self.uid is None:
            return
        os.setgroups([])
        os.setresgid(self.gid, self.gid, self.gid)
        os.setresuid(self.uid, self.uid, self.uid)


def _write_quietly(path: str, text: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError:
        pass


class Watchdog:
    """Runs a command and stops its process tree at a limit.

    Args:
        cmd: the command (for grading: bwrap ... -- python ...).
        status_file: where the JSON status goes (written on exit or kill).
        memory_bytes: memory limit of the whole box (0 = none).
        max_processes: process-count limit of the tree (0 = none).
        deadline: wall-clock time (``time.time()``) to kill at (0 = none).
        max_file_bytes: RLIMIT_FSIZE of the command.
        max_tasks: processes and threads of the box (0 = none).
        cgroup_dirs: the box's cgroup folders (joined, read, emptied).
        memory_cgroup, pids_cgroup: the folders to read memory and tasks
            from (None: count the tree in /proc).
        stage, uid, gid, nproc: see :class:`ChildSetup`.
        watch_dirs, disk_bytes: host folders the box may write, and what
            they may hold together (0 = no check).
    """

    def __init__(self, cmd, status_file, memory_bytes=0, max_processes=0,
                 deadline=0.0, max_file_bytes=0, poll_s=POLL_S,
                 cwd=None, pass_stdio=False, *, max_tasks=0, cgroup_dirs=(),
                 memory_cgroup=None, pids_cgroup=None, stage=(), uid=None,
                 gid=None, nproc=0, watch_dirs=(), disk_bytes=0):
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
        self.max_tasks = max_tasks
        self.deadline = deadline
        self.poll_s = poll_s
        self.memory_cgroup, self.pids_cgroup = memory_cgroup, pids_cgroup
        self.cgroup_dirs = list(cgroup_dirs)
        self.watch_dirs, self.disk_bytes = list(watch_dirs), disk_bytes
        self.setup = ChildSetup(max_file_bytes, cgroup_dirs=cgroup_dirs,
                                stage=stage, uid=uid, gid=gid, nproc=nproc)
        self.peak_bytes = 0
        self.peak_processes = 0
        self.peak_tasks = 0
        self.proc: subprocess.Popen | None = None
        self._stderr_tail = b""

    def start(self) -> None:
        """Start the command in a session of its own, set up by
        :class:`ChildSetup`.

        ``JPY_PARENT_PID`` is dropped: in the sandbox's pid namespace the
        kernel's parent is pid 1, and ipykernel would take that for the death
        of its parent. The watchdog does that job (PR_SET_PDEATHSIG).
        """
        env = {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"}
        self.proc = subprocess.Popen(
            self.cmd, env=env, stdin=self.stdin, stdout=self.stdout,
            stderr=self.stderr, start_new_session=True, cwd=self.cwd,
            preexec_fn=self.setup,
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

    # -- what the box uses -------------------------------------------------

    def _memory(self, pids: list[int]) -> int:
        """Memory of the box: its cgroup's, else its tree's resident."""
        if self.memory_cgroup:
            used = cgroups.memory_in_use(self.memory_cgroup)
            if used is not None:
                return used
        return tree_usage(pids)

    def _tasks(self, pids: list[int]) -> int:
        """Processes and threads of the box."""
        if self.pids_cgroup:
            count = cgroups.task_count(self.pids_cgroup)
            if count is not None:
                return count
        return tree_tasks(pids)

    def _memory_verdict(self, used: int) -> tuple[str, str] | None:
        oom = self.memory_cgroup and cgroups.oom_kills(self.memory_cgroup)
        if oom:
            return "memory", (
                f"{MESSAGES['memory']}: the kernel reached the "
                f"{gib(self.memory_bytes)} limit (GradingLimits.memory_bytes:"
                " its memory, files in /tmp and /dev/shm, and memfds "
                "together) and was stopped")
        if self.memory_bytes and used > self.memory_bytes:
            what = ("memory (its processes, files in /tmp and /dev/shm, "
                    "memfds)" if self.memory_cgroup else "resident memory")
            return "memory", (
                f"{MESSAGES['memory']}: the kernel used {gib(used)} of "
                f"{what}, over the {gib(self.memory_bytes)} limit "
                "(GradingLimits.memory_bytes)")
        return None

    def _count_verdict(self, pids: list[int]) -> tuple[str, str] | None:
        if self.max_processes and len(pids) > self.max_processes:
            return "processes", (
                f"{MESSAGES['processes']}: {len(pids)} processes, over the "
                f"{self.max_processes} allowed (SandboxConfig.max_processes)")
        tasks = self._tasks(pids)
        self.peak_tasks = max(self.peak_tasks, tasks)
        refused = self.pids_cgroup and cgroups.refused_tasks(self.pids_cgroup)
        if refused or (self.max_tasks and tasks > self.max_tasks):
            return "processes", (
                f"{MESSAGES['processes']}: the kernel tried to run more than "
                f"{self.max_tasks} processes and threads "
                "(SandboxConfig.max_tasks)")
        return None

    def _disk_verdict(self) -> tuple[str, str] | None:
        if not (self.watch_dirs and self.disk_bytes):
            return None
        used = folder_bytes(self.watch_dirs)
        if used > self.disk_bytes:
            return "disk", (f"{disk_message(self.disk_bytes)}; it wrote "
                            f"{gib(used)} to the grader's folders")
        return None

    def _verdict(self, pids: list[int], tick: int = 0
                 ) -> tuple[str, str] | None:
        """Return (reason, message) when a limit is crossed, else None."""
        used = self._memory(pids)
        self.peak_bytes = max(self.peak_bytes, used)
        self.peak_processes = max(self.peak_processes, len(pids))
        verdict = self._memory_verdict(used) or self._count_verdict(pids)
        if verdict:
            return verdict
        if self.deadline and time.time() > self.deadline:
            return "deadline", (
                f"{MESSAGES['deadline']}: the submission ran past its wall "
                "time (GradingLimits.submission_timeout_s)"
            )
        return self._disk_verdict() if tick % 20 == 0 else None

    def run(self) -> int:
        """Watch until the command exits or is killed; return its status."""
        self.start()
        tick = 0
        pids: list[int] = []
        while self.proc.poll() is None:
            if tick % 10 == 0:  # the tree changes rarely: rescan every 10
                pids = descendants(os.getpid())
            verdict = self._verdict(pids, tick)
            tick += 1
            if verdict:
                pids = descendants(os.getpid())  # catch the newest too
                self._stop(*verdict)
            time.sleep(self.poll_s)
        verdict = self._memory_verdict(0)  # the OOM killer ended it
        self._write(*(verdict or ("exited", None)))
        return self.proc.returncode

    def _stop(self, reason: str, message: str | None) -> None:
        """Kill the tree, record why, and exit."""
        kill_all(descendants(os.getpid()))
        for folder in self.cgroup_dirs:
            cgroups.kill_members(folder)
        self._write(reason, message)
        os._exit(137 if reason != "terminated" else 143)

    def _write(self, reason: str, message: str | None) -> None:
        status = {
            "reason": reason,
            "message": message,
            "returncode": None if self.proc is None else self.proc.returncode,
            "peak_bytes": self.peak_bytes,
            "peak_processes": self.peak_processes,
            "peak_tasks": self.peak_tasks,
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
    p = argparse.ArgumentParser(prog="python -I -m autograder.sandbox.watchdog")
    p.add_argument("--status", required=True, help="JSON status file")
    p.add_argument("--memory-bytes", type=int, default=0,
                   help="memory limit of the box (0: none)")
    p.add_argument("--max-processes", type=int, default=0,
                   help="processes of the tree (0: no check)")
    p.add_argument("--max-tasks", type=int, default=0,
                   help="processes and threads of the box (0: no check)")
    p.add_argument("--max-file-bytes", type=int, default=0,
                   help="RLIMIT_FSIZE of the command (0: none)")
    p.add_argument("--poll-s", type=float, default=POLL_S,
                   help="seconds between two readings of the box")
    p.add_argument("--deadline", type=float, default=0.0,
                   help="time.time() at which to kill (0: none)")
    p.add_argument("--cwd", default=None,
                   help="working directory of the command (default: ours)")
    p.add_argument("--pass-stdio", action="store_true",
                   help="the command inherits our stdin, stdout and stderr")
    p.add_argument("--cgroup", action="append", default=[],
                   help="a cgroup folder of the box (joined before exec)")
    p.add_argument("--memory-cgroup", default=None,
                   help="the cgroup folder to read memory from")
    p.add_argument("--pids-cgroup", default=None,
                   help="the cgroup folder to read processes and threads from")
    p.add_argument("--stage", nargs=2, action="append", default=[],
                   metavar=("SRC", "POINT"),
                   help="bind SRC onto POINT in a private mount namespace")
    p.add_argument("--uid", type=int, default=None,
                   help="run the command as this uid (and --gid)")
    p.add_argument("--gid", type=int, default=None)
    p.add_argument("--nproc", type=int, default=0,
                   help="RLIMIT_NPROC of the command (0: none)")
    p.add_argument("--watch-dir", action="append", default=[],
                   help="a host folder the box may write (counted as disk)")
    p.add_argument("--disk-bytes", type=int, default=0,
                   help="what the --watch-dir folders may hold (0: no check)")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -I -m autograder.sandbox.watchdog ... -- CMD``."""
    args = _parser().parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    # The grader died: so do we, and the sandbox with us. jupyter_client
    # names the process that launched us in JPY_PARENT_PID.
    launcher = os.environ.get("JPY_PARENT_PID", "")
    die_with_parent(int(launcher) if launcher.isdigit() else None)
    dog = Watchdog(
        cmd, args.status, args.memory_bytes, args.max_processes,
        args.deadline, args.max_file_bytes, args.poll_s, cwd=args.cwd,
        pass_stdio=args.pass_stdio, max_tasks=args.max_tasks,
        cgroup_dirs=args.cgroup, memory_cgroup=args.memory_cgroup,
        pids_cgroup=args.pids_cgroup, stage=args.stage, uid=args.uid,
        gid=args.gid if args.gid is not None else args.uid,
        nproc=args.nproc, watch_dirs=args.watch_dir,
        disk_bytes=args.disk_bytes)
    signal.signal(signal.SIGINT, dog.interrupt)
    signal.signal(signal.SIGTERM, dog.terminate)
    return dog.run()


if __name__ == "__main__":
    sys.exit(main())
