"""Shared small, seeded fixtures for the kit's tests.

* ``deep_sizes``/``bi_sizes``: tiny sizes, so each check runs in
  milliseconds.
* ``gen``: a seeded ``torch.Generator`` for inputs "drawn at grading time".
* ``solutions``: the known-good student functions (tests/solutions_ref.py).
* ``fakes``: lying objects (always-equal, any-shape, tensor subclass, fake
  module) that every check must reject.
* An autouse fixture seeds torch and clears the grading environment, so a
  test never records evidence by accident.
"""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import solutions_ref  # noqa: E402
from autograder.student import checks, registry  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _data_file():
    """Name the verified Time Machine text in $D2L_TIMEMACHINE (if found),
    as the grader does, so that tests run from any directory."""
    from autograder import data

    try:
        data.export_env()
    except data.DataNotFoundError:
        pass  # tests that need the data say so (tests/test_data.py)


@pytest.fixture(autouse=True)
def _seeded_and_not_grading(monkeypatch):
    """Seed torch; unset the grading environment variables."""
    for name in ("AUTOGRADER_EVIDENCE_DIR", "AUTOGRADER_SEED",
                 "NBGRADER_EXECUTION"):
        monkeypatch.delenv(name, raising=False)
    torch.manual_seed(0)


@pytest.fixture
def deep_sizes() -> dict:
    """Sizes of a small 2-layer model run."""
    return dict(vocab_size=7, num_hiddens=5, num_layers=2, batch_size=3,
                num_steps=4)


@pytest.fixture
def bi_sizes() -> dict:
    """Sizes of a small bidirectional scratch run (no num_layers)."""
    return dict(vocab_size=6, num_hiddens=4, batch_size=2, num_steps=5)


@pytest.fixture
def gen() -> torch.Generator:
    """A seeded generator."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def solutions():
    """The known-good implementations of the student functions."""
    return solutions_ref


# ------------------------------------------------------------------ fakes

class AlwaysEqual:
    """Equal to everything; claims any shape, device and length."""

    def __init__(self, shape=(1,), device="cpu"):
        self.shape = torch.Size(shape)
        self.device = torch.device(device)
        self.requires_grad = True
        self.is_leaf = True

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__

    def size(self, *dim):
        return self.shape if not dim else self.shape[dim[0]]

    def reshape(self, *shape):
        return self

    def __len__(self):
        return self.shape[0]


class SubTensor(torch.Tensor):
    """A torch.Tensor subclass (could override anything)."""


class AnyShapeModel(nn.Module):
    """A fake d2l.RNNModel whose outputs and states report any shape.

    It holds a real LSTM (so parameter counts can be right) but returns
    AlwaysEqual objects that claim the expected shapes and device.
    """

    def __init__(self, vocab_size, num_hiddens, num_layers, directions=1):
        super().__init__()
        self.rnn = nn.LSTM(vocab_size, num_hiddens, num_layers,
                           bidirectional=directions == 2)
        self.linear = nn.Linear(directions * num_hiddens, vocab_size)
        self.state_shape = (directions * num_layers, 0, num_hiddens)
        self.vocab_size = vocab_size

    def begin_state(self, device, batch_size=1):
        L, _, h = self.state_shape
        return (AlwaysEqual((L, batch_size, h), device),
                AlwaysEqual((L, batch_size, h), device))

    def forward(self, inputs, state):
        steps = inputs.shape[1]
        out = AlwaysEqual((steps * inputs.shape[0], self.vocab_size),
                          inputs.device)
        return out, state


def fake_scratch_rnn(inputs, state, params):
    """A scratch 'rnn' that returns always-equal objects of any shape."""
    num_steps, batch_size, vocab_size = inputs.shape
    return (AlwaysEqual((num_steps * batch_size, vocab_size)),
            tuple(AlwaysEqual(tuple(s.shape)) for s in state))


@pytest.fixture
def fakes():
    """The lying objects, as a namespace."""
    return types.SimpleNamespace(
        AlwaysEqual=AlwaysEqual, SubTensor=SubTensor,
        AnyShapeModel=AnyShapeModel, scratch_rnn=fake_scratch_rnn)


@pytest.fixture
def one_thread():
    """Run torch on one thread for the test (restored afterwards).

    The checks' tensors are tiny; on a loaded 2-core machine torch's second
    thread makes a 1 ms LSTM call take hundreds of ms.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _run_checks(s, hidden=False, *, skip=("perplexity",)):
    """Run every test's check on the functions of module ``s``, here.

    Args:
        hidden: use other sizes (drawn as the grader draws them, seed 0).
        skip: checks not to run (the perplexity checks train a model).

    Returns:
        grade_id -> the check's message.
    """
    from autograder.grader import verdicts

    found = {}
    for test in registry.TESTS:
        if test.check in skip:
            continue
        sizes = (verdicts.hidden_sizes(test, 0) if hidden
                 else test.visible_sizes)
        fns = {role: getattr(s, fn) for role, fn in test.roles.items()}
        found[test.grade_id] = checks.run_here(
            test.check, fns, sizes, names=test.roles, **test.kwargs)[0]
    return found


@pytest.fixture
def run_checks():
    """Run every test's check (but the perplexity ones) on a module of
    student functions, as the self-checks do.

    Call it as ``run_checks(module_with_student_functions, hidden=False)``.
    """
    return _run_checks


# --------------------------------------------- CI: no sandbox is a failure

REQUIRE_SANDBOX = "AUTOGRADER_REQUIRE_SANDBOX"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With AUTOGRADER_REQUIRE_SANDBOX=1 (.ci/run), a test skipped because
    the sandbox cannot run here fails instead: CI must grade in bubblewrap."""
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and os.environ.get(REQUIRE_SANDBOX) == "1"):
        return
    reason = (report.longrepr[-1] if isinstance(report.longrepr, tuple)
              else str(report.longrepr))
    if any(word in reason for word in ("bubblewrap", "sandbox")):
        report.outcome = "failed"
        report.longrepr = (f"{REQUIRE_SANDBOX}=1, and the sandbox cannot "
                           f"run here: {reason}")
