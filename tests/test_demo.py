"""End to end through the CLI: the demo and ``grade`` on the examples.

``python -m autograder demo`` builds the example submissions from the
release, grades them with two workers, and writes feedback; each example
must get exactly the per-test outcome it was built to get
(autograder/release/examples.py). Slow: it trains the perplexity checks' models for
every example.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from autograder.release import examples
from autograder.grader import results
from autograder.sandbox import kernel as sandbox
from autograder.config import ASSIGNMENT_ID

pytestmark = pytest.mark.slow


def cli(*args, timeout=1800):
    """Run ``python -m autograder ARGS``; return the completed process."""
    return subprocess.run([sys.executable, "-m", "autograder", *args],
                          capture_output=True, text=True, timeout=timeout)


def _sandbox_flags():
    return [] if sandbox.available()[0] else ["--no-sandbox"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo, run once into its own folder (the committed release)."""
    out = tmp_path_factory.mktemp("demo")
    proc = cli("demo", "--out-dir", str(out), "--workers", "2",
               "--skip-release", *_sandbox_flags())
    return out, proc


@pytest.mark.parametrize("example", [e.name for e in examples.EXAMPLES])
def test_demo_example_gets_its_exact_outcome(demo, example):
    """Does each example submission pass and fail exactly the tests it was
    built to pass and fail, with the written answer pending?"""
    out, proc = demo
    doc = results.read(out / "results" / example / "results.json")
    assert doc is not None, proc.stdout[-2000:] + proc.stderr[-2000:]
    got = {n: results.outcome(t) for n, t in results.tests_of(doc).items()}
    want = examples.expected_outcomes(examples.by_name(example))
    # The written answer waits for a person; left as released, it scores 0.
    want["explain_bidirectional_prediction"] = (
        "FAIL" if example == "stubs" else "pending")
    assert got == want


def test_demo_prints_table_and_feedback_location(demo):
    """Does the demo exit 0, print the score table, and say where the
    feedback landed (where it did land)?"""
    out, proc = demo
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "every example got exactly its expected outcome" in proc.stdout
    # The solution earns every autograded point; the written answer's 3
    # points wait for a person.
    row = next(line for line in proc.stdout.splitlines()
               if line.startswith("solution "))
    assert row.endswith("27/30 (3 pending)"), row
    assert f"{out / 'feedback'}" in proc.stdout
    for ex in examples.EXAMPLES:
        page = out / "feedback" / ex.name / ASSIGNMENT_ID / "index.html"
        assert page.is_file()
    assert (out / "feedback" / "solution" / ASSIGNMENT_ID /
            "perplexity.png").is_file()
    assert (out / "grades.csv").is_file()


def test_grade_cli_writes_results_where_asked(tmp_path, demo):
    """Does ``grade SUBMISSION --student --db --out`` grade one example,
    record it in the gradebook named by --db, write results.json at --out,
    and exit 0 even though tests failed?"""
    out, _ = demo
    db = tmp_path / "gb.db"
    target = tmp_path / "r.json"
    proc = cli("grade", str(out / "submissions" / "one_layer"),
               "--student", "zoe", "--db", str(db), "--out", str(target),
               *_sandbox_flags())
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = results.read(target)
    assert doc["extra_data"]["student"] == "zoe"
    assert results.outcome(results.tests_of(doc)[
        "test_build_deep_lstm_params"]) == "FAIL"
    assert db.is_file() and "zoe" in proc.stdout


def test_grade_cli_refuses_what_it_cannot_grade(tmp_path):
    """Does ``grade`` on a path that does not exist exit non-zero with a
    one-line reason?"""
    proc = cli("grade", str(tmp_path / "nope"))
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1
