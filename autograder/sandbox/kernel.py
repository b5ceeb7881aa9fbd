"""nbgrader's kernel, started in a box (:mod:`autograder.sandbox.launch`).

nbgrader's autograde executes notebooks through nbclient and a Jupyter
kernel. Here each notebook's kernel gets a fresh box of its own
(:class:`SandboxKernelManager`): the watchdog, bubblewrap, then
``python -m ipykernel_launcher -f CONN``. The kernel talks to the grader
over ZMQ's ``ipc`` transport: unix sockets in the box's connection folder
(the only host folder it may write), which cross the network namespace.

:class:`SandboxedExecute` (nbgrader's ``Execute`` preprocessor, extended)
gives each cell its time limit, caps output while it arrives, and turns a
dead or stuck kernel into a clear error on that cell and "not run" on the
cells after it, so the notebook is always executed to the end.

Interface for the grading pipeline::

    from autograder.sandbox import kernel as sandbox

    with sandbox.kernel_setup(workdir, GRADING,
                              enabled=not no_sandbox,
                              deadline=time.time() + GRADING.submission_timeout_s,
                              env={"AUTOGRADER_SEED": str(seed)}) as kernel:
        ... write kernel.config_dict() as nbgrader_config.json for a
        ... subprocess ``nbgrader autograde``
        info = kernel.status()                # isolation, peak memory, limit hits

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
import json
import os
import shutil
import signal
import stat
import sys
import time
import uuid
from pathlib import Path
from queue import Empty

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Float, Integer, List, Unicode
from traitlets.config import Config

from autograder.config import GRADING, SANDBOX
from autograder.sandbox import launch
from autograder.sandbox import watchdog as limits
from autograder.sandbox.launch import (  # noqa: F401  (re-exported)
    ISOLATION_OFF, ISOLATION_ON, OPT_OUT, OWNER_FILE, SandboxUnavailable,
    available, sweep_stale_runtime_dirs,
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


# --------------------------------------------------------------------------
# One submission's kernel set-up.


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    """What the kernel manager needs to box each kernel (JSON)."""

    runtime_dir: str     # the submission's: kernels' status files land here
    isolated: bool
    data_file: str | None
    memory_bytes: int = GRADING.memory_bytes
    deadline: float = 0.0
    env: dict = dataclasses.field(default_factory=dict)
    rw_dirs: tuple = ()  # host folders the kernel may write besides its own
    ro_paths: tuple = ()  # host paths it may read besides the box's
    disk_bytes: int = GRADING.disk_bytes

    def dump(self, path: Path) -> None:
        """Write the spec as JSON."""
        Path(path).write_text(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def load(cls, path: str | Path) -> "KernelSpec":
        """Read a spec written by :meth:`dump`."""
        data = json.loads(Path(path).read_text())
        data["rw_dirs"] = tuple(data.get("rw_dirs", ()))
        data["ro_paths"] = tuple(data.get("ro_paths", ()))
        return cls(**data)

    def box_spec(self, name: str) -> launch.BoxSpec:
        """The box of one kernel."""
        return launch.BoxSpec(
            name=name, env=kernel_env(self), rw_dirs=self.rw_dirs,
            ro_paths=self.ro_paths, data_file=self.data_file,
            isolated=self.isolated, memory_bytes=self.memory_bytes,
            disk_bytes=self.disk_bytes,
            deadline=(self.deadline + SANDBOX.deadline_grace_s
                      if self.deadline else 0.0))


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
            "disk_bytes": int(self.spec.disk_bytes),
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
            # how memory, tasks, CPU, disk and the uid were held (the
            # boxes of one submission are made alike) and what fell back
            "controls": next((k["controls"] for k in kernels
                              if k.get("controls")), {}),
            "fallback": sorted({why for k in kernels
                                for why in k.get("fallback", [])}),
        }

    def cleanup(self) -> None:
        """Remove the runtime folder; clear special files in the evidence
        folder (the kernel may write there; the grader reads it)."""
        shutil.rmtree(self.spec.runtime_dir, ignore_errors=True)
        for path in self.spec.rw_dirs:
            sanitize_dir(path)

    def __enter__(self) -> "SandboxKernel":
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


def kernel_setup(workdir, limits_=GRADING, *, enabled=True,
                 deadline: float | None = None,
                 env: dict | None = None) -> SandboxKernel:
    """Prepare the boxed kernels for executing one submission's notebooks.

    Args:
        workdir: the folder nbgrader writes the executed notebooks to; the
            kernel never sees it (its working folder is the box's own).
        limits_: a ``GradingLimits`` (timeouts, memory, output).
        enabled: isolate with bubblewrap; False only on the instructor's
            explicit opt-out (``--no-sandbox``).
        deadline: ``time.time()`` by which the whole submission must be done.
        env: extra environment variables for the kernel.

    Raises:
        SandboxUnavailable: ``enabled`` and bubblewrap cannot be used here.
    """
    if enabled:
        launch.require_sandbox()
    Path(workdir).mkdir(parents=True, exist_ok=True)
    runtime = launch._runtime_dir()
    spec = KernelSpec(
        runtime_dir=str(runtime), isolated=enabled, data_file=_data_file(),
        memory_bytes=int(limits_.memory_bytes), deadline=float(deadline or 0),
        disk_bytes=int(getattr(limits_, "disk_bytes", GRADING.disk_bytes)),
        env=dict(env or {}))
    spec_file = runtime / "spec.json"
    spec.dump(spec_file)
    return SandboxKernel(spec=spec, spec_file=spec_file, limits=limits_)


def _data_file() -> str | None:
    """The verified Time Machine text (None when it cannot be found)."""
    from autograder import data

    try:
        return str(data.locate(download=False))
    except data.DataNotFoundError:
        return None


def _default_autograde_preprocessors() -> list:
    from nbgrader.converters import Autograde

    return list(Autograde.class_traits()["autograde_preprocessors"].default())


def kernel_env(spec: KernelSpec, environ=None) -> dict[str, str]:
    """The variables the kernel gets from the grader (besides the box's)."""
    environ = os.environ if environ is None else environ
    env = {key: value for key, value in environ.items()
           if (key.startswith(ENV_PASS_PREFIXES) or key in ENV_PASS)
           and key not in ENV_DROP}
    env.update(spec.env)
    return env


# --------------------------------------------------------------------------
# The kernel manager: ipc transport, each kernel in a box of its own.


class SandboxKernelManager(AsyncKernelManager):
    """Starts ipykernel in a fresh box (watchdog, bubblewrap)."""

    spec_file = Unicode("", help="KernelSpec JSON written by kernel_setup").tag(
        config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("transport", "ipc")
        super().__init__(**kwargs)
        self.transport = "ipc"
        self._spec = KernelSpec.load(self.spec_file)
        name = f"kernel-{uuid.uuid4().hex[:8]}"
        self._name = name
        self._box = None
        self._new_box()

    def _new_box(self) -> None:
        """A fresh box (and connection folder) for this kernel."""
        self._box = launch.Box(self._spec.box_spec(self._name), shared=("c",))
        conn = self._box.shared["c"]
        self.connection_file = str(conn / f"{self._name}.json")
        self.ip = str(conn / f"{self._name}-ipc")

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        """ipykernel, in the box."""
        kernel = [sys.executable, "-m", "ipykernel_launcher", "-f",
                  self.connection_file, *(extra_arguments or [])]
        return self._box.command(kernel)

    async def _async_pre_start_kernel(self, **kw):
        cmd, kw = await super()._async_pre_start_kernel(**kw)
        kw.update(self._box.popen_kwargs())
        slot = self._box.slot  # the kernel runs as the box's uid: its file
        if slot is not None:
            os.chown(self.connection_file, slot.uid, slot.gid)
        return cmd, kw

    def seal(self) -> None:
        """The kernel is up: no more writes to its connection folder (it
        lies on the grader's disk)."""
        self._box.seal()

    def client(self, **kwargs):
        """A client whose sockets drop messages over SANDBOX.max_message_bytes."""
        import zmq

        kc = super().client(**kwargs)
        kc.context.setsockopt(zmq.MAXMSGSIZE, SANDBOX.max_message_bytes)
        return kc

    def watchdog_status(self) -> dict | None:
        """What the watchdog wrote (None while the kernel runs), from the
        box or, once the box is closed, from the copy kept."""
        return limits.read_status(self._box.status_file) or limits.read_status(
            Path(self._spec.runtime_dir) / f"status-{self._name}.json")

    def _keep_status(self) -> None:
        """Copy this kernel's watchdog status, with how its box held each
        resource, to the submission's folder."""
        status = self._box.status()
        if not status["watchdog"]:
            return
        dest = Path(self._spec.runtime_dir) / f"status-{self._name}.json"
        try:
            dest.write_text(json.dumps({
                **status["watchdog"], "controls": status["controls"],
                "fallback": status["fallback"]}))
        except OSError:
            pass

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        self._keep_status()
        if not restart:  # the kernel is gone: so is its box
            self._box.close()

    def __del__(self):
        box = getattr(self, "_box", None)
        if box is not None:
            self._keep_status()
            box.close()


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
      Training cells are named by the grader, never by the submission: the
      ``training_grade_ids`` given, else the training tests among the
      gradebook's cells of this notebook (built from the kit's source; a
      student's tags are not read). A cell over its limit is interrupted;
      if the kernel does not answer within ``SANDBOX.interrupt_grace_s`` it
      is killed.
    * An error that says the disk was full (ENOSPC in the box's tmpfs,
      EFBIG over the file-size limit) says "disk limit exceeded".
    * A kernel that died (os._exit, segfault, memory or process limit) or was
      killed leaves an error on its cell, saying why, and "not run" errors on
      the later cells: nbgrader then scores the notebook as usual.
    * Output beyond ``SANDBOX.cell_output_chars`` per cell, or
      ``SANDBOX.notebook_output_chars`` per notebook, is dropped as it
      arrives; of a cell's errors only the first is kept (shrunk); widget
      messages are ignored.
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
    notebook_output_chars = Integer(SANDBOX.notebook_output_chars).tag(
        config=True)
    interrupt_grace_s = Float(SANDBOX.interrupt_grace_s).tag(config=True)
    training_grade_ids = List(Unicode(), default_value=None, allow_none=True,
                              help="grade_ids of training cells (default: "
                              "from the gradebook)").tag(config=True)
    disk_bytes = Integer(GRADING.disk_bytes).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)
        self._stopped: str | None = None
        self._limit_note = ""
        self._chars = 0
        self._nb_chars = 0
        self._truncated = False
        self._training: frozenset[str] = frozenset()

    # -- the notebook ------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        """Execute the notebook; always return it, marked where cells died."""
        self._stopped = None
        self._nb_chars = 0
        self._training = self._training_ids(resources)
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self.sandbox_spec:
                for path in KernelSpec.load(self.sandbox_spec).rw_dirs:
                    sanitize_dir(path)

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
        _name_disk_errors(cell, self.disk_bytes)
        return cell

    # nbclient binds its sync wrapper to its own coroutine: rebind to ours.
    execute_cell = run_sync(async_execute_cell)

    async def async_start_new_kernel_client(self):
        """Start the kernel, then seal its connection folder (its sockets
        are bound once it answers)."""
        kc = await super().async_start_new_kernel_client()
        seal = getattr(self.km, "seal", None)
        if seal is not None:
            seal()
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def _training_ids(self, resources) -> frozenset[str]:
        """The grade_ids that get the training budget: as configured, else
        the training tests among the gradebook's cells of this notebook;
        none when the gradebook cannot say (every cell gets the ordinary
        limit)."""
        if self.training_grade_ids is not None:
            return frozenset(self.training_grade_ids)
        info = (resources or {}).get("nbgrader", {})
        try:
            from nbgrader.api import Gradebook

            with Gradebook(info["db_url"]) as gb:
                source = gb.find_notebook(info["notebook"],
                                          info["assignment"])
                return limits.training_grade_ids(
                    c.name for c in source.grade_cells)
        except Exception:  # noqa: BLE001 - no gradebook: no training cells
            return frozenset()

    # -- time limits -------------------------------------------------------

    def _get_timeout(self, cell) -> int | None:
        if cell is None:  # kernel_info and other requests of nbclient's own
            return super()._get_timeout(cell)
        timeout = limits.cell_timeout(cell, self, self._training)
        kind = ("GradingLimits.training_cell_timeout_s"
                if limits.is_training_cell(cell, self._training)
                else "GradingLimits.cell_timeout_s")
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
        if msg["msg_type"] == "error":
            # One error per cell is what a cell that raised sends; it is
            # kept (shrunk), so that the cell counts as failed. More are a
            # flood (found by a red-team review: 40 error messages made a
            # 198 MB notebook in the grader's memory): dropped.
            if any(o.get("output_type") == "error" for o in outs):
                return None
            over = self._nb_chars >= self.notebook_output_chars
            _shrink_error(msg["content"],
                          1000 if over else self.cell_output_chars)
            size = _content_chars(msg["content"])
            self._chars += size
            self._nb_chars += size
            return super().output(outs, msg, display_id, cell_index)
        size = _content_chars(msg.get("content", {}))
        limit = min(self.cell_output_chars,
                    self._chars + self.notebook_output_chars - self._nb_chars)
        if self._chars + size > limit:
            if not self._truncated:
                self._truncated = True
                outs.append(new_output(
                    "stream", name="stderr",
                    text=f"\n[output truncated: over {self.cell_output_chars} "
                         "characters in this cell, or "
                         f"{self.notebook_output_chars} in the notebook]\n"))
            return None
        self._chars += size
        self._nb_chars += size
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id, msg):
        if _content_chars(msg.get("content", {})) <= self.cell_output_chars:
            super()._update_display_id(display_id, msg)

    def handle_comm_msg(self, outs, msg, cell_index):
        """Widgets are not graded: their messages are ignored."""
        return None


def _name_disk_errors(cell, disk_bytes: int) -> None:
    """Say "disk limit exceeded" in each error of ``cell`` that comes from
    a full disk (ENOSPC, EFBIG), in front of the student's error."""
    for out in cell.get("outputs", []):
        if out.get("output_type") != "error":
            continue
        text = f"{out.get('ename', '')}: {out.get('evalue', '')}"
        if limits.is_disk_full(text) and not text.startswith(
                limits.MESSAGES["disk"]):
            out["evalue"] = f"{limits.disk_message(disk_bytes)} ({text})"
            out["traceback"] = [*out.get("traceback", []),
                                f"{out['ename']}: {out['evalue']}"]


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
    """Cap an error's evalue and traceback in place (the error itself
    stays), to ``max_chars`` characters in all."""
    content["ename"] = str(content.get("ename", ""))[:200]
    evalue = str(content.get("evalue", ""))
    half = max_chars // 2
    if len(evalue) > half:
        content["evalue"] = evalue[:half] + " [... truncated]"
    tb = content.get("traceback", [])
    tb = [str(line) for line in tb] if isinstance(tb, list) else [str(tb)]
    if len(tb) > 60:
        tb = tb[:30] + ["[... traceback truncated ...]"] + tb[-29:]
    kept, left = [], half
    for line in reversed(tb):  # the innermost lines matter most
        if left <= 0:
            kept.append("[... traceback truncated ...]")
            break
        kept.append(line[:left])
        left -= len(kept[-1])
    content["traceback"] = kept[::-1]


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
