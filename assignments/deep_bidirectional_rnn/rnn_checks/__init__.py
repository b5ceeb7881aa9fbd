"""Self-checks for the d2l lesson on deep and bidirectional RNNs.

The notebooks import this package as ``rnn_checks`` (it sits next to them in
the folder students receive). Each test cell calls one function below, named
after its grade_id without ``test_``::

    rnn_checks.deep_rnn_shapes(get_deep_rnn_params, init_deep_rnn_state,
                               deep_rnn, vocab_size=28, num_hiddens=16,
                               num_layers=2, batch_size=3, num_steps=5)

A passing check prints one line; a failing one says what it got and what it
expected, naming your function. Grading runs the same checks, plus the same
checks with other sizes, and for ``leaks_future`` on models you have not
seen.
"""
from __future__ import annotations

import os

from . import checks, registry, report
from .errors import CheckFailed  # noqa: F401  (re-exported)

# nbgrader sets this while it executes a notebook for grading.
GRADING_ENV = "NBGRADER_EXECUTION"


def grading() -> bool:
    """True while nbgrader executes the notebook (training cells skip)."""
    return bool(os.environ.get(GRADING_ENV))


def _self_check(grade_id: str, functions: tuple, sizes: dict,
                device=None) -> None:
    """Run test ``grade_id``'s check here and report it."""
    test = registry.test(grade_id)
    roles = dict(zip(test.roles, functions))
    sizes = {k: sizes[k] for k in test.sizes}
    text = checks.sizes_text(sizes)
    try:
        message, _ = checks.run_here(
            test.check, roles, sizes, names=test.roles,
            device=_device(device), **test.kwargs)
    except CheckFailed as exc:
        report.fail(test, exc, text)
    report.passed(test, message, text)


def _device(device):
    """The device to check on: the one given, else ``d2l.try_gpu()``."""
    if device is not None:
        return str(device)
    from d2l import torch as d2l

    return str(d2l.try_gpu())


# ----------------------------------------------------------- deep_rnn.ipynb

def deep_rnn_shapes(get_deep_rnn_params, init_deep_rnn_state, deep_rnn, *,
                    vocab_size, num_hiddens, num_layers, batch_size,
                    num_steps):
    """The shapes of deep_rnn's outputs and of every layer's state."""
    _self_check("test_deep_rnn_shapes",
                (get_deep_rnn_params, init_deep_rnn_state, deep_rnn),
                locals())


def deep_rnn_params(get_deep_rnn_params, *, vocab_size, num_hiddens,
                    num_layers):
    """The list get_deep_rnn_params returns: order, shapes, grads, count."""
    _self_check("test_deep_rnn_params", (get_deep_rnn_params,), locals())


def deep_rnn_matches_torch(get_deep_rnn_params, init_deep_rnn_state,
                           deep_rnn, *, vocab_size, num_hiddens, num_layers,
                           batch_size, num_steps):
    """deep_rnn against nn.RNN(vocab_size, num_hiddens, num_layers)."""
    _self_check("test_deep_rnn_matches_torch",
                (get_deep_rnn_params, init_deep_rnn_state, deep_rnn),
                locals())


def build_deep_lstm_shapes(build_deep_lstm, *, vocab_size, num_hiddens,
                           num_layers, batch_size, num_steps):
    """Output and (H, C) shapes of the deep LSTM d2l.RNNModel."""
    _self_check("test_build_deep_lstm_shapes", (build_deep_lstm,), locals())


def build_deep_lstm_params(build_deep_lstm, *, vocab_size, num_hiddens,
                           num_layers):
    """Trainable parameters of the deep LSTM against the formula."""
    _self_check("test_build_deep_lstm_params", (build_deep_lstm,), locals())


def build_deep_lstm_device(build_deep_lstm, *, vocab_size, num_hiddens,
                           num_layers, device=None):
    """Every tensor of the deep LSTM on ``device`` (d2l.try_gpu())."""
    _self_check("test_build_deep_lstm_device", (build_deep_lstm,), locals(),
                device)


def build_deep_lstm_perplexity(build_deep_lstm):
    """Train a fresh deep LSTM with the grader's recipe; check perplexity."""
    _perplexity("test_build_deep_lstm_perplexity", build_deep_lstm)


# -------------------------------------------------- bidirectional_rnn.ipynb

def birnn_shapes(get_birnn_params, init_birnn_state, birnn, *, vocab_size,
                 num_hiddens, batch_size, num_steps):
    """The shapes of birnn's outputs and of (H_f, H_b)."""
    _self_check("test_birnn_shapes",
                (get_birnn_params, init_birnn_state, birnn), locals())


def birnn_params(get_birnn_params, *, vocab_size, num_hiddens):
    """The list get_birnn_params returns: order, shapes, grads, count."""
    _self_check("test_birnn_params", (get_birnn_params,), locals())


def birnn_matches_torch(get_birnn_params, init_birnn_state, birnn, *,
                        vocab_size, num_hiddens, batch_size, num_steps):
    """birnn against nn.RNN(vocab_size, num_hiddens, bidirectional=True)."""
    _self_check("test_birnn_matches_torch",
                (get_birnn_params, init_birnn_state, birnn), locals())


def build_bidirectional_lstm_shapes(build_bidirectional_lstm, *, vocab_size,
                                    num_hiddens, num_layers, batch_size,
                                    num_steps):
    """Output and state shapes of the bidirectional LSTM."""
    _self_check("test_build_bidirectional_lstm_shapes",
                (build_bidirectional_lstm,), locals())


def build_bidirectional_lstm_params(build_bidirectional_lstm, *, vocab_size,
                                    num_hiddens, num_layers):
    """Trainable parameters of the bidirectional LSTM (formula)."""
    _self_check("test_build_bidirectional_lstm_params",
                (build_bidirectional_lstm,), locals())


def build_bidirectional_lstm_device(build_bidirectional_lstm, *, vocab_size,
                                    num_hiddens, num_layers, device=None):
    """Every tensor of the bidirectional LSTM on ``device``."""
    _self_check("test_build_bidirectional_lstm_device",
                (build_bidirectional_lstm,), locals(), device)


def build_bidirectional_lstm_perplexity(build_bidirectional_lstm):
    """Train a fresh bidirectional LSTM with the grader's recipe."""
    _perplexity("test_build_bidirectional_lstm_perplexity",
                build_bidirectional_lstm)


def leaks_future_causality(leaks_future):
    """leaks_future on the lesson's models."""
    _self_check("test_leaks_future_causality", (leaks_future,), {})


def _perplexity(grade_id: str, build) -> None:
    """The perplexity self-check (skipped while nbgrader grades: the grader
    trains the model itself, and the feedback shows it)."""
    if grading():
        test = registry.test(grade_id)
        print(f"- {test.grade_id}: the grader trains this model itself; "
              "see your feedback")
        return
    _self_check(grade_id, (build,), {})


report.install()
