"""The one way student code starts: in a box it cannot leave or widen.

Every process that runs student code (a notebook's Jupyter kernel under
nbgrader, the grading worker that answers the grader's calls) is started
through :class:`Box`::

    spec = BoxSpec(name="deep_rnn.ipynb worker", data_file=..., env=...)
    with Box(spec) as box:
        proc = box.popen([python, "-I", box.inside(WORKER)], stdin=PIPE, ...)
        ...
        box.status()     # isolation, peak memory, limit hits, controls

or, where another library starts the process (jupyter_client),
``box.command(argv)`` and ``box.popen_kwargs()``.

What a box is (when isolated):

* the watchdog (``python -I -m autograder.sandbox.watchdog``), started from
  the box's runtime folder, which belongs to the grader: nothing it imports
  or runs comes from a folder student code can write;
* its own cgroups (:mod:`autograder.sandbox.cgroups`: memory with tmpfs
  and memfds, processes and threads, a CPU share), joined before anything
  else starts;
* its own unprivileged uid (:mod:`autograder.sandbox.uids`) when the grader
  is root: bubblewrap runs unprivileged, in a user namespace of that uid,
  with no new privileges; the folders only root can reach are bound for it
  in a private mount namespace first;
* bubblewrap: new namespaces (no network, own pids, no capabilities, no
  nested user namespaces), a read-only root of read-only system folders,
  the Python install and venv, the kit's student-side code at ``/box/kit``
  (``rnn_checks`` and the worker), the Time Machine text at
  ``/box/data/timemachine.txt``, a minimal read-only ``/dev``; writable
  only: one tmpfs of ``disk_bytes`` at ``/box`` holding the working folder
  ``/box/work`` (``../data`` from there is the data), ``/box/home``,
  ``/tmp`` and ``/dev/shm`` (links into it), and the folders named in
  ``BoxSpec.rw_dirs`` (a kernel's connection folder);
* a scrubbed environment: ``BoxSpec.env`` and little else.

Each box is fresh: nothing one process writes is visible to the next.
With ``isolated=False`` (the instructor's ``--no-sandbox``) the same layout
is made of host folders under the runtime folder, and the same limits
apply (cgroups where possible, the watchdog's count of the disk), without
the namespaces and without changing uid.
"""
from __future__ import annotations

import dataclasses
import functools
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.config import GRADING, SANDBOX
from autograder.sandbox import cgroups, uids, watchdog

ISOLATION_ON = "bubblewrap"
ISOLATION_OFF = "off"
OPT_OUT = (
    "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap), or pass "
    "--no-sandbox to grade without isolation (recorded in results.json)."
)
# Paths inside the box.
BOX_ROOT = "/box"
WORKDIR = f"{BOX_ROOT}/work"
KIT = f"{BOX_ROOT}/kit"
DATA_DIR = f"{BOX_ROOT}/data"
# The kit's code the box may import, by the name it has there: the
# student-facing checks (as students import them) and the worker.
PACKAGE_DIR = Path(__file__).resolve().parent.parent
KIT_PACKAGES = {
    "rnn_checks": PACKAGE_DIR / "student",
    "agbox": PACKAGE_DIR / "sandbox" / "box",
}
# /etc entries a Python process needs (loader, users, fonts, time zone).
ETC_ALLOW = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group",
    "nsswitch.conf", "hosts", "host.conf", "localtime", "timezone", "fonts",
    "alternatives", "mime.types", "os-release", "matplotlibrc",
)
# In each runtime folder: the process id of the grader that made it.
OWNER_FILE = "owner.pid"
# The device nodes of the box's /dev (what bubblewrap's --dev gives).
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
# RLIMIT_NPROC of the box's uid, over max_tasks: the watchdog sees the
# count pass max_tasks (and says why) before the kernel refuses a thread.
NPROC_MARGIN = 16


class SandboxUnavailable(RuntimeError):
    """Grading was asked to isolate student code, and it cannot here."""


# --------------------------------------------------------------------------
# What a box holds


