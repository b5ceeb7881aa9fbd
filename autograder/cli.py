"""Command line: ``python -m autograder <command>``. Parses arguments only.

Each command calls the keyword-only ``main`` of its own module, so the
defaults live there, next to the code that uses them.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys


def _data(args):
    from autograder import data

    try:
        path = data.install() if args.install else data.locate()
    except data.DataNotFoundError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"timemachine.txt verified: {path}")
    return 0


# Each command's module, by who runs it (docs/DESIGN.md, "Layout").
MODULES = {
    "bench": "autograder.perf.bench",
    "grade": "autograder.grader.grade",
    "grade_all": "autograder.grader.grade_all",
    "feedback": "autograder.grader.feedback",
    "demo": "autograder.release.demo",
    "release": "autograder.release.release",
}


def _call(module, **kwargs):
    """Run the command's ``main(**kwargs)`` and return its exit code."""
    mod = importlib.import_module(MODULES[module])
    return mod.main(**kwargs) or 0


def _words(text: str) -> tuple[str, ...]:
    """'deep,bidirectional' -> ('deep', 'bidirectional'); '' -> ()."""
    return tuple(w for w in text.split(",") if w)


def _ints(text: str) -> tuple[int, ...]:
    """'256,32' -> (256, 32)."""
    return tuple(int(w) for w in _words(text))


def _resources(text: str) -> dict[str, float]:
    """'GPU=1,MEM=2' -> {'GPU': 1.0, 'MEM': 2.0} (as ``dask worker
    --resources`` takes them)."""
    pairs = [w.split("=", 1) for w in _words(text)]
    if any(len(p) != 2 for p in pairs):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME=N[,NAME=N...], e.g. GPU=1")
    return {name: float(n) for name, n in pairs}


def _given(args, *names) -> dict:
    """The named options that were given (None means: the module default)."""
    values = {n: getattr(args, n) for n in names}
    return {n: v for n, v in values.items() if v is not None}


def _bench(a):
    return _call("bench", **_given(
        a, "epochs", "num_hiddens", "kinds", "devices", "threads", "seed",
        "repeats", "rtol", "grading", "e2e", "submissions", "workers",
        "sandbox", "cluster", "out", "quiet",
    ))


def _add_bench(sub) -> None:
    b = sub.add_parser(
        "bench", help="d2l's train_epoch_ch8 vs the kit's trainer "
        "(tokens/s, ratio, loss trajectories); optionally end to end",
    )
    b.add_argument("--epochs", type=int, default=10)
    b.add_argument("--num-hiddens", type=_ints, default=None,
                   help="comma list (default: the book's 256 and the "
                   "grading budget's)")
    b.add_argument("--kinds", type=_words, default=("deep", "bidirectional"),
                   help="comma list; '' skips the loop comparison")
    b.add_argument("--devices", type=_words, default=None,
                   help="comma list (default: cpu, plus cuda if available)")
    b.add_argument("--threads", type=int, default=None)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--repeats", type=int, default=1)
    b.add_argument("--rtol", type=float, default=None,
                   help="tolerance on the per-epoch perplexities "
                   "(default: bench.RTOL)")
    b.add_argument("--no-grading", dest="grading", action="store_false",
                   help="skip timing the perplexity part of grading")
    b.add_argument("--e2e", action="store_true",
                   help="also time grading complete submissions")
    b.add_argument("--submissions", type=int, default=4)
    b.add_argument("--workers", type=_ints, default=(1, 2))
    b.add_argument("--no-sandbox", dest="sandbox", action="store_false")
    b.add_argument("--cluster", metavar="ADDRESS", help="with --e2e, also "
                   "grade through Dask: 'local' starts a scheduler and W "
                   "workers here for each W of --workers; tcp://HOST:PORT "
                   "uses that scheduler's workers")
    b.add_argument("--out", default=None)
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(run=_bench)


def _limits(args):
    """GradingLimits with the command line's overrides."""
    from autograder.config import GRADING

    changes = {
        "cell_timeout_s": args.cell_timeout,
        "training_cell_timeout_s": args.training_timeout,
        "submission_timeout_s": args.submission_timeout,
        "memory_bytes": (None if args.memory_gib is None
                         else int(args.memory_gib * 2**30)),
    }
    return dataclasses.replace(
        GRADING, **{k: v for k, v in changes.items() if v is not None})


