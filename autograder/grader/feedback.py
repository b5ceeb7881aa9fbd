"""``feedback``: per-student HTML feedback.

nbgrader's ``generate_feedback`` renders each autograded notebook with its
scores and comments (``feedback/<student>/<assignment>/<notebook>.html``).
Next to those, this module writes, from the material the grading run
kept (``.grading/feedback/<student>.json``: each trained model's run, see
:func:`autograder.grader.grade.feedback_material`):

* ``perplexity.png``: the perplexity curve of each model the grader trained,
  with the threshold it had to beat;
* ``index.html`` (``templates/feedback.html.j2``): the score of every
  test with its message and the sizes it ran with, the written answer's
  score and the instructor's comments, links to nbgrader's pages, the
  plot, and the text each trained model generated
  (``predict_ch8('time traveller', ...)``), so the student can see why a
  bidirectional model that reaches a low perplexity still writes garbage.
  The plot and the text quote the same numbers (:func:`model_numbers`).

Scores come from the gradebook as it is now (results.json is brought in
line first, :func:`autograder.grader.publish.refresh`). Student output is
inert: nbgrader renders the notebooks with ``sanitize_html`` on, and the
index page escapes everything (Jinja2's autoescape).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jinja2

from autograder.grader import publish
from autograder.grader import redact
from autograder.grader import results
from autograder.grader import gradebook as gbook
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT
from autograder.grader.errors import error_line
from autograder.grader.publish import default_out, feedback_file

TEMPLATES = Path(__file__).resolve().parent / "templates"

# The perplexity tests and the model each one trains, in page order.
MODELS = {
    "test_build_deep_lstm_perplexity": "deep LSTM (num_layers=2)",
    "test_build_bidirectional_lstm_perplexity": "bidirectional LSTM",
}
def _material(path: Path) -> dict:
    """The feedback material written when the submission was published
    (``.grading/feedback/<student>.json``); empty when unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if type(data) is dict else {}


def saved_runs(path: Path) -> dict[str, dict]:
    """The runs :func:`perplexity_runs` gave when the submission was graded
    (``.grading/feedback/<student>.json``); empty when unreadable."""
    runs = _material(path).get("perplexity")
    return {g: r for g, r in (runs or {}).items()
            if g in MODELS and type(r) is dict}


# --------------------------------------------------------------------------
# The plot and the page


def _short(name: str) -> str:
    """"deep LSTM (num_layers=2)" -> "deep LSTM"."""
    return name.split(" (")[0]


def model_numbers(run: dict) -> dict:
    """The numbers the plot and the text both quote, formatted once.

    ``last_epoch`` is the training perplexity of the last epoch (the
    curve's end); ``after`` the perplexity the grader measured on the
    trained model, the number judged against ``threshold``.
    """
    curve = run.get("curve") or []
    fmt = lambda v: None if v is None else f"{v:.2f}"  # noqa: E731
    return {"epochs": len(curve),
            "last_epoch": fmt(curve[-1]) if curve else None,
            "after": fmt(run.get("perplexity")),
            "threshold": fmt(run.get("threshold"))}


def model_lines(run: dict) -> list[str]:
    """The page's sentences about one trained model."""
    n = model_numbers(run)
    lines = []
    if n["last_epoch"]:
        lines.append(f"Training perplexity in the last epoch (epoch "
                     f"{n['epochs']}): {n['last_epoch']}.")
    if n["after"]:
        limit = f" (threshold {n['threshold']})" if n["threshold"] else ""
        lines.append(f"Perplexity of the trained model, the number judged: "
                     f"{n['after']}{limit}.")
    return lines


def plot_labels(gid: str, run: dict) -> dict[str, str]:
    """Legend labels of one model's curve, final point and threshold."""
    n, name = model_numbers(run), _short(MODELS[gid])
    return {"curve": f"{name}: training, last epoch {n['last_epoch']}",
            "after": f"{name}: after training {n['after']}",
            "threshold": f"{name}: threshold {n['threshold']}"}


