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
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import nbformat

from autograder import contract, notebooks
from autograder.grader import results
from autograder.grader import gradebook as gbook
from autograder.config import (
    ASSIGNMENT_ID, CHECKS, COURSE_ROOT, GRADING, GradingLimits,
)
from autograder.sandbox.watchdog import die_with_this_process
from autograder.grader.results import TestResult

NOTEBOOK_NAMES = tuple(nb.name for nb in contract.NOTEBOOKS)
# Test cells whose verdict the grader re-judges from recorded evidence.
REJUDGED = frozenset(t for nb in contract.NOTEBOOKS for t in nb.tests)
UNANSWERED = "the written answer was left as released: 0 points"
# Seconds the autograde worker may run past the submission's deadline (the
# sandbox has stopped the kernel by then) to write its results.
WORKER_GRACE_S = 60


class GraderError(RuntimeError):
    """The grader itself could not grade (not the student's fault)."""


# --------------------------------------------------------------------------
# 1. The submission


@dataclasses.dataclass
class Submission:
    """A student's notebooks, read from a folder or a .zip.

    Attributes:
        student: the student id (nbgrader's).
        notebooks: file name -> path, for each notebook found and readable.
        problems: file name -> why it is not graded ("missing", ...).
        digest: SHA-256 over the input notebooks (name and bytes).
        origin: the path given on the command line.
    """

    student: str
    notebooks: dict[str, Path]
    problems: dict[str, str]
    digest: str
    origin: Path


def student_id(path: Path | str) -> str:
    """Derive an nbgrader student id from a submission's file name."""
    stem = Path(path).name
    for ext in (".zip", ".ipynb"):
        stem = stem.removesuffix(ext)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "student"


def open_submission(path: Path | str, workdir: Path, *, student=None,
                    names=NOTEBOOK_NAMES) -> Submission:
    """Find the notebooks of a submission folder or .zip.

    Args:
        path: a folder holding the notebooks, or a .zip of one.
        workdir: where a .zip is extracted.
        student: the student id (default: from the file name).
        names: the notebook file names to look for.

    Raises:
        GraderError: ``path`` is neither a folder nor a readable .zip.
    """
    path = Path(path)
    student = student or student_id(path)
    if path.is_dir():
        folder = path
    elif path.is_file():
        try:
            folder = _extract(path, workdir / "unzipped", names)
        except GraderError as err:  # the student's broken upload
            return Submission(student, {}, {n: f"{err}: {n} scores 0"
                                            for n in names},
                              _file_digest(path), path)
    else:
        raise GraderError(f"{path} is neither a folder nor a .zip file")
    found, problems = {}, {}
    for name in names:
        nb_path = _find(folder, name)
        problem = _unreadable(nb_path, name)
        if problem:
            problems[name] = problem
        else:
            found[name] = nb_path
    return Submission(student, found, problems, digest_of(folder, names), path)


def _extract(zip_path: Path, dest: Path, names) -> Path:
    """Extract only the wanted notebooks (by base name) from a .zip."""
    dest.mkdir(parents=True, exist_ok=True)
    if not zipfile.is_zipfile(zip_path):
        raise GraderError(f"{zip_path.name} is not a .zip file")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = [m for m in zf.infolist()
                       if Path(m.filename).name in names
                       and "__MACOSX" not in m.filename
                       and not m.is_dir()]
            for m in sorted(members, key=lambda m: m.filename.count("/")):
                target = dest / Path(m.filename).name
                if not target.exists():
                    target.write_bytes(zf.read(m))
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as err:
        raise GraderError(f"{zip_path.name} could not be unzipped "
                          f"({err})") from err
    return dest


def _find(folder: Path, name: str) -> Path | None:
    """``folder/name``, else the shallowest ``**/name`` below it."""
    if (folder / name).is_file():
        return folder / name
    hits = sorted(folder.rglob(name), key=lambda p: len(p.parts))
    hits = [p for p in hits if ".ipynb_checkpoints" not in p.parts]
    return hits[0] if hits else None


