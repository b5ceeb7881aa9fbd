"""What a student sees when a self-check runs: one line, or a short failure.

A passing check prints one line. A failing check raises
:class:`SelfCheckFailed`, whose message is the check's (what was got and
what was expected, naming the student's function); when the student's own
function raised, the failure also lists that function's frames, and only
those. In Jupyter the failure is shown without the traceback through the
checks' code (:func:`install`); elsewhere the exception's message carries
the same text.
"""
from __future__ import annotations

import sys

from .errors import CheckFailed

# At most this many lines of a failure are shown.
MAX_LINES = 15


class SelfCheckFailed(CheckFailed):
    """A self-check failed; ``str(exc)`` is the whole, short report."""


def passed(test, message: str, sizes_text: str) -> None:
    """Print the one line of a passing check."""
    where = f" ({sizes_text})" if sizes_text else ""
    print(f"✓ {test.grade_id}: {message}{where}")


def failure_text(test, exc: CheckFailed, sizes_text: str) -> str:
    """The failure report: the check's message, then the student's frames."""
    where = f" ({sizes_text})" if sizes_text else ""
    lines = [f"✗ {test.grade_id} ({test.points:g} points) failed{where}:"]
    lines += [f"  {line}" for line in str(exc).splitlines()]
    frames = getattr(exc, "frames", ())
    if frames:
        lines.append("  where your code raised:")
        for filename, lineno, name, source in frames[-3:]:
            lines.append(f"    {_cell(filename)}, line {lineno}, in {name}")
            if source:
                lines.append(f"      {source}")
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES - 1] + ["  [...]"]
    return "\n".join(lines)


def _cell(filename: str) -> str:
    """A notebook cell's file name, as Jupyter users know it."""
    if "ipykernel" in filename or filename.startswith("<ipython-input"):
        return "your cell"
    return filename


def fail(test, exc: CheckFailed, sizes_text: str):
    """Raise the short report of a failed check (no chained traceback)."""
    raise SelfCheckFailed(failure_text(test, exc, sizes_text)) from None


def _show(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for SelfCheckFailed: the report, no traceback."""
    return [str(value)]


def install() -> None:
    """Show SelfCheckFailed without a traceback when running in IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    if shell is not None:
        shell.set_custom_exc((SelfCheckFailed,), _show)
