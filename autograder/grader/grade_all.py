"""``grade-all DIR``: grade a whole class, in parallel, resumably.

nbgrader autogrades one submission after another (nbgrader#174). Here W
workers (default: one per core) each grade one submission at a time in its
own scratch course and subprocess (:func:`autograder.grader.grade.grade_submission`);
the main process is the gradebook's single writer and publishes each result
as it arrives. A slow submission hits its own time limit; a broken one is
graded as far as it goes; neither stops the batch.

Resumable: a submission whose results.json exists and records the same
input hash is skipped. results.json is written last and atomically, so a
batch killed at any moment re-grades only what was not finished.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import sys
from pathlib import Path

from tqdm import tqdm

from autograder.grader import grade, publish
from autograder.grader.submission import find_submissions  # noqa: F401
from autograder.grader import results
from autograder.grader import gradebook as gbook
from autograder.config import (
    COURSE_ROOT, GRADING, GradingLimits,
)


def _sandbox_usable(wanted: bool) -> None:
    """Refuse the whole batch at once when the sandbox is wanted and cannot
    be had (rather than failing every submission with the same reason).

    Raises:
        GraderError: with the sandbox's one-line reason.
    """
    from autograder.sandbox import kernel as sandbox

    if wanted:
        ok, why = sandbox.available()
        if not ok:
            raise grade.GraderError(f"cannot sandbox student code: {why}. "
                                    f"{sandbox.OPT_OUT}")


def is_done(path: Path, out: Path) -> bool:
    """True when ``out`` holds the results of exactly this submission."""
    doc = results.read(out)
    if not doc:
        return False
    recorded = doc.get("extra_data", {}).get("input_sha256")
    return recorded == grade.digest_of_submission(path)


def _grade_one(path: Path, student: str, template, *, sandbox, limits,
               threads, device) -> "grade.Graded":
    """Read one submission into a Job and grade it here."""
    job = grade.read_job(path, template=template, student=student,
                         limits=limits, sandbox=sandbox, threads=threads,
                         device=device)
    return grade.grade_job(job)


def main(directory, *, workers: int | None = None, db: str | None = None,
         out_dir: str | Path | None = None,
         course_root: Path | str = COURSE_ROOT,
         source: Path | str | None = None, sandbox: bool = True,
         limits: GradingLimits = GRADING, force: bool = False,
         grades_csv: str | Path | None = None, quiet: bool = False) -> int:
    """Grade every submission in ``directory``.

    Args:
        directory: the submissions (see :func:`find_submissions`).
        workers: parallel workers (default: ``limits.workers`` or one per
            CPU core).
        db: the gradebook (default: gradebook.db at the course root).
        out_dir: where ``<student>/results.json`` go (default:
            ``results/`` at the course root).
        course_root: the nbgrader course directory.
        source: the solutions folder (default: solutions/<assignment>).
        sandbox: run student code in the sandbox (``--no-sandbox``: False).
        limits: time, memory and output limits.
        force: re-grade submissions already graded and unchanged.
        grades_csv: nbgrader's CSV export (default: grades.csv at the
            course root).
        quiet: no progress bar and no table.

    Returns:
        0 when every submission was graded; 1 when the grader could not
        grade some of them (each named with a one-line reason); 2 when it
        could not start.
    """
    course_root = Path(course_root)
    out_dir = Path(out_dir) if out_dir else course_root / "results"
    url = gbook.db_url(db, course_root)
    try:
        _sandbox_usable(sandbox)
        subs = find_submissions(directory)
        template = grade.build_template(source or grade.default_source(
            course_root))
        grade.require_data(template)
    except (OSError, grade.GraderError) as err:
        print(f"grade-all: cannot grade {directory}: {err}", file=sys.stderr)
        return 2
    todo = {s: p for s, p in subs.items()
            if force or not is_done(p, out_dir / s / "results.json")}
    workers = workers or limits.workers or os.cpu_count() or 1
    failures = _run_batch(todo, template, workers=workers, url=url,
                          out_dir=out_dir, course_root=course_root,
                          sandbox=sandbox, limits=limits, quiet=quiet)
    csv = gbook.export_csv(url, grades_csv or course_root / "grades.csv")
    if not quiet:
        _report(subs, todo, out_dir, csv, failures)
    for student, why in failures.items():
        print(f"grade-all: could not grade {student}: {why}", file=sys.stderr)
    return 1 if failures else 0


def _run_batch(todo: dict[str, Path], template, *, workers: int, url: str,
               out_dir: Path, course_root: Path, sandbox: bool,
               limits: GradingLimits, quiet: bool) -> dict[str, str]:
    """Grade ``todo`` with ``workers`` threads; publish in this thread.

    Each thread only waits on its submission's subprocess, so threads (not
    processes) suffice; the gradebook is written here, one result at a time.
    """
    if not todo:
        return {}
    threads = grade.default_threads(min(workers, len(todo)))
    device = grade.device_name()
    failures = {}
    bar = tqdm(total=len(todo), unit="submission", disable=quiet,
               desc=f"grading ({workers} workers)")
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = {pool.submit(_grade_one, path, student, template,
                            sandbox=sandbox, limits=limits, threads=threads,
                            device=device): student
                for student, path in todo.items()}
        for job in cf.as_completed(jobs):
            student = jobs[job]
            why = _publish(job, template, url=url, course_root=course_root,
                           out=out_dir / student / "results.json")
            if why:
                failures[student] = why
                bar.write(f"{student}: not graded: {why}")
            bar.update(1)
    bar.close()
    return failures


def _publish(job: cf.Future, template, *, url: str, course_root: Path,
             out: Path) -> str | None:
    """Publish one finished job; return why it failed, or None."""
    try:
        publish.publish_graded(job.result(), template_db=template.db_url,
                               db_url=url, out=out, course_root=course_root)
    except grade.GraderError as err:
        return str(err)
    except Exception as err:  # noqa: BLE001 - one submission, not the batch
        return f"{type(err).__name__}: {err}"
    return None


def _report(subs, todo, out_dir: Path, csv: Path, failures) -> None:
    """Print the class's score table and where things went."""
    docs = {}
    for student in subs:
        doc = results.read(out_dir / student / "results.json")
        if doc:
            docs[student] = doc
    print(results.score_table(docs))
    skipped = len(subs) - len(todo)
    print(f"graded {len(todo) - len(failures)} submission(s), skipped "
          f"{skipped} already graded and unchanged, "
          f"{len(failures)} not graded")
    print(f"results: {out_dir}/<student>/results.json; grades: {csv}")