def _unreadable(path: Path | None, name: str) -> str | None:
    """Say why a notebook cannot be graded, or None when it can."""
    if path is None:
        return f"{name} is missing from the submission: its tests score 0"
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 - any parse error = unreadable
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return (f"{name} is not a valid notebook ({type(err).__name__}: "
                f"{first[:200]}): its tests score 0")
    if not nb.cells:
        return f"{name} is an empty notebook: its tests score 0"
    return None


def digest_of(folder: Path, names=NOTEBOOK_NAMES) -> str:
    """SHA-256 over the submission's notebooks (name and bytes)."""
    h = hashlib.sha256()
    for name in names:
        path = _find(folder, name)
        h.update(name.encode() + b"\0")
        h.update(path.read_bytes() if path else b"<missing>")
        h.update(b"\0")
    return h.hexdigest()


def digest_of_submission(path: Path | str, names=NOTEBOOK_NAMES) -> str:
    """The digest of a submission folder or .zip, without grading it."""
    path = Path(path)
    if path.is_dir():
        return digest_of(path, names)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return digest_of(_extract(path, Path(tmp), names), names)
        except GraderError:
            return _file_digest(path)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------
# 2. The template: a private nbgrader course holding the solutions


@dataclasses.dataclass(frozen=True)
class GradedCell:
    """A cell that carries points, in notebook order."""

    notebook: str     # file name, e.g. "deep_rnn.ipynb"
    grade_id: str
    max_score: float
    manual: bool      # graded by a person (the written answer)


@dataclasses.dataclass(frozen=True)
class Template:
    """The solutions, made into nbgrader's source and a gradebook."""

    root: Path
    cells: tuple[GradedCell, ...]

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    @property
    def notebook_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.notebook for c in self.cells))


def require_data(template: "Template") -> None:
    """Make sure the grader itself can read the Time Machine text.

    Re-judging the perplexity evidence evaluates the trained model on the
    data in this process; without the data every student would fail those
    tests, so the grader refuses to start instead.

    Raises:
        GraderError: with where it looked, in one line.
    """
    if not {c.grade_id for c in template.cells} & REJUDGED:
        return
    from autograder import data

    try:
        data.export_env()
    except data.DataNotFoundError as err:
        raise GraderError(
            "the Time Machine text (timemachine.txt) was not found: run "
            "`python -m autograder data --install` here or set "
            f"${data.DATA.env_var}") from err


def default_source(course_root: Path = COURSE_ROOT) -> Path:
    """nbgrader's source folder of the assignment (the solutions)."""
    return Path(course_root) / "solutions" / ASSIGNMENT_ID


def build_template(source: Path | str | None = None,
                   cache: Path | None = None) -> Template:
    """Return the grading template of ``source``, building it once.

    The template is cached (outside the course tree) under the hash of the
    source notebooks, so a batch builds it once and a changed solution
    rebuilds it.

    Raises:
        GraderError: no source notebooks, or nbgrader could not read them.
    """
    source = Path(source or default_source())
    files = sorted(source.glob("*.ipynb"))
    if not files:
        raise GraderError(f"no solution notebooks in {source}")
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + f.read_bytes())
    cache = cache or Path(tempfile.gettempdir()) / "autograder-templates"
    root = cache / h.hexdigest()[:20]
    if not (root / "gradebook.db").is_file():
        _build_template_at(root, files)
    return Template(root, _graded_cells(root / "source" / ASSIGNMENT_ID))


def _build_template_at(root: Path, files: list[Path]) -> None:
    """Run ``nbgrader generate_assignment`` in a fresh folder, then publish
    it at ``root`` with one rename (concurrent builders cannot clash)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=root.parent))
    src = tmp / "source" / ASSIGNMENT_ID
    src.mkdir(parents=True)
    for f in files:
        shutil.copy(f, src / f.name)
    write_nbgrader_config(tmp, GRADING)
    gbook.tools_on_path()
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment",
         ASSIGNMENT_ID, "--force"],
        cwd=tmp, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise GraderError("nbgrader generate_assignment failed on the "
                          f"solutions: {error_line(proc.stderr)}")
    shutil.rmtree(tmp / "release", ignore_errors=True)
    try:
        tmp.rename(root)
    except OSError:  # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)


def _in_contract_order(paths) -> list[Path]:
    """The contract's notebooks in its order, then any others by name."""
    rank = {name: i for i, name in enumerate(NOTEBOOK_NAMES)}
    return sorted(paths, key=lambda p: (rank.get(p.name, len(rank)), p.name))


