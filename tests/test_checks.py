"""Tests of autograder/student/checks.py, registry.py and the self-check
API (rnn_checks): each test described once, each check run the same way
in a notebook and in the grader."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import autograder.student as rnn_checks
from autograder import contract
from autograder.student import calls, checks, registry, report
from autograder.student.errors import CheckFailed

pytestmark = pytest.mark.usefixtures("one_thread")
DEEP = registry.test("test_deep_rnn_matches_torch")
BI = registry.test("test_birnn_matches_torch")


def test_registry_is_the_contracts_tests():
    """Does the registry list exactly the contract's test cells, in order,
    each with a check, its functions and an API function?"""
    assert [t.grade_id for t in registry.TESTS] == [
        g for nb in contract.NOTEBOOKS for g in nb.tests]
    for test in registry.TESTS:
        assert test.check in checks.CHECKS
        nb = contract.notebook_of(test.grade_id)
        assert set(test.functions) <= set(nb.functions)
        assert callable(getattr(rnn_checks, test.api))
        assert test.what[0] and test.what[1]


def test_correct_functions_pass_every_check(solutions, run_checks):
    """Do the reference solutions pass every check, visible and other
    sizes?"""
    assert len(run_checks(solutions)) == len(registry.TESTS) - 2
    assert len(run_checks(solutions, hidden=True)) == len(registry.TESTS) - 2


def _deep_rnn_through(layer_call):
    """A 'scratch' deep RNN that hands its parameters to torch's nn.RNN."""
    def deep_rnn(inputs, state, params):
        L, (h,) = len(state), state[0].shape[1:]
        rnn = layer_call(inputs.shape[-1], h, L)
        with torch.no_grad():
            for l in range(L):
                W_xh, W_hh, b_h = params[3 * l:3 * l + 3]
                getattr(rnn, f"weight_ih_l{l}").copy_(W_xh.T)
                getattr(rnn, f"weight_hh_l{l}").copy_(W_hh.T)
                getattr(rnn, f"bias_ih_l{l}").copy_(b_h)
                getattr(rnn, f"bias_hh_l{l}").zero_()
        Y, H = rnn(inputs, torch.stack(state))
        out = Y.reshape(-1, Y.shape[-1]) @ params[-2] + params[-1]
        return out, tuple(H)
    return deep_rnn


@pytest.mark.parametrize("make", [
    lambda v, h, L: nn.RNN(v, h, L),
    lambda v, h, L: getattr(nn, "R" + "NN")(v, h, L),
], ids=["plain", "disguised"])
def test_torch_rnn_inside_scratch_fails_matches_torch(make, solutions):
    """Does a deep_rnn that runs nn.RNN (with the right numbers!) fail the
    reference test, naming the kernel it ran?"""
    fns = {"get_params": solutions.get_deep_rnn_params,
           "init_state": solutions.init_deep_rnn_state,
           "rnn": _deep_rnn_through(make)}
    with pytest.raises(CheckFailed, match=r"ran torch's recurrent kernel "
                       r"torch\.rnn_tanh.*write the recurrence yourself"):
        checks.run_here("scratch_reference", fns, DEEP.visible_sizes,
                        names=DEEP.roles)


def test_functional_call_over_a_layer_is_caught(solutions):
    """Is torch.func.functional_call over an nn.RNN caught too?"""
    from torch.func import functional_call

    def birnn(inputs, state, params):
        layer = nn.RNN(inputs.shape[-1], state[0].shape[1],
                       bidirectional=True)
        named = dict(layer.named_parameters())
        Y, _ = functional_call(layer, named, (inputs, torch.stack(state)))
        return Y.reshape(-1, Y.shape[-1]) @ params[-2] + params[-1], state

    fns = {"get_params": solutions.get_birnn_params,
           "init_state": solutions.init_birnn_state, "rnn": birnn}
    with pytest.raises(CheckFailed, match="recurrent kernel"):
        checks.run_here("scratch_reference", fns, BI.visible_sizes,
                        names=BI.roles)


def test_failure_names_the_students_function_and_frames(solutions):
    """Does a failing check name the student's function and carry the
    student's own frames (not the checks')?"""
    def deep_rnn(inputs, state, params):
        return inputs[99], state

    fns = {"get_params": solutions.get_deep_rnn_params,
           "init_state": solutions.init_deep_rnn_state, "rnn": deep_rnn}
    with pytest.raises(CheckFailed) as info:
        checks.run_here("scratch_shapes", fns, DEEP.visible_sizes,
                        names=DEEP.roles)
    assert "calling deep_rnn(inputs, state, params) raised IndexError" \
        in str(info.value)
    assert [f[2] for f in info.value.frames] == ["deep_rnn"]


def test_self_check_prints_one_line_or_a_short_failure(solutions, capsys):
    """Does a passing self-check print one line, and a failing one raise a
    report of at most report.MAX_LINES lines that names the function?"""
    sizes = dict(vocab_size=28, num_hiddens=16, num_layers=2)
    rnn_checks.deep_rnn_params(solutions.get_deep_rnn_params, **sizes)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "test_deep_rnn_params" in out

    def get_deep_rnn_params(vocab_size, num_hiddens, num_layers, device):
        return solutions.get_deep_rnn_params(vocab_size, num_hiddens,
                                             num_layers, device)[:-1]

    with pytest.raises(report.SelfCheckFailed) as info:
        rnn_checks.deep_rnn_params(get_deep_rnn_params, **sizes)
    text = str(info.value)
    assert "get_deep_rnn_params returned 7 tensors, expected 8" in text
    assert len(text.splitlines()) <= report.MAX_LINES


def test_recurrent_kernels_are_recorded_only_inside():
    """Does the recorder see torch.lstm inside its block, and nothing of
    what runs outside it?"""
    layer = nn.LSTM(3, 2)
    layer(torch.zeros(2, 1, 3))
    with calls.RecurrentKernels() as kernels:
        layer(torch.zeros(2, 1, 3))
        torch.tanh(torch.zeros(1))
    assert kernels.seen == {"lstm"}
