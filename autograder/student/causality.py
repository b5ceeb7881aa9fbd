"""The causality self-check: ``leaks_future`` on the lesson's models.

A language model must be causal: its output at step t may depend only on
the inputs up to t. The self-check asks the student's ``leaks_future``
about four models whose answer is known by how they are built, two of each
calling convention:

* ``d2l.RNNModel`` around ``nn.LSTM(..., num_layers=2)``: causal;
* ``d2l.RNNModel`` around ``nn.LSTM(..., bidirectional=True)``: leaks;
* ``d2l.RNNModelScratch`` whose output at step t sums the inputs up to t:
  causal;
* ``d2l.RNNModelScratch`` whose output at step t sums the inputs from t to
  the end: leaks.

When grading, the grader also asks about models the student has not seen;
they live with the grader, not here.
"""
from __future__ import annotations

import torch
from torch import nn
from d2l import torch as d2l

from .errors import CheckFailed

# The lesson's models and whether each leaks the future (by construction).
LABELS = {
    "deep LSTM": False,
    "bidirectional LSTM": True,
    "scratch model summing the inputs up to t": False,
    "scratch model summing the inputs from t to the end": True,
}
VOCAB_SIZE, NUM_HIDDENS = 7, 5

# What leaks_future may ask of each model it is given, in the self-check
# and when grading alike (the grader's models answer under the same
# bounds): batch_size, num_steps, and calls per model.
MAX_BATCH, MAX_STEPS, MAX_CALLS = 64, 128, 1_000


class ProbeLimit(RuntimeError):
    """leaks_future asked a model for more than the bounds allow."""


def probe_bounds_error(calls: int, X=None, batch_size=None) -> str | None:
    """Why a call of a model is out of bounds, or None.

    Args:
        calls: how many calls of this model so far, this one included.
        X: the token ids of a forward call, when it is one.
        batch_size: what ``begin_state`` was asked for, when it is that.
    """
    if calls > MAX_CALLS:
        return (f"more than {MAX_CALLS} calls of one model: "
                "leaks_future must decide with fewer")
    if batch_size is not None and (type(batch_size) is not int
                                   or not 1 <= batch_size <= MAX_BATCH):
        return f"begin_state: batch_size {batch_size!r} is not 1..{MAX_BATCH}"
    if X is not None:
        if type(X) is not torch.Tensor or X.dim() != 2:
            return ("model(X, state): X must be token ids of shape "
                    "(batch_size, num_steps)")
        b, t = X.shape
        if not (1 <= b <= MAX_BATCH and 1 <= t <= MAX_STEPS):
            return (f"model(X, state): X has shape {tuple(X.shape)}; "
                    f"batch_size must be 1..{MAX_BATCH} and num_steps "
                    f"1..{MAX_STEPS}")
    return None


class Bounded:
    """A lesson model that answers under the grader's bounds (so that the
    self-check fails a probe the grader would refuse)."""

    def __init__(self, model):
        self._model, self._calls = model, 0

    def _count(self, **what):
        self._calls += 1
        why = probe_bounds_error(self._calls, **what)
        if why:
            raise ProbeLimit(why)

    def __call__(self, X, state):
        self._count(X=X)
        return self._model(X, state)

    forward = __call__

    def begin_state(self, *args, **kwargs):
        batch_size = kwargs.get("batch_size", 1)
        for arg in args:
            if type(arg) is int:
                batch_size = arg
        self._count(batch_size=batch_size)
        return self._model.begin_state(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._model, name)


def lesson_specs() -> list[dict]:
    """The self-check's models, as descriptions :func:`lesson_model` makes."""
    return [{"kind": kind, "vocab_size": VOCAB_SIZE, "seed": i}
            for i, kind in enumerate(LABELS)]


def _summing(backwards: bool):
    """A scratch forward function: outputs sum the inputs up to t, or from
    t to the end (``backwards``)."""
    def forward(inputs, state, params):
        W, = params
        Y = inputs @ W  # (num_steps, batch_size, vocab_size)
        Y = Y.flip(0).cumsum(0).flip(0) if backwards else Y.cumsum(0)
        return Y.reshape(-1, Y.shape[-1]), state
    return forward


def _scratch(vocab_size: int, backwards: bool):
    def get_params(vocab_size, num_hiddens, device):
        return [torch.randn((vocab_size, vocab_size), device=device)]

    def init_state(batch_size, num_hiddens, device):
        return (torch.zeros((batch_size, num_hiddens), device=device),)

    return d2l.RNNModelScratch(vocab_size, NUM_HIDDENS, torch.device("cpu"),
                               get_params, init_state, _summing(backwards))


def bounded_lesson_model(spec: dict) -> Bounded:
    """:func:`lesson_model` under the bounds leaks_future is graded with."""
    return Bounded(lesson_model(spec))


def lesson_model(spec: dict):
    """The model a spec of :func:`lesson_specs` describes (seeded)."""
    v, kind = spec["vocab_size"], spec["kind"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec["seed"])
        if kind == "deep LSTM":
            return d2l.RNNModel(nn.LSTM(v, NUM_HIDDENS, 2), v)
        if kind == "bidirectional LSTM":
            return d2l.RNNModel(nn.LSTM(v, NUM_HIDDENS, bidirectional=True),
                                v)
        return _scratch(v, backwards=kind.endswith("to the end"))


def judge_answers(answers, kinds, labels, names: dict,
                  unseen=frozenset()) -> str:
    """Fail unless each answer matches its model's label.

    Args:
        answers: what :func:`.calls.leaks_future` replied, per model: True,
            False, a reason string, or ``{"error": {"message": ...}}``.
        kinds: the models' names, in the same order.
        labels: kind -> True when the model leaks the future.
        unseen: kinds the student has not seen (said so in messages).

    Returns:
        The success message.
    """
    fn = names.get("leaks_future", "leaks_future")
    if type(answers) is not list or len(answers) != len(kinds):
        raise CheckFailed(f"{fn}: expected one answer per model "
                          f"({len(kinds)}), got {answers!r:.80}")
    for got, kind in zip(answers, kinds):
        seen = " (a model you have not seen)" if kind in unseen else ""
        if type(got) is dict:
            err = got.get("error")
            exc = CheckFailed(f"for the {kind}{seen}: "
                              f"{err.get('message') if type(err) is dict else err}")
            frames = err.get("frames") if type(err) is dict else None
            if type(frames) is list:  # the student's code raised: where
                exc.frames = [tuple(f) for f in frames
                              if type(f) is list and len(f) == 4]
            raise exc
        if type(got) is str:
            raise CheckFailed(f"{fn} returned for the {kind}{seen}: {got}")
        if got is not labels[kind]:
            why = ("its output at some step t changes when only inputs "
                   "after t change" if labels[kind] else
                   "its output at step t depends only on inputs up to t")
            raise CheckFailed(f"{fn} returned {got} for the {kind}{seen}, "
                              f"expected {labels[kind]}: {why}")
    leaky = sum(bool(labels[k]) for k in kinds)
    return f"right on all {len(kinds)} models ({leaky} of them leak the future)"
