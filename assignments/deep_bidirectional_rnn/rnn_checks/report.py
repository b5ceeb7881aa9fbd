"""What a student sees when a self-check runs: one line, or a short failure.

A passing check prints one line. A failing check raises
:class:`SelfCheckFailed`, whose message is the whole report: the check's
message (what was got and what was expected, naming the student's
function) and, when the student's own function raised, that function's
frames, and only those; at most :data:`MAX_LINES` lines in all.

In Jupyter, :func:`install` makes IPython show that report as the cell's
error, without the traceback through the checks' code. The cell still
fails (nbgrader counts the test as failed). Elsewhere the exception's
message carries the same text.
"""
from __future__ import annotations

import sys

from .errors import CheckFailed

# At most this many lines of a failure are shown.
MAX_LINES = 15
# At most this many of the student's frames are shown (innermost last).
MAX_FRAMES = 3
ELLIPSIS = "  [...]"


class SelfCheckFailed(CheckFailed):
    """A self-check failed; ``str(exc)`` is the whole, short report."""


def _points(test) -> str:
    """``'2 points'``, ``'1 point'``."""
    return f"{test.points:g} point{'' if test.points == 1 else 's'}"


def passed(test, message: str, sizes_text: str) -> None:
    """Print the one line of a passing check."""
    where = f" ({sizes_text})" if sizes_text else ""
    print(f"✓ {test.grade_id}: {message}{where}")


def _frame_lines(frames) -> list[str]:
    """The student's innermost frames, as a traceback shows them."""
    if not frames:
        return []
    lines = ["  where your code raised:"]
    for filename, lineno, name, source in list(frames)[-MAX_FRAMES:]:
        lines.append(f"    {_where(filename)}, line {lineno}, in {name}")
        if source:
            lines.append(f"      {source}")
    return lines


def failure_text(test, exc: CheckFailed, sizes_text: str) -> str:
    """The failure report: the check's message, then the student's frames,
    in at most :data:`MAX_LINES` lines (the message is cut first)."""
    where = f" ({sizes_text})" if sizes_text else ""
    head = f"✗ {test.grade_id} ({_points(test)}) failed{where}:"
    frames = _frame_lines(getattr(exc, "frames", ()))
    message = [f"  {line}" for line in str(exc).splitlines()]
    room = MAX_LINES - 1 - len(frames)
    if len(message) > room:
        message = message[:room - 1] + [ELLIPSIS]
    return "\n".join([head, *message, *frames])


def _where(filename: str) -> str:
    """A frame's file as the student knows it: ``Cell In[5]`` for a
    notebook cell (as IPython's own tracebacks say), else the file."""
    shell = _shell()
    name_of = getattr(getattr(shell, "compile", None), "format_code_name",
                      None)
    named = name_of(filename) if name_of else None
    if named:
        return " ".join(named)
    if "ipykernel" in filename or filename.startswith("<ipython-input"):
        return "your cell"
    return filename


def fail(test, exc: CheckFailed, sizes_text: str):
    """Raise the short report of a failed check (no chained traceback)."""
    raise SelfCheckFailed(failure_text(test, exc, sizes_text)) from None


def _shell():
    """The running IPython shell, or None."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython else None


def _show(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for SelfCheckFailed: show the report as the cell's
    error, without a traceback.

    IPython ignores what a custom handler returns when the cell's code
    raised, so the handler shows the report itself, through the shell's
    own way of showing an error (in Jupyter, the kernel's error message).
    """
    report = [str(value)]
    shell._showtraceback(etype, value, report)
    return report


def install() -> None:
    """Show SelfCheckFailed without a traceback when running in IPython."""
    shell = _shell()
    if shell is not None:
        shell.set_custom_exc((SelfCheckFailed,), _show)
