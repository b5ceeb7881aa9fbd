"""Do the notebooks keep the contract, teach the lesson, and run as graded?

Fast tests read the notebooks. Slow tests execute them with nbclient and
nbgrader, on copies in a temporary folder (so d2l's ``../data`` cache lands
there too).
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from d2l import torch as d2l
from nbclient import NotebookClient
from torch import nn
from torch.nn import functional as F

import rnn_checks

import chinese
from autograder import contract, data, notebooks
from autograder.grader import verdicts
from autograder.student import checks, registry
from autograder.release import examples, testcells
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT
from autograder.student.errors import CheckFailed

SOURCE = COURSE_ROOT / "solutions" / ASSIGNMENT_ID
RELEASE = COURSE_ROOT / "assignments" / ASSIGNMENT_ID
NOTEBOOKS = pytest.mark.parametrize("nb", contract.NOTEBOOKS,
                                    ids=lambda nb: nb.name)
NBGRADER = Path(sys.executable).parent / "nbgrader"
CJK = chinese.CJK
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"
# The book's concise code (d2l 0.17.6, sections 9.3 and 9.4), pasted as is.
BOOK_CODE = {
    "build_deep_lstm": (
        "    lstm_layer = nn.LSTM(num_inputs, num_hiddens, num_layers)\n"
        "    model = d2l.RNNModel(lstm_layer, len(vocab))\n"
        "    model = model.to(device)"),
    "build_bidirectional_lstm": (
        "    lstm_layer = nn.LSTM(num_inputs, num_hiddens, num_layers,\n"
        "                         bidirectional=True)\n"
        "    model = d2l.RNNModel(lstm_layer, len(vocab))\n"
        "    model = model.to(device)"),
}


def _meta(nb, gid):
    return notebooks.cell(nb, gid).metadata["nbgrader"]


@pytest.fixture(scope="module", params=contract.NOTEBOOKS,
                ids=lambda nb: nb.name)
def source(request):
    """(contract, source notebook) for each notebook."""
    return request.param, notebooks.read(SOURCE / request.param.name)


# ------------------------------------------------------------ the contract

def test_function_cells_are_solution_cells(source):
    """Is each contract function in its own solution cell, named by its
    grade_id, that defines it?"""
    nbc, nb = source
    for gid in nbc.functions:
        cell = notebooks.cell(nb, gid)
        assert cell.cell_type == "code"
        assert _meta(nb, gid)["solution"] and not _meta(nb, gid)["grade"]
        assert re.search(rf"^def {gid}\(", cell.source, re.M), gid


def test_test_cells_are_graded_locked_and_call_their_check(source):
    """Does each test cell carry the registry's points, stay read-only,
    call its self-check in rnn_checks, and hide nothing?"""
    nbc, nb = source
    assert [g for g in notebooks.grade_ids(nb) if g.startswith("test_")] \
        == list(nbc.tests) == [t.grade_id for t in
                                registry.of_notebook(nbc.name)]
    for gid in nbc.tests:
        meta, src = _meta(nb, gid), notebooks.source(nb, gid)
        assert meta["grade"] and meta["locked"]
        assert meta["points"] == registry.test(gid).points > 0
        assert f"rnn_checks.{gid.removeprefix('test_')}(" in src
        assert "HIDDEN" not in src


def test_written_answer_is_manual_markdown_with_points():
    """Is the written answer a manually graded markdown cell with points?"""
    nb = notebooks.read(SOURCE / contract.BIDIRECTIONAL_RNN.name)
    for gid in contract.BIDIRECTIONAL_RNN.manual:
        meta = _meta(nb, gid)
        assert notebooks.cell(nb, gid).cell_type == "markdown"
        assert meta["grade"] and meta["solution"] and meta["points"] > 0


def test_setup_cell_is_read_only_and_first(source):
    """Does a read-only cell import torch, nn, F and d2l before any answer?"""
    nbc, nb = source
    ids = notebooks.grade_ids(nb)
    assert _meta(nb, "setup")["locked"]
    assert ids.index("setup") < min(ids.index(g) for g in nbc.functions)
    src = notebooks.source(nb, "setup")
    for line in ("import torch", "from torch import nn",
                 "from torch.nn import functional as F",
                 "from d2l import torch as d2l", "import rnn_checks"):
        assert line in src


def test_test_cells_start_with_what_they_check_and_their_points(source):
    """Does each test cell start with a comment, in English and Chinese,
    naming what it checks and its points (so it does not look like an
    answer cell)?"""
    nbc, nb = source
    for gid in nbc.tests:
        src, test = notebooks.source(nb, gid), registry.test(gid)
        assert src.startswith(testcells.comment(test) + "\n")
        assert src.startswith(f"# Test ({test.points:g} point")
        assert f"# 测试（{test.points:g} 分）" in src


def test_scratch_cells_say_recurrent_layers_are_not_allowed(source):
    """Do the scratch exercise and each scratch cell, as released, say
    that torch's recurrent layers are not allowed there and that this is
    checked?"""
    nbc, nb = source
    released = notebooks.read(RELEASE / nbc.name)
    scratch = [g for g in nbc.functions
               if not g.startswith("build_") and g != "leaks_future"]
    assert len(scratch) == 3
    for gid in scratch:
        src = notebooks.source(released, gid)
        assert "torch's recurrent layers are not allowed here (checked)" \
            in src
        assert "不允许使用 torch 的循环层" in src
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for name in ("nn.RNN", "nn.LSTM", "nn.GRU", "torch.rnn_tanh",
                 "torch._VF", "functional_call", "This is checked"):
        assert name in text, name


def test_lines_fit_in_79_columns(source):
    """Is every line of code at most 79 columns (a Chinese character
    takes two), and every English line of text at most 79 characters?"""
    _, nb = source
    long = [line for cell in nb.cells for line in cell.source.splitlines()
            if (cell.cell_type == "code"
                and testcells.width(line) > testcells.WIDTH)
            or (cell.cell_type == "markdown" and not CJK.search(line)
                and len(line) > testcells.WIDTH)]
    assert long == []


def test_chinese_text_is_not_hard_wrapped(source):
    """Is every Chinese paragraph one line, so that no line break renders
    as a stray space ("你将两次 构建")?"""
    _, nb = source
    wrapped = [line for cell in nb.cells if cell.cell_type == "markdown"
               for line in chinese.hard_wrapped(cell.source)]
    assert wrapped == []


def test_instructions_are_in_english_and_chinese(source):
    """Does every read-only markdown cell speak English and 简体中文?"""
    _, nb = source
    for cell in nb.cells:
        if cell.cell_type == "markdown" and notebooks.grade_id(cell) and \
                cell.metadata["nbgrader"]["locked"]:
            assert CJK.search(cell.source), notebooks.grade_id(cell)
            assert re.search(r"\b(the|The)\b", cell.source)


@pytest.mark.parametrize("name, phrases", [
    (contract.DEEP_RNN.name,
     ["num_layers", r"\mathbf{H}_{t-1}^{(l)}", r"\mathbf{H}_t^{(l-1)}",
      r"g\left(\mathbf{H}_t^{(L)}\right)", "GRU"]),
    (contract.BIDIRECTIONAL_RNN.name,
     [r"\overleftarrow{\mathbf{H}}_t", r"\overrightarrow{\mathbf{H}}_t",
      "2 * num_hiddens", "fill-in-the-blank", "predicting the future",
      "time travellerererer", "perplexity"]),
])
def test_lesson_points_are_taught(name, phrases):
    """Does each notebook teach its points of the lesson?"""
    text = "\n".join(c.source for c in notebooks.read(SOURCE / name).cells
                     if c.cell_type == "markdown")
    missing = [p for p in phrases if p not in text]
    assert missing == []


def test_full_recipe_is_one_variable_away(source):
    """Is the book's 500-epoch recipe one editable variable away?"""
    _, nb = source
    recipe = [c for c in nb.cells if "FULL_RECIPE = False" in c.source]
    assert len(recipe) == 1 and not notebooks.grade_id(recipe[0])
    assert "500 if FULL_RECIPE else" in recipe[0].source


