"""Tests of autograder/student/report.py: does a self-check show one line,
or a short failure without the kit's traceback?"""
from __future__ import annotations

import sys

import pytest

from autograder.student import registry, report
from autograder.student.errors import CheckFailed

ONE = registry.test("test_build_deep_lstm_params")    # 1 point
TWO = registry.test("test_deep_rnn_shapes")           # 2 points
FRAMES = [("/tmp/ipykernel_1/1.py", 3, "helper", "return x[9]"),
          ("/tmp/ipykernel_1/2.py", 5, "deep_rnn", "H = helper(H)"),
          ("/tmp/ipykernel_1/2.py", 2, "outer", "y = 1"),
          ("/home/me/mine.py", 7, "deep_rnn", "")]


def _failed(message: str, frames=()) -> CheckFailed:
    exc = CheckFailed(message)
    exc.frames = list(frames)
    return exc


def test_a_pass_is_one_line(capsys):
    """Does a passing check print exactly one line naming the test?"""
    report.passed(TWO, "outputs have the right shapes", "vocab_size=28")
    out = capsys.readouterr().out
    assert out == ("✓ test_deep_rnn_shapes: outputs have the right shapes "
                   "(vocab_size=28)\n")


def test_a_failure_gives_points_message_and_the_students_frames():
    """Does the report give the test and its points, the message, and the
    student's innermost frames (cells named as Jupyter does)?"""
    text = report.failure_text(ONE, _failed("got 1, expected 2", FRAMES),
                               "num_layers=2")
    lines = text.splitlines()
    assert lines[0] == ("✗ test_build_deep_lstm_params (1 point) failed "
                        "(num_layers=2):")
    assert lines[1] == "  got 1, expected 2"
    assert lines[2] == "  where your code raised:"
    assert "your cell, line 5, in deep_rnn" in text
    assert "/home/me/mine.py, line 7, in deep_rnn" in text
    assert "in helper" not in text  # only the innermost MAX_FRAMES frames
    assert "(2 points)" in report.failure_text(TWO, _failed("x"), "")


def test_a_long_message_is_cut_and_the_frames_kept():
    """Does a 40-line message give at most MAX_LINES lines, ending with
    the student's frames?"""
    message = "\n".join(f"line {i}" for i in range(40))
    text = report.failure_text(TWO, _failed(message, FRAMES), "")
    lines = text.splitlines()
    assert len(lines) == report.MAX_LINES
    assert report.ELLIPSIS in lines
    assert lines[-1].strip() == "/home/me/mine.py, line 7, in deep_rnn"


def test_fail_raises_the_report_without_a_chained_cause():
    """Does fail raise SelfCheckFailed whose text is the report, with no
    exception chained to it?"""
    with pytest.raises(report.SelfCheckFailed) as info:
        try:
            raise KeyError("inside the kit")
        except KeyError:
            report.fail(TWO, _failed("wrong"), "")
    assert str(info.value).startswith("✗ test_deep_rnn_shapes")
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.fixture
def shell():
    """A real IPython shell, with report.install() done; cleared after."""
    from IPython.core.interactiveshell import InteractiveShell

    hooks = sys.displayhook, sys.excepthook
    shell = InteractiveShell.instance()
    report.install()
    yield shell
    InteractiveShell.clear_instance()
    sys.displayhook, sys.excepthook = hooks


def test_ipython_shows_the_report_and_no_traceback(shell, capsys):
    """In IPython, does a failing self-check show its report as the cell's
    error, without a traceback through the kit, and still fail the
    cell?"""
    shell.user_ns["report"], shell.user_ns["TWO"] = report, TWO
    shell.user_ns["_failed"] = _failed
    result = shell.run_cell("report.fail(TWO, _failed('got 1, expected 2'),"
                            " 'vocab_size=28')")
    out = capsys.readouterr().out
    assert isinstance(result.error_in_exec, report.SelfCheckFailed)
    assert "✗ test_deep_rnn_shapes (2 points) failed" in out
    assert "got 1, expected 2" in out
    assert "Traceback" not in out and "report.py" not in out


def test_other_errors_keep_their_traceback(shell, capsys):
    """Does any other error in IPython keep its usual traceback?"""
    shell.run_cell("def f():\n    return 1 / 0\nf()")
    assert "ZeroDivisionError" in capsys.readouterr().out