@dataclasses.dataclass(frozen=True)
class BoxSpec:
    """What one sandboxed process may see and use (JSON-able).

    Attributes:
        name: what runs there, for messages ("deep_rnn.ipynb kernel").
        env: its whole environment, besides a few fixed variables (PATH,
            HOME, TMPDIR, PYTHONPATH, locale).
        rw_dirs: host folders it may write, bound at the same path (a
            kernel's connection folder); nothing else of the host is
            writable.
        ro_paths: extra host paths it may read, at the same path.
        data_file: the verified Time Machine text, or None.
        isolated: False only on the instructor's ``--no-sandbox``.
        memory_bytes, max_processes, max_file_bytes: limits of the whole
            process tree (the watchdog; memory also the memory cgroup).
        deadline: ``time.time()`` at which the watchdog ends it (0: none).
        disk_bytes: what it may write, all its writable folders together
            (the size of the box's tmpfs).
        max_tasks: processes and threads together (pids cgroup, else
            RLIMIT_NPROC of the box's uid, and the watchdog's count).
        cpu_quota: CPUs it may use at most (0: no cap; it always gets its
            equal share of the CPU where a cpu cgroup can be made).
        cgroups: put it in cgroups of its own where possible.
    """

    name: str
    env: dict = dataclasses.field(default_factory=dict)
    rw_dirs: tuple = ()
    ro_paths: tuple = ()
    data_file: str | None = None
    isolated: bool = True
    memory_bytes: int = GRADING.memory_bytes
    max_processes: int = SANDBOX.max_processes
    max_file_bytes: int = SANDBOX.max_file_bytes
    deadline: float = 0.0
    disk_bytes: int = GRADING.disk_bytes
    max_tasks: int = SANDBOX.max_tasks
    cpu_quota: float = 0.0
    cgroups: bool = SANDBOX.cgroups

    def dump(self) -> str:
        """The spec as JSON."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def load(cls, text: str) -> "BoxSpec":
        """A spec from :meth:`dump`'s JSON."""
        data = json.loads(text)
        for key in ("rw_dirs", "ro_paths"):
            data[key] = tuple(data.get(key, ()))
        return cls(**data)


