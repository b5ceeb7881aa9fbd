"""A cgroup per box: memory, processes and threads, and a fair CPU share.

The watchdog counts what it can see of a process tree in ``/proc``; a
cgroup counts what the kernel charges to the box, whoever holds it: pages
of its tmpfs files and memfds, every thread, every CPU cycle. Each box gets
one group (cgroup v1: one per controller hierarchy; v2: one), made in a
folder of this process's own cgroup::

    <own cgroup>/autograder/ag-<grader pid>-<runtime name>/

* memory: ``memory_bytes`` (v1 ``memory.limit_in_bytes``, v2
  ``memory.max``); over it the kernel's OOM killer ends the box, and the
  watchdog reads ``oom_kill`` to say so;
* pids: ``max_tasks`` processes and threads (``pids.max``); a refused
  fork or thread shows in ``pids.events``;
* cpu: every box the same weight (v1 ``cpu.shares``, v2 ``cpu.weight``),
  so 50 spinners in one box get one box's share, not 50 processes' worth.

The watchdog's child joins the groups before bubblewrap starts (its
``preexec``), so everything the box starts is inside. Where a controller
cannot be used (not mounted, not delegated, not root), :func:`create` says
why, and the watchdog's own counting is all there is.

Only the standard library: the watchdog imports this module.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

CONTROLLERS = ("memory", "pids", "cpu")
PARENT = "autograder"
PREFIX = "ag-"
# cpu.shares (v1) and cpu.weight (v2) of one box: the defaults of a group.
V1_SHARES, V2_WEIGHT = 1024, 100


@dataclasses.dataclass(frozen=True)
class Hierarchy:
    """Where one controller is: its mount and this process's group in it."""

    version: int   # 1 or 2
    mount: Path    # e.g. /sys/fs/cgroup/memory, /sys/fs/cgroup
    own: str       # this process's group, e.g. /user.slice/x.scope

    @property
    def here(self) -> Path:
        """This process's group folder."""
        return self.mount / self.own.lstrip("/")


# --------------------------------------------------------------------------
# Finding the hierarchies


def _mounts(mountinfo: str) -> list[tuple[str, Path, str, set[str]]]:
    """(fstype, mount point, root, super options) of each cgroup mount."""
    found = []
    for line in mountinfo.splitlines():
        fields, _, tail = line.partition(" - ")
        parts, rest = fields.split(), tail.split()
        if len(parts) < 5 or len(rest) < 3 or rest[0] not in (
                "cgroup", "cgroup2"):
            continue
        found.append((rest[0], Path(parts[4]), parts[3],
                      set(rest[2].split(","))))
    return found


def hierarchies(proc_cgroup: str | None = None,
                mountinfo: str | None = None) -> dict[str, Hierarchy]:
    """Controller -> its hierarchy, for each of CONTROLLERS found.

    A controller mounted as cgroup v1 is used there; otherwise v2's, when
    the v2 root lists it in ``cgroup.controllers``.
    """
    proc_cgroup = proc_cgroup if proc_cgroup is not None else _read(
        "/proc/self/cgroup")
    mountinfo = mountinfo if mountinfo is not None else _read(
        "/proc/self/mountinfo")
    own_v1, own_v2 = {}, None
    for line in proc_cgroup.splitlines():
        num, _, rest = line.partition(":")
        names, _, path = rest.partition(":")
        if num == "0" and not names:
            own_v2 = path
        for name in filter(None, names.split(",")):
            own_v1[name] = path
    found: dict[str, Hierarchy] = {}
    for fstype, mount, root, opts in _mounts(mountinfo):
        for ctrl in CONTROLLERS:
            if fstype == "cgroup" and ctrl in opts and ctrl in own_v1:
                found[ctrl] = Hierarchy(1, mount, _below(own_v1[ctrl], root))
    for fstype, mount, root, _ in _mounts(mountinfo):
        if fstype != "cgroup2" or own_v2 is None:
            continue
        available = set(_read(mount / "cgroup.controllers").split())
        for ctrl in CONTROLLERS:
            if ctrl not in found and ctrl in available:
                found[ctrl] = Hierarchy(2, mount, _below(own_v2, root))
    return found


