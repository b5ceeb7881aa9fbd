"""Tests of autograder/nbtests.py: the functions test cells call."""
from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn
from d2l import torch as d2l

import autograder
from autograder import contract, nbtests
from autograder.grader import evidence
from autograder.config import CHECKS
from autograder.student.errors import CheckFailed

pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_test_grade_id_has_a_function():
    """Is there one nbtests function per autograded grade_id?"""
    for nb in contract.NOTEBOOKS:
        for gid in nb.tests:
            assert callable(getattr(nbtests, gid.removeprefix("test_")))


def test_hidden_sizes_follow_the_seed():
    """Are hidden sizes reproducible from the seed and in range?"""
    gid = "test_deep_rnn_shapes"
    a = nbtests.hidden_sizes(gid, seed=1)
    assert a == nbtests.hidden_sizes(gid, seed=1)
    assert set(a) == set(nbtests.SIZE_KEYS[gid])
    lo, hi = CHECKS.num_hiddens_range
    assert lo <= a["num_hiddens"] <= hi
    draws = {tuple(nbtests.hidden_sizes(gid, seed=s).values())
             for s in range(20)}
    assert len(draws) > 15


def test_hidden_sizes_read_the_grading_seed(monkeypatch):
    """Does hidden_sizes() use AUTOGRADER_SEED when it is set?"""
    monkeypatch.setenv("AUTOGRADER_SEED", "77")
    gid = "test_birnn_params"
    assert nbtests.hidden_sizes(gid) == nbtests.hidden_sizes(gid, seed=77)


def test_grading_flag(monkeypatch):
    """Is grading() true under nbgrader or with an evidence folder only?"""
    assert not nbtests.grading()
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert nbtests.grading()


