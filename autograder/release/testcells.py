"""Each test cell of the source notebooks, written from the registry.

A test cell says what it checks and what it is worth, in English and in
Chinese, then calls its self-check with the visible sizes::

    # Test (2 points): the shapes of deep_rnn's outputs and of every ...
    # 测试（2 分）：deep_rnn 的输出和每一层隐状态的形状
    rnn_checks.deep_rnn_shapes(
        get_deep_rnn_params, init_deep_rnn_state, deep_rnn,
        vocab_size=28, num_hiddens=16, num_layers=2, batch_size=3, num_steps=5)

The registry (:mod:`autograder.student.registry`) describes every test
once; ``release`` writes these cells into the source notebooks (their
points too) before nbgrader generates the release, and ``release --check``
reports a source test cell that differs from what it would write.
"""
from __future__ import annotations

import re
import textwrap
import unicodedata
from pathlib import Path

from autograder import notebooks
from autograder.student import registry

WIDTH = 79  # the notebooks' line length (tests/test_notebooks.py)
INDENT = " " * 4


def _points(points: float) -> tuple[str, str]:
    """``("2 points", "2 分")``."""
    unit = "point" if points == 1 else "points"
    return f"{points:g} {unit}", f"{points:g} 分"


def comment(test: registry.Test) -> str:
    """The cell's first lines: what it checks and its points, in English
    (wrapped at :data:`WIDTH`) and in Chinese (one line)."""
    en_points, zh_points = _points(test.points)
    en, zh = test.what
    lines = textwrap.wrap(f"Test ({en_points}): {en}", WIDTH - 2,
                          subsequent_indent="  ")
    lines += wrap_wide(f"测试（{zh_points}）：{zh}", WIDTH - 2, "  ")
    return "\n".join(f"# {line}" for line in lines)


def width(text: str) -> int:
    """Columns ``text`` takes in a monospace editor (CJK characters take
    two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def wrap_wide(text: str, columns: int, indent: str) -> list[str]:
    """Wrap Chinese text at ``columns`` columns, between characters (a
    line break inside a comment adds no space), never inside a Latin word
    such as ``d2l.try_gpu()``."""
    lines, line = [], ""
    for token in re.findall(r"[!-~]+|\s+|.", text):
        if line.strip() and width(line + token) > columns:
            lines.append(line.rstrip())
            line = indent + token.lstrip()
        else:
            line += token
    return lines + [line.rstrip()]


def call(test: registry.Test) -> str:
    """``rnn_checks.<api>(<the student's functions>, <visible sizes>)``:
    one line when it fits, else the functions, then the sizes, on lines of
    their own inside the parentheses."""
    sizes = [f"{k}={v}" for k, v in test.visible_sizes.items()]
    head = f"rnn_checks.{test.api}("
    one_line = head + ", ".join([*test.functions, *sizes]) + ")"
    if len(one_line) <= WIDTH:
        return one_line
    groups = [", ".join(test.functions)] + ([", ".join(sizes)] if sizes
                                            else [])
    body = [INDENT + ", ".join(groups) + ")"]
    if width(body[0]) <= WIDTH:
        return "\n".join([head, *body])
    body = []
    for text in ",\n".join(groups).splitlines():
        body += textwrap.wrap(text, WIDTH - 1, initial_indent=INDENT,
                              subsequent_indent=INDENT,
                              break_long_words=False, break_on_hyphens=False)
    return "\n".join([head, *body]) + ")"


def source(test: registry.Test) -> str:
    """The whole source of ``test``'s cell."""
    return f"{comment(test)}\n{call(test)}"


def stamp(nb) -> list[str]:
    """Write every test cell of ``nb`` (source and points) from the
    registry.

    Returns:
        The grade_ids of the cells that changed.
    """
    changed = []
    for gid in notebooks.grade_ids(nb):
        if gid not in registry.BY_ID:
            continue
        test, cell = registry.test(gid), notebooks.cell(nb, gid)
        meta = cell.metadata["nbgrader"]
        if cell.source != source(test) or meta.get("points") != test.points:
            cell.source = source(test)
            meta["points"] = test.points
            changed.append(gid)
    return changed


def stamp_folder(folder: Path) -> dict[str, list[str]]:
    """Stamp every notebook of ``folder``, writing those that changed.

    Returns:
        notebook file name -> grade_ids of the test cells rewritten.
    """
    changed = {}
    for path in sorted(Path(folder).glob("*.ipynb")):
        nb = notebooks.read(path)
        gids = stamp(nb)
        if gids:
            notebooks.write(nb, path)
            changed[path.name] = gids
    return changed


def check_folder(folder: Path) -> list[str]:
    """One message per test cell of ``folder``'s notebooks that is not what
    the registry says; [] when all are."""
    problems = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        for gid in stamp(notebooks.read(path)):
            problems.append(
                f"drift: {path}, test cell {gid} is not what the registry "
                f"(autograder/student/registry.py) says; run `python -m "
                f"autograder release` to write it")
    return problems
