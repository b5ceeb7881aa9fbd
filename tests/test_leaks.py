"""Does the release check catch leaked solutions, hidden tests and drift?"""
import copy
import shutil
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import contract, notebooks
from autograder.release import leaks
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT

SOURCE = COURSE_ROOT / "solutions" / ASSIGNMENT_ID
RELEASE = COURSE_ROOT / "assignments" / ASSIGNMENT_ID


def _nbgrader(gid, **flags):
    return {"nbgrader": {"grade_id": gid, "schema_version": 3,
                         "grade": False, "solution": False, "locked": False,
                         **flags}}


@pytest.fixture
def source_nb():
    """A source notebook: a solution, a test with hidden part, an answer."""
    return new_notebook(cells=[
        new_code_cell(
            "def add(a, b):\n"
            "    ### BEGIN SOLUTION\n"
            "    return a + b\n"
            "    ### END SOLUTION",
            metadata=_nbgrader("add", solution=True)),
        new_code_cell(
            "check(add, a=1, b=2)\n"
            "### BEGIN HIDDEN TESTS\n"
            "check(add, a=1, b=2)\n"
            "check(add, **hidden_sizes('test_add'))\n"
            "### END HIDDEN TESTS",
            metadata=_nbgrader("test_add", grade=True, locked=True,
                               points=1)),
        new_markdown_cell(
            "It reads the future.",
            metadata=_nbgrader("explain", grade=True, solution=True,
                               points=2)),
    ])


@pytest.fixture
def release_nb(source_nb):
    """What nbgrader makes of ``source_nb``: stubs, no hidden tests."""
    nb = copy.deepcopy(source_nb)
    nb.cells[0].source = ("def add(a, b):\n    # YOUR CODE HERE\n"
                          "    raise NotImplementedError()")
    nb.cells[1].source = "check(add, a=1, b=2)"
    nb.cells[2].source = "YOUR ANSWER HERE"
    return nb


def test_secret_lines_are_solution_hidden_and_answer_lines(source_nb):
    """Are solution, hidden-test and whole-answer lines secret, and only
    they (a hidden line that repeats the visible call is not)?"""
    secrets = leaks.secret_lines(source_nb)
    assert set(secrets) == {
        "### BEGIN SOLUTION", "return a + b", "### END SOLUTION",
        "### BEGIN HIDDEN TESTS", "check(add, **hidden_sizes('test_add'))",
        "### END HIDDEN TESTS", "It reads the future.",
    }
    assert secrets["return a + b"] == leaks.Secret("solution", "add")
    assert secrets["It reads the future."].grade_id == "explain"
    assert secrets["### END HIDDEN TESTS"].kind == "hidden test"


def test_clean_release_passes(source_nb, release_nb):
    """Is a release with stubs and without hidden tests accepted?"""
    assert leaks.find_leaks(source_nb, release_nb) == []


@pytest.mark.parametrize("cell, line, kind", [
    (0, "    return a + b", "solution"),
    (1, "check(add, **hidden_sizes('test_add'))", "hidden test"),
    (2, "It reads the future.", "solution"),
])
def test_each_kind_of_leak_is_reported(source_nb, release_nb, cell, line,
                                       kind):
    """Is a solution, hidden-test or model-answer line in the release
    reported with the cell it leaks from?"""
    release_nb.cells[cell].source += "\n" + line
    problems = leaks.find_leaks(source_nb, release_nb, "nb.ipynb")
    assert len(problems) == 1
    assert f"is a {kind} line" in problems[0]
    assert "nb.ipynb" in problems[0]


@pytest.mark.parametrize("output", [
    {"output_type": "stream", "name": "stdout", "text": "return a + b\n"},
    {"output_type": "execute_result", "execution_count": 1, "metadata": {},
     "data": {"text/plain": ["hello\n", "return a + b"]}},
    {"output_type": "error", "ename": "E", "evalue": "",
     "traceback": ["hello", "    return a + b"]},
], ids=["stream", "result", "traceback"])
def test_leak_in_an_output_is_reported(source_nb, release_nb, output):
    """Is a solution line shown in a cell's output reported?"""
    release_nb.cells[1].outputs = [output]
    assert len(leaks.find_leaks(source_nb, release_nb)) == 1
    release_nb.cells[1].outputs = [
        {"output_type": "stream", "name": "stdout", "text": "3\n"}]
    assert leaks.find_leaks(source_nb, release_nb) == []