def test_training_cells_take_the_grading_path(source):
    """Is every d2l.train_ch8 call skipped when nbgrader executes?"""
    _, nb = source
    training = [c for c in nb.cells if "d2l.train_ch8(" in c.source]
    assert training
    for cell in training:
        assert "rnn_checks.grading()" in cell.source


# --------------------------------------------- the book's code, pasted in

def _pasted(gid, body):
    """The released stub of ``gid`` with ``body`` in place of the stub."""
    nbc = contract.notebook_of(gid)
    stub = notebooks.source(notebooks.read(RELEASE / nbc.name), gid)
    assert STUB in stub
    return stub.replace(STUB, body)


def _run_tests(gid, body, seeds, monkeypatch):
    """Define ``gid`` from ``body``; run its tests' checks at the visible
    sizes and at the other sizes the grader draws for each seed."""
    namespace = dict(torch=torch, nn=nn, F=F, d2l=d2l, rnn_checks=rnn_checks)
    exec(_pasted(gid, body), namespace)  # noqa: S102 - our own code
    tests = [t for t in registry.TESTS if t.functions == (gid,)
             and t.check != "perplexity"]
    assert len(tests) == 3
    passed = 0
    for test in tests:
        runs = [test.visible_sizes] + [verdicts.hidden_sizes(test, seed)
                                       for seed in seeds]
        for sizes in runs:
            checks.run_here(test.check, {"build": namespace[gid]}, sizes,
                            names=test.roles, **test.kwargs)
            passed += 1
    return passed


