"""One unprivileged uid per concurrent box.

Run by root, a box must not run as root: bubblewrap started by root maps
the sandbox's uid 0 to the host's, and then ``/proc/sys`` is writable from
inside. So the watchdog's child drops to a uid of the box's own before it
starts bubblewrap (which then runs unprivileged, in a user namespace of
that uid).

Each concurrent box gets a different uid, claimed with ``flock`` on a file
per uid (a lock dies with its holder: a grader killed with SIGKILL frees
its uids). RLIMIT_NPROC counts processes and threads per uid, so with one
uid per box it is a per-box limit, and a box cannot starve another.
"""
from __future__ import annotations

import fcntl
import os
import signal
import tempfile
import time
from pathlib import Path

from autograder.config import SANDBOX

LOCK_DIR_NAME = "autograder-uids"


class NoFreeUid(RuntimeError):
    """Every sandbox uid stayed taken for the whole wait."""


class UidSlot:
    """A claimed uid (and the gid of the same number); release it once the
    box's processes are gone."""

    def __init__(self, uid: int, fd: int):
        self.uid = self.gid = uid
        self._fd = fd

    def release(self) -> None:
        """Kill whatever still runs as this uid, then free it."""
        if self._fd < 0:
            return
        kill_processes_of(self.uid)
        os.close(self._fd)
        self._fd = -1


def needed() -> bool:
    """True when boxes must drop to a uid of their own (we are root)."""
    return os.geteuid() == 0


def lock_dir() -> Path:
    """The folder of the per-uid lock files (root's, mode 0700): in /run,
    which only root may write, so that every grader on the machine uses the
    same one; else in the temp folder."""
    base = Path("/run") if os.access("/run", os.W_OK) else Path(
        tempfile.gettempdir())
    folder = base / LOCK_DIR_NAME
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.is_symlink() or folder.stat().st_uid != os.geteuid():
        raise NoFreeUid(f"{folder} is not this user's own folder")
    return folder


def claim(base: int = SANDBOX.uid_base, count: int = SANDBOX.uid_count,
          wait_s: float = SANDBOX.uid_wait_s) -> UidSlot:
    """Claim the first free uid of ``base .. base + count - 1``.

    Raises:
        NoFreeUid: all were taken for ``wait_s`` seconds.
    """
    folder = lock_dir()
    end = time.monotonic() + wait_s
    while True:
        for uid in range(base, base + count):
            fd = os.open(folder / f"{uid}.lock",
                         os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return UidSlot(uid, fd)
        if time.monotonic() > end:
            raise NoFreeUid(f"all {count} sandbox uids ({base}..."
                            f"{base + count - 1}) stayed busy for "
                            f"{wait_s:.0f} s (SandboxConfig.uid_count)")
        time.sleep(0.2)


def processes_of(uid: int) -> list[int]:
    """The pids whose real uid is ``uid``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(entry.name))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return found


def kill_processes_of(uid: int, rounds: int = 20) -> None:
    """SIGKILL every process of ``uid`` (a box's leftovers) until none is
    left."""
    for _ in range(rounds):
        pids = processes_of(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