def plot_curves(runs: dict[str, dict], path: Path) -> Path | None:
    """Plot each model's perplexity against epochs; None when no curve.

    Each model gets its training curve, a dot at the perplexity of the
    trained model (the number judged), and its threshold; the legend
    quotes the numbers the page's text gives (:func:`plot_labels`).
    """
    if not any(r["curve"] for r in runs.values()):
        return None
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    for gid, run in runs.items():
        if run["curve"]:
            _plot_model(ax, run, plot_labels(gid, run))
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity")
    ax.set_yscale("log")
    plain = matplotlib.ticker.FormatStrFormatter("%g")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_title("Perplexity while the grader trained your models")
    # Below the axes, so that it never hides a curve.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16),
              ncol=2, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plot_model(ax, run: dict, labels: dict[str, str]) -> None:
    line, = ax.plot(run["epochs"], run["curve"], label=labels["curve"])
    if run.get("perplexity") is not None:
        ax.plot([run["epochs"][-1]], [run["perplexity"]], "o",
                color=line.get_color(), label=labels["after"])
    if run["threshold"] is not None:
        ax.axhline(run["threshold"], ls="--", lw=1, color=line.get_color(),
                   label=labels["threshold"])


def _environment() -> jinja2.Environment:
    """Jinja2 with autoescape on: every value is text, never markup."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def render_index(student: str, doc: dict | None, runs: dict[str, dict],
                 pages: list[str], plot: str | None,
                 comments: dict[str, str] | None = None) -> str:
    """The student's feedback page (HTML).

    Args:
        student: the student id.
        doc: the student's results.json (None when missing).
        runs: the models the grader trained (:func:`perplexity_runs`).
        pages: nbgrader's HTML pages of the notebooks, beside this one.
        plot: the perplexity plot's file name, beside this page.
        comments: the instructor's comments by cell (from the gradebook);
            those on test cells are in ``doc`` already.
    """
    doc = doc or {}
    tests = [_test_view(e) for e in doc.get("tests", [])]
    names = {t["name"] for t in tests}
    extra = doc.get("extra_data", {})
    return _environment().get_template("feedback.html.j2").render(
        student=student, assignment=ASSIGNMENT_ID, doc=doc, num=_num,
        max_score=extra.get("max_score", extra.get("max_autograded_score", 0)),
        max_auto=extra.get("max_autograded_score", 0),
        auto_score=sum(e.get("score", 0) for e in doc.get("tests", [])
                       if "manual" not in (e.get("tags") or [])),
        pending=extra.get("pending_manual_points", 0),
        by_notebook=_by_notebook(tests),
        cell_comments=sorted((n, c) for n, c in (comments or {}).items()
                             if n not in names),
        pages=pages, plot=plot,
        models=[{"name": name, "run": runs.get(gid),
                 "lines": model_lines(runs[gid]) if gid in runs else []}
                for gid, name in MODELS.items()])


def _num(value) -> str:
    return f"{float(value or 0):g}"


def _by_notebook(tests: list[dict]) -> list[tuple[str, list[dict]]]:
    groups: dict[str, list[dict]] = {}
    for t in tests:
        groups.setdefault(t["notebook"], []).append(t)
    return list(groups.items())


def _test_view(entry: dict) -> dict:
    """One test as the page shows it."""
    extra = entry.get("extra_data") or {}
    name, top = entry["name"], f"{float(entry.get('max_score', 0)):g}"
    status = {"passed": "passed", results.PENDING: "pending"}.get(
        entry.get("status"), "failed")
    badge = (f"{entry['score']:g} / {top}" if "score" in entry
             else f"pending / {top}")
    return {"name": name, "notebook": extra.get("notebook") or "",
            "status": status, "badge": badge, "who": _who(entry, top),
            "message": one_message(name, extra.get(
                "message", entry.get("output", ""))),
            "sizes": _sizes(extra.get("sizes")),
            "other_sizes": _sizes(extra.get("other_sizes")),
            "comment": extra.get("comment", "")}


def _who(entry: dict, top: str) -> str:
    extra = entry.get("extra_data") or {}
    if extra.get("graded_by") != results.INSTRUCTOR:
        return ""
    if "manual" in (entry.get("tags") or []):
        return "Graded by the instructor."
    auto = extra.get("autograder_score")
    gave = "no score" if auto is None else f"{auto:g} / {top}"
    return f"Score set by the instructor (the autograder gave {gave})."


def one_message(grade_id: str, text: str) -> str:
    """The check's message once: without the grade_id in front of each
    line, without a line said twice (the visible and the hidden test
    often print the same success line), without grader paths."""
    prefix = re.compile(rf"^{re.escape(grade_id)}:\s*")
    lines = []
    for line in redact.text(text or "").splitlines():
        line = prefix.sub("", line)
        if line.strip() and line not in lines:
            lines.append(line)
    return "\n".join(lines)


def _sizes(sizes) -> str:
    """{"vocab_size": 28, ...} -> "vocab_size=28, ..." ("" for none)."""
    if type(sizes) is not dict:
        return ""
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


# --------------------------------------------------------------------------
# The command


def nbgrader_feedback_command(course_root: Path, url: str,
                              student: str | None) -> list[str]:
    """The ``nbgrader generate_feedback`` command line.

    Student output stays inert: the notebooks are rendered with nbconvert's
    ``sanitize_html`` on (a ``<script>`` a student printed comes out as
    text), whatever the course's configuration says.
    """
    cmd = [sys.executable, "-I", "-m", "nbgrader", "generate_feedback",
           ASSIGNMENT_ID, "--force",
           f"--CourseDirectory.root={course_root}",
           f"--CourseDirectory.course_id={gbook.COURSE_ID}",
           f"--CourseDirectory.db_url={url}",
           "--HTMLExporter.sanitize_html=True"]
    return cmd + ([f"--student={student}"] if student else [])


def run_nbgrader_feedback(course_root: Path, url: str,
                          student: str | None) -> None:
    """Run ``nbgrader generate_feedback`` for one student or everyone.

    Raises:
        RuntimeError: nbgrader failed, with its error line.
    """
    gbook.tools_on_path()
    proc = subprocess.run(
        nbgrader_feedback_command(course_root, url, student),
        cwd=course_root, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(error_line(proc.stderr + proc.stdout))


def graded_students(course_root: Path) -> list[str]:
    """Students with autograded notebooks in the course."""
    folder = course_root / "autograded"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if (p / ASSIGNMENT_ID).is_dir())


def results_path(student: str, home: Path,
                 results_dir: Path | None = None) -> Path:
    """The student's results.json: in ``results_dir`` if given, else
    where it was published (recorded in the feedback material), else
    ``results/`` in the home."""
    if results_dir:
        return Path(results_dir) / student / "results.json"
    recorded = _material(feedback_file(student, home)).get("results")
    return Path(recorded) if type(recorded) is str else default_out(
        student, home)


def write_student_page(student: str, course_root: Path,
                       results_dir: Path | None = None,
                       db_url: str | None = None) -> Path:
    """Write perplexity.png and index.html for one student; return the page.

    Args:
        student: the student id.
        course_root: the gradebook's home (``autograded/``, ``.grading/``).
        results_dir: where ``<student>/results.json`` are (default: where
            they were published).
        db_url: the gradebook; results.json is first brought in line with
            it, and the instructor's comments come from it.
    """
    dest = course_root / "feedback" / student / ASSIGNMENT_ID
    dest.mkdir(parents=True, exist_ok=True)
    runs = saved_runs(feedback_file(student, course_root))
    plot = plot_curves(runs, dest / "perplexity.png")
    out = results_path(student, course_root, results_dir)
    comments = {}
    if db_url:
        publish.refresh(student, db_url=db_url, out=out)
        comments = gbook.marks(db_url, student)[1]
    pages = sorted(p.name for p in dest.glob("*.html")
                   if p.name != "index.html")
    page = dest / "index.html"
    page.write_text(render_index(student, results.read(out), runs, pages,
                                 plot.name if plot else None, comments))
    return page


def main(*, student: str | None = None, db: str | None = None,
         course_root: Path | str = COURSE_ROOT,
         results_dir: str | Path | None = None, quiet: bool = False) -> int:
    """Generate feedback for one student (or every graded student).

    Args:
        student: the student id (default: everyone graded).
        db: the gradebook (default: gradebook.db at the course root); the
            feedback goes to its folder, beside its ``autograded/``.
        course_root: the nbgrader course directory.
        results_dir: where ``<student>/results.json`` are (default: where
            ``grade``/``grade-all`` wrote them).
        quiet: print nothing but errors.

    Returns:
        0 on success; 2 with a one-line reason when nothing could be made.
    """
    where = publish.places(Path(course_root).resolve(), db)
    home = where.home
    students = [student] if student else graded_students(home)
    if not students:
        print(f"feedback: no graded submissions in {home / 'autograded'}",
              file=sys.stderr)
        return 2
    try:
        run_nbgrader_feedback(home, where.db_url, student)
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        print(f"feedback: nbgrader generate_feedback failed: {err}",
              file=sys.stderr)
        return 2
    rdir = Path(results_dir) if results_dir else None
    for s in students:
        page = write_student_page(s, home, rdir, where.db_url)
        if not quiet:
            print(f"feedback for {s}: {page}")
    return 0
