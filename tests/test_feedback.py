"""Tests of autograder/grader/feedback.py: per-student HTML feedback."""
from __future__ import annotations

import json

import pytest

from autograder.grader import feedback
from autograder.grader import grade
from autograder.grader import results
from autograder.sandbox import kernel as sandbox
from autograder.config import ASSIGNMENT_ID
from fixtures import tiny_course as tc

DEEP = "test_build_deep_lstm_perplexity"
BI = "test_build_bidirectional_lstm_perplexity"


def _run(curve, samples, threshold=1.5):
    """A trained model's run, as grade.feedback_material keeps it."""
    return {"curve": curve, "epochs": list(range(1, len(curve) + 1)),
            "threshold": threshold, "samples": samples,
            "perplexity": curve[-1], "error": None}


@pytest.fixture
def runs():
    """Both perplexity tests' runs."""
    return {DEEP: _run([9.0, 4.0, 1.3], ["time traveller for so"]),
            BI: _run([8.0, 1.1], ["time travellerererer"])}


def test_saved_runs_read_back_and_ignore_junk(runs, tmp_path):
    """Are the runs kept at publishing read back, and anything that is not
    a known model's run (or not JSON) ignored?"""
    path = tmp_path / "alice.json"
    path.write_text(json.dumps({"perplexity": {**runs, "other": {},
                                               BI + "x": 3}}))
    assert feedback.saved_runs(path) == runs
    (tmp_path / "bad.json").write_text("{not json")
    assert feedback.saved_runs(tmp_path / "bad.json") == {}
    assert feedback.saved_runs(tmp_path / "none.json") == {}


