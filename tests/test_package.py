"""Tests of autograder/release/package.py: is the student folder's
``rnn_checks/`` the kit's own student-side code, and only what the
self-checks need?"""
from __future__ import annotations

import pytest

from autograder.release import package


@pytest.fixture
def kit(tmp_path):
    """A small student package: __init__ imports a, a imports b lazily;
    c is imported by nobody."""
    src = tmp_path / "student"
    src.mkdir()
    (src / "__init__.py").write_text("from . import a\n")
    (src / "a.py").write_text("def f():\n    from .b import g\n"
                              "    return g()\n")
    (src / "b.py").write_text("def g():\n    return 1\n")
    (src / "c.py").write_text("SECRET = 1\n")
    return src


def test_only_the_modules_the_self_checks_import_are_shipped(kit):
    """Are the modules __init__ reaches (lazy imports included) shipped,
    and a module nobody imports not?"""
    assert package.modules(kit) == ["__init__", "a", "b"]


def test_an_import_of_a_missing_module_is_an_error(kit):
    """Is a package that imports a module it lacks refused, naming it?"""
    (kit / "b.py").unlink()
    with pytest.raises(FileNotFoundError, match=r"imports \.b"):
        package.modules(kit)


def test_write_copies_byte_for_byte_and_replaces(kit, tmp_path):
    """Does write replace the folder with exact copies of those modules?"""
    dest = tmp_path / "release" / package.NAME
    dest.mkdir(parents=True)
    (dest / "stale.py").write_text("old")
    package.write(dest, kit)
    assert sorted(p.name for p in dest.iterdir()) == ["__init__.py", "a.py",
                                                      "b.py"]
    assert (dest / "a.py").read_bytes() == (kit / "a.py").read_bytes()


def test_the_kit_ships_its_self_check_api_and_checks():
    """Does the real package ship the API, the checks, the calls and the
    report (and nothing from outside autograder/student)?"""
    files = package.files()
    assert {"__init__.py", "checks.py", "calls.py", "report.py",
            "registry.py"} <= set(files)
    assert all(p.parent == package.STUDENT_DIR for p in files.values())
