"""Does every adversarial submission end graded, with its expected outcome?

The corpus (tests/corpus/spec.py, 20+ entries built from the release by
grade_id) is graded in one ``grade-all`` batch through the real pipeline
(sandbox on), with limits tightened so that the hangs end in seconds. Each
entry's results.json must give exactly its expected pass/FAIL per test, and
name the reason where the spec says which words to expect.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from autograder.sandbox import kernel as sandbox
from autograder.config import GRADING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import spec  # noqa: E402

pytestmark = pytest.mark.slow
CORPUS_LIMITS = dataclasses.replace(
    GRADING, cell_timeout_s=30, submission_timeout_s=300,
    memory_bytes=2 * 1024**3)


@pytest.fixture(scope="module")
def corpus_results(tmp_path_factory):
    """Grade the whole corpus once; return name -> results.json."""
    from autograder.grader import grade
    from autograder.grader import grade_all

    if not sandbox.available()[0]:
        pytest.skip(sandbox.available()[1])
    root = tmp_path_factory.mktemp("corpus")
    spec.build_all(root / "subs")
    spec.plant_marker()  # what the escapes aim at (issue 16)
    rc = grade_all.main(root / "subs", workers=2, course_root=root,
                        out_dir=root / "results", limits=CORPUS_LIMITS,
                        quiet=True, source=grade.default_source())
    assert rc == 0, "grade-all could not grade some corpus submissions"
    docs = {e.name: json.loads((root / "results" / e.name /
                                "results.json").read_text())
            for e in spec.ENTRIES}
    docs["_root"] = root
    return docs


def test_corpus_is_large_enough():
    """Are there at least 20 adversarial entries, each with a known outcome?"""
    assert len(spec.ENTRIES) >= 20
    assert len({e.name for e in spec.ENTRIES}) == len(spec.ENTRIES)
    for e in spec.ENTRIES:
        assert set(e.expected()) == set(spec.ALL_TESTS)


@pytest.mark.parametrize("entry", spec.ENTRIES, ids=lambda e: e.name)
def test_entry_outcome(corpus_results, entry):
    """Does this attack end graded, with exactly its expected outcomes?"""
    doc = corpus_results[entry.name]
    got = {t["name"]: "pass" if t.get("status") == "passed" else "FAIL"
           for t in doc["tests"] if t["name"] in spec.ALL_TESTS}
    assert got == entry.expected()
    messages = {t["name"]: t.get("output", "") for t in doc["tests"]}
    for gid, words in entry.says.items():
        assert words in messages[gid], messages[gid]
    for t in doc["tests"]:
        if t["name"] in spec.ALL_TESTS and got[t["name"]] == "FAIL":
            assert t.get("output", "").strip(), f"{t['name']}: no message"
    assert len(json.dumps(doc)) < 100_000  # the output cap held


def test_escapes_leave_the_host_untouched(corpus_results):
    """Issue 16: after the corpus is graded, is the host marker the escapes
    aim at untouched, and is no spinner of theirs still running?"""
    assert spec.escapes_seen() == []


def test_a_flooded_channel_costs_no_more_than_grading(corpus_results):
    """Issue 16 finding 6: does a worker that floods the grading channel
    keep its submission within twice a normal one's grading time?"""
    flood = corpus_results["channel_flood"]["extra_data"]["wall_time_s"]
    base = corpus_results["base"]["extra_data"]["wall_time_s"]
    assert flood <= 2 * base, (flood, base)


def test_an_error_flood_leaves_a_small_executed_notebook(corpus_results):
    """Red team: does a cell that sends 40 error messages of ~6 MB leave
    nbgrader's executed copy (what formgrader and feedback show) small?"""
    executed = list((corpus_results["_root"] / "autograded" / "error_flood")
                    .rglob("deep_rnn.ipynb"))
    assert executed, "nbgrader wrote no executed copy"
    assert all(p.stat().st_size < 3_000_000 for p in executed), [
        p.stat().st_size for p in executed]