@pytest.mark.parametrize("gid", sorted(BOOK_CODE))
def test_book_code_pasted_earns_full_points(gid, monkeypatch, capsys):
    """Does the book's concise code, pasted into a build cell, pass that
    cell's tests, hidden sizes included?"""
    assert _run_tests(gid, BOOK_CODE[gid], range(3), monkeypatch) == 3 * 4


@pytest.mark.parametrize("gid", sorted(BOOK_CODE))
def test_hard_coded_vocab_size_fails_hidden_tests(gid, monkeypatch):
    """Does a build function with the Time Machine's 28 tokens hard-coded
    fail the hidden tests?"""
    body = BOOK_CODE[gid].replace("len(vocab)", "28")
    with pytest.raises(CheckFailed):
        _run_tests(gid, body, range(5), monkeypatch)


def test_forgetting_bidirectional_fails(monkeypatch):
    """Does the deep LSTM's code fail the bidirectional tests?"""
    with pytest.raises(CheckFailed):
        _run_tests("build_bidirectional_lstm", BOOK_CODE["build_deep_lstm"],
                   [0], monkeypatch)


# ----------------------------------------------------------- execution

def _execute(nb, folder, *, timeout=600):
    """Execute ``nb`` in ``folder`` (the data in its ../data, where the
    book's loader looks) with nbclient; return it with outputs."""
    folder.mkdir(parents=True, exist_ok=True)
    data.install(folder)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    return client.execute()


def _errors(nb) -> dict[str, str]:
    """grade_id (or index) -> error name, for every cell that raised."""
    found = {}
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                found[notebooks.grade_id(cell) or f"#{index}"] = out.ename
    return found


def _grading_env() -> dict:
    """The environment of a grading run: the venv first on PATH (nbgrader
    calls alembic)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NBGRADER_EXECUTION",)}
    env["PATH"] = f"{NBGRADER.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _nbgrader_cli(*args, cwd):
    out = subprocess.run([str(NBGRADER), *args], cwd=cwd, env=_grading_env(),
                         capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def autograded(tmp_path_factory):
    """A scratch course where plain ``nbgrader autograde`` has graded two
    students: "solution" (the source notebooks) and "stubs" (the committed
    release, untouched). Returns the course folder."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", course)
    shutil.copytree(SOURCE, course / "solutions" / ASSIGNMENT_ID)
    _nbgrader_cli("generate_assignment", ASSIGNMENT_ID, "--force",
                  cwd=course)
    for student, folder in [("solution", SOURCE), ("stubs", RELEASE)]:
        shutil.copytree(folder, course / "submitted" / student / ASSIGNMENT_ID)
        # the book reads ../data from the notebook's folder
        data.install(course / "autograded" / student / ASSIGNMENT_ID)
    _nbgrader_cli("autograde", ASSIGNMENT_ID, "--force", cwd=course)
    return course


