"""``grade SUBMISSION``: grade one student's submission.

The pipeline, in order (docs/DESIGN.md, "Grading flow"):

1. open the submission (a folder or a .zip holding the notebooks); a missing
   or unreadable notebook scores zero on its tests, with a message;
2. build a private nbgrader course in a scratch folder outside the course
   tree: the solutions as nbgrader's source, a gradebook made for this run
   (the *template*, cached per version of the solutions), and the student's
   notebooks in ``submitted/<student>/<assignment>/``;
3. run nbgrader's autograde there, in a subprocess (so a crash cannot take
   the grader down), one notebook at a time (so one notebook's crash keeps
   the other's grades), with the kernel launched through
   :mod:`autograder.sandbox.kernel`. nbgrader overwrites edited test cells,
   restores hidden tests and checks checksums;
4. re-judge the evidence the checks recorded, in this process, with
   :func:`autograder.grader.verdicts.rejudge`: a test passes only if its cell
   passed under nbgrader *and* its re-judged verdict passed;
5. publish: record into the course gradebook (the single writer), copy the
   autograded notebooks to ``autograded/<student>/<assignment>/`` for
   ``feedback``, keep the evidence, and write results.json last (atomically;
   ``grade-all`` resumes from it).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import re
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path


from autograder import notebooks
from autograder.grader import results
from autograder.grader import gradebook as gbook
from autograder.config import (
    ASSIGNMENT_ID, COURSE_ROOT, GRADING, GradingLimits,
)
from autograder.grader import verdicts as verdicts_mod
from autograder.grader.results import TestResult
from autograder.sandbox import launch
from autograder.student import registry
from autograder.grader.autograde import (  # noqa: F401  (re-exported)
    WORKER_GRACE_S, Run, prepare_scratch, run_autograde, worker,
    write_nbgrader_config,
)
from autograder.grader.errors import GraderError, error_line  # noqa: F401
from autograder.grader.publish import (  # noqa: F401
    cleanup, default_out, evidence_dir, publish,
)
from autograder.grader.submission import (  # noqa: F401
    Submission, digest_of, digest_of_submission, open_submission, student_id,
)
from autograder.grader.template import (  # noqa: F401
    REJUDGED, GradedCell, Template, build_template, default_source,
    require_data,
)

UNANSWERED = "the written answer was left as released: 0 points"

# --------------------------------------------------------------------------
# 4. Reading the outcome and re-judging


@dataclasses.dataclass
class Outcome:
    """One graded submission, before it is published."""

    submission: Submission
    tests: list[TestResult]
    messages: list[str]
    extra: dict
    scratch: Path
    execution_time: float
    feedback: dict = dataclasses.field(default_factory=dict)

    @property
    def autograded(self) -> Path:
        """The autograded notebooks (moved out of the kernel's reach)."""
        return self.scratch / "graded"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def cell_message(cell) -> str:
    """The text a test cell printed: its streams and its error line.

    (A value the cell returned is not part of the message: the checks
    print their message and return it too.)
    """
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return _ANSI.sub("", "\n".join(p.rstrip("\n") for p in parts)).strip()


def _autograded_messages(folder: Path, name: str) -> dict[str, str]:
    path = folder / name
    if not path.exists():
        return {}
    nb = notebooks.read(path)
    return {notebooks.grade_id(c): cell_message(c)
            for c in nb.cells if notebooks.grade_id(c)}


def _scores(db_url: str, student: str) -> dict[tuple[str, str], dict]:
    """(notebook stem, grade_id) -> nbgrader's recorded grade."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, gbook.COURSE_ID) as gb:
        try:
            sub = gb.find_submission(ASSIGNMENT_ID, student)
        except MissingEntry:
            return {}
        return {(nb.name, g.name): {"auto_score": g.auto_score,
                                    "needs_manual": g.needs_manual_grade}
                for nb in sub.notebooks for g in nb.grades}


def notebook_failure(entry: dict | None, run: Run,
                     limits: GradingLimits) -> str | None:
    """Why nbgrader did not execute a notebook to the end, or None."""
    if entry and entry["success"]:
        return None
    if entry is None and run.timed_out:
        return (f"time limit exceeded: grading the submission took more than "
                f"{limits.submission_timeout_s} s "
                "(GradingLimits.submission_timeout_s)")
    hits = run.kernel.get("limit_hits") or []
    if hits:
        return f"{hits[-1]}: this notebook's tests score 0"
    text = (entry or {}).get("error", "") + (entry or {}).get("log", "")
    if "DeadKernelError" in text or "Kernel died" in text:
        return ("the kernel died while running this notebook (a crash, "
                "os._exit, or the memory limit): its tests score 0")
    if "UnresponsiveKernelError" in text:
        return "the kernel stopped responding (an infinite loop?)"
    if entry is None:
        return (f"the grading process stopped (exit status {run.returncode})"
                " before this notebook was graded")
    return f"nbgrader could not grade this notebook: {error_line(text)}"


def rejected_by_nbgrader(entry: dict | None) -> str | None:
    """nbgrader refused the notebook itself (a test cell deleted or its
    grade_id changed, its checksums broken): why, or None.

    The notebook's tests then score 0, whatever the verdicts: the locked
    cells are part of the assignment's contract. A kernel that died or ran
    out of time while nbgrader executed the notebook is not a refusal: the
    executed copy is only what feedback shows, and scores are verdicts.
    """
    if not entry or entry.get("success"):
        return None
    text = entry.get("error", "") + entry.get("log", "")
    if any(w in text for w in ("DeadKernelError", "Kernel died",
                               "UnresponsiveKernelError", "CellTimeoutError",
                               "TimeoutError")):
        return None
    return (f"nbgrader could not grade this notebook: {error_line(text)}: "
            "its tests score 0 (were its locked test cells changed, renamed "
            "or deleted?)")


def collect(sub: Submission, template: Template, scratch: Path, run: Run,
            limits: GradingLimits,
            verdicts: dict) -> tuple[list[TestResult], list[str]]:
    """Every graded cell's result: the verdicts for the autograded tests,
    nbgrader's record for the written answer."""
    scores = _scores(f"sqlite:///{scratch / 'gradebook.db'}", sub.student)
    tests, messages = [], []
    for name in template.notebook_names:
        cells = [c for c in template.cells if c.notebook == name]
        problem = sub.problems.get(name) or rejected_by_nbgrader(
            run.status.get(name))
        if problem:
            messages.append(problem)
            tests += [TestResult(c.grade_id, name, c.max_score, 0.0, problem,
                                 manual=c.manual) for c in cells]
            continue
        outputs = None
        for c in cells:
            grade = scores.get((Path(name).stem, c.grade_id), {})
            if c.manual:
                tests.append(_manual_cell(c, grade))
            elif c.grade_id in verdicts or c.grade_id in registry.BY_ID:
                tests.append(_verdict_cell(c, verdicts.get(c.grade_id)))
            else:  # a course whose tests the registry does not describe
                if outputs is None:
                    outputs = _autograded_messages(scratch / "graded", name)
                tests.append(_nbgrader_cell(c, grade, outputs.get(
                    c.grade_id, ""), notebook_failure(
                        run.status.get(name), run, limits)))
    return tests, messages


def _verdict_cell(c: GradedCell, verdict) -> TestResult:
    """An autograded test: the grader's verdict alone decides."""
    if verdict is None:
        return TestResult(c.grade_id, c.notebook, c.max_score, 0.0,
                          "not run: the grader could not call this "
                          "notebook's functions")
    return TestResult(c.grade_id, c.notebook, c.max_score,
                      c.max_score if verdict.passed else 0.0,
                      verdict.message, detail=dict(verdict.detail))


def _manual_cell(c: GradedCell, grade: dict) -> TestResult:
    """The written answer: 0 if left as released, else for a person."""
    if grade.get("auto_score") is not None and not grade.get(
            "needs_manual"):  # nbgrader: answer left as released
        return TestResult(c.grade_id, c.notebook, c.max_score,
                          float(grade["auto_score"]), UNANSWERED, manual=True)
    return TestResult(c.grade_id, c.notebook, c.max_score, None,
                      "Manually graded: pending.", manual=True)


def _nbgrader_cell(c: GradedCell, grade: dict, output: str,
                   failure: str | None) -> TestResult:
    """A test cell the registry does not describe: nbgrader's score."""
    score = float(grade.get("auto_score") or 0.0)
    if score == 0 and not output:
        output = failure or "this test cell did not pass (no output)"
    return TestResult(c.grade_id, c.notebook, c.max_score, score, output)


# --------------------------------------------------------------------------
# The kernel: sandbox, environment, device


def kernel_environment(threads: int) -> dict:
    """Environment of the autograde subprocess; the box passes the kernel
    its part."""
    gbook.tools_on_path()
    env = dict(os.environ)
    env.update({
        # W workers share the cores: each kernel gets its share of threads.
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
    })
    env.pop("JPY_PARENT_PID", None)
    return env


def device_name() -> str:
    """The device the checks train on: the GPU's name, or "cpu"."""
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"


def default_threads(workers: int = 1) -> int:
    """Threads per kernel so that ``workers`` kernels share the cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


# --------------------------------------------------------------------------
# A submission as bytes in, its grades as bytes out (local or on a cluster)


@dataclasses.dataclass(frozen=True)
class Job:
    """One submission to grade, self-contained (a cluster task's input).

    Nothing in it points into the course folder: the notebooks and the
    solutions travel as bytes, so any machine with the kit's environment can
    grade it (:func:`grade_job`).

    Attributes:
        student: the student id.
        notebooks: file name -> bytes of each notebook the submission has.
        problems: file name -> why it is not graded (missing, unreadable).
        digest: the submission's input digest (``input_sha256``).
        solutions: file name -> bytes of the solution notebooks.
        seed: the grading seed, drawn once by the client, so that a
            submission graded again (a lost worker) gets the same sizes.
    """

    student: str
    notebooks: dict
    problems: dict
    digest: str
    solutions: dict
    seed: int
    limits: GradingLimits = GRADING
    sandbox: bool = True
    threads: int = 1
    device: str | None = None


@dataclasses.dataclass
class Graded:
    """What grading a :class:`Job` gives back: plain data and bytes.

    Attributes:
        tests: every graded cell with its score and message.
        messages: notes about the submission as a whole.
        extra: results.json's ``extra_data``.
        autograded: file name -> bytes of each autograded notebook.
        feedback: JSON-able material for the feedback page
            (``{"perplexity": {grade_id: run}}``, see
            :func:`autograder.grader.feedback.perplexity_runs`).
    """

    student: str
    tests: list
    messages: list
    extra: dict
    execution_time: float
    autograded: dict
    feedback: dict


def read_job(path: Path | str, *, template: Template, seed: int | None = None,
             student: str | None = None, limits: GradingLimits = GRADING,
             sandbox: bool = True, threads: int | None = None,
             device: str | None = None) -> Job:
    """Read a submission folder or .zip into a :class:`Job`.

    Raises:
        GraderError: ``path`` is neither a folder nor a .zip.
    """
    with tempfile.TemporaryDirectory(prefix="autograder-read-") as tmp:
        sub = open_submission(path, Path(tmp), student=student,
                              names=template.notebook_names)
        notebooks_ = {n: p.read_bytes() for n, p in sub.notebooks.items()}
    return Job(student=sub.student, notebooks=notebooks_,
               problems=dict(sub.problems), digest=sub.digest,
               solutions=template.solutions(),
               seed=secrets.randbelow(2**31) if seed is None else seed,
               limits=limits, sandbox=sandbox,
               threads=threads or default_threads(), device=device)


def grade_job(job: Job, *, scratch_root: Path | None = None) -> Graded:
    """Grade one :class:`Job` here; nothing is written to any course.

    Raises:
        GraderError: the grader could not grade (not the student's fault).
    """
    template = template_of(job.solutions)
    with tempfile.TemporaryDirectory(prefix="autograder-job-",
                                     dir=scratch_root) as tmp:
        folder = Path(tmp) / job.student
        folder.mkdir()
        for name, data in job.notebooks.items():
            (folder / Path(name).name).write_bytes(data)
        outcome = grade_submission(
            folder, template=template, student=job.student,
            sandbox=job.sandbox, limits=job.limits, threads=job.threads,
            seed=job.seed, device=job.device, scratch_root=scratch_root,
            problems=job.problems, digest=job.digest)
        try:
            autograded = {p.name: p.read_bytes()
                          for p in sorted(outcome.autograded.glob("*.ipynb"))
                          if p.is_file() and not p.is_symlink()}
        finally:
            cleanup(outcome)
    return Graded(job.student, outcome.tests, outcome.messages, outcome.extra,
                  outcome.execution_time, autograded, outcome.feedback)


def template_of(solutions: dict) -> Template:
    """The grading template of solution notebooks given as bytes."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(solutions):
        h.update(name.encode() + b"\0" + solutions[name])
    folder = (Path(tempfile.gettempdir()) / "autograder-solutions"
              / h.hexdigest()[:20])
    folder.parent.mkdir(parents=True, exist_ok=True)
    if not folder.is_dir():
        tmp = Path(tempfile.mkdtemp(prefix="src-", dir=folder.parent))
        for name, data in solutions.items():
            (tmp / Path(name).name).write_bytes(data)
        try:
            tmp.rename(folder)
        except OSError:  # another process wrote it first
            shutil.rmtree(tmp, ignore_errors=True)
    return build_template(folder)


# --------------------------------------------------------------------------
# Grading one submission (no writes to the course)


def grade_submission(path: Path | str, *, template: Template,
                     student: str | None = None, sandbox: bool = True,
                     limits: GradingLimits = GRADING,
                     threads: int | None = None,
                     seed: int | None = None, device: str | None = None,
                     scratch_root: Path | None = None,
                     problems: dict | None = None,
                     digest: str | None = None) -> Outcome:
    """Grade one submission in a scratch course; return the outcome.

    Nothing is written to the course: :func:`publish` does that. Safe to
    call from several threads at once (each call has its own scratch).

    Args:
        problems, digest: what the client found when it read the submission
            (a :class:`Job`); they replace what is found here.

    Raises:
        GraderError: the grader could not grade (not the student's fault),
            e.g. the sandbox is wanted and cannot be had.
    """
    start = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="autograder-", dir=scratch_root))
    sub = open_submission(path, scratch, student=student,
                          names=template.notebook_names)
    if problems:
        sub.notebooks = {n: p for n, p in sub.notebooks.items()
                         if n not in problems}
        sub.problems = {**sub.problems, **problems}
    if digest:
        sub.digest = digest
    seed = secrets.randbelow(2**31) if seed is None else seed
    threads = threads or default_threads()
    course = scratch / "course"
    course.mkdir()
    prepare_scratch(sub, template, course)
    setup_s = time.monotonic() - start
    grading = verdicts_mod.Grading(
        seed=seed, setup_source="", limits=limits, isolated=sandbox,
        data_file=_data_file(), threads=threads,
        device=verdicts_mod.grading_device(),
        deadline=time.monotonic() + limits.submission_timeout_s)
    judged = _judge_in_background(sub, template, grading)
    run = _autograde_sandboxed(sub, template, course, limits=limits,
                               sandbox=sandbox, threads=threads)
    judged.join()
    verdicts, info = judged.result()
    tests, messages = collect(sub, template, course, run, limits, verdicts)
    elapsed = time.monotonic() - start
    seconds = {"setup": setup_s, "autograde": run.wall_s,
               "verdicts": judged.seconds,
               **{f"notebook {k}": v.get("seconds", 0.0)
                  for k, v in run.status.items()},
               **{f"verdicts {k}": v.get("seconds", 0.0)
                  for k, v in info.items()}}
    boxes = [v.get("box", {}) for v in info.values()]
    extra = {
        "student": sub.student,
        "wall_time_s": round(elapsed, 2),
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "peak_memory_mb": round(max(
            [run.kernel.get("peak_memory_bytes", 0)]
            + [b.get("peak_memory_bytes", 0) for b in boxes]) / 2**20, 1),
        "worker_peak_rss_mb": round(run.peak_rss_bytes / 2**20, 1),
        "device": device or device_name(),
        "sandbox": run.kernel.get("isolation", "on" if sandbox else "off"),
        "limit_hits": run.kernel.get("limit_hits", []) + [
            b["limit_hit"] for b in boxes if b.get("limit_hit")],
        "threads_per_worker": threads,
        "seed": seed,
        "input_sha256": sub.digest,
        "timed_out": run.timed_out,
        "notebooks": {n: _notebook_status(n, sub, run) for n in
                      template.notebook_names},
    }
    return Outcome(sub, tests, messages, extra, course, elapsed,
                   feedback=feedback_material(tests))


class _Judging(threading.Thread):
    """The verdicts of a submission's notebooks, computed in a thread while
    nbgrader executes the notebooks (each in boxes of their own)."""

    def __init__(self, sub, template, grading):
        super().__init__(daemon=True)
        self.sub, self.template, self.grading = sub, template, grading
        self.verdicts: dict = {}
        self.info: dict = {}
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        start = time.monotonic()
        try:
            graded = {c.grade_id for c in self.template.cells}
            for name in self.template.notebook_names:
                tests = {t.grade_id for t in registry.of_notebook(name)}
                if name in self.sub.notebooks and tests & graded:
                    self._notebook(name)
        except BaseException as exc:  # noqa: BLE001 - re-raised by result()
            self.error = exc
        self.seconds = time.monotonic() - start

    def _notebook(self, name: str) -> None:
        started = time.monotonic()
        nb = notebooks.read(self.sub.notebooks[name])
        grading = dataclasses.replace(
            self.grading, setup_source=self.template.setup_source(name))
        found, info = verdicts_mod.grade_notebook(name, nb, grading)
        self.verdicts.update(found)
        info["seconds"] = time.monotonic() - started
        self.info[name] = info

    def result(self) -> tuple[dict, dict]:
        if self.error is not None:
            if isinstance(self.error, launch.SandboxUnavailable):
                raise GraderError(str(self.error).splitlines()[0])
            raise self.error
        return self.verdicts, self.info


def _judge_in_background(sub, template, grading) -> _Judging:
    thread = _Judging(sub, template, grading)
    thread.start()
    return thread


def _data_file() -> str | None:
    """The verified Time Machine text, for the boxes (None: not found)."""
    from autograder import data

    try:
        return str(data.locate(download=False))
    except data.DataNotFoundError:
        return None


def feedback_material(tests) -> dict:
    """What the feedback page draws: each trained model's run."""
    runs = {}
    for t in tests:
        d = t.detail or {}
        if "curve" not in d:
            continue
        curve = list(d.get("curve") or [])
        runs[t.grade_id] = {
            "curve": curve, "epochs": list(range(1, len(curve) + 1)),
            "threshold": d.get("threshold"), "samples": d.get("samples", []),
            "perplexity": d.get("perplexity"), "error": d.get("error")}
    return {"perplexity": runs}


def _autograde_sandboxed(sub: Submission, template: Template, course: Path,
                         *, limits: GradingLimits, sandbox: bool,
                         threads: int) -> Run:
    """Set up the sandboxed kernel and run nbgrader's autograde under it."""
    from autograder.sandbox import kernel as sbx

    names = [n for n in template.notebook_names if n in sub.notebooks]
    workdir = course / "autograded" / sub.student / ASSIGNMENT_ID
    deadline = time.time() + limits.submission_timeout_s
    try:
        kernel = sbx.kernel_setup(workdir, limits, enabled=sandbox,
                                  deadline=deadline)
    except sbx.SandboxUnavailable as err:
        raise GraderError(str(err).splitlines()[0]) from err
    with kernel:
        write_nbgrader_config(course, limits, kernel.config_dict())
        if not names:
            return Run({}, False, 0, 0, 0.0, kernel.status())
        env = kernel_environment(threads)
        # The sandbox stops the kernel at the deadline; the worker gets a
        # grace period on top to write what it has, then it is killed.
        run = run_autograde(course, sub.student, names, env=env,
                            timeout_s=limits.submission_timeout_s
                            + WORKER_GRACE_S)
        run.kernel = kernel.status()
    return run


def _notebook_status(name: str, sub: Submission, run: Run) -> str:
    if name in sub.problems:
        return "missing or unreadable"
    entry = run.status.get(name)
    if entry is None:
        return "not graded (time limit or crash)"
    return "graded" if entry["success"] else "failed to grade"


# --------------------------------------------------------------------------
# The command


def main(submission, *, student: str | None = None, db: str | None = None,
         out: str | Path | None = None, course_root: Path | str = COURSE_ROOT,
         source: Path | str | None = None, sandbox: bool = True,
         limits: GradingLimits = GRADING, seed: int | None = None,
         keep_scratch: bool = False, quiet: bool = False) -> int:
    """Grade one submission, record it, and write its results.json.

    Args:
        submission: a folder holding the notebooks, or a .zip of one.
        student: the student id (default: the folder or zip name).
        db: the gradebook (default: gradebook.db at the course root), a
            file path, or any SQLAlchemy URL.
        out: results.json path (default: results/<student>/results.json).
        course_root: the nbgrader course directory.
        source: the solutions folder (default: solutions/<assignment>).
        sandbox: run student code in the sandbox (``--no-sandbox`` = False).
        limits: time, memory and output limits.
        seed: the grading seed (default: random).
        keep_scratch: keep the scratch course (for debugging).
        quiet: print nothing but errors.

    Returns:
        0 when grading completed (even with failed tests); 2 when the grader
        could not grade, after printing a one-line reason.
    """
    course_root = Path(course_root)
    if not Path(submission).exists():
        print(f"grade: cannot grade {submission}: no such file or folder",
              file=sys.stderr)
        return 2
    try:
        template = build_template(source or default_source(course_root))
        require_data(template)
        outcome = grade_submission(submission, template=template,
                                   student=student, sandbox=sandbox,
                                   limits=limits, seed=seed)
        sid = outcome.submission.student
        out = Path(out) if out else default_out(sid, course_root)
        doc = publish(outcome, template, db_url=gbook.db_url(db, course_root),
                      out=out, course_root=course_root)
    except GraderError as err:
        print(f"grade: cannot grade {submission}: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - e.g. gradebook unreachable
        print(f"grade: cannot grade {submission}: {type(err).__name__}: "
              f"{error_line(str(err))}", file=sys.stderr)
        return 2
    if not keep_scratch:
        cleanup(outcome)
    if not quiet:
        print(results.score_table({sid: doc}))
        for line in outcome.messages:
            print(f"note: {line}")
        print(f"results: {out}")
    return 0
