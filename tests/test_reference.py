"""Tests of autograder/student/reference.py: scratch RNNs against nn.RNN."""
from __future__ import annotations

import pytest
import torch

from autograder.student import reference
from autograder.student.errors import CheckFailed

pytestmark = pytest.mark.usefixtures("one_thread")


def run(s, rnn, sizes, gen, deep=True):
    get_params = s.get_deep_rnn_params if deep else s.get_birnn_params
    init_state = s.init_deep_rnn_state if deep else s.init_birnn_state
    ev = reference.collect(get_params, init_state, rnn, sizes=sizes,
                           generator=gen)
    reference.judge(ev)
    return ev


def test_solutions_match_torch(solutions, deep_sizes, bi_sizes, gen):
    """Do the known-good deep RNN and BiRNN match nn.RNN?"""
    run(solutions, solutions.deep_rnn, deep_sizes, gen)
    run(solutions, solutions.birnn, bi_sizes, gen, deep=False)


@pytest.mark.parametrize("num_layers", [1, 3])
def test_other_depths_match_torch(solutions, deep_sizes, gen, num_layers):
    """Does the comparison hold for 1 and 3 layers?"""
    run(solutions, solutions.deep_rnn, {**deep_sizes,
                                        "num_layers": num_layers}, gen)


def test_inputs_are_drawn_from_the_generator(deep_sizes):
    """Do two generators with the same seed draw the same case, others not?"""
    a = reference.draw_case(deep_sizes, torch.Generator().manual_seed(1))
    b = reference.draw_case(deep_sizes, torch.Generator().manual_seed(1))
    c = reference.draw_case(deep_sizes, torch.Generator().manual_seed(2))
    assert torch.equal(a["params"][0], b["params"][0])
    assert not torch.equal(a["params"][0], c["params"][0])


def test_relu_instead_of_tanh_is_rejected(solutions, deep_sizes, gen):
    """Is a deep RNN with relu caught at the first time step?"""

    def relu_rnn(inputs, state, params):
        *layers, W_hq, b_q = params
        H, outputs = list(state), []
        for X in inputs:
            for l in range(len(H)):
                W_xh, W_hh, b_h = layers[3 * l:3 * l + 3]
                H[l] = torch.relu(X @ W_xh + H[l] @ W_hh + b_h)
                X = H[l]
            outputs.append(X @ W_hq + b_q)
        return torch.cat(outputs), tuple(H)

    with pytest.raises(CheckFailed, match=r"^outputs differ from nn.RNN\("
                       r"vocab_size, num_hiddens, num_layers\) first at time "
                       r"step t=0 \(num_steps=4\)"):
        run(solutions, relu_rnn, deep_sizes, gen)


def test_ignoring_the_initial_state_is_rejected(solutions, deep_sizes, gen):
    """Is a deep RNN that starts from zeros, not from ``state``, rejected?"""

    def from_zeros(inputs, state, params):
        return solutions.deep_rnn(inputs, tuple(torch.zeros_like(H)
                                                for H in state), params)

    with pytest.raises(CheckFailed, match="first at time step t=0"):
        run(solutions, from_zeros, deep_sizes, gen)


def test_stale_final_state_is_rejected(solutions, deep_sizes, gen):
    """Is a deep RNN that returns its initial state named by layer?"""

    def stale(inputs, state, params):
        outputs, _ = solutions.deep_rnn(inputs, state, params)
        return outputs, state

    with pytest.raises(CheckFailed, match=r"final state\[0\] \(layer 1\) "
                       r"differs"):
        run(solutions, stale, deep_sizes, gen)


def test_backward_not_realigned_is_rejected(solutions, bi_sizes, gen):
    """Is a BiRNN whose backward states are not re-aligned caught there?"""

    def not_realigned(inputs, state, params):
        W_xh_f, W_hh_f, b_h_f, W_xh_b, W_hh_b, b_h_b, W_hq, b_q = params
        fwd, H_f = solutions._run(inputs, state[0], W_xh_f, W_hh_f, b_h_f)
        bwd, H_b = solutions._run(torch.flip(inputs, [0]), state[1], W_xh_b,
                                  W_hh_b, b_h_b)
        outs = [torch.cat((f, b), 1) @ W_hq + b_q for f, b in zip(fwd, bwd)]
        return torch.cat(outs), (H_f, H_b)

    with pytest.raises(CheckFailed) as info:
        run(solutions, not_realigned, bi_sizes, gen, deep=False)
    msg = str(info.value)
    assert msg.startswith("outputs of the backward direction")
    assert "first at time step t=4 (num_steps=5) [direction: backward]" in msg


