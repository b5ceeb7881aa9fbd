"""Tests of autograder/student/shapes.py: outputs and every state tensor."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from d2l import torch as d2l

from autograder.student import shapes
from autograder.student.errors import CheckFailed

pytestmark = pytest.mark.usefixtures("one_thread")


def model_sizes(sizes):
    return {k: sizes[k] for k in ("vocab_size", "num_hiddens", "num_layers",
                                  "batch_size", "num_steps")}


def builder(cell=nn.LSTM, bidirectional=False, linear_factor=None):
    """A build_* function for d2l.RNNModel over ``cell``."""

    def build(vocab_size, num_hiddens, num_layers, device):
        layer = cell(vocab_size, num_hiddens, num_layers,
                     bidirectional=bidirectional)
        model = d2l.RNNModel(layer, vocab_size)
        if linear_factor is not None:
            model.linear = nn.Linear(linear_factor * num_hiddens, vocab_size)
        return model.to(device)
    return build


@pytest.mark.parametrize("directions", [1, 2])
def test_book_lstm_is_accepted(deep_sizes, gen, directions):
    """Does the book's (bidirectional) LSTM pass the shape check?"""
    ev = shapes.collect_model(builder(bidirectional=directions == 2),
                              generator=gen, **model_sizes(deep_sizes))
    shapes.judge_model(ev, num_directions=directions)


@pytest.mark.parametrize("cell", [nn.GRU, nn.RNN])
def test_gru_and_rnn_tensor_states_are_judged(deep_sizes, gen, cell):
    """Are GRU/RNN models (one state tensor) judged as such?"""
    ev = shapes.collect_model(builder(cell=cell), generator=gen,
                              **model_sizes(deep_sizes))
    shapes.judge_model(ev, num_directions=1, cell=cell.__name__)
    with pytest.raises(CheckFailed, match=r"begin_state: got tensor, "
                       r"expected a tuple of 2 tensors \(H, C\)"):
        shapes.judge_model(ev, num_directions=1, cell="LSTM")


def test_one_direction_where_two_expected_is_rejected(deep_sizes, gen):
    """Is a one-direction LSTM rejected by the bidirectional check?"""
    ev = shapes.collect_model(builder(), generator=gen,
                              **model_sizes(deep_sizes))
    with pytest.raises(CheckFailed) as info:
        shapes.judge_model(ev, num_directions=2)
    assert str(info.value) == (
        "the model build returned: begin_state[0] shape (2, 3, 5) != "
        "expected (num_directions*num_layers, batch_size, num_hiddens) = "
        "(4, 3, 5)")


def test_bidirectional_with_one_direction_output_layer_is_rejected(
        deep_sizes, gen):
    """Is a bidirectional model with a one-direction output layer rejected?"""
    ev = shapes.collect_model(builder(bidirectional=True, linear_factor=1),
                              generator=gen, **model_sizes(deep_sizes))
    with pytest.raises(CheckFailed, match="calling model\\(X, state\\) "
                       "raised RuntimeError"):
        shapes.judge_model(ev, num_directions=2)


def test_fake_model_reporting_any_shape_is_rejected(deep_sizes, gen, fakes):
    """Is a module whose outputs claim the right shapes rejected?"""

    def build(vocab_size, num_hiddens, num_layers, device):
        return fakes.AnyShapeModel(vocab_size, num_hiddens, num_layers)

    ev = shapes.collect_model(build, generator=gen, **model_sizes(deep_sizes))
    with pytest.raises(CheckFailed, match=r"begin_state\[0\]: got "
                       r".*AlwaysEqual, expected torch.Tensor"):
        shapes.judge_model(ev, num_directions=1)


def test_scratch_solutions_are_accepted(deep_sizes, bi_sizes, gen,
                                        solutions):
    """Do the known-good scratch deep RNN and BiRNN pass?"""
    s = solutions
    ev = shapes.collect_scratch(s.get_deep_rnn_params, s.init_deep_rnn_state,
                                s.deep_rnn, generator=gen, **deep_sizes)
    shapes.judge_scratch(ev)
    ev = shapes.collect_scratch(s.get_birnn_params, s.init_birnn_state,
                                s.birnn, generator=gen, **bi_sizes)
    shapes.judge_scratch(ev)


def test_scratch_output_not_concatenated_is_rejected(deep_sizes, gen,
                                                     solutions):
    """Are outputs stacked as (num_steps, batch_size, vocab_size) rejected?"""
    s = solutions

    def stacked(inputs, state, params):
        out, H = s.deep_rnn(inputs, state, params)
        return out.reshape(inputs.shape[0], inputs.shape[1], -1), H

    ev = shapes.collect_scratch(s.get_deep_rnn_params, s.init_deep_rnn_state,
                                stacked, generator=gen, **deep_sizes)
    with pytest.raises(CheckFailed) as info:
        shapes.judge_scratch(ev)
    assert str(info.value) == ("output shape (4, 3, 7) != expected (num_steps"
                               "*batch_size, vocab_size) = (12, 7)")


def test_scratch_state_of_last_layer_only_is_rejected(deep_sizes, gen,
                                                      solutions):
    """Is a deep RNN that returns one state, not num_layers, rejected?"""
    s = solutions

    def last_only(inputs, state, params):
        out, H = s.deep_rnn(inputs, state, params)
        return out, H[-1]

    ev = shapes.collect_scratch(s.get_deep_rnn_params, s.init_deep_rnn_state,
                                last_only, generator=gen, **deep_sizes)
    with pytest.raises(CheckFailed, match=r"state: got tensor, expected a "
                       r"tuple of 2 tensors"):
        shapes.judge_scratch(ev)


def test_scratch_fake_outputs_are_rejected(bi_sizes, gen, solutions, fakes):
    """Does a scratch rnn returning always-equal fakes fail?"""
    s = solutions
    ev = shapes.collect_scratch(s.get_birnn_params, s.init_birnn_state,
                                fakes.scratch_rnn, generator=gen, **bi_sizes)
    with pytest.raises(CheckFailed, match=r"state\[0\]: got .*AlwaysEqual"):
        shapes.judge_scratch(ev)


def test_student_exception_is_reported(bi_sizes, gen, solutions):
    """Does an exception in init_state fail with the call that raised?"""
    s = solutions

    def bad_state(batch_size, num_hiddens, device):
        raise ValueError("oops")

    ev = shapes.collect_scratch(s.get_birnn_params, bad_state, s.birnn,
                                generator=gen, **bi_sizes)
    with pytest.raises(CheckFailed, match=r"calling init_state\(batch_size, "
                       r"num_hiddens, device\) raised ValueError: oops"):
        shapes.judge_scratch(ev)


def test_patched_shape_attribute_does_not_fool_the_check(
        deep_sizes, gen, solutions, monkeypatch):
    """Does patching torch.Tensor.shape in the kernel leave shapes true?"""
    s = solutions

    def stacked(inputs, state, params):
        out, H = s.deep_rnn(inputs, state, params)
        return out.reshape(inputs.size(0), inputs.size(1), -1), H

    with monkeypatch.context() as m:
        m.setattr(torch.Tensor, "shape", property(lambda t: (12, 7)))
        ev = shapes.collect_scratch(s.get_deep_rnn_params,
                                    s.init_deep_rnn_state, stacked,
                                    generator=gen, **deep_sizes)
    with pytest.raises(CheckFailed, match=r"output shape \(4, 3, 7\)"):
        shapes.judge_scratch(ev)