def _grading_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL",
                   help="gradebook: an SQLAlchemy URL or an SQLite file "
                   "(default: gradebook.db at the course root)")
    p.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                   help="run student code without isolation (recorded in "
                   "results.json); only where bubblewrap is missing")
    p.add_argument("--cell-timeout", type=int, metavar="S",
                   help="seconds per ordinary cell (GradingLimits)")
    p.add_argument("--training-timeout", type=int, metavar="S",
                   help="seconds per training cell (GradingLimits)")
    p.add_argument("--submission-timeout", type=int, metavar="S",
                   help="seconds per submission (GradingLimits)")
    p.add_argument("--memory-gib", type=float, metavar="GIB",
                   help="kernel memory limit in GiB (default 4)")


def _add_grading(sub) -> None:
    g = sub.add_parser("grade", help="grade one submission (folder or .zip)")
    g.add_argument("submission", help="folder holding deep_rnn.ipynb and "
                   "bidirectional_rnn.ipynb, or a .zip of it")
    g.add_argument("--student", help="student id (default: the file name)")
    g.add_argument("--out", metavar="PATH", help="results.json path "
                   "(default: results/<student>/results.json)")
    _grading_options(g)
    g.set_defaults(run=lambda a: _call(
        "grade", submission=a.submission, student=a.student, db=a.db,
        out=a.out, sandbox=a.sandbox, limits=_limits(a)))

    ga = sub.add_parser("grade-all", help="grade every submission in DIR, "
                        "in parallel and resumably")
    ga.add_argument("directory", metavar="DIR", help="nbgrader's "
                    "submitted/<student>/<assignment>/, a folder per "
                    "student, or a .zip per student")
    ga.add_argument("--workers", type=int, help="parallel workers "
                    "(default: one per CPU core)")
    ga.add_argument("--out-dir", metavar="DIR", help="where "
                    "<student>/results.json go (default: results/)")
    ga.add_argument("--force", action="store_true",
                    help="re-grade submissions already graded and unchanged")
    ga.add_argument("--cluster", metavar="tcp://HOST:PORT", help="grade on "
                    "this Dask scheduler's workers instead of local ones")
    ga.add_argument("--resources", type=_resources, metavar="NAME=N",
                    help="with --cluster, what each submission needs of a "
                    "worker, e.g. GPU=1 (workers started with --resources "
                    "GPU=1)")
    _grading_options(ga)
    ga.set_defaults(run=lambda a: _call(
        "grade_all", directory=a.directory, workers=a.workers, db=a.db,
        out_dir=a.out_dir, force=a.force, sandbox=a.sandbox,
        limits=_limits(a), **_given(a, "cluster", "resources")))

    f = sub.add_parser("feedback", help="per-student HTML feedback, with "
                       "the perplexity curve and generated samples")
    f.add_argument("--student", help="one student (default: everyone)")
    f.add_argument("--db", metavar="URL", help="gradebook (default: "
                   "gradebook.db at the course root)")
    f.set_defaults(run=lambda a: _call("feedback", student=a.student,
                                       db=a.db))

    dm = sub.add_parser("demo", help="release, grade the bundled example "
                        "submissions, print the scores, write feedback")
    dm.add_argument("--out-dir", metavar="DIR", help="the demo's own "
                    "course folder (default: demo_output/)")
    dm.add_argument("--workers", type=int, help="parallel workers "
                    "(default: one per CPU core)")
    dm.add_argument("--skip-release", action="store_true",
                    help="grade the committed release as it is")
    dm.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                    help="run student code without isolation")
    dm.set_defaults(run=lambda a: _call(
        "demo", out_dir=a.out_dir, workers=a.workers, sandbox=a.sandbox,
        skip_release=a.skip_release))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="find and verify timemachine.txt")
    d.add_argument(
        "--install", action="store_true",
        help="copy it into d2l's cache (../data) for this directory",
    )
    d.set_defaults(run=_data)

    r = sub.add_parser(
        "release",
        help="regenerate assignments/ from solutions/ with nbgrader, "
        "then check it for leaks",
    )
    r.add_argument(
        "--check", action="store_true",
        help="write nothing; fail if the committed release drifted from "
        "the source or leaks",
    )
    r.set_defaults(run=lambda a: _call("release", check=a.check))
    _add_grading(sub)
    _add_bench(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command."""
    parser = _parser()
    args = parser.parse_args(argv)
    return args.run(args)
