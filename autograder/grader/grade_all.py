"""``grade-all DIR``: grade a whole class, in parallel, resumably.

nbgrader autogrades one submission after another (nbgrader#174). Here W
workers (default: one per core) each grade one submission at a time in its
own scratch course and subprocess (:func:`autograder.grader.grade.grade_submission`);
the main process is the gradebook's single writer and publishes each result
as it arrives. A slow submission hits its own time limit; a broken one is
graded as far as it goes; neither stops the batch.

Resumable: a submission is skipped when its results.json records the same
input, solutions and grader (:mod:`autograder.grader.freshness`); the
summary says why each other one is graded. results.json is written last
and atomically, so a batch killed at any moment re-grades only what was not
finished. Every run, even one that grades nothing, brings each results.json
and grades.csv in line with the gradebook (manual grades given in
formgrader since). Files go with the gradebook (:func:`publish.places`).
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import sys
from pathlib import Path

from tqdm import tqdm

from autograder.grader import freshness, grade, intake, publish
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


def why_grade(path: Path, out: Path, stamp: dict,
              force: bool = False) -> str | None:
    """Why this submission is graded now; None when ``out`` holds its
    results, up to date (same input, solutions and grader)."""
    if force:
        return "--force"
    return freshness.why_regrade(results.read(out),
                                 grade.digest_of_submission(path), stamp)


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
         grades_csv: str | Path | None = None, quiet: bool = False,
         cluster: str | None = None, resources: dict | None = None) -> int:
    """Grade every submission in ``directory``.

    Args:
        directory: the submissions (see :func:`find_submissions`).
        workers: parallel workers (default: ``limits.workers`` or one per
            CPU core).
        db: the gradebook (default: gradebook.db at the course root); the
            autograded notebooks and feedback material go to its folder.
        out_dir: where ``<student>/results.json`` and grades.csv go
            (default: ``results/`` and grades.csv beside the gradebook).
        course_root: the nbgrader course directory.
        source: the solutions folder (default: solutions/<assignment>).
        sandbox: run student code in the sandbox (``--no-sandbox``: False).
        limits: time, memory and output limits.
        force: re-grade submissions already graded and unchanged.
        grades_csv: the gradebook's CSV export (default: grades.csv in
            ``out_dir``, else beside the gradebook).
        quiet: no progress bar and no table.
        cluster: grade on the Dask scheduler at this address (e.g.
            ``tcp://10.0.0.5:8786``) instead of local workers
            (:mod:`autograder.grader.cluster`).
        resources: with ``cluster``, what each task needs of a worker,
            e.g. ``{"GPU": 1}``.

    Returns:
        0 when every submission was graded; 1 when the grader could not
        grade some of them (each named with a one-line reason); 2 when it
        could not start (including an empty DIR, or one holding no
        recognisable submission).
    """
    course_root = Path(course_root)
    where = publish.places(course_root, db, out_dir)
    url, out_dir = where.db_url, where.results
    try:
        _sandbox_usable(sandbox and not cluster)  # else: each worker's
        subs = find_submissions(directory)
        template = grade.build_template(source or grade.default_source(
            course_root))
        notes = intake.check(directory, subs, template.notebook_names)
        grade.require_data(template)
    except (OSError, grade.GraderError) as err:
        print(f"grade-all: cannot grade {directory}: {err}", file=sys.stderr)
        return 2
    stamp = freshness.stamp(template.solutions())
    reasons = {s: why for s, p in subs.items()
               if (why := why_grade(p, out_dir / s / "results.json", stamp,
                                    force))}
    todo = {s: subs[s] for s in reasons}
    workers = workers or limits.workers or os.cpu_count() or 1
    if cluster:
        try:
            failures = _run_on_cluster(
                todo, template, cluster=cluster, resources=resources,
                url=url, out_dir=out_dir, course_root=course_root,
                sandbox=sandbox, limits=limits, quiet=quiet, extra=stamp,
                notes=notes)
        except grade.GraderError as err:
            print(f"grade-all: cannot grade {directory} on {cluster}: {err}",
                  file=sys.stderr)
            return 2
    else:
        failures = _run_batch(todo, template, workers=workers, url=url,
                              out_dir=out_dir, course_root=course_root,
                              sandbox=sandbox, limits=limits, quiet=quiet,
                              extra=stamp, notes=notes)
    refreshed = [s for s in subs if s not in todo and publish.refresh(
        s, db_url=url, out=out_dir / s / "results.json")]
    csv = gbook.export_csv(url, grades_csv or where.grades_csv)
    if not quiet:
        _report(subs, reasons, out_dir, csv, failures, refreshed, notes)
    for student, why in failures.items():
        print(f"grade-all: could not grade {student}: {why}", file=sys.stderr)
    return 1 if failures else 0


def _run_batch(todo: dict[str, Path], template, *, workers: int, url: str,
               out_dir: Path, course_root: Path, sandbox: bool,
               limits: GradingLimits, quiet: bool, extra: dict | None = None,
               notes: dict | None = None) -> dict[str, str]:
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
                           out=out_dir / student / "results.json",
                           extra=extra, notes=(notes or {}).get(student, ()))
            if why:
                failures[student] = why
                bar.write(f"{student}: not graded: {why}")
            bar.update(1)
    bar.close()
    return failures


def _run_on_cluster(todo: dict[str, Path], template, *, cluster: str,
                    resources: dict | None, url: str, out_dir: Path,
                    course_root: Path, sandbox: bool, limits: GradingLimits,
                    quiet: bool, extra: dict | None = None,
                    notes: dict | None = None) -> dict[str, str]:
    """Grade ``todo`` on the Dask scheduler at ``cluster``
    (:mod:`autograder.grader.cluster`); publish in this thread as each
    result arrives, as :func:`_run_batch` does.

    Raises:
        GraderError: no scheduler, no worker, or every worker refused.
    """
    from autograder.grader import cluster as dask_cluster

    if not todo:
        return {}
    failures = {}
    with tqdm(total=len(todo), unit="submission", disable=quiet,
              desc=f"grading on {cluster}") as bar:
        for student, job in dask_cluster.graded(
                todo, template, address=cluster, sandbox=sandbox,
                limits=limits, resources=resources, note=bar.write):
            why = _publish(job, template, url=url, course_root=course_root,
                           out=out_dir / student / "results.json",
                           extra=extra, notes=(notes or {}).get(student, ()))
            if why:
                failures[student] = why
                bar.write(f"{student}: not graded: {why}")
            bar.update(1)
    return failures


def _publish(job: cf.Future, template, *, url: str, course_root: Path,
             out: Path, extra: dict | None = None,
             notes: list[str] | tuple = ()) -> str | None:
    """Publish one finished job; return why it failed, or None.

    Args:
        extra: the freshness stamp recorded in results.json.
        notes: what :mod:`intake` found odd in the submission.
    """
    try:
        publish.publish_graded(job.result(), template_db=template.db_url,
                               db_url=url, out=out, course_root=course_root,
                               extra=extra, notes=notes)
    except grade.GraderError as err:
        return str(err)
    except Exception as err:  # noqa: BLE001 - one submission, not the batch
        return f"{type(err).__name__}: {err}"
    return None


def _report(subs, reasons: dict[str, str], out_dir: Path, csv: Path,
            failures: dict, refreshed: list[str],
            notes: dict[str, list[str]]) -> None:
    """Print the class's score table, what was graded and why, what was
    odd in the input, and where things went."""
    docs = {}
    for student in subs:
        doc = results.read(out_dir / student / "results.json")
        if doc:
            docs[student] = doc
    print(results.score_table(docs))
    graded = [s for s in reasons if s not in failures]
    print(f"graded {len(graded)} submission(s), skipped "
          f"{len(subs) - len(reasons)} already graded and unchanged, "
          f"{len(failures)} not graded")
    for student in graded:
        print(f"  {student}: graded: {reasons[student]}")
    if refreshed:
        print(f"updated from the gradebook (manual grades): "
              f"{', '.join(refreshed)}")
    for student, lines in notes.items():
        for line in lines:
            print(f"note: {student}: {line}")
    print(f"results: {out_dir}/<student>/results.json; grades: {csv}")
