"""Tests of autograder/student/params.py: closed-form trainable parameter counts."""
from __future__ import annotations

import pytest
from torch import nn
from d2l import torch as d2l

from autograder.student import params
from autograder.student.errors import CheckFailed

pytestmark = pytest.mark.usefixtures("one_thread")


def book_build(bidirectional=False, cell=nn.LSTM):
    def build(vocab_size, num_hiddens, num_layers, device):
        layer = cell(vocab_size, num_hiddens, num_layers,
                     bidirectional=bidirectional)
        return d2l.RNNModel(layer, vocab_size).to(device)
    return build


def test_formula_gives_the_books_counts():
    """Does the formula give 826,396 and 2,177,052 for the book's LSTMs?"""
    assert params.total(params.expected_model(28, 256, 2, 1)) == 826_396
    assert params.total(params.expected_model(28, 256, 2, 2)) == 2_177_052


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("directions", [1, 2])
def test_formula_matches_torch_modules(cell, directions):
    """Does the formula agree with torch's own modules (3 layers)?"""
    layer = getattr(nn, cell)(9, 6, 3, bidirectional=directions == 2)
    model = d2l.RNNModel(layer, 9)
    got = sum(p.numel() for p in model.parameters())
    assert params.total(params.expected_model(9, 6, 3, directions,
                                              cell)) == got


@pytest.mark.parametrize("directions", [1, 2])
def test_book_models_are_accepted(directions):
    """Are the book's deep and bidirectional LSTMs accepted?"""
    ev = params.collect_model(book_build(directions == 2), vocab_size=7,
                              num_hiddens=5, num_layers=2)
    params.judge_model(ev, num_directions=directions)


def test_gru_instead_of_lstm_shows_breakdown():
    """Is a GRU rejected with a per-layer table of expected against got?"""
    ev = params.collect_model(book_build(cell=nn.GRU), vocab_size=7,
                              num_hiddens=5, num_layers=2)
    with pytest.raises(CheckFailed) as info:
        params.judge_model(ev, num_directions=1)
    msg = str(info.value)
    assert msg.startswith("trainable parameters 432 != expected 562 for a "
                          "2-layer nn.LSTM")
    assert "rnn layer 0" in msg and "output layer" in msg and "<--" in msg


def test_one_direction_output_layer_is_rejected():
    """Is a bidirectional model with a one-direction output layer rejected?"""

    def build(vocab_size, num_hiddens, num_layers, device):
        model = book_build(True)(vocab_size, num_hiddens, num_layers, device)
        model.linear = nn.Linear(num_hiddens, vocab_size)
        return model

    ev = params.collect_model(build, vocab_size=7, num_hiddens=5,
                              num_layers=2)
    with pytest.raises(CheckFailed, match="output layer .* 77 .* 42"):
        params.judge_model(ev, num_directions=2)


def test_frozen_parameters_are_not_counted():
    """Are frozen (requires_grad=False) LSTM weights left out of the count?"""

    def build(vocab_size, num_hiddens, num_layers, device):
        model = book_build()(vocab_size, num_hiddens, num_layers, device)
        model.rnn.requires_grad_(False)
        return model

    ev = params.collect_model(build, vocab_size=7, num_hiddens=5,
                              num_layers=2)
    with pytest.raises(CheckFailed, match="trainable parameters 42 "):
        params.judge_model(ev, num_directions=1)


def test_fake_module_is_rejected(fakes):
    """Is an object that is not an nn.Module rejected?"""
    ev = params.collect_model(lambda *a: fakes.AlwaysEqual(), vocab_size=7,
                              num_hiddens=5, num_layers=2)
    with pytest.raises(CheckFailed, match="expected an nn.Module"):
        params.judge_model(ev, num_directions=1)


def test_scratch_solutions_are_accepted(solutions):
    """Do get_deep_rnn_params and get_birnn_params of the solution pass?"""
    ev = params.collect_scratch(solutions.get_deep_rnn_params, vocab_size=7,
                                num_hiddens=5, num_layers=3)
    params.judge_scratch(ev)
    ev = params.collect_scratch(solutions.get_birnn_params, vocab_size=7,
                                num_hiddens=5)
    params.judge_scratch(ev)


def test_scratch_formula_matches_shapes():
    """Does the scratch closed form equal the sum of the contract's shapes?"""
    import math
    for L in (None, 1, 2, 4):
        rows = params.scratch_shapes(11, 6, L)
        assert sum(math.prod(s) for _, _, s in rows) == params.total(
            params.expected_scratch(11, 6, L))


def test_deep_layer_reading_vocab_is_rejected(solutions):
    """Is W_xh_2 of shape (vocab_size, h) rejected with the book's words?"""

    def wrong(vocab_size, num_hiddens, num_layers, device):
        return [solutions.normal((vocab_size, num_hiddens), device)
                .requires_grad_(True) if i % 3 == 0 else p
                for i, p in enumerate(solutions.get_deep_rnn_params(
                    vocab_size, num_hiddens, num_layers, device))]

    ev = params.collect_scratch(wrong, vocab_size=7, num_hiddens=5,
                                num_layers=2)
    with pytest.raises(CheckFailed) as info:
        params.judge_scratch(ev)
    assert str(info.value) == ("params[3] (W_xh_2) shape (7, 5) != expected "
                               "(num_hiddens, num_hiddens) = (5, 5)")


def test_scratch_without_grad_is_rejected(solutions):
    """Is a parameter list that does not require grad rejected?"""

    def no_grad(*args):
        return [p.detach() for p in solutions.get_birnn_params(*args)]

    ev = params.collect_scratch(no_grad, vocab_size=7, num_hiddens=5)
    with pytest.raises(CheckFailed, match=r"params\[0\] \(W_xh_f\) does not "
                       r"require grad"):
        params.judge_scratch(ev)


def test_scratch_fake_tensors_are_rejected(solutions, fakes):
    """Is a list of always-equal fakes claiming the shapes rejected?"""

    def fake(vocab_size, num_hiddens, device):
        return [fakes.AlwaysEqual(s) for _, _, s in
                params.scratch_shapes(vocab_size, num_hiddens)]

    ev = params.collect_scratch(fake, vocab_size=7, num_hiddens=5)
    with pytest.raises(CheckFailed, match=r"params\[0\]: got .*AlwaysEqual"):
        params.judge_scratch(ev)


def test_scratch_wrong_length_is_rejected(solutions):
    """Is a list without the output layer rejected with the expected names?"""
    ev = params.collect_scratch(
        lambda *a: solutions.get_birnn_params(*a)[:-2], vocab_size=7,
        num_hiddens=5)
    with pytest.raises(CheckFailed, match=r"returned 6 tensors, expected 8: "
                       r"\[W_xh_f, .*W_hq, b_q\]"):
        params.judge_scratch(ev)


def test_fake_parameter_injected_into_module_is_rejected(fakes):
    """Is an always-equal object smuggled into _parameters rejected?"""

    def build(vocab_size, num_hiddens, num_layers, device):
        model = book_build()(vocab_size, num_hiddens, num_layers, device)
        model.linear._parameters["weight"] = fakes.AlwaysEqual(
            (vocab_size, num_hiddens))
        return model

    ev = params.collect_model(build, vocab_size=7, num_hiddens=5,
                              num_layers=2)
    with pytest.raises(CheckFailed, match=r"linear.weight: got "
                       r".*AlwaysEqual, expected torch.Tensor"):
        params.judge_model(ev, num_directions=1)
