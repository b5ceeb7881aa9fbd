"""The public contract between the grader and student notebooks.

The grader reaches student code only through the names below: the functions a
student implements (each in its own solution cell whose nbgrader ``grade_id``
is the function's name) and the ``grade_id``s of the autograded test cells.
Instructors and external tools (LMS bridges, the regression corpus in
``tests/``) rely on these names: once published, they stay.
"""
from __future__ import annotations

import dataclasses

from autograder.config import ASSIGNMENT_ID  # noqa: F401  (re-exported)


@dataclasses.dataclass(frozen=True)
class NotebookContract:
    """What one notebook of the assignment must contain."""

    name: str                      # file name, e.g. "deep_rnn.ipynb"
    functions: tuple[str, ...]     # solution cells; grade_id == function name
    tests: tuple[str, ...]         # autograded test cells, in notebook order
    manual: tuple[str, ...] = ()   # manually graded answer cells


DEEP_RNN = NotebookContract(
    name="deep_rnn.ipynb",
    functions=(
        "get_deep_rnn_params",
        "init_deep_rnn_state",
        "deep_rnn",
        "build_deep_lstm",
    ),
    tests=(
        "test_deep_rnn_shapes",
        "test_deep_rnn_params",
        "test_deep_rnn_matches_torch",
        "test_build_deep_lstm_shapes",
        "test_build_deep_lstm_params",
        "test_build_deep_lstm_device",
        "test_build_deep_lstm_perplexity",
    ),
)

BIDIRECTIONAL_RNN = NotebookContract(
    name="bidirectional_rnn.ipynb",
    functions=(
        "get_birnn_params",
        "init_birnn_state",
        "birnn",
        "build_bidirectional_lstm",
        "leaks_future",
    ),
    tests=(
        "test_birnn_shapes",
        "test_birnn_params",
        "test_birnn_matches_torch",
        "test_build_bidirectional_lstm_shapes",
        "test_build_bidirectional_lstm_params",
        "test_build_bidirectional_lstm_device",
        "test_build_bidirectional_lstm_perplexity",
        "test_leaks_future_causality",
    ),
    manual=("explain_bidirectional_prediction",),
)

NOTEBOOKS: tuple[NotebookContract, ...] = (DEEP_RNN, BIDIRECTIONAL_RNN)


def notebook_of(grade_id: str) -> NotebookContract:
    """Return the notebook that holds the cell ``grade_id``."""
    for nb in NOTEBOOKS:
        if grade_id in nb.functions + nb.tests + nb.manual:
            return nb
    raise KeyError(f"grade_id {grade_id!r} is not part of the contract")
