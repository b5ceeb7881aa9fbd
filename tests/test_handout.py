"""Tests of autograder/release/handout.py: the student folder's README.md
and requirements.txt, pinned as the kit is."""
from __future__ import annotations

import re
import shutil

import pytest

import chinese
from autograder.config import COURSE_ROOT, DATA
from autograder.release import handout


def test_requirements_pin_what_the_kit_pins():
    """Does requirements.txt pin torch, torchvision, d2l's real needs and
    JupyterLab at the kit's versions, and leave d2l to --no-deps?"""
    text = handout.requirements_text()
    lines = [line for line in text.splitlines()
             if line and not line.startswith("#")]
    kit = (COURSE_ROOT / "requirements.txt").read_text()
    assert "torch==2.14.1" in lines and "torchvision==0.29.1" in lines
    assert all(line in kit for line in lines if "jupyterlab" not in line
               and "ipykernel" not in line)
    assert any(line.startswith("jupyterlab==") for line in lines)
    assert not any(line.startswith("d2l") for line in lines)
    assert "pip install --no-deps d2l==0.17.6" in text


def test_a_package_the_kit_does_not_pin_is_an_error(tmp_path):
    """Is a kit without a pin for one of the packages refused, naming
    it?"""
    for name in handout.PIN_FILES:
        shutil.copy(COURSE_ROOT / name, tmp_path / name)
    pins = (tmp_path / "requirements.lock.txt").read_text()
    (tmp_path / "requirements.lock.txt").write_text(
        re.sub(r"(?m)^jupyterlab==.*$", "", pins))
    with pytest.raises(ValueError, match="jupyterlab"):
        handout.pins(tmp_path)


def test_readme_gives_install_data_and_self_checks_in_both_languages():
    """Does the README give the pinned install lines, where the data goes
    (with its SHA-1) and how to self-check, in English and Chinese, with
    no placeholder left?"""
    text = handout.readme_text()
    for needed in ("pip install -r requirements.txt",
                   "pip install --no-deps d2l==0.17.6",
                   f"../data/{DATA.file_name}", DATA.sha1, "✓", "✗",
                   "rnn_checks/", "## 简体中文", "自检"):
        assert needed in text, needed
    assert "${" not in text and "$" not in text


def test_readme_chinese_paragraphs_are_one_line_each():
    """Is every Chinese paragraph of the README one line (no hard wrap, so
    no stray spaces when rendered), while a wrapped one would be found?"""
    assert chinese.hard_wrapped(handout.readme_text()) == []
    assert chinese.hard_wrapped("你将两次\n构建。\n\n* 一\n* 二") == ["构建。"]


def test_write_puts_both_files(tmp_path):
    """Does write put README.md and requirements.txt in the folder?"""
    written = handout.write(tmp_path)
    assert sorted(p.name for p in written) == [handout.README,
                                                handout.REQUIREMENTS]
    assert (tmp_path / handout.README).read_text() == handout.readme_text()
