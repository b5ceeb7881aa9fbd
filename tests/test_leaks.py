"""Does the release check catch leaked solutions, hidden tests, the
grader's secrets and drift?"""
import copy
import shutil

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import contract, notebooks
from autograder.release import leaks, package
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


# ------------------------------------------------------ the other files

@pytest.fixture
def package_copy(tmp_path):
    """A clean copy of the self-check package, as release writes it."""
    return package.write(tmp_path / package.NAME)


def test_clean_package_copy_passes(package_copy):
    """Is the package as release writes it accepted?"""
    assert leaks.check_package(package_copy) == []


def test_grader_module_in_the_package_is_a_leak(package_copy):
    """Is a module of the grader's, put in the package, reported?"""
    shutil.copy(COURSE_ROOT / "autograder" / "grader" / "verdicts.py",
                package_copy / "verdicts.py")
    problems = leaks.check_package(package_copy)
    assert len(problems) == 1 and "verdicts.py is not one of" in problems[0]


def test_edited_and_missing_modules_are_reported(package_copy):
    """Are a changed and a deleted module of the copy reported?"""
    with open(package_copy / "config.py", "a") as f:
        f.write("HIDDEN = (5, 40)\n")
    (package_copy / "trust.py").unlink()
    problems = leaks.check_package(package_copy)
    assert any("config.py is not autograder/student/config.py" in p
               for p in problems)
    assert any(p.startswith("missing:") and "trust.py" in p
               for p in problems)


def test_grader_secrets_are_its_probe_sizes_and_seeds():
    """Are the grader's probe, other sizes and seeds secret, and plain
    words and names the student package shares not?"""
    secrets = leaks.grader_secrets()
    assert {"first_leak", "draw_zoo", "hidden_sizes", "generator_for",
            "vocab_size_range", "seed_env", "AUTOGRADER_SEED"} <= secrets
    assert not {"Grading", "Verdict", "SEEN", "_draw", "judge_answers",
                "lesson_specs"} & secrets


@pytest.mark.parametrize("line", [
    "from autograder.grader.causality import first_leak",
    "    sizes = hidden_sizes(test, seed)",
    "seed = os.environ['AUTOGRADER_SEED']",
])
def test_a_grader_secret_in_a_file_is_reported(line):
    """Is a line naming the grader's probe, sizes or seed reported?"""
    problems = leaks.find_text_leaks(f"x = 1\n{line}\n", "f.py",
                                     leaks.grader_secrets(), set())
    assert len(problems) == 1 and "f.py, line 2" in problems[0]
    assert leaks.find_text_leaks("first_leaking = 1\n", "f.py",
                                 leaks.grader_secrets(), set()) == []


def test_solution_code_in_a_file_is_reported():
    """Are three lines of a solution region in a row reported, and two
    (such as ordinary lines) not?"""
    nb = notebooks.read(SOURCE / contract.DEEP_RNN.name)
    runs = leaks.solution_runs(nb)
    code = notebooks.source(nb, "deep_rnn").splitlines()
    start = code.index("    ### BEGIN SOLUTION") + 1
    three = "\n".join(["# my notes"] + code[start:start + 3])
    problems = leaks.find_text_leaks(three, "notes.md", set(), runs)
    assert len(problems) == 1 and "notes.md, lines 2-4" in problems[0]
    two = "\n".join(code[start:start + 2] + ["pass"])
    assert leaks.find_text_leaks(two, "notes.md", set(), runs) == []


def test_committed_release_files_are_clean():
    """Do the committed release's package, README and requirements hold
    nothing of the grader's or of the solutions?"""
    assert leaks.check_files(SOURCE, RELEASE) == []
    assert leaks.check_release(SOURCE, RELEASE) == []


def test_readme_with_a_solution_is_reported(tmp_path):
    """Would a README that quotes a solution be reported?"""
    release = tmp_path / "release"
    shutil.copytree(RELEASE, release)
    code = notebooks.source(notebooks.read(SOURCE / contract.DEEP_RNN.name),
                            "init_deep_rnn_state")
    with open(release / "README.md", "a") as f:
        f.write("\n" + code + "\n")
    problems = leaks.check_files(SOURCE, release)
    assert len(problems) == 1 and "README.md" in problems[0]
