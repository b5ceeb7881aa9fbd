"""Does ``release`` write the whole student folder, cleanly: the notebooks
(nbgrader), the self-check package, the README and requirements.txt?"""
import shutil
from pathlib import Path

import pytest
from nbgrader.converters import NbGraderException

from autograder import contract, notebooks
from autograder.release import handout, leaks, package, release, testcells
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT
from autograder.student import registry

SOURCE = COURSE_ROOT / "solutions" / ASSIGNMENT_ID
RELEASE = COURSE_ROOT / "assignments" / ASSIGNMENT_ID


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The release generated now from the real source notebooks."""
    return release.generate(tmp_path_factory.mktemp("gen") / ASSIGNMENT_ID)


@pytest.fixture
def course(tmp_path):
    """A copy of the course: the real source and the committed release."""
    shutil.copytree(SOURCE, tmp_path / "solutions" / ASSIGNMENT_ID)
    shutil.copytree(RELEASE, tmp_path / "assignments" / ASSIGNMENT_ID)
    return tmp_path


def _nbgrader(cell):
    return cell.metadata.get("nbgrader", {})


def test_release_holds_what_a_student_needs_and_nothing_else(generated):
    """Does the release hold exactly the contract's notebooks, the
    self-check package, the README and requirements.txt?"""
    names = sorted(p.name for p in generated.iterdir())
    assert names == sorted([nb.name for nb in contract.NOTEBOOKS]
                           + [package.NAME, handout.README,
                              handout.REQUIREMENTS])
    assert sorted(p.name for p in (generated / package.NAME).iterdir()) \
        == sorted(package.files())


def test_test_cells_are_written_from_the_registry(generated):
    """Is every released test cell what the registry says, comment first
    (what it checks and its points, in both languages)?"""
    for nb in contract.NOTEBOOKS:
        released = notebooks.read(generated / nb.name)
        for gid in nb.tests:
            assert notebooks.source(released, gid) == testcells.source(
                registry.test(gid))


@pytest.mark.parametrize("nb", contract.NOTEBOOKS, ids=lambda nb: nb.name)
def test_answer_cells_are_stubs(generated, nb):
    """Is every function cell a stub that still defines the function, and
    every written answer blank?"""
    released = notebooks.read(generated / nb.name)
    for gid in nb.functions:
        src = notebooks.source(released, gid)
        assert f"def {gid}(" in src
        assert "raise NotImplementedError()" in src
    for gid in nb.manual:
        assert notebooks.source(released, gid) == "YOUR ANSWER HERE"


@pytest.mark.parametrize("nb", contract.NOTEBOOKS, ids=lambda nb: nb.name)
def test_test_cells_keep_points_and_lose_hidden_tests(generated, nb):
    """Does every test cell keep its points and visible call, and lose its
    hidden part?"""
    source = notebooks.read(SOURCE / nb.name)
    released = notebooks.read(generated / nb.name)
    for gid in nb.tests:
        cell = notebooks.cell(released, gid)
        assert _nbgrader(cell)["points"] > 0
        assert _nbgrader(cell)["locked"]
        assert "HIDDEN" not in cell.source
        visible = notebooks.source(source, gid).split("### BEGIN")[0]
        assert cell.source.strip() == visible.strip()


def test_generation_is_deterministic(generated, tmp_path):
    """Does a second generation give the same files (so drift is real)?"""
    again = release.generate(tmp_path / ASSIGNMENT_ID)
    assert leaks.compare_releases(generated, again) == []


@pytest.fixture
def no_gradebook(monkeypatch):
    """Make any use of nbgrader's gradebook fail; list the attempts."""
    from nbgrader.converters import generate_assignment

    opened = []

    def refuse(*args, **kwargs):
        opened.append(args)
        raise RuntimeError("the gradebook was opened")

    monkeypatch.setattr(generate_assignment, "Gradebook", refuse)
    return opened


def test_generation_needs_no_gradebook(course, no_gradebook):
    """Does releasing run without a gradebook (nbgrader's --no-db)?"""
    out = release.generate(course / "out", course_root=course)
    assert (out / contract.DEEP_RNN.name).is_file()
    assert no_gradebook == []
    assert not list(course.rglob("gradebook.db"))


def test_gradebook_guard_can_fail(course, no_gradebook, monkeypatch):
    """Would the guard above notice a release that opens the gradebook?"""
    with_db = release._nbgrader_config

    def config(root, assignment_id):
        c = with_db(root, assignment_id)
        c.GenerateAssignment.no_database = False
        return c

    monkeypatch.setattr(release, "_nbgrader_config", config)
    with pytest.raises(NbGraderException):
        release.generate(course / "out", course_root=course)
    assert no_gradebook != []


