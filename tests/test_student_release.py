"""Is the release all a student needs? The release folder alone (and the
data in ``../data``), run in a Jupyter kernel where the kit cannot be
imported (tests/student_env.py).

Slow: each of those tests runs both notebooks, training included (one
epoch of the notebooks' own training, and the perplexity self-checks').
"""
from __future__ import annotations

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

import student_env
from autograder import contract, notebooks
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT
from autograder.release import examples
from autograder.student import registry, report

SOURCE = COURSE_ROOT / "solutions" / ASSIGNMENT_ID
NOTEBOOKS = pytest.mark.parametrize("nbc", contract.NOTEBOOKS,
                                    ids=lambda nb: nb.name)
# What a frame through the kit or the installed packages looks like in a
# traceback; a student's failing check must show none.
KIT_FRAMES = ("Traceback", "rnn_checks/", "site-packages", ".py:",
              "File \"")


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """A student's folder (the release copied alone, with ../data) and the
    $JUPYTER_PATH of the kit-less kernel."""
    tmp = tmp_path_factory.mktemp("student")
    return student_env.student_folder(tmp), student_env.kernel(tmp)


def _run(nb, student, monkeypatch):
    """Execute ``nb`` in the student's folder with the kit-less kernel,
    the probe cell first; go on past errors, as a student clicking on."""
    folder, jupyter_path = student
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb.cells.insert(0, new_code_cell(student_env.PROBE))
    NotebookClient(nb, timeout=900, kernel_name=student_env.KERNEL_NAME,
                   allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    probe = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "student kernel: rnn_checks from" in probe, nb.cells[0].outputs
    return nb


def _outputs(nb, gid):
    return notebooks.cell(nb, gid).get("outputs", [])


def _errors(nb) -> dict[str, str]:
    """grade_id (or index) -> error name, for every cell that raised."""
    return {notebooks.grade_id(c) or f"#{i}": o.ename
            for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
            if o.output_type == "error"}


def test_probe_fails_where_the_kit_is_importable(tmp_path, monkeypatch):
    """Would the probe cell notice a kernel where the kit is importable
    (as it is in the kit's own venv)?"""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AssertionError, match="the kit is importable"):
        exec(student_env.PROBE, {})  # noqa: S102 - the test's own code


@pytest.mark.slow
@NOTEBOOKS
def test_solutions_pass_every_visible_check_without_the_kit(
        nbc, student, monkeypatch):
    """Completed with the solutions, does each notebook run top to bottom
    in the student's folder alone, every test cell printing its one
    passing line and returning nothing?"""
    folder, _ = student
    nb = examples.fill(notebooks.read(folder / nbc.name),
                       notebooks.read(SOURCE / nbc.name),
                       examples.by_name("solution"))
    recipe = next(c for c in nb.cells if "FULL_RECIPE = False" in c.source)
    recipe.source += "\nnum_epochs = 1  # test: one epoch"
    done = _run(nb, student, monkeypatch)
    assert _errors(done) == {}
    for gid in nbc.tests:
        outputs = _outputs(done, gid)
        text = "".join(o.get("text", "") for o in outputs)
        assert text.startswith(f"✓ {gid}: ") and text.count("\n") == 1, text
        assert [o.output_type for o in outputs] == ["stream"]


@pytest.mark.slow
@NOTEBOOKS
def test_untouched_release_fails_every_check_in_a_few_lines(
        nbc, student, monkeypatch):
    """Untouched, does every test cell fail with a short report that names
    the student's function, and no frame of the kit?"""
    folder, _ = student
    done = _run(notebooks.read(folder / nbc.name), student, monkeypatch)
    for gid in nbc.tests:
        errors = [o for o in _outputs(done, gid) if o.output_type == "error"]
        assert len(errors) == 1, (gid, _outputs(done, gid))
        assert errors[0].ename == "SelfCheckFailed"
        text = "\n".join(errors[0].traceback)
        lines = text.splitlines()
        assert lines[0].startswith(f"✗ {gid} ("), text
        assert len(lines) <= report.MAX_LINES, text
        assert any(fn in text for fn in registry.test(gid).functions), text
        assert not [k for k in KIT_FRAMES if k in text], text
