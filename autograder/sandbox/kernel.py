"""Run the student's notebook kernel in a sandbox, under limits (issue 6).

nbgrader's autograde executes notebooks through nbclient and a Jupyter
kernel. Here that kernel is started as

    python -m autograder.limits ... -- bwrap ... -- python -m ipykernel_launcher -f CONN

* ``bwrap`` (bubblewrap, Debian package ``bubblewrap``) gives the kernel new
  namespaces (no network, own pids, own hostname, no capabilities) and a
  file system made only of: the system (``/usr``, a few files of ``/etc``),
  the Python install and the venv, the ``autograder`` package, the Time
  Machine text at ``../data/timemachine.txt``, all read-only; and, writable,
  the submission's scratch working directory, the evidence directory, a
  private ``/tmp`` and the folder of the kernel's connection file. The course
  (``solutions/``, the gradebook, other submissions) is not there at all.
* The kernel talks to the grader over ZMQ's ``ipc`` transport: unix sockets
  next to the connection file, which cross the network namespace (``tcp`` on
  127.0.0.1 would not).
* ``autograder.sandbox.watchdog`` (the watchdog) kills the kernel at the memory,
  process or wall-time limit and says why.
* :class:`SandboxedExecute` (nbgrader's ``Execute`` preprocessor, extended)
  gives each cell its time limit, caps output while it arrives, and turns a
  dead or stuck kernel into a clear error on that cell and "not run" on the
  cells after it, so the notebook is always graded.

Interface for the grading pipeline::

    from autograder.sandbox import kernel as sandbox

    ok, reason = sandbox.available()          # bwrap works here? (cached)
    with sandbox.kernel_setup(workdir, evidence_dir, GRADING,
                              enabled=not no_sandbox,
                              deadline=time.time() + GRADING.submission_timeout_s,
                              env={"AUTOGRADER_SEED": str(seed)}) as kernel:
        config.merge(kernel.config())         # traitlets Config for nbgrader
        ... run nbgrader autograde (in-process NbGraderAPI / Autograde app);
        ... or write kernel.config_dict() as nbgrader_config.json for a
        ... subprocess ``nbgrader autograde``
        info = kernel.status()                # isolation, peak memory, limit hits

* ``workdir`` is the folder nbgrader executes the notebooks in
  (``autograded/<student>/<assignment>/`` of the scratch course); it must
  hold only that submission. ``evidence_dir`` becomes
  ``AUTOGRADER_EVIDENCE_DIR`` in the kernel.
* ``kernel_setup(..., enabled=True)`` raises :class:`SandboxUnavailable`
  (a one-line reason ending in how to opt out) where bubblewrap is missing
  or fails its self-test. With ``enabled=False`` the kernel runs without
  isolation, under the same limits, and ``status()["isolation"] == "off"``:
  the pipeline records that in results.json.
* ``status()`` -> ``{"isolation": "bubblewrap" | "off", "peak_memory_bytes":
  int, "limit_hits": [message, ...], "kernels": [watchdog status, ...]}``.
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import glob
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from queue import Empty

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Float, Integer, Unicode
from traitlets.config import Config

import autograder
from autograder.sandbox import watchdog as limits
from autograder.config import GRADING, SANDBOX

ISOLATION_ON = "bubblewrap"
ISOLATION_OFF = "off"
OPT_OUT = (
    "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap), or pass "
    "--no-sandbox to grade without isolation (recorded in results.json)."
)
# /etc entries the kernel needs (dynamic loader, users, fonts, time zone);
# nothing else of /etc (no shadow, no ssh keys) is visible.
ETC_ALLOW = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group",
    "nsswitch.conf", "hosts", "host.conf", "localtime", "timezone", "fonts",
    "alternatives", "mime.types", "os-release", "matplotlibrc",
)
# Environment passed from the grader to the kernel (everything else dropped).
ENV_PASS_PREFIXES = ("AUTOGRADER_", "NBGRADER_", "CUDA_", "NVIDIA_")
ENV_PASS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "LD_LIBRARY_PATH", "TZ",
            "MPLBACKEND", "PYDEVD_DISABLE_FILE_VALIDATION")
ENV_DROP = (SANDBOX.bwrap_env,)


OUTPUT_LOST = (
    "output limit exceeded: a single output of this cell was over "
    f"{SANDBOX.max_message_bytes // 2**20} MiB (SandboxConfig.max_message_bytes) "
    "and was dropped, with the rest of the cell's output")


class SandboxUnavailable(RuntimeError):
    """Grading was asked to isolate student code, and it cannot here."""


# --------------------------------------------------------------------------
# Is bubblewrap usable?


def bwrap_path() -> str | None:
    """The bubblewrap binary ($AUTOGRADER_BWRAP or ``bwrap`` on PATH)."""
    return os.environ.get(SANDBOX.bwrap_env) or shutil.which("bwrap")


@functools.lru_cache(maxsize=None)
def _self_test(bwrap: str) -> tuple[bool, str]:
    """Start the venv's Python in a throw-away sandbox like a kernel's."""
    with tempfile.TemporaryDirectory(prefix="ag-selftest-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        spec = KernelSpec(workdir=str(work), evidence_dir=str(work),
                          conn_dir=str(work), runtime_dir=tmp, isolated=True,
                          data_file=None)
        cmd = bwrap_argv(spec, bwrap) + [
            sys.executable, "-c", "import json, autograder; print('ok')"]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 timeout=60, env=kernel_env(spec))
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


# --------------------------------------------------------------------------
# One submission's kernel set-up.


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    """What the kernel manager needs to start a sandboxed kernel (JSON)."""

    workdir: str
    evidence_dir: str
    conn_dir: str        # connection file + ipc sockets (bound writable)
    runtime_dir: str     # watchdog status files (not visible in the sandbox)
    isolated: bool
    data_file: str | None
    memory_bytes: int = GRADING.memory_bytes
    deadline: float = 0.0
    env: dict = dataclasses.field(default_factory=dict)

    def dump(self, path: Path) -> None:
        """Write the spec as JSON."""
        Path(path).write_text(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def load(cls, path: str | Path) -> "KernelSpec":
        """Read a spec written by :meth:`dump`."""
        return cls(**json.loads(Path(path).read_text()))


@dataclasses.dataclass
class SandboxKernel:
    """The kernel set-up of one submission (see the module docstring)."""

    spec: KernelSpec
    spec_file: Path
    limits: object = GRADING

    @property
    def isolated(self) -> bool:
        """True when student code runs under bubblewrap."""
        return self.spec.isolated

    def config_dict(self) -> dict:
        """nbgrader configuration (JSON-able) that runs kernels here."""
        lim = self.limits
        execute = {
            "sandbox_spec": str(self.spec_file),
            "kernel_name": "python3",
            "timeout": int(lim.cell_timeout_s),
            "cell_timeout_s": int(lim.cell_timeout_s),
            "training_cell_timeout_s": int(lim.training_cell_timeout_s),
            "deadline": float(self.spec.deadline),
            # nbclient waits this long for a cell's output after its reply
            # (default 4 s; more for two workers on a loaded machine)
            "iopub_timeout": 10,
        }
        preprocessors = [
            "autograder.sandbox.kernel.SandboxedExecute"
            if p is Execute else f"{p.__module__}.{p.__name__}"
            for p in _default_autograde_preprocessors()
        ]
        return {
            "Autograde": {"autograde_preprocessors": preprocessors},
            "SandboxedExecute": execute,
            "SandboxKernelManager": {"spec_file": str(self.spec_file)},
            "LimitOutput": {"max_lines": int(lim.output_max_lines)},
        }

    def config(self) -> Config:
        """The same as :meth:`config_dict`, as a traitlets ``Config``."""
        return Config(self.config_dict())

    def status(self) -> dict:
        """Isolation, peak memory and limit hits of every kernel started."""
        kernels = [limits.read_status(p) for p in
                   sorted(Path(self.spec.runtime_dir).glob("status-*.json"))]
        kernels = [k for k in kernels if k]
        hits = [k["message"] for k in kernels if k.get("message")]
        return {
            "isolation": ISOLATION_ON if self.isolated else ISOLATION_OFF,
            "peak_memory_bytes": max(
                (k["peak_bytes"] for k in kernels), default=0),
            "limit_hits": hits,
            "kernels": kernels,
        }

    def cleanup(self) -> None:
        """Remove the runtime folder; clear special files the kernel left.

        The working and evidence directories stay (the grader reads them),
        minus symlinks, FIFOs and the like (see :func:`sanitize_dir`), even
        when the autograde run was killed before its own clean-up.
        """
        shutil.rmtree(self.spec.runtime_dir, ignore_errors=True)
        sanitize_dir(self.spec.workdir)
        sanitize_dir(self.spec.evidence_dir)

    def __enter__(self) -> "SandboxKernel":
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


# In each runtime folder: the process id of the grader that made it.
OWNER_FILE = "owner.pid"


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


def kernel_setup(workdir, evidence_dir, limits_=GRADING, *, enabled=True,
                 deadline: float | None = None,
                 env: dict | None = None) -> SandboxKernel:
    """Prepare the sandboxed kernel for grading one submission.

    Args:
        workdir: the folder the notebooks are executed in (it must hold only
            this submission); the kernel may write there.
        evidence_dir: where the kernel records evidence (created).
        limits_: a ``GradingLimits`` (timeouts, memory, output).
        enabled: isolate with bubblewrap; False only on the instructor's
            explicit opt-out (``--no-sandbox``).
        deadline: ``time.time()`` by which the whole submission must be done.
        env: extra environment variables for the kernel (e.g. the seed).

    Raises:
        SandboxUnavailable: ``enabled`` and bubblewrap cannot be used here.
    """
    if enabled:
        ok, reason = available()
        if not ok:
            raise SandboxUnavailable(f"cannot sandbox student code: {reason}. "
                                     + OPT_OUT)
    workdir, evidence_dir = Path(workdir).resolve(), Path(evidence_dir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    evidence_dir.mkdir(parents=True, exist_ok=True)
    runtime = _runtime_dir()
    (runtime / "c").mkdir()
    spec = KernelSpec(
        workdir=str(workdir), evidence_dir=str(evidence_dir),
        conn_dir=str(runtime / "c"), runtime_dir=str(runtime),
        isolated=enabled, data_file=_data_file(workdir, copy=not enabled),
        memory_bytes=int(limits_.memory_bytes), deadline=float(deadline or 0),
        env={**(env or {}), "AUTOGRADER_EVIDENCE_DIR": str(evidence_dir)},
    )
    spec_file = runtime / "spec.json"
    spec.dump(spec_file)
    return SandboxKernel(spec=spec, spec_file=spec_file, limits=limits_)


def _data_file(workdir: Path, copy: bool) -> str | None:
    """The verified Time Machine text (copied to ../data when unsandboxed)."""
    from autograder import data

    try:
        return str(data.install(workdir) if copy else data.locate(workdir,
                                                                  download=False))
    except data.DataNotFoundError:
        return None


def _default_autograde_preprocessors() -> list:
    from nbgrader.converters import Autograde

    return list(Autograde.class_traits()["autograde_preprocessors"].default())


# --------------------------------------------------------------------------
# The bubblewrap command line and the kernel's environment.


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
    """The Python install, the venv and the autograder package (read-only)."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix),
             Path(autograder.__file__).resolve().parent}
    return [str(p) for p in paths if not str(p).startswith("/usr/")]


