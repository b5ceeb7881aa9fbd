"""Verdicts: the grader calls the student's functions and judges what comes
back, in its own process.

For one notebook of a submission, :func:`grade_notebook`:

1. reads the notebook's solution cells by grade_id (the contract's
   functions) and the kit's own setup cell;
2. starts a worker in a fresh box (:class:`autograder.grader.session.
   Session`) and runs those cells there, each under the cell time limit;
3. runs every test of the notebook (:mod:`autograder.student.registry`):
   the test's check (:mod:`autograder.student.checks`) at the visible
   sizes and again at other sizes drawn from the grading seed, on inputs
   drawn here; each call the check needs goes to the worker, and the check
   judges the plain reply here. ``leaks_future`` is asked about the
   grader's zoo (:mod:`autograder.grader.causality`), by stand-ins;
4. fails the ``*_matches_torch`` tests when the scratch functions use
   torch's recurrent layers (:mod:`autograder.grader.scratch_rule`).

No student code runs in this process, and nothing the student's process
wrote to a file, patched in a module or printed counts: only the values
its functions returned when the grader called them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import random
import sys
import time

import torch

from autograder import contract, notebooks
from autograder.config import CHECKS, GRADING, GradingLimits
from autograder.grader import causality, scratch_rule
from autograder.grader.session import CallTimeout, Session, WorkerGone
from autograder.sandbox import launch, watchdog
from autograder.student import checks, registry
from autograder.student.errors import CheckFailed

SETUP_ID = "setup"
_RANGES = {"vocab_size": CHECKS.vocab_size_range,
           "num_hiddens": CHECKS.num_hiddens_range,
           "num_layers": CHECKS.num_layers_range,
           "batch_size": CHECKS.batch_size_range,
           "num_steps": CHECKS.num_steps_range}


def in_limit_words(message: str, limits: GradingLimits = GRADING) -> str:
    """A message that shows a full disk (ENOSPC, EFBIG) says which limit."""
    if watchdog.is_disk_full(message) and \
            not message.startswith(watchdog.MESSAGES["disk"]):
        return f"{watchdog.disk_message(limits.disk_bytes)}: {message}"
    return message


@dataclasses.dataclass
class Verdict:
    """One test's verdict.

    Attributes:
        passed: the check accepted every size it ran with.
        message: what it found, in the book's words (no grade_id).
        detail: ``{"sizes", "other_sizes"}`` and what the check reported
            (the perplexity check's curve, samples and perplexity).
    """

    passed: bool
    message: str
    detail: dict = dataclasses.field(default_factory=dict)


# ----------------------------------------------------------- sizes, inputs

def hidden_sizes(test: registry.Test, seed) -> dict:
    """Other sizes for ``test``, drawn from the grading seed."""
    rng = random.Random(f"{seed}:{test.grade_id}")
    return {k: rng.randint(*_RANGES[k]) for k in test.sizes}


def generator_for(seed, grade_id: str, sizes: dict) -> torch.Generator:
    """The generator of a test's inputs: (seed, grade_id, sizes) -> stream."""
    key = f"{seed}|{grade_id}|{sorted(sizes.items())}".encode()
    g = torch.Generator()
    g.manual_seed(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
    return g


def grading_device() -> str:
    """The device the checks ask for: the grader's GPU, else the CPU."""
    return "cuda:0" if torch.cuda.is_available() else "cpu"


# ------------------------------------------------------------------ cells

def solution_cells(nb, functions) -> dict[str, str]:
    """grade_id -> source of the submission's cells for ``functions``."""
    cells = {}
    for cell in nb.cells:
        gid = notebooks.grade_id(cell)
        if gid in functions and cell.cell_type == "code":
            cells[gid] = cell.source
    return cells


def notebook_functions(name: str) -> tuple[str, ...]:
    """The contract's functions of notebook ``name``."""
    return next(nb.functions for nb in contract.NOTEBOOKS if nb.name == name)


def scratch_functions(name: str) -> set[str]:
    """The scratch functions of notebook ``name`` (scratch tests' roles)."""
    return {fn for t in registry.of_notebook(name)
            if t.check.startswith("scratch_") for fn in t.functions}


# ------------------------------------------------------------- the grading

@dataclasses.dataclass
class Grading:
    """How to grade one notebook (everything but the submission)."""

    seed: int
    setup_source: str
    limits: GradingLimits = GRADING
    isolated: bool = True
    data_file: str | None = None
    threads: int = 1
    device: str = "cpu"
    deadline: float = 0.0      # time.monotonic() by which all must end

    def box(self, name: str) -> launch.BoxSpec:
        threads = str(self.threads)
        return launch.BoxSpec(
            name=f"{name} worker", data_file=self.data_file,
            isolated=self.isolated, memory_bytes=self.limits.memory_bytes,
            disk_bytes=self.limits.disk_bytes,
            deadline=(time.time() + max(1.0, self.deadline - time.monotonic())
                      if self.deadline else 0.0),
            env={"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                 "OPENBLAS_NUM_THREADS": threads, "MPLBACKEND": "Agg",
                 "CUDA_VISIBLE_DEVICES": "" if self.device == "cpu"
                 else "0"})

    def timeout(self, trains: bool) -> float:
        """A call's time limit, never past the deadline."""
        limit = (self.limits.training_cell_timeout_s if trains
                 else self.limits.cell_timeout_s)
        if self.deadline:
            limit = min(limit, max(1.0, self.deadline - time.monotonic()))
        return float(limit)


def grade_notebook(name: str, nb, grading: Grading) -> tuple[dict, dict]:
    """Every test of notebook ``name`` of a submission, judged here.

    Args:
        nb: the submission's notebook (nbformat), already read safely.

    Returns:
        ``(grade_id -> Verdict, info)``; info has the cells' outcomes, the
        box's status and what the student's code printed (its end).
    """
    tests = registry.of_notebook(name)
    cells = solution_cells(nb, notebook_functions(name))
    scan = scratch_rule.scan(cells, scratch_functions(name))
    verdicts: dict[str, Verdict] = {}
    info: dict = {"cells": {}, "scratch_rule": scan}
    try:
        _grade_tests(name, tests, cells, scan, grading, verdicts, info)
    finally:
        for verdict in verdicts.values():
            verdict.message = in_limit_words(verdict.message, grading.limits)
    return verdicts, info


def _grade_tests(name, tests, cells, scan, grading, verdicts, info) -> None:
    """Run the cells and the tests in a worker (see grade_notebook)."""
    with Session(grading.box(name)) as session:
        try:
            info["cells"] = _run_cells(session, cells, grading)
            for test in tests:
                verdicts[test.grade_id] = _grade_test(
                    session, test, grading, info["cells"], scan)
        except WorkerGone as gone:
            stopped = str(gone)
            for test in tests:
                verdicts.setdefault(test.grade_id, Verdict(
                    False, f"not run: {stopped}"))
        info["output_tail"] = session.output_tail()[-2000:]
    info["box"] = session.final_status


def _run_cells(session: Session, cells: dict, grading: Grading) -> dict:
    """Run the setup cell, then the solution cells, each under its limit.

    Returns:
        grade_id -> ``{"ok": bool, "error": ...}``.

    Raises:
        WorkerGone: the worker stopped (a limit; the cells after are not
            run).
    """
    outcome = {}
    timeout = grading.timeout(trains=False)
    # the first request also waits for the worker to start (imports)
    setup = session.exec_cell(SETUP_ID, grading.setup_source,
                              2 * grading.limits.cell_timeout_s)
    if not setup.get("ok"):
        raise WorkerGone(f"the grader's setup cell failed in the box: "
                         f"{setup.get('error')}")
    for gid, source in cells.items():
        try:
            outcome[gid] = session.exec_cell(gid, source, timeout)
        except CallTimeout as exc:
            outcome[gid] = {"ok": False, "error": {"message": str(exc),
                                                   "frames": []}}
    defined = session.request({"op": "defined", "names": list(cells)},
                              timeout).get("defined", [])
    for gid in outcome:
        outcome[gid]["defined"] = gid in defined
    return outcome


def _grade_test(session: Session, test: registry.Test, grading: Grading,
                cells: dict, scan: dict) -> Verdict:
    """One test: its check at the visible sizes, then at other sizes."""
    missing = _missing_functions(test, cells)
    if missing:
        return Verdict(False, missing)
    if test.check == "scratch_reference" and scan:
        return Verdict(False, scratch_rule.message(scan))
    runs = [test.visible_sizes]
    if test.sizes:
        runs.append(hidden_sizes(test, grading.seed))
    detail: dict = {"sizes": runs[0], "other_sizes": runs[1]
                    if len(runs) > 1 else {}}
    messages = []
    for sizes in runs:
        try:
            message, more = checks.drive(
                _check(test, sizes, grading),
                _answer(session, test, grading))
        except CheckFailed as exc:
            detail.update(getattr(exc, "detail", {}) or {})
            where = (f" (other sizes: {checks.sizes_text(sizes)})"
                     if sizes is not runs[0] else "")
            return Verdict(False, f"{exc}{where}", detail)
        except CallTimeout as exc:
            return Verdict(False, str(exc), detail)
        except WorkerGone:
            raise
        except Exception as exc:  # noqa: BLE001 - see below
            # What came back made a check fail in a way it does not word
            # (a value no honest function returns). The test fails, the
            # rest of the submission is still graded, and the instructor
            # sees it is the grader's words, not the check's.
            print(f"grader: {test.grade_id}: the check could not judge a "
                  f"reply: {type(exc).__name__}: {exc!s:.200}",
                  file=sys.stderr)
            detail["grader_error"] = f"{type(exc).__name__}: {exc!s:.200}"
            return Verdict(False, (
                f"what {', '.join(test.functions)} returned could not be "
                f"judged ({type(exc).__name__}); expected what the book's "
                "version returns"), detail)
        detail.update(more)
        messages.append(message)
    return Verdict(True, messages[0], detail)


def _check(test: registry.Test, sizes: dict, grading: Grading):
    """The check generator of ``test`` at ``sizes``."""
    gen = generator_for(grading.seed, test.grade_id, sizes)
    if test.check == "causality":
        return causality.zoo_check(causality.draw_zoo(gen), names=test.roles)
    return checks.CHECKS[test.check](
        dict(sizes), generator=gen, device=grading.device, names=test.roles,
        **test.kwargs)


def _answer(session: Session, test: registry.Test, grading: Grading):
    """Answer a check's calls by sending them to the worker."""
    server = None
    if test.check == "causality":
        server = causality.ModelServer(causality.draw_zoo(
            generator_for(grading.seed, test.grade_id, {})))

    def answer(call: checks.Call):
        kwargs = {**call.kwargs, "names": test.roles}
        return session.call(call.call, [test.roles[r] for r in call.roles],
                            kwargs, grading.timeout(test.trains),
                            answer_model=server)
    return answer


def _missing_functions(test: registry.Test, cells: dict) -> str | None:
    """Why a function the test needs is not there, or None."""
    for fn in test.functions:
        outcome = cells.get(fn)
        if outcome is None:
            return (f"{fn} is not defined: the notebook has no cell with "
                    f"grade_id '{fn}'")
        if outcome.get("defined"):
            continue  # (a cell that raised after the def still counts)
        if not outcome.get("ok"):
            err = outcome.get("error") or {}
            text = err.get("message", "") if type(err) is dict else str(err)
            frames = err.get("frames") if type(err) is dict else None
            line = (f" (line {frames[-1][1]}: {frames[-1][3]})"
                    if frames and len(frames[-1]) == 4 else "")
            return f"{fn} is not defined: its cell raised {text}{line}"
        return f"{fn} is not defined: its cell does not define it"
    return None