def _below(path: str, root: str) -> str:
    """``path`` relative to a mount's root (a cgroup namespace's view)."""
    if root != "/" and path.startswith(root):
        return path[len(root):] or "/"
    return path


# --------------------------------------------------------------------------
# One box's groups


@dataclasses.dataclass
class BoxGroup:
    """The cgroup folders of one box, by controller.

    Attributes:
        dirs: controller -> folder (v2: the same folder for all).
        versions: controller -> 1 or 2.
    """

    dirs: dict[str, Path]
    versions: dict[str, int]

    def folders(self) -> list[Path]:
        """Each folder once (what a process joins)."""
        return sorted(set(self.dirs.values()))

    def controls(self) -> dict[str, str]:
        """Controller -> how it is enforced, in words."""
        return {c: f"cgroup v{self.versions[c]}" for c in self.dirs}

    def kill(self) -> None:
        """SIGKILL everything in the groups, until they are empty."""
        for folder in self.folders():
            kill_members(folder)

    def remove(self) -> None:
        """Kill what is left, then remove the folders, and their parent
        when no other box uses it (nothing of the kit stays in the
        grader's cgroup)."""
        self.kill()
        for folder in self.folders():
            for path in (folder, folder.parent):
                try:
                    path.rmdir()
                except OSError:
                    break


def create(name: str, *, memory_bytes: int, max_tasks: int,
           cpu_quota: float = 0.0, hier: dict[str, Hierarchy] | None = None
           ) -> tuple[BoxGroup | None, list[str]]:
    """Make one box's groups and set their limits.

    Args:
        name: the group's name (``ag-<pid>-...``: :func:`sweep` reads the
            pid).
        memory_bytes, max_tasks: limits (0: none).
        cpu_quota: CPUs the box may use at most (0: no cap, only its share).
        hier: the hierarchies (default: this process's).

    Returns:
        (the groups, or None when none could be made; why each missing
        controller is missing, in words).
    """
    hier = hierarchies() if hier is None else hier
    why = [f"no {c} cgroup controller is mounted" for c in CONTROLLERS
           if c not in hier]
    dirs, versions = {}, {}
    for ctrl, h in sorted(hier.items()):
        try:
            folder = _make(h, ctrl, name)
            _limit(ctrl, h.version, folder, memory_bytes, max_tasks,
                   cpu_quota)
        except OSError as err:
            why.append(f"cannot make a {ctrl} cgroup (v{h.version}) in "
                       f"{h.here}: {err.strerror or err}")
            continue
        dirs[ctrl], versions[ctrl] = folder, h.version
    return (BoxGroup(dirs, versions) if dirs else None), why


def _make(h: Hierarchy, ctrl: str, name: str) -> Path:
    """The box's folder for ``ctrl`` (made, with the parent, if need be;
    again if the last box of another grader removed the parent meanwhile).
    """
    for _ in range(3):
        try:
            return _make_once(h, ctrl, name)
        except FileNotFoundError:
            continue
    return _make_once(h, ctrl, name)


def _make_once(h: Hierarchy, ctrl: str, name: str) -> Path:
    parent = h.here / PARENT
    if not parent.is_dir():
        if h.version == 2:
            _enable(h.here, ctrl)
        parent.mkdir(exist_ok=True)
        if ctrl == "cpu":  # the boxes together weigh like one task per core
            cores = os.cpu_count() or 1
            _write(parent / ("cpu.shares" if h.version == 1 else
                             "cpu.weight"),
                   V1_SHARES * cores if h.version == 1
                   else min(10000, V2_WEIGHT * cores))
    if h.version == 2:
        _enable(parent, ctrl)
    folder = parent / name
    folder.mkdir(exist_ok=True)
    return folder


def _enable(folder: Path, ctrl: str) -> None:
    """v2: let ``folder``'s children use ``ctrl``."""
    if ctrl not in _read(folder / "cgroup.subtree_control").split():
        _write(folder / "cgroup.subtree_control", f"+{ctrl}")


