"""Example submissions, built from the student release by grade_id.

Each example starts from the released notebooks (``assignments/``) and fills
solution cells by ``grade_id`` (never by index): with the instructor's
solution (read from ``solutions/`` at build time, so this package holds no
solution code), or with the solution after one typical mistake. The demo
grades them, and the tests assert each one's exact per-test outcome.

A mistake is a text edit of one solution cell: (old, new) pairs applied to
the solution's source. An edit whose ``old`` text is not found fails the
build loudly, so the examples cannot silently drift from the solutions.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

from autograder import contract, notebooks
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT

# The markers nbgrader's ClearSolutions looks for.
_DELIMITER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
_WRITTEN_ANSWER = (
    "A bidirectional model reads the inputs after step t while training, so "
    "its low perplexity comes from copying the next token. When predicting "
    "there is no future input, so it generates garbage: it is fit for "
    "fill-in-the-blank, not for predicting the future.")


@dataclasses.dataclass(frozen=True)
class Example:
    """One example submission.

    Attributes:
        name: the student id it is graded under.
        description: what it shows, in one line.
        fill: fill the solution cells (False: the untouched release).
        edits: grade_id -> ((old, new), ...) applied to that cell's solution.
        fails: the test grade_ids this example is meant to fail (every other
            autograded test passes); ``None`` means every test fails.
    """

    name: str
    description: str
    fill: bool = True
    edits: dict = dataclasses.field(default_factory=dict)
    fails: frozenset | None = frozenset()


EXAMPLES: tuple[Example, ...] = (
    Example("solution", "the reference solution: full marks"),
    Example("stubs", "the release untouched: every test fails, nothing "
            "crashes", fill=False, fails=None),
    Example(
        "one_layer",
        "build_deep_lstm forgets num_layers: nn.LSTM(num_inputs, "
        "num_hiddens) is one layer, not two",
        edits={"build_deep_lstm": (
            ("nn.LSTM(num_inputs, num_hiddens, num_layers)",
             "nn.LSTM(num_inputs, num_hiddens)"),)},
        # The perplexity check also rejects it: it checks the structure of
        # the model it trains (num_layers 1 != expected 2) before training.
        fails=frozenset({"test_build_deep_lstm_shapes",
                         "test_build_deep_lstm_params",
                         "test_build_deep_lstm_perplexity"})),
    Example(
        "not_bidirectional",
        "build_bidirectional_lstm forgets bidirectional=True",
        edits={"build_bidirectional_lstm": (
            ("nn.LSTM(num_inputs, num_hiddens, num_layers,\n"
             "                         bidirectional=True)",
             "nn.LSTM(num_inputs, num_hiddens, num_layers)"),)},
        fails=frozenset({"test_build_bidirectional_lstm_shapes",
                         "test_build_bidirectional_lstm_params",
                         "test_build_bidirectional_lstm_perplexity"})),
    Example(
        "backward_not_reversed",
        "birnn runs the backward direction from the first step, not the last",
        edits={"birnn": (
            ("for X in inputs.flip(0):", "for X in inputs:"),
            ("    backward.reverse()", "    pass"))},
        fails=frozenset({"test_birnn_matches_torch"})),
)


def by_name(name: str) -> Example:
    """The example called ``name``."""
    for ex in EXAMPLES:
        if ex.name == name:
            return ex
    raise KeyError(f"no example {name!r}; have {[e.name for e in EXAMPLES]}")


def solution_source(source: str) -> str:
    """A solution cell's source without nbgrader's solution delimiters."""
    return "\n".join(line for line in source.splitlines()
                     if not _DELIMITER.match(line))


def apply_edits(source: str, edits, where: str = "cell") -> str:
    """Apply (old, new) text edits, each of which must match exactly once.

    Raises:
        ValueError: an ``old`` text is not found exactly once.
    """
    for old, new in edits:
        if source.count(old) != 1:
            raise ValueError(f"{where}: expected the text {old!r} once in the "
                             f"solution, found it {source.count(old)} times")
        source = source.replace(old, new)
    return source


def fill(release_nb, solution_nb, example: Example):
    """Fill the release's solution cells (by grade_id) for ``example``."""
    if not example.fill:
        return release_nb
    for gid in notebooks.grade_ids(release_nb):
        cell = notebooks.cell(release_nb, gid)
        if not cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue
        if gid in contract.BIDIRECTIONAL_RNN.manual:
            cell.source = _WRITTEN_ANSWER
            continue
        src = solution_source(notebooks.source(solution_nb, gid))
        cell.source = apply_edits(src, example.edits.get(gid, ()),
                                  f"{example.name}/{gid}")
    return release_nb


def build(dest: Path | str, *, course_root: Path | str = COURSE_ROOT,
          names: list[str] | None = None) -> dict[str, Path]:
    """Write the example submissions, one folder per example.

    Args:
        dest: the folder to write ``<example>/<notebook>.ipynb`` into
            (replaced if it exists).
        course_root: the course holding ``assignments/`` and ``solutions/``.
        names: the examples to build (default: all).

    Returns:
        example name -> its submission folder.
    """
    course_root, dest = Path(course_root), Path(dest)
    release = course_root / "assignments" / ASSIGNMENT_ID
    source = course_root / "solutions" / ASSIGNMENT_ID
    chosen = [by_name(n) for n in names] if names else list(EXAMPLES)
    _check_edits(chosen)
    shutil.rmtree(dest, ignore_errors=True)
    built = {}
    for ex in chosen:
        for nb in contract.NOTEBOOKS:
            filled = fill(notebooks.read(release / nb.name),
                          notebooks.read(source / nb.name), ex)
            notebooks.write(filled, dest / ex.name / nb.name)
        built[ex.name] = dest / ex.name
    return built


def _check_edits(chosen: list[Example]) -> None:
    for ex in chosen:
        unknown = set(ex.edits) - {f for nb in contract.NOTEBOOKS
                                   for f in nb.functions}
        if unknown:
            raise ValueError(f"{ex.name}: edits cells that are not solution "
                             f"cells of the contract: {sorted(unknown)}")


def expected_outcomes(example: Example) -> dict[str, str]:
    """grade_id -> "pass"/"FAIL" for every autograded test of the contract."""
    tests = [t for nb in contract.NOTEBOOKS for t in nb.tests]
    fails = set(tests) if example.fails is None else set(example.fails)
    return {t: "FAIL" if t in fails else "pass" for t in tests}
