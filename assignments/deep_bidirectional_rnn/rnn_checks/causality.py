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