def _gpu_binds() -> list[str]:
    """NVIDIA device nodes and /sys (read-only) where a GPU is present."""
    devices = sorted(glob.glob("/dev/nvidia*"))
    args = []
    for dev in devices:
        args += ["--dev-bind", dev, dev]
    if devices:
        args += ["--ro-bind-try", "/sys", "/sys"]
    return args


def bwrap_argv(spec: KernelSpec, bwrap: str | None = None) -> list[str]:
    """The bubblewrap command (up to and including ``--``) for ``spec``."""
    tmpfs = str(SANDBOX.tmpfs_bytes)
    args = [
        bwrap or bwrap_path(), "--unshare-all", "--unshare-user",
        "--disable-userns", "--die-with-parent", "--new-session",
        "--cap-drop", "ALL", "--hostname", "sandbox",
        *_system_binds(), "--proc", "/proc", "--dev", "/dev",
        "--size", tmpfs, "--tmpfs", "/dev/shm",
        "--size", tmpfs, "--tmpfs", "/tmp", "--dir", "/tmp/home",
        *_gpu_binds(),
    ]
    binds = [("--ro-bind", p) for p in _python_paths()]
    binds += [("--bind", spec.workdir), ("--bind", spec.evidence_dir),
              ("--bind", spec.conn_dir)]
    for kind, path in sorted(set(binds), key=lambda b: len(Path(b[1]).parts)):
        args += [kind, path, path]
    if spec.data_file:
        target = Path(spec.workdir).parent / "data" / Path(spec.data_file).name
        args += ["--ro-bind", spec.data_file, str(target)]
    return args + ["--chdir", spec.workdir, "--"]