def test_missing_source_is_a_clear_error(tmp_path):
    """Is a course without the source folder refused, naming the folder?"""
    with pytest.raises(FileNotFoundError, match="solutions"):
        release.generate(tmp_path / "out", course_root=tmp_path)


def test_committed_release_is_current():
    """Is the committed release (notebooks, package, README) what
    ``release`` generates now, and are the source's test cells the
    registry's?"""
    assert release.check_drift(COURSE_ROOT) == []


def test_drift_check_regenerates_from_the_source(course):
    """Does check_drift flag a release older than its source, and accept
    the committed one?"""
    assert release.check_drift(course) == []
    path = course / "solutions" / ASSIGNMENT_ID / contract.DEEP_RNN.name
    nb = notebooks.read(path)
    notebooks.cell(nb, "intro").source += "\n\nA new sentence."
    notebooks.write(nb, path)
    problems = release.check_drift(course)
    assert len(problems) == 1 and "intro" in problems[0]
    assert Path(problems[0].split()[1]).name == contract.DEEP_RNN.name


def test_drift_check_covers_the_package_and_the_readme(course):
    """Is an edited rnn_checks module or README in the committed release
    drift (and a __pycache__ from running the notebooks in place not)?"""
    folder = course / "assignments" / ASSIGNMENT_ID
    cache = folder / package.NAME / "__pycache__"
    cache.mkdir()
    (cache / "report.cpython-311.pyc").write_bytes(b"\0")
    assert release.check_drift(course) == []
    with open(folder / package.NAME / "report.py", "a") as f:
        f.write("MAX_LINES = 1000\n")
    with open(folder / handout.README, "a") as f:
        f.write("\nAn edit by hand.\n")
    problems = release.check_drift(course)
    assert len(problems) == 2
    assert any("report.py differs" in p for p in problems)
    assert any("README.md differs" in p for p in problems)


def test_hand_edited_source_test_cell_is_drift_and_rewritten(course,
                                                             capsys):
    """Does ``release --check`` report a source test cell that is not the
    registry's, and ``release`` write it back?"""
    path = course / "solutions" / ASSIGNMENT_ID / contract.DEEP_RNN.name
    nb = notebooks.read(path)
    notebooks.set_source(nb, "test_deep_rnn_params", "pass")
    notebooks.write(nb, path)
    assert release.main(course_root=course, check=True) == 1
    assert "test cell test_deep_rnn_params" in capsys.readouterr().err
    assert release.main(course_root=course) == 0
    assert notebooks.source(notebooks.read(path), "test_deep_rnn_params") \
        == testcells.source(registry.test("test_deep_rnn_params"))


def test_main_regenerates_a_stale_release(course, capsys):
    """Does ``release`` rewrite an edited release and report it clean?"""
    path = course / "assignments" / ASSIGNMENT_ID / contract.DEEP_RNN.name
    nb = notebooks.read(path)
    notebooks.set_source(nb, "setup", "import os")
    notebooks.write(nb, path)
    assert release.main(course_root=course) == 0
    assert notebooks.source(notebooks.read(path), "setup") != "import os"
    assert "clean" in capsys.readouterr().out


def test_check_reports_drift_and_writes_nothing(course, capsys):
    """Does ``release --check`` fail on a stale release without fixing it,
    and pass on the committed one?"""
    assert release.main(course_root=course, check=True) == 0
    path = course / "assignments" / ASSIGNMENT_ID / contract.DEEP_RNN.name
    nb = notebooks.read(path)
    notebooks.set_source(nb, "setup", "import os")
    notebooks.write(nb, path)
    assert release.main(course_root=course, check=True) == 1
    assert "drift:" in capsys.readouterr().err
    assert notebooks.source(notebooks.read(path), "setup") == "import os"


def test_check_reports_a_leak(course, capsys):
    """Does ``release --check`` fail when a release cell holds a solution
    line?"""
    path = course / "assignments" / ASSIGNMENT_ID / contract.DEEP_RNN.name
    solution = notebooks.source(notebooks.read(SOURCE / path.name),
                                "init_deep_rnn_state")
    nb = notebooks.read(path)
    notebooks.set_source(nb, "init_deep_rnn_state", solution)
    notebooks.write(nb, path)
    assert release.main(course_root=course, check=True) == 1
    assert "leak:" in capsys.readouterr().err


def test_check_reports_a_grader_module_in_the_package(course, capsys):
    """Does ``release --check`` fail when the student package holds a
    module of the grader's?"""
    folder = course / "assignments" / ASSIGNMENT_ID / package.NAME
    shutil.copy(COURSE_ROOT / "autograder" / "grader" / "causality.py",
                folder / "zoo.py")
    assert release.main(course_root=course, check=True) == 1
    err = capsys.readouterr().err
    assert "zoo.py is not one of the modules" in err
    assert "first_leak" in err
