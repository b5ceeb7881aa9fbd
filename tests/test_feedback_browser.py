"""The feedback page in a real browser (headless Chromium, tests/browser.py).

Is it readable on a laptop and on a phone (screenshots at 1366x768 and
390x844 under the test's folder, no horizontal scroll), and does student
output stay inert, on our index page and in nbgrader's notebook pages?
"""
from __future__ import annotations

import pytest
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_notebook, new_output
from traitlets.config import Config

import browser
from autograder.grader import feedback, results

pytestmark = pytest.mark.slow

DEEP = "test_build_deep_lstm_perplexity"
BI = "test_build_bidirectional_lstm_perplexity"
SCRIPT = ("<script>window.PWNED = 1</script>"
          "<img src='x' onerror='window.PWNED = 2'>")
# A real failure message of the reference check (README), and a long table.
MISMATCH = (
    "outputs of the backward direction (W_hq's forward half zeroed; read "
    "from t=num_steps-1 down) differ from nn.RNN(vocab_size, num_hiddens, "
    "bidirectional=True) first at time step t=4 (num_steps=5) [direction: "
    "backward]: max abs diff 1.41 > atol=1e-05 + rtol=0.0001*|expected|")
TABLE = "\n".join(f"rnn layer {i}  292,864  219,648  <--" for i in range(6))


def _doc() -> dict:
    """A results.json of a mixed submission, merged with a manual grade,
    an override and comments."""
    sizes = {"vocab_size": 28, "num_hiddens": 16, "num_layers": 2,
             "batch_size": 3, "num_steps": 5}
    other = {"vocab_size": 31, "num_hiddens": 9, "num_layers": 3,
             "batch_size": 4, "num_steps": 7}
    tests = [
        results.TestResult("test_deep_rnn_shapes", "deep_rnn.ipynb", 2, 2.0,
                           "outputs and state have the expected shapes",
                           detail={"sizes": sizes, "other_sizes": other}),
        results.TestResult("test_build_deep_lstm_params", "deep_rnn.ipynb",
                           1, 0.0, "trainable parameters 621,596 != expected "
                           "826,396 for a 2-layer nn.LSTM:\n" + TABLE),
        results.TestResult("test_birnn_matches_torch",
                           "bidirectional_rnn.ipynb", 3, 0.0, MISMATCH + SCRIPT,
                           detail={"sizes": sizes, "other_sizes": other}),
        results.TestResult("explain_bidirectional_prediction",
                           "bidirectional_rnn.ipynb", 3, None, manual=True),
    ]
    marks = {"test_build_deep_lstm_params": results.Mark(0.0, 1.0),
             "explain_bidirectional_prediction": results.Mark(None, 2.0)}
    comments = {"explain_bidirectional_prediction":
                "Right idea; say why predict_ch8 has no future to read."
                " " * 3 + "x" * 120}
    return results.build(results.merge(tests, marks, comments),
                         execution_time=25, extra_data={})


def _runs() -> dict:
    curve = [16.0, 9.0, 6.1, 4.0, 2.5]
    return {
        DEEP: {"curve": [18.0, 14.0, 11.0, 9.5, 8.6, 8.0],
               "epochs": list(range(1, 7)), "threshold": 11.8,
               "samples": ["time traveller " + "the " * 12],
               "perplexity": 7.9, "error": None},
        BI: {"curve": curve, "epochs": list(range(1, 6)), "threshold": 5.98,
             "samples": ["time traveller" + "e" * 50], "perplexity": 1.91,
             "error": None},
    }


@pytest.fixture
def page_file(tmp_path):
    """The index page with its plot, as ``feedback`` writes them."""
    folder = tmp_path / "feedback"
    runs = _runs()
    plot = feedback.plot_curves(runs, folder / "perplexity.png")
    index = folder / "index.html"
    index.write_text(feedback.render_index(
        "alice", _doc(), runs, ["deep_rnn.html"], plot.name,
        {"get_deep_rnn_params": "Tidy: one loop over the layers."}))
    return index


def test_readable_on_laptop_and_phone_without_horizontal_scroll(
        page_file, tmp_path):
    """At 1366x768 and at 390x844, does the page fit its width (no
    horizontal scroll), with a screenshot of each kept? And does the
    overflow check catch a page that is too wide (a known-bad page)?"""
    wide = tmp_path / "wide.html"
    wide.write_text("<p style='width:2000px'>too wide</p>")
    with browser.chromium(tmp_path) as context:
        for name, size in (("laptop", browser.LAPTOP),
                           ("phone", browser.PHONE)):
            page = browser.open_page(context, page_file, size)
            shot = browser.screenshot(page, tmp_path / f"feedback-{name}.png")
            assert shot.stat().st_size > 10_000
            assert browser.horizontal_overflow(page) == 0, name
            assert page.locator("img").evaluate("i => i.naturalWidth") > 0
            assert page.evaluate("window.PWNED") is None
        bad = browser.open_page(context, wide, browser.PHONE)
        assert browser.horizontal_overflow(bad) > 0


def _student_notebook():
    """A graded notebook whose student cell printed a script."""
    out = new_output("display_data", data={"text/html": SCRIPT,
                                           "text/plain": "<HTML>"})
    return new_notebook(cells=[new_code_cell("display(HTML(s))",
                                             outputs=[out])])


def _nbgrader_feedback_html(tmp_path, sanitize: bool) -> str:
    """The notebook as ``nbgrader generate_feedback`` renders it (its
    converter's exporter configuration), with sanitising on or off."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    config = Config()
    config.HTMLExporter.sanitize_html = sanitize
    converter = GenerateFeedback(
        coursedir=CourseDirectory(root=str(tmp_path)), config=config)
    html, _ = HTMLExporter(config=converter.config).from_notebook_node(
        _student_notebook(), resources={"nbgrader": {
            "notebook": "n", "score": 0, "max_score": 1,
            "late_penalty": 0}})
    return html


def test_student_script_is_inert_in_nbgraders_page(tmp_path):
    """In nbgrader's feedback page of a notebook, does a <script> (and an
    onerror handler) a student printed stay text, running nothing, with
    sanitising on as the kit sets it, while the same page unsanitised
    (the known-bad case) runs it?"""
    safe, unsafe = tmp_path / "safe.html", tmp_path / "unsafe.html"
    safe.write_text(_nbgrader_feedback_html(tmp_path, sanitize=True))
    unsafe.write_text(_nbgrader_feedback_html(tmp_path, sanitize=False))
    assert "&lt;script&gt;window.PWNED" in safe.read_text()
    with browser.chromium(tmp_path) as context:
        page = browser.open_page(context, safe, browser.LAPTOP)
        assert page.evaluate("window.PWNED") is None
        assert "window.PWNED = 1" in page.inner_text("body")
        page = browser.open_page(context, unsafe, browser.LAPTOP)
        assert page.evaluate("window.PWNED") in (1, 2)
