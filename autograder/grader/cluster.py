"""Grading a class on a Dask cluster (``grade-all DIR --cluster ADDRESS``).

Dask's ``distributed`` does the distributing: a scheduler hands out one task
per submission to ``dask worker`` processes on any number of machines, and
gives the task of a worker that died to another worker (up to the
scheduler's ``distributed.scheduler.allowed-failures`` times). This module
is the kit's side of it:

* **the client** (the instructor's machine) reads each submission into a
  :class:`~autograder.grader.grade.Job` (notebooks and solutions as bytes,
  the grading seed drawn once), submits it, and hands back each result as
  it arrives; ``grade_all`` publishes it there, the gradebook's single
  writer. Nothing on a worker touches the course folder.
* **each worker** first checks that it runs the same kit, the same pinned
  packages and the same sandbox as the client (:func:`refusal`), and
  refuses otherwise; then each task grades one Job exactly as a local run
  does (:func:`autograder.grader.grade.grade_job`) and returns the
  :class:`~autograder.grader.grade.Graded` (plain data and bytes).

A task that was running on a worker that died is graded again elsewhere
from the same Job, so with the same seed; the client publishes each
submission once, when its one result arrives.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import dataclasses
import functools
import hashlib
import importlib.metadata
import logging
import os
import platform
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from distributed import (
    Client, WorkerPlugin, as_completed, get_client, get_worker,
)
from packaging.requirements import InvalidRequirement, Requirement

import autograder
from autograder.grader.errors import GraderError

# The rest of the kit (torch, d2l, nbgrader: seconds to import) is imported
# inside the functions that need it: a worker unpickles this module in its
# event loop, and a slow import there stalls its heartbeats to the
# scheduler. The checks that run in the event loop run in a thread.
if TYPE_CHECKING:
    from autograder.config import GradingLimits
    from autograder.grader.grade import Graded, Job

# Under Dask's own logger, so that a worker's log says why it refused.
logger = logging.getLogger("distributed.worker.autograder")

# The files whose pins a worker must share with the client.
PIN_FILES = ("requirements.txt", "requirements-d2l.txt")
# The interpreter's own version is compared too, under this name.
PYTHON = "python"


class WorkerRefused(GraderError):
    """A worker differs from the client and will not grade."""


# --------------------------------------------------------------------------
# What a worker must share with the client


@dataclasses.dataclass(frozen=True)
class Requirements:
    """What every worker must share with the client, or refuse to grade.

    Attributes:
        kit: the kit's version (:func:`kit_version`).
        pins: (package name, the version installed on the client) for
            each package the client's requirements files pin, and
            ``python``.
        sandbox: the client grades in the sandbox, so must every worker.
    """

    kit: str
    pins: tuple
    sandbox: bool


def requirements(sandbox: bool, root: Path | None = None) -> Requirements:
    """The client's :class:`Requirements` (what it finds installed here).

    Args:
        sandbox: the client grades in the sandbox.
        root: where the requirements files are (default: the course root).
    """
    from autograder.config import COURSE_ROOT

    names = (PYTHON, *pinned_names(root or COURSE_ROOT))
    return Requirements(kit_version(), tuple(installed(names).items()),
                        sandbox)


def kit_version(package: Path | None = None) -> str:
    """The package version plus a hash of the kit's Python sources.

    Args:
        package: the sources (default: this ``autograder`` package).

    Returns:
        e.g. ``"0.1.0+3f2a9c1d0b7e"``; two copies of the kit give the same
        string only if every ``.py`` file under ``autograder/`` is the same.
    """
    package = package or Path(autograder.__file__).parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return f"{autograder.__version__}+{h.hexdigest()[:12]}"


def pinned_names(root: Path) -> list[str]:
    """The names of the packages pinned in ``root``'s requirements files."""
    names = []
    for name in PIN_FILES:
        path = Path(root) / name
        lines = path.read_text().splitlines() if path.is_file() else []
        for line in lines:
            try:
                names.append(Requirement(line.split("#")[0].strip()).name)
            except InvalidRequirement:  # a blank line or a comment
                continue
    return names


