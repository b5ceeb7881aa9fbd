"""Known-good student functions, loaded from the solution notebooks.

The tests use them as good inputs that every check must accept. They are
not kept by hand: each contract function comes from its solution cell in
``solutions/<assignment>/*.ipynb`` (found by grade_id, nbgrader's
solution delimiters dropped), run after that notebook's setup cell, so
they are the instructor's solutions as they are now::

    import solutions_ref
    solutions_ref.deep_rnn(inputs, state, params)

``inspect.getsource`` works on them (their code is in ``linecache``).
Two small helpers for building wrong variants in tests, which are not
contract functions, are defined below.
"""
from __future__ import annotations

import linecache

import torch

from autograder import contract, notebooks
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT
from autograder.release import examples

SOURCE = COURSE_ROOT / "solutions" / ASSIGNMENT_ID
SETUP = "setup"


def _load(gid: str, source: str, namespace: dict) -> None:
    """Run one cell's code in ``namespace``, its source kept for
    ``inspect``."""
    filename = f"<solutions/{ASSIGNMENT_ID}: {gid}>"
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102


def load() -> dict:
    """Every contract function, from the solution notebooks' cells."""
    functions = {}
    for nbc in contract.NOTEBOOKS:
        nb = notebooks.read(SOURCE / nbc.name)
        namespace: dict = {}
        _load(SETUP, notebooks.source(nb, SETUP), namespace)
        for gid in nbc.functions:
            code = examples.solution_source(notebooks.source(nb, gid))
            _load(gid, code, namespace)
            functions[gid] = namespace[gid]
    return functions


globals().update(load())


# ------------------------------------------- helpers for wrong variants

def normal(shape, device):
    """A weight as the book initialises it."""
    return torch.randn(size=shape, device=device) * 0.01


def _run(inputs, H, W_xh, W_hh, b_h):
    """One tanh RNN direction over ``inputs``: (states by step, last)."""
    hs = []
    for X in inputs:
        H = torch.tanh(X @ W_xh + H @ W_hh + b_h)
        hs.append(H)
    return hs, H