def _limit(ctrl: str, version: int, folder: Path, memory_bytes: int,
           max_tasks: int, cpu_quota: float) -> None:
    """Write one controller's limits into the box's folder."""
    if ctrl == "memory" and memory_bytes:
        if version == 1:
            _write(folder / "memory.limit_in_bytes", memory_bytes)
            if (folder / "memory.memsw.limit_in_bytes").exists():
                _write(folder / "memory.memsw.limit_in_bytes", memory_bytes)
        else:
            _write(folder / "memory.max", memory_bytes)
            _write(folder / "memory.swap.max", 0, missing_ok=True)
    elif ctrl == "pids" and max_tasks:
        _write(folder / "pids.max", max_tasks)
    elif ctrl == "cpu":
        if version == 1:
            _write(folder / "cpu.shares", V1_SHARES)
            if cpu_quota:
                period = int(_read(folder / "cpu.cfs_period_us") or 100000)
                _write(folder / "cpu.cfs_quota_us", int(cpu_quota * period))
        else:
            _write(folder / "cpu.weight", V2_WEIGHT)
            if cpu_quota:
                _write(folder / "cpu.max", f"{int(cpu_quota * 100000)} 100000")


def join(folders, pid: int | None = None) -> None:
    """Move ``pid`` (default: this process) into each folder.

    Called in the watchdog's child before it starts bubblewrap, while it is
    still root: everything started from there on stays inside.
    """
    pid = os.getpid() if pid is None else pid
    for folder in folders:
        _write(Path(folder) / "cgroup.procs", pid)


# --------------------------------------------------------------------------
# Reading a group (the watchdog, every poll)


def memory_in_use(folder: Path) -> int | None:
    """Anonymous + shared memory (tmpfs, memfd, shm) charged to the group,
    in bytes; None when unreadable."""
    stat = _keyed(Path(folder) / "memory.stat")
    if not stat:
        return None
    if "anon" in stat:  # v2
        return stat["anon"] + stat.get("shmem", 0)
    return (stat.get("total_rss", stat.get("rss", 0))
            + stat.get("total_shmem", stat.get("shmem", 0)))


def oom_kills(folder: Path) -> int:
    """How many processes the kernel killed at the group's memory limit."""
    folder = Path(folder)
    events = _keyed(folder / "memory.events") or _keyed(
        folder / "memory.oom_control")
    return events.get("oom_kill", 0)


def refused_tasks(folder: Path) -> int:
    """How many forks or threads the pids limit refused."""
    return _keyed(Path(folder) / "pids.events").get("max", 0)


def task_count(folder: Path) -> int | None:
    """Processes and threads in the group now (None when unreadable)."""
    text = _read(Path(folder) / "pids.current").strip()
    return int(text) if text.isdigit() else None


def members(folder: Path) -> list[int]:
    """The processes in the group."""
    return [int(p) for p in _read(Path(folder) / "cgroup.procs").split()
            if p.isdigit()]


def kill_members(folder: Path, rounds: int = 50) -> None:
    """SIGKILL every process in the group until none is left (a fork may
    race the first rounds; the pids limit bounds how long)."""
    for _ in range(rounds):
        pids = members(folder)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)


# --------------------------------------------------------------------------
# Groups of graders that were killed


def sweep(hier: dict[str, Hierarchy] | None = None) -> list[Path]:
    """Remove the box groups whose grader (the pid in the name) is gone.

    Returns:
        The folders removed.
    """
    hier = hierarchies() if hier is None else hier
    removed = []
    for h in {(h.mount, h.own): h for h in hier.values()}.values():
        for folder in sorted((h.here / PARENT).glob(f"{PREFIX}*")):
            pid = folder.name[len(PREFIX):].split("-", 1)[0]
            if not pid.isdigit() or _alive(int(pid)):
                continue
            kill_members(folder)
            try:
                folder.rmdir()
                removed.append(folder)
            except OSError:
                pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------
# Files


def _read(path) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _write(path: Path, value, *, missing_ok: bool = False) -> None:
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except FileNotFoundError:
        if not missing_ok:
            raise


def _keyed(path: Path) -> dict[str, int]:
    """A ``key value`` file (memory.stat, pids.events, ...) as a dict."""
    out = {}
    for line in _read(path).splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out