def kernel_env(spec: KernelSpec, environ=None) -> dict[str, str]:
    """The kernel's whole environment: a clean base, a few passed, the spec's."""
    environ = os.environ if environ is None else environ
    home = "/tmp/home" if spec.isolated else str(Path(spec.runtime_dir) / "home")
    tmp = "/tmp" if spec.isolated else str(Path(spec.runtime_dir) / "tmp")
    env = {
        "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": home, "TMPDIR": tmp, "LANG": "C.UTF-8",
        "MPLCONFIGDIR": f"{home}/.config/matplotlib",
        "IPYTHONDIR": f"{home}/.ipython", "XDG_CACHE_HOME": f"{home}/.cache",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
    }
    for key, value in environ.items():
        if (key.startswith(ENV_PASS_PREFIXES) or key in ENV_PASS) and \
                key not in ENV_DROP:
            env[key] = value
    env.update(spec.env)
    return env


# --------------------------------------------------------------------------
# The kernel manager: ipc transport, watchdog + bwrap around ipykernel.


class SandboxKernelManager(AsyncKernelManager):
    """Starts ipykernel under the watchdog and (when isolated) bubblewrap."""

    spec_file = Unicode("", help="KernelSpec JSON written by kernel_setup").tag(
        config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("transport", "ipc")
        super().__init__(**kwargs)
        self.transport = "ipc"
        self._spec = KernelSpec.load(self.spec_file)
        name = f"kernel-{uuid.uuid4().hex[:8]}"
        self.connection_file = str(Path(self._spec.conn_dir) / f"{name}.json")
        self.ip = str(Path(self._spec.conn_dir) / f"{name}-ipc")
        self.status_file = Path(self._spec.runtime_dir) / f"status-{name}.json"

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        """ipykernel, wrapped in bwrap, wrapped in the watchdog."""
        spec = self._spec
        kernel = [sys.executable, "-m", "ipykernel_launcher", "-f",
                  self.connection_file, *(extra_arguments or [])]
        if spec.isolated:
            kernel = bwrap_argv(spec) + kernel
        return [
            sys.executable, "-m", "autograder.sandbox.watchdog",
            "--status", str(self.status_file),
            "--memory-bytes", str(spec.memory_bytes),
            "--max-processes", str(SANDBOX.max_processes),
            "--max-file-bytes", str(SANDBOX.max_file_bytes),
            "--deadline", str(spec.deadline + SANDBOX.deadline_grace_s
                              if spec.deadline else 0),
            "--", *kernel,
        ]

    async def _async_pre_start_kernel(self, **kw):
        cmd, kw = await super()._async_pre_start_kernel(**kw)
        kw["env"] = kernel_env(self._spec)
        kw["cwd"] = self._spec.workdir
        # The watchdog itself runs outside the sandbox, with the grader's
        # environment minus nothing it needs; the kernel gets kernel_env
        # through it (bwrap passes its environment on).
        return cmd, kw

    def client(self, **kwargs):
        """A client whose sockets drop messages over SANDBOX.max_message_bytes."""
        import zmq

        kc = super().client(**kwargs)
        kc.context.setsockopt(zmq.MAXMSGSIZE, SANDBOX.max_message_bytes)
        return kc

    def watchdog_status(self) -> dict | None:
        """What the watchdog wrote (None while the kernel runs)."""
        return limits.read_status(self.status_file)


# --------------------------------------------------------------------------
# nbgrader's Execute, hardened.


def _error(ename: str, evalue: str):
    """An error output the way nbgrader and results.json read it."""
    return new_output("error", ename=ename, evalue=evalue,
                      traceback=[f"{ename}: {evalue}"])


def _label(cell, index: int) -> str:
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell '{gid}'" if gid else f"cell {index}"


class SandboxedExecute(Execute):
    """nbgrader's Execute with per-cell limits and survival of bad kernels.

    * Each cell's time limit is ``cell_timeout_s``, or
      ``training_cell_timeout_s`` for training cells, never past ``deadline``.
      A cell over its limit is interrupted; if the kernel does not answer
      within ``SANDBOX.interrupt_grace_s`` it is killed.
    * A kernel that died (os._exit, segfault, memory or process limit) or was
      killed leaves an error on its cell, saying why, and "not run" errors on
      the later cells: nbgrader then scores the notebook as usual.
    * Output beyond ``SANDBOX.cell_output_chars`` per cell is dropped as it
      arrives; widget messages are ignored.
    * Afterwards, symlinks, FIFOs and other special files the kernel left in
      the working or evidence directory are removed (the grader writes there).
    """

    sandbox_spec = Unicode("").tag(config=True)
    cell_timeout_s = Integer(GRADING.cell_timeout_s).tag(config=True)
    training_cell_timeout_s = Integer(GRADING.training_cell_timeout_s).tag(
        config=True)
    deadline = Float(0.0, help="time.time() by which all must end").tag(
        config=True)
    cell_output_chars = Integer(SANDBOX.cell_output_chars).tag(config=True)
    interrupt_grace_s = Float(SANDBOX.interrupt_grace_s).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)
        self._stopped: str | None = None
        self._limit_note = ""
        self._chars = 0
        self._truncated = False

    # -- the notebook ------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        """Execute the notebook; always return it, marked where cells died."""
        self._stopped = None
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self.sandbox_spec:
                spec = KernelSpec.load(self.sandbox_spec)
                sanitize_dir(spec.workdir)
                sanitize_dir(spec.evidence_dir)

    async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                 store_history=True):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell
        if self._stopped is None and self.deadline and time.time() >= self.deadline:
            self._stopped = self._deadline_message()
        if self._stopped is not None:
            cell.outputs = [_error("NotRun", f"not run: {self._stopped}")]
            return cell
        self._chars, self._truncated = 0, False
        self._timed_out = False
        try:
            cell = await super().async_execute_cell(
                cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            why = self._death_message()
            cell.outputs.append(_error("KernelDied", why))
            self._stopped = f"the kernel stopped in {_label(cell, cell_index)} ({why})"
            return cell
        except CellTimeoutError as err:
            if "IOPub" in str(err) and not self._timed_out:
                # The reply came but the cell's output did not: ZMQ dropped
                # a message over max_message_bytes. Reconnect and go on.
                cell.outputs.append(_error("OutputTooLarge", OUTPUT_LOST))
                await self._reconnect()
                return cell
            cell.outputs.append(_error("CellTimeoutError", self._limit_note))
            self._timed_out = True
        if self._timed_out and not await self._kernel_responds():
            await self._kill_kernel()
            self._stopped = (f"{limits.MESSAGES['deadline']} in "
                             f"{_label(cell, cell_index)}, and the kernel did "
                             "not stop when interrupted")
        return cell

    # nbclient binds its sync wrapper to its own coroutine: rebind to ours.
    execute_cell = run_sync(async_execute_cell)

    # -- time limits -------------------------------------------------------

    def _get_timeout(self, cell) -> int | None:
        if cell is None:  # kernel_info and other requests of nbclient's own
            return super()._get_timeout(cell)
        timeout = limits.cell_timeout(cell, self)
        kind = ("GradingLimits.training_cell_timeout_s"
                if limits.is_training_cell(cell) else "GradingLimits.cell_timeout_s")
        self._limit_note = (f"{limits.MESSAGES['deadline']}: the cell ran longer "
                            f"than its {timeout} s limit ({kind}) and was "
                            "interrupted")
        if self.deadline:
            left = int(self.deadline - time.time())
            if left < timeout:
                timeout = max(1, left)
                self._limit_note = self._deadline_message()
        return timeout

    def _deadline_message(self) -> str:
        return (f"{limits.MESSAGES['deadline']}: the submission used up its wall "
                "time (GradingLimits.submission_timeout_s)")

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out = True
        self.log.warning("cell timed out after %s s; interrupting", timeout)
        await ensure_async(self.km.interrupt_kernel())
        return {"content": {"status": "error", "ename": "CellTimeoutError",
                            "evalue": self._limit_note,
                            "traceback": [f"CellTimeoutError: {self._limit_note}"]}}

    async def _kernel_responds(self) -> bool:
        """Does the kernel answer kernel_info within the grace period?"""
        if not await ensure_async(self.km.is_alive()):
            return False
        msg_id = self.kc.kernel_info()
        end = time.monotonic() + self.interrupt_grace_s
        while (left := end - time.monotonic()) > 0:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=left))
            except Empty:
                return False
            if msg["parent_header"].get("msg_id") == msg_id:
                return True
        return False

    async def _reconnect(self) -> None:
        """New client sockets (ZMQ does not reconnect after a dropped message)."""
        self.kc.stop_channels()
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            await ensure_async(self.kc.wait_for_ready(timeout=self.startup_timeout))
        except RuntimeError:
            pass  # a dead kernel is reported by the next cell
        self.kc.allow_stdin = False

    async def _kill_kernel(self) -> None:
        """Stop the kernel: the watchdog first (it records why), then all."""
        try:
            await ensure_async(self.km.signal_kernel(signal.SIGTERM))
            await asyncio.sleep(0.5)
        except (RuntimeError, OSError):
            pass
        try:
            await ensure_async(self.km.shutdown_kernel(now=True))
        except RuntimeError:  # already gone
            pass

    def _death_message(self) -> str:
        """Why the kernel died, from the watchdog's status when it killed it."""
        status = None
        get = getattr(self.km, "watchdog_status", None)
        for _ in range(20):  # the watchdog writes just after the kill
            status = get() if get else None
            if status:
                break
            time.sleep(0.05)
        if status and status.get("message"):
            return status["message"]
        code = status.get("returncode") if status else None
        how = f" (exit status {code})" if code is not None else ""
        if code is not None and code < 0:
            how = f" (killed by {_signal_name(-code)})"
        elif code is not None and 128 < code < 160:  # bwrap: 128 + signal
            how = f" (killed by {_signal_name(code - 128)})"
        return (f"{limits.MESSAGES['exited']}{how}: the student's code ended the "
                "kernel process (os._exit, a crash, or a fatal signal)")

    # -- output ------------------------------------------------------------

    def output(self, outs, msg, display_id, cell_index):
        size = _content_chars(msg.get("content", {}))
        if msg["msg_type"] == "error":
            _shrink_error(msg["content"], self.cell_output_chars)
            return super().output(outs, msg, display_id, cell_index)
        if self._chars + size > self.cell_output_chars:
            if not self._truncated:
                self._truncated = True
                outs.append(new_output(
                    "stream", name="stderr",
                    text=f"\n[output truncated: over {self.cell_output_chars} "
                         "characters in this cell]\n"))
            return None
        self._chars += size
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id, msg):
        if _content_chars(msg.get("content", {})) <= self.cell_output_chars:
            super()._update_display_id(display_id, msg)

    def handle_comm_msg(self, outs, msg, cell_index):
        """Widgets are not graded: their messages are ignored."""
        return None


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _content_chars(content) -> int:
    """Rough size in characters of a message's content."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, dict):
        return sum(_content_chars(v) for v in content.values())
    if isinstance(content, (list, tuple)):
        return sum(_content_chars(v) for v in content)
    return 8


def _shrink_error(content: dict, max_chars: int) -> None:
    """Cap an error's evalue and traceback in place (the error itself stays)."""
    content["ename"] = str(content.get("ename", ""))[:200]
    evalue = str(content.get("evalue", ""))
    if len(evalue) > max_chars:
        content["evalue"] = evalue[:max_chars] + " [... truncated]"
    tb = [str(line)[:max_chars] for line in content.get("traceback", [])]
    if len(tb) > 60:
        tb = tb[:30] + ["[... traceback truncated ...]"] + tb[-29:]
    content["traceback"] = tb


def sanitize_dir(path) -> list[str]:
    """Remove symlinks, FIFOs, sockets and devices under ``path``.

    The kernel could leave e.g. a symlink named like the next notebook that
    points at the gradebook; the grader then writes through it. Only regular
    files and folders are kept.

    Returns:
        The paths removed.
    """
    removed = []
    for root, dirs, files in os.walk(path, followlinks=False):
        for name in dirs + files:
            p = os.path.join(root, name)
            mode = os.lstat(p).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                os.unlink(p)
                removed.append(p)
    return removed