def test_left_over_delimiter_is_reported(source_nb, release_nb):
    """Is a delimiter that does not come from the source still reported?"""
    release_nb.cells[1].source += "\n# ### BEGIN HIDDEN TESTS (moved)"
    problems = leaks.find_leaks(source_nb, release_nb)
    assert len(problems) == 1 and "delimiter" in problems[0]


def test_solution_cell_without_region_is_secret_whole():
    """Is a solution cell without a solution region secret in full?"""
    cell = new_code_cell("x = 42", metadata=_nbgrader("x", solution=True))
    secret, public = leaks.split_cell(cell)
    assert secret == [("solution", "x = 42")] and public == []
    plain = new_code_cell("x = 42")
    assert leaks.split_cell(plain) == ([], ["x = 42"])


def test_committed_release_has_no_leak():
    """Does the committed release leak nothing of the real source?"""
    assert leaks.check_leaks(SOURCE, RELEASE) == []


def test_committed_release_would_leak_the_sources():
    """Would the check flag every answer of the real source notebooks if
    they were released as they are? (Test cells hide nothing: the other
    sizes are the grader's, autograder/grader/verdicts.py.)"""
    problems = leaks.check_leaks(SOURCE, SOURCE)
    for nb in contract.NOTEBOOKS:
        for gid in nb.functions + nb.manual:
            assert any(f"{nb.name}, cell {gid}, line" in p
                       for p in problems), gid


def test_missing_and_extra_notebooks_are_reported(tmp_path):
    """Is a release without a source notebook (or the reverse) reported?"""
    release = tmp_path / "release"
    shutil.copytree(RELEASE, release)
    (release / contract.DEEP_RNN.name).rename(release / "other.ipynb")
    problems = leaks.check_leaks(SOURCE, release)
    assert any(p.startswith("missing:") and contract.DEEP_RNN.name in p
               for p in problems)
    assert any(p.startswith("unexpected:") and "other.ipynb" in p
               for p in problems)


def test_identical_releases_do_not_drift(tmp_path):
    """Is a copy of the committed release free of drift?"""
    shutil.copytree(RELEASE, tmp_path / "copy")
    assert leaks.compare_releases(RELEASE, tmp_path / "copy") == []


def test_edited_cell_is_drift_named_by_grade_id(tmp_path):
    """Is a hand edit of a release cell reported as drift, naming the cell?"""
    copy_dir = tmp_path / "copy"
    shutil.copytree(RELEASE, copy_dir)
    path = copy_dir / contract.BIDIRECTIONAL_RNN.name
    nb = notebooks.read(path)
    notebooks.set_source(nb, "test_birnn_params", "pass")
    notebooks.write(nb, path)
    problems = leaks.compare_releases(RELEASE, copy_dir)
    assert len(problems) == 1
    assert "test_birnn_params" in problems[0]
    assert "python -m autograder release" in problems[0]


def test_extra_and_missing_files_are_drift(tmp_path):
    """Are a stray file and a deleted notebook in the release drift?"""
    copy_dir = tmp_path / "copy"
    shutil.copytree(RELEASE, copy_dir)
    (copy_dir / "notes.txt").write_text("draft")
    (copy_dir / contract.DEEP_RNN.name).unlink()
    problems = leaks.compare_releases(RELEASE, copy_dir)
    assert any("notes.txt" in p and "not generated" in p for p in problems)
    assert any(contract.DEEP_RNN.name in p and "missing" in p
               for p in problems)


def test_drift_check_regenerates_from_the_source(tmp_path):
    """Does check_drift flag a release older than its source, and accept
    the committed one?"""
    course = tmp_path / "course"
    shutil.copytree(SOURCE, course / "solutions" / ASSIGNMENT_ID)
    shutil.copytree(RELEASE, course / "assignments" / ASSIGNMENT_ID)
    assert leaks.check_drift(course) == []
    path = course / "solutions" / ASSIGNMENT_ID / contract.DEEP_RNN.name
    nb = notebooks.read(path)
    notebooks.cell(nb, "intro").source += "\n\nA new sentence."
    notebooks.write(nb, path)
    problems = leaks.check_drift(course)
    assert len(problems) == 1 and "intro" in problems[0]
    assert Path(problems[0].split()[1]).name == contract.DEEP_RNN.name
