"""Grader paths out of what students and instructors read.

Grading runs in scratch folders (``$TMPDIR/autograder-<random>/...``), and
a notebook output or a message can show one, e.g. the setup cell's
``PosixPath('/tmp/autograder-x/course/autograded/alice/data/timemachine.txt')``.
Such a path is rewritten relative to the notebook's own folder, as the
student would see it (``../data/timemachine.txt``); any other path under a
grader scratch folder keeps only its file name.
"""
from __future__ import annotations

import re

from autograder.config import ASSIGNMENT_ID

# An absolute path with a component made by the grader's tempfile calls
# (autograder-*, autograder-job-*, ...) or inside the sandbox's work folder.
_PART = r"[\w.@+-]+"
SCRATCH_PATH = re.compile(
    rf"(?:/{_PART})*?/(?:autograder-{_PART}|box/work)(?:/{_PART})*")


def _relative(path: str) -> str:
    """The student's view of one grader path."""
    parts = path.split("/")
    if "autograded" in parts[:-1]:
        rest = parts[len(parts) - parts[::-1].index("autograded") + 1:]
        if rest[:1] == [ASSIGNMENT_ID]:
            return "/".join(rest[1:]) or "."
        return "/".join([".."] + rest)
    if parts[1:3] == ["box", "work"]:
        return "/".join(parts[3:]) or "."
    return parts[-1]


def text(value: str) -> str:
    """``value`` with every grader scratch path rewritten."""
    return SCRATCH_PATH.sub(lambda m: _relative(m.group(0)), value)


def notebook_bytes(data: bytes) -> bytes:
    """A notebook file (JSON) with every grader scratch path rewritten.

    The replacements hold only path characters, so the JSON stays valid.
    """
    return text(data.decode("utf-8", errors="replace")).encode("utf-8")