class Box:
    """One process tree's box: its runtime folder, uid, cgroups, and what it
    may see.

    Use it as a context manager; leaving it ends whatever is left in the
    box, frees its uid and cgroups, and removes the runtime folder.
    """

    def __init__(self, spec: BoxSpec, *, shared: tuple[str, ...] = (),
                 _checked: bool = False):
        """
        Args:
            spec: what the process may see and use.
            shared: names of fresh folders, made in the runtime folder, that
                the process may write and the grader reads (a kernel's
                connection folder): ``box.shared["c"]``.
        """
        if spec.isolated and not _checked:
            require_sandbox()
        self.runtime = _runtime_dir()
        self.shared = {name: self.runtime / name for name in shared}
        for folder in self.shared.values():
            folder.mkdir()
        self.spec = dataclasses.replace(spec, rw_dirs=(
            *spec.rw_dirs, *(str(f) for f in self.shared.values())))
        self.status_file = self.runtime / "status.json"
        self.slot: uids.UidSlot | None = None
        self.group: cgroups.BoxGroup | None = None
        self.fallback: list[str] = []
        self.stage: dict[str, str] = {}
        try:
            self._claim_uid()
            self._make_cgroups()
            self._prepare_folders()
        except BaseException:
            self.close()
            raise
        self._controls = self._describe()
        if not spec.isolated:
            self._host_layout()

    # -- uid, cgroups, folders ----------------------------------------------

    def _claim_uid(self) -> None:
        """Root: a uid of the box's own (bubblewrap then runs unprivileged)."""
        if not self.spec.isolated:
            return
        if not uids.needed():
            self.fallback.append(f"the grader is not root: the box runs as "
                                 f"its uid {os.getuid()}")
            return
        try:
            self.slot = uids.claim()
        except uids.NoFreeUid as err:
            raise SandboxUnavailable(f"cannot sandbox student code: {err}")

    def _make_cgroups(self) -> None:
        """The box's memory, pids and cpu cgroups, or why not."""
        if not self.spec.cgroups:
            self.fallback.append("cgroups are turned off "
                                 "(SandboxConfig.cgroups)")
            return
        cgroups.sweep()
        spec = self.spec
        name = f"{cgroups.PREFIX}{os.getpid()}-{self.runtime.name[3:]}"
        self.group, why = cgroups.create(
            name, memory_bytes=spec.memory_bytes, max_tasks=spec.max_tasks,
            cpu_quota=spec.cpu_quota)
        self.fallback += why

    def _prepare_folders(self) -> None:
        """Dropping to the box's uid: let it reach and write its folders.

        The runtime folder becomes traversable (not readable); the writable
        folders are the box uid's; every bind source that is not a system
        folder gets a staging point here, bound by the watchdog's child as
        root, so that the unprivileged bubblewrap can bind it in turn.
        """
        if self.slot is None:
            return
        os.chmod(self.runtime, 0o711)
        for path in self.spec.rw_dirs:
            os.chown(path, self.slot.uid, self.slot.gid)
        points = self.runtime / "stage"
        points.mkdir()
        for i, src in enumerate(bind_sources(self.spec)):
            point = points / str(i)
            if os.path.isdir(src):
                point.mkdir()
            else:
                point.touch()
            self.stage[src] = str(point)

    def seal(self) -> None:
        """No more writes to the shared folders (the process is up): they,
        and what is in them, become the grader's again."""
        for folder in self.shared.values():
            for path in [folder, *folder.iterdir()]:
                os.lchown(path, os.getuid(), os.getgid())
            os.chmod(folder, 0o755)

    # -- the layout without isolation -------------------------------------

    def _host_layout(self) -> None:
        """``--no-sandbox``: the box's folders, made of host folders."""
        root = self.runtime / "box"
        for sub in ("work", "tmp", "home", "kit", "data"):
            (root / sub).mkdir(parents=True)
        for name, path in KIT_PACKAGES.items():
            (root / "kit" / name).symlink_to(path)
        if self.spec.data_file:
            shutil.copyfile(self.spec.data_file,
                            root / "data" / Path(self.spec.data_file).name)

    def inside(self, path: str) -> str:
        """A box path (``/box/...``) as the process sees it."""
        if self.spec.isolated or not path.startswith(BOX_ROOT):
            return path
        return str(self.runtime / "box" / path[len(BOX_ROOT) + 1:])

    # -- starting the process --------------------------------------------

    def command(self, argv: list[str], *, pass_stdio: bool = False
                ) -> list[str]:
        """The whole command: watchdog, then (isolated) bubblewrap, ``argv``.

        Args:
            pass_stdio: ``argv`` talks over its standard streams (the
                worker); otherwise they are discarded (a kernel).
        """
        spec = self.spec
        inner = list(argv)
        if spec.isolated:
            inner = bwrap_argv(spec, stage=self.stage) + inner
        return [
            sys.executable, "-I", "-m", "autograder.sandbox.watchdog",
            "--status", str(self.status_file),
            "--memory-bytes", str(spec.memory_bytes),
            "--max-processes", str(spec.max_processes),
            "--max-tasks", str(spec.max_tasks),
            "--max-file-bytes", str(spec.max_file_bytes),
            "--poll-s", str(SANDBOX.poll_s),
            "--deadline", str(spec.deadline),
            # isolated, bubblewrap enters the box's working folder itself
            *([] if spec.isolated else ["--cwd", self.inside(WORKDIR)]),
            *(["--pass-stdio"] if pass_stdio else []),
            *self._watchdog_box_args(),
            "--", *inner,
        ]

    def _watchdog_box_args(self) -> list[str]:
        """The watchdog's options for cgroups, uid, staging and disk."""
        args = []
        if self.group:
            for folder in self.group.folders():
                args += ["--cgroup", str(folder)]
            for ctrl, opt in (("memory", "--memory-cgroup"),
                              ("pids", "--pids-cgroup")):
                if ctrl in self.group.dirs:
                    args += [opt, str(self.group.dirs[ctrl])]
        if self.slot:
            args += ["--uid", str(self.slot.uid), "--gid",
                     str(self.slot.gid), "--nproc",
                     str(self.spec.max_tasks + NPROC_MARGIN)]
        for src, point in self.stage.items():
            args += ["--stage", src, point]
        for folder in self._host_writable():
            args += ["--watch-dir", folder]
        return args + ["--disk-bytes", str(self.spec.disk_bytes)]

    def _host_writable(self) -> list[str]:
        """Host folders the process may write (counted by the watchdog)."""
        folders = list(self.spec.rw_dirs)
        if not self.spec.isolated:
            folders += [self.inside(f"{BOX_ROOT}/{sub}")
                        for sub in ("work", "tmp", "home")]
        return folders

    def environment(self) -> dict[str, str]:
        """The environment the watchdog starts with (and passes on)."""
        spec = self.spec
        home, tmp = self.inside(f"{BOX_ROOT}/home"), self.inside("/tmp")
        if not spec.isolated:
            tmp = self.inside(f"{BOX_ROOT}/tmp")
        env = {
            "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin",
            "HOME": home, "TMPDIR": tmp, "LANG": "C.UTF-8",
            "USER": "student", "LOGNAME": "student",
            "PYTHONPATH": self.inside(KIT),
            "MPLCONFIGDIR": f"{home}/.config/matplotlib",
            "IPYTHONDIR": f"{home}/.ipython",
            "XDG_CACHE_HOME": f"{home}/.cache",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        }
        env.update(spec.env)
        return env

    def popen_kwargs(self) -> dict:
        """How to start :meth:`command`: from the grader's own folder."""
        return {"cwd": str(self.runtime), "env": self.environment()}

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        """Start ``argv`` in the box, talking over its standard streams
        (kwargs: Popen's, e.g. ``stdin=PIPE``)."""
        return subprocess.Popen(self.command(argv, pass_stdio=True),
                                **self.popen_kwargs(), **kwargs)

    # -- afterwards --------------------------------------------------------

    def controls(self) -> dict[str, str]:
        """How each resource is held, in words (what fell back is in
        ``status()["fallback"]``)."""
        return dict(self._controls)

    def _describe(self) -> dict[str, str]:
        spec, dirs = self.spec, (self.group.dirs if self.group else {})
        versions = self.group.controls() if self.group else {}
        tasks = (f"{versions['pids']} pids" if "pids" in dirs else
                 f"RLIMIT_NPROC of uid {self.slot.uid}" if self.slot else
                 "the watchdog's count (sampled)")
        return {
            "memory": (f"{versions['memory']} (with tmpfs and memfds)"
                       if "memory" in dirs else
                       "the watchdog's count of resident memory (sampled;"
                       " tmpfs files and memfds not seen)"),
            "tasks": tasks,
            "cpu": (f"{versions['cpu']} (an equal share)" if "cpu" in dirs
                    else "none (no cpu cgroup)"),
            "disk": (f"tmpfs of {watchdog.gib(spec.disk_bytes)}"
                     if spec.isolated else
                     "the watchdog's count of the host folders (sampled)"),
            "uid": (f"{self.slot.uid} (not root)" if self.slot else
                    f"{os.getuid()} (unchanged)"),
        }

    def status(self) -> dict:
        """Isolation, peak memory, the limit that stopped it, if any, and
        how each resource was controlled (``controls``, ``fallback``)."""
        dog = watchdog.read_status(self.status_file) or {}
        return {"isolation": ISOLATION_ON if self.spec.isolated
                else ISOLATION_OFF,
                "peak_memory_bytes": int(dog.get("peak_bytes", 0)),
                "limit_hit": dog.get("message"), "watchdog": dog,
                "controls": self.controls(),
                "fallback": list(self.fallback)}

    def close(self) -> None:
        """End what is left in the box, free its cgroups and uid, remove the
        runtime folder. Safe to call twice."""
        if self.group is not None:
            self.group.remove()
            self.group = None
        if self.slot is not None:
            for path in self.spec.rw_dirs:
                try:
                    os.chown(path, os.getuid(), os.getgid())
                except OSError:
                    pass
            self.slot.release()
            self.slot = None
        shutil.rmtree(self.runtime, ignore_errors=True)

    def __enter__(self) -> "Box":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------