_ERROR_LINE = re.compile(r"^\s*([\w.]+(Error|Exception|Exit)\b.*)$")


def error_line(log: str) -> str:
    """The last ``SomeError: message`` line of a log, else its last line."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    found = [m.group(1) for m in map(_ERROR_LINE.match, lines) if m]
    return (found or lines or ["(no output)"])[-1][:300]


def _graded_cells(source: Path) -> tuple[GradedCell, ...]:
    """Every cell with points, in notebook order."""
    cells = []
    for path in _in_contract_order(source.glob("*.ipynb")):
        for c in notebooks.read(path).cells:
            meta = c.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") or meta.get("task"):
                cells.append(GradedCell(
                    path.name, meta["grade_id"], float(meta.get("points", 0)),
                    manual=c.cell_type != "code"))
    return tuple(cells)


# --------------------------------------------------------------------------
# 3. Running nbgrader's autograde in a subprocess


def write_nbgrader_config(root: Path, limits: GradingLimits,
                          kernel_config: dict | None = None) -> None:
    """Write the private course's nbgrader configuration.

    ``nbgrader_config.py`` holds the course layout; ``kernel_config``
    (from :mod:`autograder.sandbox.kernel`: the sandboxed Execute preprocessor,
    its kernel manager and per-cell limits) goes beside it as
    ``nbgrader_config.json``, which nbgrader reads too.
    """
    lines = [
        "c = get_config()  # noqa: F821",
        f"c.CourseDirectory.root = {str(root)!r}",
        f"c.CourseDirectory.course_id = {gbook.COURSE_ID!r}",
        "c.CourseDirectory.source_directory = 'source'",
        f"c.CourseDirectory.db_url = {f'sqlite:///{root}/gradebook.db'!r}",
        f"c.Execute.timeout = {limits.cell_timeout_s}",
        f"c.LimitOutput.max_lines = {limits.output_max_lines}",
        "c.LimitOutput.max_traceback = 50",
    ]
    (root / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    if kernel_config:
        (root / "nbgrader_config.json").write_text(json.dumps(kernel_config))


@dataclasses.dataclass
class Run:
    """What the autograde subprocess left behind."""

    status: dict[str, dict]   # notebook name -> {"success", "error", ...}
    timed_out: bool
    returncode: int
    peak_rss_bytes: int       # the worker and its reaped descendants
    wall_s: float
    kernel: dict = dataclasses.field(default_factory=dict)  # sandbox status


def prepare_scratch(sub: Submission, template: Template,
                    scratch: Path) -> None:
    """Lay out the private course: source, gradebook, the submission."""
    shutil.copytree(template.root / "source", scratch / "source")
    shutil.copy(template.root / "gradebook.db", scratch / "gradebook.db")
    dest = scratch / "submitted" / sub.student / ASSIGNMENT_ID
    dest.mkdir(parents=True)
    for name, path in sub.notebooks.items():
        shutil.copy(path, dest / name)


def run_autograde(scratch: Path, student: str, names: list[str], *,
                  env: dict, timeout_s: float) -> Run:
    """Run the autograde worker in its own session, under a time limit.

    The worker is reaped with ``os.wait4``, whose ``ru_maxrss`` is the peak
    resident memory of the worker and of its reaped descendants (the
    kernel), so the peak is measured without polling.
    """
    log = open(scratch / "autograde.log", "w")
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "autograder.grader.grade", "--worker", str(scratch),
         student, *names],
        cwd=scratch, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
        # killed with the grader (e.g. grade-all is SIGKILLed): no orphans
        preexec_fn=die_with_this_process())
    expired = threading.Event()

    def kill():
        expired.set()
        _kill_group(proc.pid)

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
        log.close()
    _kill_group(proc.pid)  # whatever the worker left behind
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(_read_status(scratch), expired.is_set(), proc.returncode,
               usage.ru_maxrss * 1024, time.monotonic() - start)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_status(scratch: Path) -> dict[str, dict]:
    status = {}
    path = scratch / "status.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                status[entry["notebook"]] = entry
    return status


def worker(scratch: str, student: str, names: list[str]) -> int:
    """Inside the subprocess: nbgrader autograde, one notebook at a time.

    Each autograded notebook is moved out of the kernel's working folder
    into ``graded/`` at once (the next notebook's kernel cannot touch it),
    and one JSON line per notebook goes to ``status.jsonl``, so that a time
    limit or a crash keeps what finished.
    """
    from nbgrader.apps.api import NbGraderAPI
    from traitlets.config.loader import (
        JSONFileConfigLoader, PyFileConfigLoader,
    )

    root = Path(scratch)
    config = PyFileConfigLoader("nbgrader_config.py",
                                path=scratch).load_config()
    if (root / "nbgrader_config.json").exists():
        config.merge(JSONFileConfigLoader(
            "nbgrader_config.json", path=scratch).load_config())
    api = NbGraderAPI(config=config)
    workdir = root / "autograded" / student / ASSIGNMENT_ID
    (root / "graded").mkdir(exist_ok=True)
    for name in names:
        api.coursedir.notebook_id = Path(name).stem
        started = time.monotonic()
        res = api.autograde(ASSIGNMENT_ID, student, force=True, create=True)
        if (workdir / name).is_file() and not (workdir / name).is_symlink():
            shutil.move(workdir / name, root / "graded" / name)
        entry = {"notebook": name, "success": bool(res.get("success")),
                 "error": res.get("error", ""),
                 "log": res.get("log", "")[-4000:],
                 "seconds": round(time.monotonic() - started, 2)}
        with open(root / "status.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")
    return 0


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

    @property
    def autograded(self) -> Path:
        """The autograded notebooks (moved out of the kernel's reach)."""
        return self.scratch / "graded"

    @property
    def evidence(self) -> Path:
        return self.scratch / "evidence"


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
    """Why a notebook has no grades, in words; None when it has them."""
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


def collect(sub: Submission, template: Template, scratch: Path, run: Run,
            limits: GradingLimits,
            verdicts: dict | None) -> tuple[list[TestResult], list[str]]:
    """Combine nbgrader's grades, the cells' messages and the verdicts."""
    scores = _scores(f"sqlite:///{scratch / 'gradebook.db'}", sub.student)
    folder = scratch / "graded"
    tests, messages = [], []
    for name in template.notebook_names:
        cells = [c for c in template.cells if c.notebook == name]
        problem = sub.problems.get(name) or notebook_failure(
            run.status.get(name), run, limits)
        if problem:
            messages.append(problem)
            tests += [TestResult(c.grade_id, name, c.max_score, 0.0, problem,
                                 manual=c.manual) for c in cells]
            continue
        outputs = _autograded_messages(folder, name)
        for c in cells:
            grade = scores.get((Path(name).stem, c.grade_id), {})
            tests.append(_judge_cell(c, grade, outputs.get(c.grade_id, ""),
                                     verdicts))
    return tests, messages


def _judge_cell(c: GradedCell, grade: dict, output: str,
                verdicts: dict | None) -> TestResult:
    """One cell: nbgrader's score, overruled by a failed re-judged verdict."""
    if c.manual:
        if grade.get("auto_score") is not None and not grade.get(
                "needs_manual"):  # nbgrader: answer left as released
            return TestResult(c.grade_id, c.notebook, c.max_score,
                              float(grade["auto_score"]), UNANSWERED,
                              manual=True)
        return TestResult(c.grade_id, c.notebook, c.max_score, None,
                          "Manually graded: pending.", manual=True)
    score = float(grade.get("auto_score") or 0.0)
    if c.grade_id in REJUDGED and score > 0 and verdicts is not None:
        passed, why = verdicts.get(
            c.grade_id, (False, "no evidence was recorded for this test"))
        if not passed:
            return TestResult(c.grade_id, c.notebook, c.max_score, 0.0,
                              f"re-judged by the grader: {why}")
    if score == 0 and not output:
        output = "this test cell did not pass (no output)"
    return TestResult(c.grade_id, c.notebook, c.max_score, score, output)


def rejudge(evidence: Path, seed: int, template: Template) -> dict | None:
    """Re-judge the recorded evidence in this process.

    Returns:
        grade_id -> (passed, message); None when no cell needs re-judging
        (a template without the contract's test cells, e.g. test fixtures).
    """
    if not REJUDGED & {c.grade_id for c in template.cells}:
        return None
    try:
        from autograder.grader import verdicts
    except ImportError as err:
        raise GraderError(f"cannot re-judge evidence: {err}") from err
    raw = verdicts.rejudge(evidence, seed)
    return {gid: _as_verdict(v) for gid, v in dict(raw).items()}


def _as_verdict(v) -> tuple[bool, str]:
    """Normalise a verdict: a bool, (bool, message), or an object with
    ``passed`` and ``message``."""
    if isinstance(v, bool):
        return v, "" if v else "failed"
    if isinstance(v, tuple):
        return bool(v[0]), str(v[1]) if len(v) > 1 else ""
    return bool(v.passed), str(getattr(v, "message", ""))


# --------------------------------------------------------------------------
# The kernel: sandbox, environment, device


def kernel_environment(seed: int, threads: int) -> dict:
    """Environment of the worker; the sandbox passes the kernel its part."""
    gbook.tools_on_path()
    env = dict(os.environ)
    env.update({
        CHECKS.seed_env: str(seed),
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
# Grading one submission (no writes to the course)


def grade_submission(path: Path | str, *, template: Template,
                     student: str | None = None, sandbox: bool = True,
                     limits: GradingLimits = GRADING,
                     threads: int | None = None,
                     seed: int | None = None, device: str | None = None,
                     scratch_root: Path | None = None) -> Outcome:
    """Grade one submission in a scratch course; return the outcome.

    Nothing is written to the course: :func:`publish` does that. Safe to
    call from several threads at once (each call has its own scratch).

    Raises:
        GraderError: the grader could not grade (not the student's fault),
            e.g. the sandbox is wanted and cannot be had.
    """
    start = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="autograder-", dir=scratch_root))
    sub = open_submission(path, scratch, student=student,
                          names=template.notebook_names)
    seed = secrets.randbelow(2**31) if seed is None else seed
    threads = threads or default_threads()
    course = scratch / "course"
    course.mkdir()
    prepare_scratch(sub, template, course)
    setup_s = time.monotonic() - start
    warm = _warm_up_judges(template)
    run = _autograde_sandboxed(sub, template, course, limits=limits,
                               sandbox=sandbox, seed=seed, threads=threads)
    judged = time.monotonic()
    warm.join()
    verdicts = _safe_rejudge(course / "evidence", seed, template)
    tests, messages = collect(sub, template, course, run, limits, verdicts)
    elapsed = time.monotonic() - start
    seconds = {"setup": setup_s, "autograde": run.wall_s,
               "rejudge": time.monotonic() - judged,
               **{f"notebook {k}": v.get("seconds", 0.0)
                  for k, v in run.status.items()}}
    extra = {
        "student": sub.student,
        "wall_time_s": round(elapsed, 2),
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "peak_memory_mb": round(
            run.kernel.get("peak_memory_bytes", 0) / 2**20, 1),
        "worker_peak_rss_mb": round(run.peak_rss_bytes / 2**20, 1),
        "device": device or device_name(),
        "sandbox": run.kernel.get("isolation", "on" if sandbox else "off"),
        "limit_hits": run.kernel.get("limit_hits", []),
        "threads_per_worker": threads,
        "seed": seed,
        "input_sha256": sub.digest,
        "timed_out": run.timed_out,
        "notebooks": {n: _notebook_status(n, sub, run) for n in
                      template.notebook_names},
    }
    return Outcome(sub, tests, messages, extra, course, elapsed)


def _autograde_sandboxed(sub: Submission, template: Template, course: Path,
                         *, limits: GradingLimits, sandbox: bool, seed: int,
                         threads: int) -> Run:
    """Set up the sandboxed kernel and run nbgrader's autograde under it."""
    from autograder.sandbox import kernel as sbx

    names = [n for n in template.notebook_names if n in sub.notebooks]
    workdir = course / "autograded" / sub.student / ASSIGNMENT_ID
    deadline = time.time() + limits.submission_timeout_s
    try:
        kernel = sbx.kernel_setup(
            workdir, course / "evidence", limits, enabled=sandbox,
            deadline=deadline, env={CHECKS.seed_env: str(seed)})
    except sbx.SandboxUnavailable as err:
        raise GraderError(str(err).splitlines()[0]) from err
    with kernel:
        write_nbgrader_config(course, limits, kernel.config_dict())
        if not names:
            return Run({}, False, 0, 0, 0.0, kernel.status())
        env = kernel_environment(seed, threads)
        # The sandbox stops the kernel at the deadline; the worker gets a
        # grace period on top to write what it has, then it is killed.
        run = run_autograde(course, sub.student, names, env=env,
                            timeout_s=limits.submission_timeout_s
                            + WORKER_GRACE_S)
        run.kernel = kernel.status()
    return run


def _warm_up_judges(template: Template) -> threading.Thread:
    """Import the judges (torch, d2l: seconds) while the kernel runs."""
    def imports():
        if REJUDGED & {c.grade_id for c in template.cells}:
            try:
                import autograder.grader.verdicts  # noqa: F401
            except ImportError:  # reported by rejudge itself
                pass

    thread = threading.Thread(target=imports, daemon=True)
    thread.start()
    return thread


def _safe_rejudge(evidence: Path, seed: int, template: Template):
    """Re-judge; evidence the student mangled fails its tests, not the run."""
    try:
        return rejudge(evidence, seed, template)
    except GraderError:
        raise
    except Exception as err:  # noqa: BLE001 - student-made evidence
        why = f"the recorded evidence could not be re-judged ({err})"
        return {gid: (False, why) for gid in REJUDGED}


def _notebook_status(name: str, sub: Submission, run: Run) -> str:
    if name in sub.problems:
        return "missing or unreadable"
    entry = run.status.get(name)
    if entry is None:
        return "not graded (time limit or crash)"
    return "graded" if entry["success"] else "failed to grade"


# --------------------------------------------------------------------------
# 5. Publishing into the course


def default_out(student: str, course_root: Path = COURSE_ROOT) -> Path:
    """Where results.json goes by default: results/<student>/results.json."""
    return Path(course_root) / "results" / student / "results.json"


def evidence_dir(student: str, course_root: Path = COURSE_ROOT) -> Path:
    """Where a student's grading evidence is kept (read by ``feedback``)."""
    return Path(course_root) / ".grading" / "evidence" / student


def publish(outcome: Outcome, template: Template, *, db_url: str,
            out: Path, course_root: Path = COURSE_ROOT) -> dict:
    """Record, keep the notebooks and evidence, then write results.json.

    results.json is written last and atomically: its presence (with the
    input digest) means the submission is fully graded.
    """
    student = outcome.submission.student
    gbook.record(db_url, student, outcome.tests, template_db=template.db_url)
    _replace_dir(outcome.autograded,
                 Path(course_root) / "autograded" / student / ASSIGNMENT_ID)
    _replace_dir(outcome.evidence, evidence_dir(student, course_root))
    document = results.build(
        outcome.tests, execution_time=outcome.execution_time,
        extra_data=outcome.extra, output="\n".join(outcome.messages))
    results.write(out, document)
    return document


def _only_plain(folder: str, names: list[str]) -> list[str]:
    """copytree ``ignore``: skip symlinks, FIFOs, sockets and devices.

    The folder was written by student code: a symlink could point anywhere
    and a FIFO would block the copy.
    """
    skip = []
    for name in names:
        path = Path(folder) / name
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            skip.append(name)
    return skip


def _replace_dir(src: Path, dest: Path) -> None:
    """Make ``dest`` a copy of ``src`` (empty when ``src`` is missing)."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if src.is_dir():
        shutil.copytree(src, tmp, ignore=_only_plain)
    else:
        tmp.mkdir(parents=True)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def cleanup(outcome: Outcome) -> None:
    """Remove the outcome's scratch folder."""
    shutil.rmtree(outcome.scratch.parent, ignore_errors=True)


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


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    sys.exit(worker(sys.argv[2], sys.argv[3], sys.argv[4:]))
