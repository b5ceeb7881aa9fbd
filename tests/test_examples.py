"""Tests of autograder/release/examples.py: example submissions built by grade_id.

Built from the committed release and the solutions; nothing is executed
here (tests/test_demo.py grades them).
"""
from __future__ import annotations

import pytest

from autograder import contract, notebooks
from autograder.release import examples
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT

RELEASE = COURSE_ROOT / "assignments" / ASSIGNMENT_ID
FUNCTIONS = [f for nb in contract.NOTEBOOKS for f in nb.functions]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every example, built once."""
    return examples.build(tmp_path_factory.mktemp("examples"))


def _sources(folder):
    out = {}
    for nb in contract.NOTEBOOKS:
        book = notebooks.read(folder / nb.name)
        out.update({g: notebooks.source(book, g)
                    for g in notebooks.grade_ids(book)})
    return out


def test_there_are_solutions_stubs_and_three_mistakes():
    """Are the solution, the stubs and at least three typical mistakes
    bundled?"""
    names = [e.name for e in examples.EXAMPLES]
    assert names[:2] == ["solution", "stubs"]
    assert {"one_layer", "not_bidirectional",
            "backward_not_reversed"} <= set(names)


def test_solution_fills_every_function_cell(built):
    """Does the solution example define every contract function, with no
    stub and no nbgrader delimiter left?"""
    src = _sources(built["solution"])
    for fn in FUNCTIONS:
        assert f"def {fn}(" in src[fn]
        assert "NotImplementedError" not in src[fn]
        assert "### BEGIN SOLUTION" not in src[fn]


def test_stubs_are_the_release_untouched(built):
    """Is the stubs example exactly the release?"""
    assert _sources(built["stubs"]) == _sources(RELEASE)
    assert "NotImplementedError" in _sources(built["stubs"])["deep_rnn"]


def test_each_mistake_changes_only_its_cell(built):
    """Does each mistake differ from the solution in exactly the cells it
    names, with the mistake present?"""
    solution = _sources(built["solution"])
    for ex in examples.EXAMPLES[2:]:
        src = _sources(built[ex.name])
        changed = {g for g in src if src[g] != solution[g]}
        assert changed == set(ex.edits), ex.name
    assert "nn.LSTM(num_inputs, num_hiddens, num_layers)\n" in _sources(
        built["not_bidirectional"])["build_bidirectional_lstm"]
    assert "nn.LSTM(num_inputs, num_hiddens)\n" in _sources(
        built["one_layer"])["build_deep_lstm"]
    assert "flip" not in _sources(built["backward_not_reversed"])["birnn"]


def test_test_cells_are_never_edited(built):
    """Are the test cells of every example the release's own?"""
    release = _sources(RELEASE)
    tests = [t for nb in contract.NOTEBOOKS for t in nb.tests]
    for folder in built.values():
        src = _sources(folder)
        assert all(src[t] == release[t] for t in tests)


def test_edit_that_does_not_match_fails_loudly():
    """Does an edit whose text is not in the solution raise, so examples
    cannot silently drift from the solutions?"""
    with pytest.raises(ValueError, match="expected the text"):
        examples.apply_edits("nn.LSTM(a, b)", [("nn.GRU(", "nn.RNN(")])
    assert examples.apply_edits("nn.LSTM(a, b)", [("LSTM", "GRU")]) == \
        "nn.GRU(a, b)"


def test_solution_source_strips_delimiters_only():
    """Are only the solution delimiters removed from a solution cell?"""
    src = ("def f():\n    ### BEGIN SOLUTION\n    return 1\n"
           "    ### END SOLUTION")
    assert examples.solution_source(src) == "def f():\n    return 1"


def test_expected_outcomes_cover_every_test():
    """Does each example state an outcome for every autograded test, with
    stubs failing all and the solution passing all?"""
    tests = {t for nb in contract.NOTEBOOKS for t in nb.tests}
    stubs = examples.expected_outcomes(examples.by_name("stubs"))
    solution = examples.expected_outcomes(examples.by_name("solution"))
    assert set(stubs) == set(solution) == tests
    assert set(stubs.values()) == {"FAIL"}
    assert set(solution.values()) == {"pass"}