# bubblewrap


def bwrap_path() -> str | None:
    """The bubblewrap binary ($AUTOGRADER_BWRAP or ``bwrap`` on PATH)."""
    return os.environ.get(SANDBOX.bwrap_env) or shutil.which("bwrap")


def _system_binds() -> list[str]:
    """/usr, the merged-/usr links, and the allowed files of /etc."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in ETC_ALLOW:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def _python_paths() -> list[str]:
    """The Python install and the venv (read-only)."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix)}
    return sorted(str(p) for p in paths if not str(p).startswith("/usr/"))


def _gpu_binds() -> list[str]:
    """NVIDIA device nodes and /sys (read-only) where a GPU is present."""
    devices = sorted(glob.glob("/dev/nvidia*"))
    args = []
    for dev in devices:
        args += ["--dev-bind", dev, dev]
    if devices:
        args += ["--ro-bind-try", "/sys", "/sys"]
    return args


def _dev_args() -> list[str]:
    """A small /dev: the usual nodes, /dev/shm a link into the box's tmpfs
    (bubblewrap's --dev would make /dev/shm a folder of its own tmpfs)."""
    args = ["--size", "65536", "--tmpfs", "/dev"]
    for node in DEV_NODES:
        args += ["--dev-bind", f"/dev/{node}", f"/dev/{node}"]
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2"),
                         ("shm", f"..{BOX_ROOT}/shm")):
        args += ["--symlink", target, f"/dev/{name}"]
    return args