def installed(names) -> dict[str, str]:
    """name -> its installed version here (``"not installed"`` if absent)."""
    found = {}
    for name in names:
        if name == PYTHON:
            found[name] = platform.python_version()
            continue
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def differences(req: Requirements) -> list[str]:
    """Each way this machine differs from ``req``, as "got != expected"."""
    found = []
    kit = kit_version()
    if kit != req.kit:
        found.append(f"kit {kit} != the client's {req.kit} (install the "
                     "client's commit of the kit here)")
    here = installed(name for name, _ in req.pins)
    pins = [f"{name} {here[name]} != the client's {want}"
            for name, want in req.pins if here[name] != want]
    if pins:
        found.append(", ".join(pins) + " (install the client's pins: pip "
                     "install -r requirements.txt -c requirements.lock.txt)")
    if req.sandbox:
        ok, why = _sandbox_here()
        if not ok:
            found.append(f"sandbox: {why}, but the client grades in the "
                         "sandbox")
    missing = _data_here()
    if missing:
        found.append(missing)
    return found


@functools.lru_cache(maxsize=8)
def refusal(req: Requirements) -> str | None:
    """Why this worker refuses to grade for a client with ``req``; None
    when it agrees.

    Checked once per client (when it connects, and by its first task on
    this worker), so that the answer holds for the whole batch.
    """
    found = differences(req)
    if found:
        logger.error("this worker refuses to grade: %s", "; ".join(found))
    return "; ".join(found) if found else None


async def admission(req: Requirements) -> str | None:
    """The worker's answer to a client: :func:`refusal`, and when it
    agrees, the grading code imported (torch, d2l, nbgrader: seconds), so
    that its first task does not wait for them. Runs in a thread, off the
    worker's event loop (``client.run`` and plugins run in the loop)."""
    return await asyncio.to_thread(_admit_here, req)


def _admit_here(req: Requirements) -> str | None:
    why = refusal(req)
    if not why:
        import autograder.grader.grade  # noqa: F401  (the warm-up)
    return why


# The machine's sandbox and data do not change while a worker runs.
@functools.cache
def _sandbox_here() -> tuple[bool, str]:
    from autograder.sandbox import launch

    return launch.available()


@functools.cache
def _data_here() -> str | None:
    """None when the Time Machine text is here (and named in
    ``$D2L_TIMEMACHINE`` for the grading); else what is missing."""
    from autograder import data

    try:
        data.export_env()
    except data.DataNotFoundError:
        return ("timemachine.txt not found (run `python -m autograder data "
                f"--install` on this worker or set ${data.DATA.env_var})")
    return None


class KitCheck(WorkerPlugin):
    """Checks each worker that joins later; one that differs closes itself
    (with its nanny) after logging why."""

    name = "autograder-kit-check"

    def __init__(self, req: Requirements):
        self.req = req

    async def setup(self, worker) -> None:
        why = await admission(self.req)
        if not why:
            return
        message = f"worker {worker.address} refuses to grade: {why}"
        self._closing = asyncio.ensure_future(
            worker.close(reason=f"autograder: {why}"))
        raise WorkerRefused(message)


# --------------------------------------------------------------------------
# The task (on a worker)


def grade_task(job: Job, req: Requirements) -> Graded:
    """Grade one :class:`Job` on this worker.

    The kernel gets its share of this machine's cores
    (:func:`threads_per_kernel`), and results.json records which worker
    graded it (``extra_data.worker``).

    Raises:
        WorkerRefused: this worker differs from the client.
        GraderError: the grader could not grade (not the student's fault).
    """
    why = refusal(req)
    worker = get_worker()
    if why:
        raise WorkerRefused(f"worker {worker.address} refuses to grade: {why}")
    from autograder.grader import grade

    start = time.monotonic()
    graded = grade.grade_job(dataclasses.replace(
        job, threads=threads_per_kernel(worker)))
    graded.extra["worker"] = {"address": worker.address,
                              "host": socket.gethostname(),
                              "task_s": round(time.monotonic() - start, 2)}
    return graded