def test_swapped_concatenation_is_rejected(solutions, bi_sizes, gen):
    """Is [backward, forward] instead of [forward, backward] caught?"""

    def swapped(inputs, state, params):
        p = list(params)
        h = p[0].shape[1]
        p[-2] = torch.cat((params[-2][h:], params[-2][:h]))
        # With W_hq's halves swapped, the solution computes [bwd, fwd] @ W_hq.
        out, (H_f, H_b) = solutions.birnn(inputs, state, p)
        return out, (H_f, H_b)

    with pytest.raises(CheckFailed, match=r"direction: forward"):
        run(solutions, swapped, bi_sizes, gen, deep=False)


def test_forward_only_birnn_is_rejected(solutions, bi_sizes, gen):
    """Is a 'BiRNN' that runs the backward weights forward caught?"""

    def both_forward(inputs, state, params):
        W_xh_f, W_hh_f, b_h_f, W_xh_b, W_hh_b, b_h_b, W_hq, b_q = params
        fwd, H_f = solutions._run(inputs, state[0], W_xh_f, W_hh_f, b_h_f)
        bwd, H_b = solutions._run(inputs, state[1], W_xh_b, W_hh_b, b_h_b)
        outs = [torch.cat((f, b), 1) @ W_hq + b_q for f, b in zip(fwd, bwd)]
        return torch.cat(outs), (H_f, H_b)

    with pytest.raises(CheckFailed, match=r"direction: backward"):
        run(solutions, both_forward, bi_sizes, gen, deep=False)


def test_fake_outputs_are_rejected(solutions, bi_sizes, gen, fakes):
    """Does an rnn returning always-equal fakes fail the comparison?"""
    with pytest.raises(CheckFailed, match="outputs: got .*AlwaysEqual"):
        run(solutions, fakes.scratch_rnn, bi_sizes, gen, deep=False)


def test_tensor_subclass_outputs_are_rejected(solutions, deep_sizes, gen,
                                              fakes):
    """Are outputs of a tensor subclass (which could lie) rejected?"""

    def subclassed(inputs, state, params):
        out, H = solutions.deep_rnn(inputs, state, params)
        return out.detach().as_subclass(fakes.SubTensor), H

    with pytest.raises(CheckFailed, match="torch.Tensor subclass"):
        run(solutions, subclassed, deep_sizes, gen)


def test_wrong_param_shapes_fail_before_comparison(solutions, deep_sizes,
                                                   gen):
    """Does a get_params with the wrong shapes fail with the shape message?"""
    ev = reference.collect(lambda v, h, L, d: solutions.get_deep_rnn_params(
        v, h + 1, L, d), solutions.init_deep_rnn_state, solutions.deep_rnn,
        sizes=deep_sizes, generator=gen)
    with pytest.raises(CheckFailed, match=r"params\[0\] \(W_xh_1\) shape"):
        reference.judge(ev)


def test_get_params_without_grad_does_not_fail_the_comparison(
        solutions, deep_sizes, gen):
    """Is only deep_rnn judged here (get_params' grads are the params
    test's business)?"""
    ev = reference.collect(
        lambda *a: [p.detach() for p in solutions.get_deep_rnn_params(*a)],
        solutions.init_deep_rnn_state, solutions.deep_rnn, sizes=deep_sizes,
        generator=gen)
    reference.judge(ev)


def test_stale_backward_state_is_named(solutions, bi_sizes, gen):
    """Is a BiRNN returning its initial H_b rejected, naming H_b?"""

    def stale_backward(inputs, state, params):
        outputs, (H_f, _) = solutions.birnn(inputs, state, params)
        return outputs, (H_f, state[1])

    with pytest.raises(CheckFailed, match=r"final state\[1\] \(H_b, "
                       r"backward\) differs from nn.RNN\(vocab_size, "
                       r"num_hiddens, bidirectional=True\)'s h_n"):
        run(solutions, stale_backward, bi_sizes, gen, deep=False)
