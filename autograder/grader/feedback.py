"""``feedback``: per-student HTML feedback.

nbgrader's ``generate_feedback`` renders each autograded notebook with its
scores and comments (``feedback/<student>/<assignment>/<notebook>.html``).
Next to those, this module writes, from the evidence the grading run
recorded (``.grading/evidence/<student>/``, loaded safely):

* ``perplexity.png``: the perplexity curve of each model the grader trained,
  with the threshold it had to beat;
* ``index.html``: the score of every test with its message, links to
  nbgrader's pages, the plot, and the text each trained model generated
  (``predict_ch8('time traveller', ...)``), so the student can see why a
  bidirectional model that reaches a low perplexity still writes garbage.
"""
from __future__ import annotations

import html
import subprocess
import sys
from pathlib import Path

from autograder.grader import evidence
from autograder.grader import results
from autograder.grader import gradebook as gbook
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT
from autograder.grader.errors import error_line
from autograder.grader.publish import default_out, feedback_file

# The perplexity tests and the model each one trains, in page order.
MODELS = {
    "test_build_deep_lstm_perplexity": "deep LSTM (num_layers=2)",
    "test_build_bidirectional_lstm_perplexity": "bidirectional LSTM",
}
# Keys of a perplexity test's evidence entry (autograder/student/perplexity.py,
# ``collect``): the per-epoch curve, the threshold, the generated text, and
# the perplexity the grader evaluated after training.
CURVE_KEYS = ("perplexities",)
THRESHOLD_KEYS = ("max_perplexity",)
SAMPLE_KEYS = ("samples",)
FINAL_KEYS = ("perplexity",)


# --------------------------------------------------------------------------
# Reading the evidence


def _first(entry: dict, keys) -> object:
    for key in keys:
        if key in entry and entry[key] is not None:
            return entry[key]
    return None


def _floats(value) -> list[float]:
    """A curve as a list of floats (from a list, tuple or 1-D tensor)."""
    if value is None:
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        return []


def saved_runs(path: Path) -> dict[str, dict]:
    """The runs :func:`perplexity_runs` gave when the submission was graded
    (``.grading/feedback/<student>.json``); empty when unreadable."""
    import json

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    runs = data.get("perplexity") if type(data) is dict else None
    return {g: r for g, r in (runs or {}).items()
            if g in MODELS and type(r) is dict}


def perplexity_runs(folder: Path) -> dict[str, dict]:
    """grade_id -> {"curve", "epochs", "threshold", "samples"} per model.

    Evidence that is missing or unusable gives no entry (the feedback page
    then says so); it never raises.
    """
    runs = {}
    for gid in MODELS:
        try:
            entries = evidence.load(folder, gid) or []
        except evidence.BadEvidence:
            entries = []
        entries = [e for e in entries if type(e) is dict]
        if entries:
            runs[gid] = _run_of(entries[-1])
    return runs


def _number(value) -> float | None:
    return float(value) if type(value) in (int, float) else None


def _run_of(entry: dict) -> dict:
    curve = _floats(_first(entry, CURVE_KEYS))
    samples = _first(entry, SAMPLE_KEYS)
    if isinstance(samples, str):
        samples = [samples]
    final = _number(_first(entry, FINAL_KEYS))
    return {
        "curve": curve,
        "epochs": list(range(1, len(curve) + 1)),
        "threshold": _number(_first(entry, THRESHOLD_KEYS)),
        "samples": [str(s) for s in (samples or []) if type(s) is str],
        "perplexity": final if final is not None else (
            curve[-1] if curve else None),
        "error": entry.get("error") if type(entry.get("error")) is str
        else None,
    }


# --------------------------------------------------------------------------
# The plot and the page


def plot_curves(runs: dict[str, dict], path: Path) -> Path | None:
    """Plot each model's perplexity against epochs; None when no curve."""
    if not any(r["curve"] for r in runs.values()):
        return None
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for gid, run in runs.items():
        if not run["curve"]:
            continue
        line, = ax.plot(run["epochs"], run["curve"], label=MODELS[gid])
        if run["threshold"] is not None:
            ax.axhline(run["threshold"], ls="--", lw=1, color=line.get_color(),
                       label=f"threshold ({MODELS[gid].split(' (')[0]})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity")
    ax.set_yscale("log")
    plain = matplotlib.ticker.FormatStrFormatter("%g")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_title("Perplexity while the grader trained your models")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def render_index(student: str, doc: dict | None, runs: dict[str, dict],
                 pages: list[str], plot: str | None) -> str:
    """The student's feedback page (HTML)."""
    esc = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'>"
             f"<title>Feedback: {esc(student)}</title></head><body>",
             f"<h1>Feedback for {esc(student)}: {esc(ASSIGNMENT_ID)}</h1>"]
    parts += _score_section(doc)
    if pages:
        parts.append("<h2>Your notebooks, graded</h2><ul>")
        parts += [f"<li><a href='{esc(p)}'>{esc(p)}</a></li>" for p in pages]
        parts.append("</ul>")
    parts += _training_section(runs, plot)
    parts.append("</body></html>")
    return "\n".join(parts)


