"""The one way student code starts: in a box it cannot leave or widen.

Every process that runs student code (a notebook's Jupyter kernel under
nbgrader, the grading worker that answers the grader's calls) is started
through :class:`Box`::

    spec = BoxSpec(name="deep_rnn.ipynb worker", data_file=..., env=...)
    with Box(spec) as box:
        proc = box.popen([python, "-I", box.inside(WORKER)], stdin=PIPE, ...)
        ...
        box.status()     # isolation, peak memory, limit hits

or, where another library starts the process (jupyter_client),
``box.command(argv)`` and ``box.popen_kwargs()``.

What a box is (when isolated):

* the watchdog (``python -I -m autograder.sandbox.watchdog``), started from
  the box's runtime folder, which belongs to the grader: nothing it imports
  or runs comes from a folder student code can write;
* bubblewrap: new namespaces (no network, own pids, no capabilities, no
  nested user namespaces), a file system of read-only system folders, the
  Python install and venv, the kit's student-side code at ``/box/kit``
  (``rnn_checks`` and the worker), the Time Machine text at
  ``/box/data/timemachine.txt``; writable only: a private working folder
  ``/box/work`` (``../data`` from there is the data), a private ``/tmp``,
  and the folders named in ``BoxSpec.rw_dirs`` (a kernel's connection
  folder);
* a scrubbed environment: ``BoxSpec.env`` and little else.

Each box is fresh: nothing one process writes is visible to the next.
With ``isolated=False`` (the instructor's ``--no-sandbox``) the same layout
is made of host folders under the runtime folder, and the same limits
apply, without the namespaces.
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
from autograder.sandbox import watchdog

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
            process tree (the watchdog).
        deadline: ``time.time()`` at which the watchdog ends it (0: none).
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
    """One process tree's box: its runtime folder and what it may see.

    Use it as a context manager; leaving it removes the runtime folder.
    """

    def __init__(self, spec: BoxSpec, *, shared: tuple[str, ...] = ()):
        """
        Args:
            spec: what the process may see and use.
            shared: names of fresh folders, made in the runtime folder, that
                the process may write and the grader reads (a kernel's
                connection folder): ``box.shared["c"]``.
        """
        if spec.isolated:
            require_sandbox()
        self.runtime = _runtime_dir()
        self.shared = {name: self.runtime / name for name in shared}
        for folder in self.shared.values():
            folder.mkdir()
        self.spec = dataclasses.replace(spec, rw_dirs=(
            *spec.rw_dirs, *(str(f) for f in self.shared.values())))
        self.status_file = self.runtime / "status.json"
        if not spec.isolated:
            self._host_layout()

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
            inner = bwrap_argv(spec) + inner
        return [
            sys.executable, "-I", "-m", "autograder.sandbox.watchdog",
            "--status", str(self.status_file),
            "--memory-bytes", str(spec.memory_bytes),
            "--max-processes", str(spec.max_processes),
            "--max-file-bytes", str(spec.max_file_bytes),
            "--deadline", str(spec.deadline),
            # isolated, bubblewrap enters the box's working folder itself
            *([] if spec.isolated else ["--cwd", self.inside(WORKDIR)]),
            *(["--pass-stdio"] if pass_stdio else []),
            "--", *inner,
        ]

    def environment(self) -> dict[str, str]:
        """The environment the watchdog starts with (and passes on)."""
        spec = self.spec
        home, tmp = self.inside(f"{BOX_ROOT}/home"), self.inside("/tmp")
        if not spec.isolated:
            tmp = self.inside(f"{BOX_ROOT}/tmp")
        env = {
            "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin",
            "HOME": home, "TMPDIR": tmp, "LANG": "C.UTF-8",
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

    def status(self) -> dict:
        """Isolation, peak memory and the limit that stopped it, if any."""
        dog = watchdog.read_status(self.status_file) or {}
        return {"isolation": ISOLATION_ON if self.spec.isolated
                else ISOLATION_OFF,
                "peak_memory_bytes": int(dog.get("peak_bytes", 0)),
                "limit_hit": dog.get("message"), "watchdog": dog}

    def close(self) -> None:
        """Remove the runtime folder (the process is gone by now)."""
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


def bwrap_argv(spec: BoxSpec, bwrap: str | None = None) -> list[str]:
    """The bubblewrap command (up to and including ``--``) for ``spec``."""
    tmpfs = str(SANDBOX.tmpfs_bytes)
    args = [
        bwrap or bwrap_path(), "--unshare-all", "--unshare-user",
        "--disable-userns", "--die-with-parent", "--new-session",
        "--cap-drop", "ALL", "--hostname", "sandbox",
        *_system_binds(), "--proc", "/proc", "--dev", "/dev",
        "--size", tmpfs, "--tmpfs", "/dev/shm",
        "--size", tmpfs, "--tmpfs", "/tmp",
        "--size", tmpfs, "--tmpfs", BOX_ROOT,
        "--dir", WORKDIR, "--dir", f"{BOX_ROOT}/home", "--dir", KIT,
        *_gpu_binds(),
    ]
    for path in _python_paths() + [str(p) for p in spec.ro_paths]:
        args += ["--ro-bind", path, path]
    for name, path in KIT_PACKAGES.items():
        args += ["--ro-bind", str(path), f"{KIT}/{name}"]
    if spec.data_file:
        args += ["--ro-bind", spec.data_file,
                 f"{DATA_DIR}/{Path(spec.data_file).name}"]
    for path in spec.rw_dirs:
        args += ["--bind", str(path), str(path)]
    return args + ["--chdir", WORKDIR, "--"]


@functools.lru_cache(maxsize=None)
def _self_test(bwrap: str) -> tuple[bool, str]:
    """Start the venv's Python in a box like a kernel's."""
    spec = BoxSpec(name="self-test")
    cmd = bwrap_argv(spec, bwrap) + [
        sys.executable, "-c", "import rnn_checks, agbox; print('ok')"]
    with tempfile.TemporaryDirectory(prefix="ag-selftest-") as tmp:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": KIT, "HOME": tmp}
        try:
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 timeout=60, env=env, cwd=tmp)
        except (OSError, subprocess.TimeoutExpired) as err:
            return False, f"bubblewrap did not start: {err}"
    if out.returncode != 0 or out.stdout.strip() != "ok":
        why = (out.stderr.strip().splitlines() or ["no message"])[-1]
        return False, f"bubblewrap failed its self-test: {why}"
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