def _box_tmpfs(disk_bytes: int) -> list[str]:
    """One tmpfs of ``disk_bytes`` at /box: the working folder, home, and
    what /tmp and /dev/shm link to (links relative to the new root)."""
    args = ["--size", str(disk_bytes), "--tmpfs", BOX_ROOT]
    for sub in ("work", "home", "tmp", "shm", "kit"):
        args += ["--dir", f"{BOX_ROOT}/{sub}"]
    return args + ["--symlink", f"{BOX_ROOT[1:]}/tmp", "/tmp"]


def bind_sources(spec: BoxSpec) -> list[str]:
    """The host paths bound into the box besides the system folders."""
    sources = _python_paths() + [str(p) for p in spec.ro_paths]
    sources += [str(p) for p in KIT_PACKAGES.values()]
    if spec.data_file:
        sources.append(str(spec.data_file))
    return sources + [str(p) for p in spec.rw_dirs]


def bwrap_argv(spec: BoxSpec, bwrap: str | None = None, *,
               stage: dict[str, str] | None = None) -> list[str]:
    """The bubblewrap command (up to and including ``--``) for ``spec``.

    Args:
        stage: host path -> where the watchdog's child bound it (a box that
            drops root binds from there); default: the host paths.
    """
    stage = stage or {}
    args = [
        bwrap or bwrap_path(), "--unshare-all", "--unshare-user",
        "--disable-userns", "--die-with-parent", "--new-session",
        "--cap-drop", "ALL", "--hostname", "sandbox",
        *_system_binds(), "--proc", "/proc", *_dev_args(),
        *_box_tmpfs(spec.disk_bytes), *_gpu_binds(),
    ]
    for path in _python_paths() + [str(p) for p in spec.ro_paths]:
        args += ["--ro-bind", stage.get(path, path), path]
    for name, path in KIT_PACKAGES.items():
        args += ["--ro-bind", stage.get(str(path), str(path)),
                 f"{KIT}/{name}"]
    if spec.data_file:
        args += ["--ro-bind", stage.get(spec.data_file, spec.data_file),
                 f"{DATA_DIR}/{Path(spec.data_file).name}"]
    for path in spec.rw_dirs:
        args += ["--bind", stage.get(str(path), str(path)), str(path)]
    return args + ["--remount-ro", "/dev", "--remount-ro", "/",
                   "--chdir", WORKDIR, "--"]