def threads_per_kernel(worker) -> int:
    """This machine's cores shared among the threads of every worker on it
    (one submission per thread), as a local run shares them among its
    workers."""
    try:
        infos = get_client().scheduler_info()["workers"].values()
        threads = sum(w["nthreads"] for w in infos if w["host"] == worker.ip)
    except (OSError, KeyError, ValueError):  # no answer: this worker alone
        threads = worker.state.nthreads
    return max(1, (os.cpu_count() or 1) // max(1, threads))


# --------------------------------------------------------------------------
# The client


def connect(address: str) -> Client:
    """A client of the scheduler at ``address``.

    Raises:
        GraderError: the scheduler cannot be reached.
    """
    from autograder.config import CLUSTER

    try:
        return Client(address, timeout=CLUSTER.connect_timeout_s,
                      set_as_default=False)
    except (OSError, ValueError) as err:
        raise GraderError(f"cannot reach the Dask scheduler at {address}: "
                          f"{err}") from err


def admit(client: Client, req: Requirements) -> list[str]:
    """Check every worker against ``req`` and retire those that differ;
    workers that join later check themselves (:class:`KitCheck`).

    Returns:
        One line per refused worker, saying why.

    Raises:
        GraderError: no worker came, or every worker refused.
    """
    from autograder.config import CLUSTER

    try:
        client.wait_for_workers(1, timeout=CLUSTER.worker_wait_s)
    except TimeoutError as err:
        raise GraderError(f"no worker joined the scheduler within "
                          f"{CLUSTER.worker_wait_s:.0f} s (ClusterConfig."
                          "worker_wait_s)") from err
    answers = client.run(admission, req, on_error="return")
    refused = {address: _reason(answer)
               for address, answer in answers.items() if answer}
    if refused:
        client.retire_workers(list(refused), close_workers=True)
    lines = [f"worker {a} refuses to grade: {why}"
             for a, why in refused.items()]
    if len(refused) == len(answers):
        raise GraderError("no worker can grade: " + "; ".join(lines))
    try:
        client.register_plugin(KitCheck(req))
    except WorkerRefused as err:  # joined since: it is closing itself
        lines.append(str(err))
    return lines


def _reason(answer) -> str:
    """A refusal, or the error of a worker that could not run the check."""
    if isinstance(answer, BaseException):
        return (f"it cannot run the kit's check ({type(answer).__name__}: "
                f"{answer}); install the kit's environment there")
    return str(answer)


def graded(todo: dict[str, Path], template, *, address: str,
           sandbox: bool = True, limits: GradingLimits | None = None,
           resources: dict | None = None,
           note: Callable[[str], None] | None = None,
           ) -> Iterator[tuple[str, cf.Future]]:
    """Grade ``todo`` on the Dask scheduler at ``address``.

    Args:
        todo: student -> submission (folder or .zip) on this machine.
        template: the grading template (its solutions travel as bytes).
        address: the scheduler, e.g. ``tcp://10.0.0.5:8786``.
        sandbox, limits: as for a local run (default: ``GRADING``).
        resources: what each task needs of a worker, e.g. ``{"GPU": 1}``
            (workers started with ``--resources GPU=1``).
        note: where to say which workers refused (default: stderr).

    Yields:
        (student, future) as each submission finishes; ``future.result()``
        is its :class:`~autograder.grader.grade.Graded`, or raises why it
        could not be graded.

    Raises:
        GraderError: no scheduler, no worker, or every worker refused.
    """
    from autograder.config import GRADING
    from autograder.grader import grade

    note = note or functools.partial(print, file=sys.stderr)
    limits = limits or GRADING
    req = requirements(sandbox)
    with connect(address) as client:
        for line in admit(client, req):
            note(line)

        def submit(student: str, path: Path):
            job = grade.read_job(path, template=template, student=student,
                                 limits=limits, sandbox=sandbox)
            return client.submit(
                grade_task, job, req, resources=resources, pure=False,
                key=f"grade-{student}-{uuid.uuid4().hex[:8]}")

        yield from _as_they_finish(todo, submit, as_completed(
            loop=client.loop), lambda: _window(client))


def _as_they_finish(todo: dict[str, Path], submit: Callable,
                    running: as_completed, window: Callable[[], int]
                    ) -> Iterator[tuple[str, cf.Future]]:
    """Submit ``todo`` a window at a time; yield each as it finishes.

    Args:
        todo: student -> submission.
        submit: (student, path) -> the task's future.
        running: Dask's as_completed, empty.
        window: how many tasks to keep submitted.

    A submission that cannot be read here is yielded at once, as a future
    holding its error.
    """
    waiting = iter(todo.items())
    students = {}

    def fill():
        size = window()
        for student, path in waiting:
            try:
                future = submit(student, path)
            except (GraderError, OSError) as err:
                yield student, _failed(err)
                continue
            students[future.key] = student
            running.add(future)
            if running.count() >= size:
                return

    yield from fill()
    for future in running:
        yield students.pop(future.key), future
        yield from fill()


def _failed(err: BaseException) -> cf.Future:
    """A finished future holding ``err``."""
    future = cf.Future()
    future.set_exception(err)
    return future


def _window(client: Client) -> int:
    """How many jobs to keep submitted ahead of their results."""
    from autograder.config import CLUSTER

    threads = sum(client.nthreads().values())
    return max(CLUSTER.min_in_flight, CLUSTER.in_flight_per_thread * threads)
