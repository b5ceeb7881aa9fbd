"""``demo``: the instructor workflow end to end, on bundled examples.

1. ``release``: regenerate the student notebooks from the solutions;
2. build the example submissions from the release (:mod:`autograder.release.examples`:
   the solution, the untouched stubs, and typical mistakes);
3. ``grade-all`` them in parallel;
4. ``feedback`` for each;
5. print the score table, whether each example got the outcome it was built
   to get, and where the feedback is.

Everything the demo writes goes to ``demo_output/`` (its own nbgrader
course: gradebook, autograded notebooks, results, feedback), so the demo
never mixes example students into the course's real gradebook.
"""
from __future__ import annotations

import time
from pathlib import Path

from autograder.release import examples
from autograder.grader import feedback
from autograder.grader import grade
from autograder.grader import grade_all
from autograder.release import release
from autograder.grader import results
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT, GRADING


def check_outcomes(results_dir: Path) -> list[str]:
    """Compare each example's results.json with its expected outcomes.

    Returns:
        One line per mismatch (empty when every example is as expected).
    """
    problems = []
    for ex in examples.EXAMPLES:
        doc = results.read(results_dir / ex.name / "results.json")
        if doc is None:
            problems.append(f"{ex.name}: no results.json")
            continue
        got = {name: results.outcome(t)
               for name, t in results.tests_of(doc).items()}
        for gid, want in examples.expected_outcomes(ex).items():
            if got.get(gid) != want:
                problems.append(f"{ex.name}: {gid} is {got.get(gid)}, "
                                f"expected {want}")
    return problems


def main(*, course_root: Path | str = COURSE_ROOT,
         out_dir: Path | str | None = None, workers: int | None = None,
         sandbox: bool = True, skip_release: bool = False,
         quiet: bool = False) -> int:
    """Run the demo.

    Args:
        course_root: the course (the repo root) holding the solutions.
        out_dir: the demo's own course folder (default: demo_output/).
        workers: parallel grading workers (default: one per core).
        sandbox: run student code in the sandbox (``--no-sandbox``: False).
        skip_release: grade the committed release without regenerating it.
        quiet: print only the summary.

    Returns:
        0 when every example got its expected outcome; 1 otherwise; 2 when
        a step could not run.
    """
    course_root = Path(course_root)
    out = Path(out_dir) if out_dir else course_root / "demo_output"
    start = time.monotonic()
    if not skip_release and release.main(course_root=course_root) != 0:
        print("demo: release failed (see above)")
        return 2
    subs = examples.build(out / "submissions", course_root=course_root)
    print(f"demo: built {len(subs)} example submissions in "
          f"{out / 'submissions'}")
    code = grade_all.main(out / "submissions", workers=workers,
                          course_root=out, force=True, sandbox=sandbox,
                          source=grade.default_source(course_root),
                          quiet=False)
    if code == 2:
        return 2
    feedback.main(course_root=out, quiet=True)
    return _summary(out, time.monotonic() - start, quiet)


def _summary(out: Path, seconds: float, quiet: bool) -> int:
    problems = check_outcomes(out / "results")
    print()
    for ex in examples.EXAMPLES if not quiet else ():
        print(f"  {ex.name:<22} {ex.description}")
    if problems:
        print("demo: some examples did not get their expected outcome:")
        for line in problems:
            print(f"  {line}")
    else:
        print("demo: every example got exactly its expected outcome")
    print(f"demo: feedback in {out / 'feedback'}/<student>/{ASSIGNMENT_ID}/"
          "index.html")
    print(f"demo: results in {out / 'results'}, gradebook "
          f"{out / 'gradebook.db'}, grades {out / 'grades.csv'}")
    print(f"demo: took {seconds:.0f} s (submission limit "
          f"{GRADING.submission_timeout_s} s)")
    return 1 if problems else 0