def test_plot_is_a_png(runs, tmp_path):
    """Is the perplexity curve written as a PNG, and skipped when there is
    no curve at all?"""
    path = feedback.plot_curves(runs, tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert feedback.plot_curves({}, tmp_path / "q.png") is None
    assert not (tmp_path / "q.png").exists()


def test_page_shows_scores_samples_and_escapes(runs):
    """Does the page list every test with its message, both models'
    samples, and escape what the student's code printed?"""
    doc = results.build([results.TestResult(
        "test_x", "deep_rnn.ipynb", 2, 0.0, "<script>alert(1)</script>")],
        execution_time=1, extra_data={})
    page = feedback.render_index("alice", doc,
                                 runs,
                                 ["deep_rnn.html"], "perplexity.png")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "time travellerererer" in page and "time traveller for so" in page
    assert '<img src="perplexity.png"' in page
    assert 'href="deep_rnn.html"' in page


def _doc(*tests, **marks):
    """A results.json document, merged with the gradebook's ``marks``."""
    merged = results.merge(list(tests), {g: results.Mark(*m)
                                         for g, m in marks.items()},
                           {"explain": "Good: it reads the future."})
    return results.build(merged, execution_time=1, extra_data={})


def test_page_says_each_message_once_with_other_sizes():
    """Does each test show its message once, without its grade_id in
    front, with the sizes of the visible test and the hidden test's as
    "other sizes"?"""
    t = results.TestResult(
        "test_deep_rnn_shapes", "deep_rnn.ipynb", 2, 2.0,
        "test_deep_rnn_shapes: outputs and state have the expected shapes\n"
        "test_deep_rnn_shapes: outputs and state have the expected shapes",
        detail={"sizes": {"vocab_size": 28, "num_hiddens": 16},
                "other_sizes": {"vocab_size": 31, "num_hiddens": 9}})
    page = feedback.render_index("alice", _doc(t), {}, [], None)
    assert page.count("outputs and state have the expected shapes") == 1
    assert "test_deep_rnn_shapes: outputs" not in page
    assert "other sizes: vocab_size=31, num_hiddens=9" in page
    assert "sizes: vocab_size=28, num_hiddens=16" in page


def test_page_shows_manual_score_comment_and_override():
    """Does the page show the written answer's manual score with the
    instructor's comment, an override with what the autograder gave, and
    comments on code cells, with the total counting them?"""
    doc = _doc(results.TestResult("test_a", "deep_rnn.ipynb", 2, 0.0,
                                  "CheckFailed: shape"),
               results.TestResult("explain", "bidirectional_rnn.ipynb", 3,
                                  None, manual=True),
               test_a=(0.0, 2.0, None, False),
               explain=(None, 3.0, None, False))
    page = feedback.render_index("alice", doc, {}, [], None,
                                 {"deep_rnn_fn": "Neat loop."})
    assert "Score: <b>5 / 5</b>" in page
    assert "Graded by the instructor." in page
    assert "Good: it reads the future." in page
    assert "the autograder gave 0 / 2" in page
    assert "Neat loop." in page and "deep_rnn_fn" in page
    assert "pending / 3" not in page


def test_page_pending_answer_says_pending():
    """Is a written answer nobody graded yet shown as pending, outside the
    total (a known-bad input for the manual score check above)?"""
    doc = _doc(results.TestResult("explain", "bidirectional_rnn.ipynb", 3,
                                  None, manual=True))
    page = feedback.render_index("alice", doc, {}, [], None)
    assert "pending / 3" in page and "Score: <b>0 / 3</b>" in page
    assert "Waiting for manual grading: 3 points" in page


def test_page_has_no_grader_paths():
    """Are grader scratch paths in a message rewritten to what the
    student would see?"""
    t = results.TestResult(
        "test_a", "deep_rnn.ipynb", 2, 0.0, "FileNotFoundError: "
        "/tmp/autograder-ab12/course/autograded/alice/data/x.txt")
    page = feedback.render_index("alice", _doc(t), {}, [], None)
    assert "/tmp/autograder" not in page and "../data/x.txt" in page


def test_plot_and_text_quote_the_same_numbers(runs):
    """Do the page's sentences and the plot's legend give the same
    numbers: the last epoch's training perplexity and the perplexity of
    the trained model, which may differ?"""
    runs[BI]["perplexity"] = 0.91  # evaluated after training: not 1.1
    page = feedback.render_index("alice", None, runs, [], "p.png")
    labels = feedback.plot_labels(BI, runs[BI])
    assert "last epoch 1.10" in labels["curve"]
    assert "after training 0.91" in labels["after"]
    assert "(epoch 2): 1.10." in page and "judged: 0.91" in page
    assert "threshold 1.50" in labels["threshold"]


def test_page_without_evidence_says_so():
    """Does a student whose perplexity cells never ran get told so?"""
    page = feedback.render_index("bob", None, {}, [], None)
    assert "No training evidence was recorded" in page
    assert "No results.json" in page


def test_nbgrader_feedback_is_sanitised(tmp_path):
    """Does the kit's generate_feedback call turn nbconvert's sanitize_html
    on, so that a course folder without the kit's nbgrader_config.py
    renders student output inert too?"""
    cmd = feedback.nbgrader_feedback_command(tmp_path, "sqlite:///x.db",
                                             "alice")
    assert "--HTMLExporter.sanitize_html=True" in cmd
    assert cmd[-1] == "--student=alice"


def test_no_graded_students_exits_non_zero(tmp_path, capsys):
    """Does feedback on a course with nothing graded exit non-zero with a
    one-line reason?"""
    assert feedback.main(course_root=tmp_path) == 2
    assert "no graded submissions" in capsys.readouterr().err


@pytest.mark.slow
def test_feedback_after_grading(tmp_path):
    """After grading, does feedback write nbgrader's HTML for each
    notebook and our index page next to it?"""
    source = tc.write_source(tmp_path / "source")
    sub = tc.student(tmp_path / "alice", tc.ANSWERS)
    course = tmp_path / "course"
    assert grade.main(sub, course_root=course, source=source,
                      sandbox=sandbox.available()[0], quiet=True) == 0
    assert feedback.main(course_root=course, quiet=True) == 0
    folder = course / "feedback" / "alice" / ASSIGNMENT_ID
    assert {p.name for p in folder.glob("*.html")} == {
        "deep_rnn.html", "bidirectional_rnn.html", "index.html"}
    index = (folder / "index.html").read_text()
    assert "test_add_twice" in index and "deep_rnn.html" in index
    assert "Score" in (folder / "deep_rnn.html").read_text()
