"""Tests of autograder/release/testcells.py: is each test cell written
from the registry, saying what it checks and its points?"""
from __future__ import annotations

import ast
import shutil

import pytest

from autograder import contract, notebooks
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT
from autograder.release import testcells
from autograder.student import registry

SOURCE = COURSE_ROOT / "solutions" / ASSIGNMENT_ID
TESTS = pytest.mark.parametrize("test", registry.TESTS,
                                ids=lambda t: t.grade_id)


@TESTS
def test_cell_says_what_it_checks_and_its_points_in_both_languages(test):
    """Does the cell start with the registry's words and points, in
    English and then in Chinese?"""
    lines = [line.removeprefix("# ").strip()
             for line in testcells.comment(test).splitlines()]
    first_zh = next(i for i, line in enumerate(lines) if "测试" in line)
    unit = "point" if test.points == 1 else "points"
    en, zh = test.what
    assert " ".join(lines[:first_zh]) == f"Test ({test.points:g} {unit}): {en}"
    assert "".join(lines[first_zh:]) == f"测试（{test.points:g} 分）：{zh}"


@TESTS
def test_cell_calls_its_self_check_with_the_visible_sizes(test):
    """Is the call valid Python that passes the student's functions and
    the visible sizes to rnn_checks.<api>?"""
    tree = ast.parse(testcells.source(test))
    call = tree.body[-1].value
    assert ast.unparse(call.func) == f"rnn_checks.{test.api}"
    assert [a.id for a in call.args] == list(test.functions)
    assert {k.arg: k.value.value for k in call.keywords} == \
        test.visible_sizes


@TESTS
def test_cell_lines_fit_in_79_columns(test):
    """Does every line fit in 79 columns, a Chinese character taking
    two?"""
    assert all(testcells.width(line) <= testcells.WIDTH
               for line in testcells.source(test).splitlines())


def test_width_counts_chinese_twice_and_wrap_keeps_words():
    """Does a Chinese character count two columns, and does wrapping cut
    between characters but never inside a Latin word?"""
    assert testcells.width("ab测试") == 6
    lines = testcells.wrap_wide("测试测试 d2l.try_gpu() 测试", 12, "  ")
    assert lines == ["测试测试", "  d2l.try_gpu()", "  测试"]


@pytest.fixture
def source(tmp_path):
    """A copy of the source notebooks."""
    folder = tmp_path / "source"
    shutil.copytree(SOURCE, folder)
    return folder


def test_committed_source_cells_are_the_registrys():
    """Are the committed source's test cells what the registry says?"""
    assert testcells.check_folder(SOURCE) == []


def test_edited_cell_and_points_are_found_and_rewritten(source):
    """Are a hand-edited test cell and changed points reported, and
    stamping writes back exactly those cells?"""
    path = source / contract.DEEP_RNN.name
    nb = notebooks.read(path)
    notebooks.set_source(nb, "test_deep_rnn_shapes", "pass")
    notebooks.cell(nb, "test_deep_rnn_params").metadata["nbgrader"][
        "points"] = 99
    notebooks.write(nb, path)
    problems = testcells.check_folder(source)
    assert len(problems) == 2
    assert "test cell test_deep_rnn_shapes" in problems[0]
    assert testcells.stamp_folder(source) == {
        contract.DEEP_RNN.name: ["test_deep_rnn_shapes",
                                 "test_deep_rnn_params"]}
    assert testcells.check_folder(source) == []
    assert testcells.stamp_folder(source) == {}