# Light on purpose (importing rnn_checks imports torch): the kit is there,
# and who the box runs as.
SELF_TEST = ("import os; assert all(os.path.isfile(f'/box/kit/{p}/__init__.py')"
             " for p in ('rnn_checks', 'agbox')); print(os.getuid())")


@functools.lru_cache(maxsize=None)
def _self_test(bwrap: str) -> tuple[bool, str]:
    """Start the venv's Python in a box like a kernel's (watchdog, uid,
    staging, bubblewrap), and find the kit there."""
    if not (os.path.isfile(bwrap) and os.access(bwrap, os.X_OK)):
        return False, f"bubblewrap did not start: {bwrap} is not a program"
    try:
        with Box(BoxSpec(name="self-test", cgroups=False),
                 _checked=True) as box:
            proc = box.popen([sys.executable, "-c", SELF_TEST],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            out, errs = proc.communicate(timeout=60)
    except (OSError, subprocess.TimeoutExpired, SandboxUnavailable) as err:
        return False, f"bubblewrap did not start: {err}"
    if proc.returncode != 0 or not out.strip().isdigit():
        why = (errs.strip().splitlines() or [out.strip() or "no message"])[-1]
        return False, f"bubblewrap failed its self-test: {why}"
    if uids.needed() and int(out) == 0:
        return False, "bubblewrap failed its self-test: the box ran as root"
    return True, f"bubblewrap works ({bwrap})"


def available() -> tuple[bool, str]:
    """Say whether student code can be sandboxed here, and why not.

    Returns:
        (True, what is used) or (False, a one-line reason).
    """
    if not sys.platform.startswith("linux"):
        return False, f"the sandbox needs Linux (this is {sys.platform})"
    bwrap = bwrap_path()
    if not bwrap:
        return False, "bubblewrap (bwrap) is not installed"
    return _self_test(bwrap)


def require_sandbox() -> None:
    """Raise :class:`SandboxUnavailable` (one line, with the opt-out) unless
    student code can be sandboxed here."""
    ok, reason = available()
    if not ok:
        raise SandboxUnavailable(f"cannot sandbox student code: {reason}. "
                                 + OPT_OUT)


# --------------------------------------------------------------------------
# Runtime folders


def runtime_base() -> Path:
    """Where the ``ag-*`` runtime folders go: the temp folder, or /tmp when
    its path is too long for unix sockets."""
    base = tempfile.gettempdir()
    return Path("/tmp" if len(base) > 40 else base)


def _runtime_dir() -> Path:
    """A private, short folder (unix socket paths must stay < 108 bytes).

    Folders left behind by graders that were killed first are swept away
    (:func:`sweep_stale_runtime_dirs`).
    """
    base = runtime_base()
    sweep_stale_runtime_dirs(base)
    path = Path(tempfile.mkdtemp(prefix="ag-", dir=base))
    (path / OWNER_FILE).write_text(str(os.getpid()))
    return path


def sweep_stale_runtime_dirs(base: Path) -> list[Path]:
    """Remove the runtime folders of graders that are gone.

    A grader killed with SIGKILL cannot clean up, so its ``ag-*`` folder
    stays. This removes the folders in ``base`` that belong to this user
    and whose owner process (``owner.pid``) no longer exists. Folders of
    live graders, of other users, or without an owner file are left alone.

    Returns:
        The folders removed.
    """
    removed = []
    for folder in sorted(Path(base).glob("ag-*")):
        try:
            if (folder.is_symlink() or not folder.is_dir()
                    or folder.stat().st_uid != os.getuid()):
                continue
            pid = int((folder / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if pid > 0 and not _process_exists(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # someone else's process: it exists
        return True
    return True
