"""The grader's own errors (not the student's), and reading them from logs."""
from __future__ import annotations

import re


class GraderError(RuntimeError):
    """The grader itself could not grade (not the student's fault)."""


_ERROR_LINE = re.compile(r"^\s*([\w.]+(Error|Exception|Exit)\b.*)$")


def error_line(log: str) -> str:
    """The last ``SomeError: message`` line of a log, else its last line."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    found = [m.group(1) for m in map(_ERROR_LINE.match, lines) if m]
    return (found or lines or ["(no output)"])[-1][:300]