def test_solutions_pass_visible_and_hidden(solutions, capsys, run_checks):
    """Do the solutions pass every check, printing one line per call?"""
    run_checks(solutions)
    run_checks(solutions, hidden=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 * 13
    assert lines[0].startswith("test_deep_rnn_shapes: outputs and 2 state")


def test_book_params_message_gives_the_formula_count(solutions, capsys):
    """Does the params test report 826,396 for the book's deep LSTM?"""
    nbtests.build_deep_lstm_params(solutions.build_deep_lstm, vocab_size=28,
                                   num_hiddens=256, num_layers=2)
    assert "826,396 trainable parameters" in capsys.readouterr().out


def test_wrong_cell_fails(solutions):
    """Does a GRU in build_deep_lstm fail the shapes test?"""

    def build(vocab_size, num_hiddens, num_layers, device):
        return d2l.RNNModel(nn.GRU(vocab_size, num_hiddens, num_layers),
                            vocab_size).to(device)

    with pytest.raises(CheckFailed, match="expected a tuple of 2 tensors"):
        nbtests.build_deep_lstm_shapes(build, vocab_size=5, num_hiddens=4,
                                       num_layers=2, batch_size=2,
                                       num_steps=3)


def test_evidence_is_recorded_before_judging(tmp_path, monkeypatch,
                                             solutions):
    """Is a failing call's evidence recorded (so the grader sees it)?"""
    monkeypatch.setenv("AUTOGRADER_EVIDENCE_DIR", str(tmp_path))
    with pytest.raises(CheckFailed):
        nbtests.birnn_params(lambda *a: [], vocab_size=5, num_hiddens=3)
    entries = evidence.load(tmp_path, "test_birnn_params")
    assert entries and entries[0]["params"] == []


@pytest.mark.parametrize("gid,kind", [
    ("test_build_deep_lstm_perplexity", "deep"),
    ("test_build_bidirectional_lstm_perplexity", "bidirectional")])
def test_perplexity_tests_call_perplexity_run_test(monkeypatch, gid, kind):
    """Do the perplexity tests hand the build function to perplexity.py?"""
    calls = []
    fake = types.ModuleType("autograder.student.perplexity")
    fake.run_test = lambda build, **kw: calls.append((build, kw))
    monkeypatch.setitem(sys.modules, "autograder.student.perplexity", fake)
    import autograder.student
    monkeypatch.setattr(autograder.student, "perplexity", fake, raising=False)
    getattr(nbtests, gid[5:])(len)
    assert calls == [(len, {"kind": kind, "grade_id": gid,
                            "record": nbtests.evidence.record})]


def liar_student(fakes):
    """Student functions that return always-equal objects of any shape."""
    from autograder.student import params
    AE = fakes.AlwaysEqual

    def fake_params(vocab_size, num_hiddens, *rest):
        layers = rest[0] if len(rest) == 2 else None
        return [AE(s) for _, _, s in params.scratch_shapes(
            vocab_size, num_hiddens, layers)]

    def fake_state(batch_size, num_hiddens, device, num_layers=2):
        return tuple(AE((batch_size, num_hiddens))
                     for _ in range(num_layers))

    return types.SimpleNamespace(
        get_deep_rnn_params=fake_params, get_birnn_params=fake_params,
        init_deep_rnn_state=fake_state, init_birnn_state=fake_state,
        deep_rnn=fakes.scratch_rnn, birnn=fakes.scratch_rnn,
        build_deep_lstm=lambda *a: AE(), build_bidirectional_lstm=lambda *a:
        AE(), leaks_future=lambda *a: AE())


CHECK_IDS = [gid for nb in contract.NOTEBOOKS for gid in nb.tests
             if gid not in nbtests.PERPLEXITY_TESTS]


@pytest.mark.parametrize("gid", CHECK_IDS)
def test_always_equal_student_fails_every_check(fakes, gid):
    """Does a student whose objects equal anything fail every check?"""
    s = liar_student(fakes)
    fn = getattr(nbtests, gid.removeprefix("test_"))
    args = {"test_deep_rnn_shapes": (s.get_deep_rnn_params,
                                     s.init_deep_rnn_state, s.deep_rnn),
            "test_birnn_shapes": (s.get_birnn_params, s.init_birnn_state,
                                  s.birnn)}
    args["test_deep_rnn_matches_torch"] = args["test_deep_rnn_shapes"]
    args["test_birnn_matches_torch"] = args["test_birnn_shapes"]
    args["test_deep_rnn_params"] = (s.get_deep_rnn_params,)
    args["test_birnn_params"] = (s.get_birnn_params,)
    args["test_leaks_future_causality"] = (s.leaks_future,)
    student = args.get(gid, (s.build_deep_lstm,))
    with pytest.raises(CheckFailed, match="AlwaysEqual|nn.Module"):
        fn(*student, **nbtests.hidden_sizes(gid, seed=3))


@pytest.mark.parametrize("gid", [
    "test_build_deep_lstm_shapes", "test_build_deep_lstm_device",
    "test_build_bidirectional_lstm_shapes",
    "test_build_bidirectional_lstm_device"])
def test_any_shape_module_fails_shape_and_device(fakes, gid):
    """Does a real module whose outputs claim any shape fail?"""

    def build(vocab_size, num_hiddens, num_layers, device):
        return fakes.AnyShapeModel(vocab_size, num_hiddens, num_layers)

    fn = getattr(nbtests, gid.removeprefix("test_"))
    with pytest.raises(CheckFailed, match="AlwaysEqual, expected "
                       "torch.Tensor"):
        fn(build, **nbtests.hidden_sizes(gid, seed=3))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_default_device_is_the_gpu(solutions):
    """With a GPU, is d2l.try_gpu() expected, and a CPU model rejected?"""

    def left_on_cpu(vocab_size, num_hiddens, num_layers, device):
        return d2l.RNNModel(nn.LSTM(vocab_size, num_hiddens, num_layers),
                            vocab_size)

    sizes = dict(vocab_size=5, num_hiddens=4, num_layers=2)
    nbtests.build_deep_lstm_device(solutions.build_deep_lstm, **sizes)
    with pytest.raises(CheckFailed, match="on cpu, expected cuda:0"):
        nbtests.build_deep_lstm_device(left_on_cpu, **sizes)