def _score_section(doc: dict | None) -> list[str]:
    if not doc:
        return ["<p>No results.json was found for this submission.</p>"]
    esc = html.escape
    max_auto = doc.get("extra_data", {}).get("max_autograded_score", 0)
    rows = [f"<p>Autograded score: <b>{doc.get('score', 0):g} / "
            f"{max_auto:g}</b></p>",
            "<table border='1' cellpadding='4'><tr><th>test</th>"
            "<th>score</th><th>message</th></tr>"]
    for t in doc.get("tests", []):
        score = (f"{t['score']:g} / {t['max_score']:g}" if "score" in t
                 else f"pending / {t['max_score']:g}")
        rows.append(f"<tr><td>{esc(t['name'])}</td><td>{score}</td>"
                    f"<td><pre>{esc(t.get('output', ''))}</pre></td></tr>")
    rows.append("</table>")
    return rows


def _training_section(runs: dict[str, dict], plot: str | None) -> list[str]:
    esc = html.escape
    parts = ["<h2>Training under the grader's recipe</h2>"]
    if plot:
        parts.append(f"<img src='{esc(plot)}' alt='perplexity curves'>")
    for gid, name in MODELS.items():
        run = runs.get(gid)
        parts.append(f"<h3>{esc(name)}</h3>")
        if run is None:
            parts.append("<p>No training evidence was recorded (the test "
                         "cell did not run to the end).</p>")
            continue
        if run["error"]:
            parts.append(f"<p>Training failed: {esc(run['error'])}</p>")
        if run["perplexity"] is not None:
            limit = (f" (threshold {run['threshold']:.2f})"
                     if run["threshold"] is not None else "")
            parts.append(f"<p>Perplexity after training: "
                         f"{run['perplexity']:.2f}{limit}</p>")
        parts += [f"<p>Generated text:</p><pre>{esc(s)}</pre>"
                  for s in run["samples"]]
    parts.append(
        "<p>A bidirectional model reads the future when it is trained, so its "
        "perplexity is low; when it predicts, the future is not there, and "
        "its text is garbage. It suits filling in the blank, not predicting "
        "what comes next.</p>")
    return parts


# --------------------------------------------------------------------------
# The command


def run_nbgrader_feedback(course_root: Path, url: str,
                          student: str | None) -> None:
    """Run ``nbgrader generate_feedback`` for one student or everyone.

    Raises:
        RuntimeError: nbgrader failed, with its error line.
    """
    gbook.tools_on_path()
    cmd = [sys.executable, "-m", "nbgrader", "generate_feedback",
           ASSIGNMENT_ID, "--force",
           f"--CourseDirectory.root={course_root}",
           f"--CourseDirectory.course_id={gbook.COURSE_ID}",
           f"--CourseDirectory.db_url={url}"]
    if student:
        cmd.append(f"--student={student}")
    proc = subprocess.run(cmd, cwd=course_root, capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(error_line(proc.stderr + proc.stdout))


def graded_students(course_root: Path) -> list[str]:
    """Students with autograded notebooks in the course."""
    folder = course_root / "autograded"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if (p / ASSIGNMENT_ID).is_dir())


def write_student_page(student: str, course_root: Path,
                       results_dir: Path | None = None) -> Path:
    """Write perplexity.png and index.html for one student; return the page."""
    dest = course_root / "feedback" / student / ASSIGNMENT_ID
    dest.mkdir(parents=True, exist_ok=True)
    runs = saved_runs(feedback_file(student, course_root))
    plot = plot_curves(runs, dest / "perplexity.png")
    out = (results_dir / student / "results.json" if results_dir
           else default_out(student, course_root))
    pages = sorted(p.name for p in dest.glob("*.html")
                   if p.name != "index.html")
    page = dest / "index.html"
    page.write_text(render_index(student, results.read(out), runs, pages,
                                 plot.name if plot else None))
    return page


def main(*, student: str | None = None, db: str | None = None,
         course_root: Path | str = COURSE_ROOT,
         results_dir: str | Path | None = None, quiet: bool = False) -> int:
    """Generate feedback for one student (or every graded student).

    Args:
        student: the student id (default: everyone graded).
        db: the gradebook (default: gradebook.db at the course root).
        course_root: the nbgrader course directory.
        results_dir: where ``<student>/results.json`` are (default:
            ``results/`` at the course root).
        quiet: print nothing but errors.

    Returns:
        0 on success; 2 with a one-line reason when nothing could be made.
    """
    course_root = Path(course_root).resolve()
    students = [student] if student else graded_students(course_root)
    if not students:
        print("feedback: no graded submissions in "
              f"{course_root / 'autograded'}", file=sys.stderr)
        return 2
    try:
        run_nbgrader_feedback(course_root, gbook.db_url(db, course_root),
                              student)
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        print(f"feedback: nbgrader generate_feedback failed: {err}",
              file=sys.stderr)
        return 2
    rdir = Path(results_dir) if results_dir else None
    for s in students:
        page = write_student_page(s, course_root, rdir)
        if not quiet:
            print(f"feedback for {s}: {page}")
    return 0