def _graded(course, student, nbc):
    """(notebook executed by autograde, {grade_id: (score, max_score)})."""
    from nbgrader.api import Gradebook

    path = course / "autograded" / student / ASSIGNMENT_ID / nbc.name
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission_notebook(nbc.name.removesuffix(".ipynb"),
                                          ASSIGNMENT_ID, student)
        scores = {g.name: (g.score, g.max_score) for g in sub.grades}
    return notebooks.read(path), scores


@pytest.mark.slow
@NOTEBOOKS
def test_solution_gets_full_points_under_autograde(nb, autograded):
    """Does the solution notebook run top to bottom under ``nbgrader
    autograde``, every test cell (hidden parts included) passing with full
    points?"""
    done, scores = _graded(autograded, "solution", nb)
    assert _errors(done) == {}
    for gid in nb.tests:
        score, max_score = scores[gid]
        assert score == max_score > 0, gid
        outputs = notebooks.cell(done, gid).get("outputs", [])
        text = "".join(o.get("text", "") for o in outputs)
        assert gid in text, f"{gid} printed no success line"
        assert not [o for o in outputs if o.output_type == "execute_result"]


@pytest.mark.slow
@NOTEBOOKS
def test_release_fails_every_test_without_crashing(nb, autograded):
    """Does the untouched release run to the end under ``nbgrader
    autograde``, every test that runs there failing, the training tests
    saying the grader trains the model itself, and no other cell raising?
    (Under plain nbgrader a training test's cell passes: only the kit's
    grader, which trains the model, scores it.)"""
    done, scores = _graded(autograded, "stubs", nb)
    trains = {g for g in nb.tests if registry.test(g).trains}
    assert trains and set(_errors(done)) == set(nb.tests) - trains
    assert all(scores[gid][0] == 0 for gid in set(nb.tests) - trains)
    for gid in trains:
        text = "".join(o.get("text", "") for o in
                       notebooks.cell(done, gid).get("outputs", []))
        assert text.startswith(f"- {gid}: the grader trains") and \
            text.count("\n") == 1, text


@pytest.mark.slow
def test_completed_student_copy_validates(tmp_path):
    """Does ``nbgrader validate`` pass on a release completed with the
    solutions, and fail on the untouched release?"""
    solution = examples.by_name("solution")
    for nb in contract.NOTEBOOKS:
        filled = examples.fill(notebooks.read(RELEASE / nb.name),
                               notebooks.read(SOURCE / nb.name), solution)
        notebooks.write(filled, tmp_path / "student" / nb.name)
        notebooks.write(notebooks.read(RELEASE / nb.name),
                        tmp_path / "untouched" / nb.name)
    for name, want in [("student", "Success! Your notebook passes all"),
                       ("untouched", "VALIDATION FAILED")]:
        out = subprocess.run(
            [str(NBGRADER), "validate", str(tmp_path / name / "*.ipynb")],
            cwd=COURSE_ROOT, env=_grading_env(), capture_output=True,
            text=True, timeout=900)
        assert out.stdout.count(want) == len(contract.NOTEBOOKS), out.stdout
        # a test cell's value would be read as a partial-credit score
        assert "cannot be converted to a float" not in out.stdout + out.stderr


@pytest.mark.slow
@NOTEBOOKS
def test_student_training_path_runs(nb, tmp_path, monkeypatch):
    """Do the training and demo cells run outside grading (one epoch)?"""
    source = notebooks.read(SOURCE / nb.name)
    source.cells = [c for c in source.cells
                    if notebooks.grade_id(c) not in nb.tests]
    recipe = next(c for c in source.cells
                  if "FULL_RECIPE = False" in c.source)
    recipe.source += "\nnum_epochs = 1  # test: one epoch"
    monkeypatch.setenv("MPLBACKEND", "Agg")
    done = _execute(source, tmp_path / "nb")
    assert _errors(done) == {}
    printed = "".join(o.get("text", "") for c in done.cells
                      for o in c.get("outputs", []))
    assert "Grading" not in printed
    runs = 2 if nb is contract.DEEP_RNN else 1  # scratch RNN + deep LSTM
    assert printed.count("tokens/sec") == runs
