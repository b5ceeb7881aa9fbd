"""Tests for autograder/student/perplexity.py: the calibrated perplexity check.

The structural tests use a tiny budget (one epoch, num_hiddens=4) so they
run in a second; the tests marked ``slow`` train under the real grading
budget (a few seconds each) and show that the calibrated thresholds accept
the book's own code and reject the known-bad models.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest
import torch

from autograder.sandbox.box import wire
from autograder.student import perplexity
from autograder.config import GRADING_CPU
from autograder.student.errors import CheckFailed

ROOT = Path(__file__).resolve().parent.parent
TINY = dataclasses.replace(GRADING_CPU, num_hiddens=4, epochs_deep=1,
                           epochs_bidirectional=1)


def _load_calibrate():
    spec = importlib.util.spec_from_file_location(
        "calibrate", ROOT / "scripts" / "calibrate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The book's code and the known-bad builds live in scripts/calibrate.py
# (outside the student-visible package).
CAL = _load_calibrate()


@pytest.fixture(autouse=True)
def _restore_threads():
    """The check sets its own threads; keep the suite's as they were."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _tiny(build, kind="deep"):
    return perplexity.collect(build, kind=kind, device="cpu", budget=TINY)


def _judge_tiny(entry, kind="deep"):
    """Judge with the tiny budget's structure (thresholds don't matter)."""
    net = perplexity.rebuild(entry["spec"], kind, TINY)
    perplexity.load_weights(net, entry["state_dict"])
    return net


# ------------------------------------------------------- evidence, structure

def test_evidence_is_plain_data():
    """Is the recorded evidence plain data (loadable with weights_only),
    with the spec, trained weights, curve and samples?"""
    entry = _tiny(CAL.book_deep_lstm)
    assert wire.read_frame is not None and wire.encode(entry)  # travels
    assert entry["error"] is None
    assert entry["spec"]["model_class"] == "d2l.torch.RNNModel"
    assert entry["spec"]["rnn"]["class"] == "torch.nn.modules.rnn.LSTM"
    assert all(entry["spec"]["requires_grad"].values())
    assert len(entry["perplexities"]) == 1
    assert entry["samples"][0].startswith("time traveller")
    assert len(entry["samples"][0]) == len("time traveller") + 50
    assert set(entry["state_dict"]) == set(
        CAL.book_deep_lstm(28, 4, 2, "cpu").state_dict())


def test_check_judges_what_came_back_and_keeps_the_curve(monkeypatch):
    """Does the perplexity check judge the reply (through the wire format),
    and keep the curve, samples and the judged perplexity even when the
    model fails?"""
    from autograder.student import calls, checks

    monkeypatch.setattr(perplexity, "grading_budget", lambda _: TINY)
    names = {"build": "build_deep_lstm"}

    def answer(call):
        reply = getattr(calls, call.call)(CAL.book_deep_lstm, **call.kwargs,
                                          names=names)
        frame = wire.encode(reply)
        header_len = int.from_bytes(frame[4:8], "big")
        return wire.decode(frame[16:16 + header_len], frame[16 + header_len:])

    check = checks.perplexity_check({}, generator=None, names=names,
                                    kind="deep")
    with pytest.raises(CheckFailed, match="not below the threshold") as info:
        checks.drive(check, answer)
    detail = info.value.detail
    assert len(detail["curve"]) == TINY.epochs_deep
    assert detail["samples"][0].startswith("time traveller")
    assert detail["perplexity"] > detail["threshold"]


def test_book_code_is_rebuilt_both_kinds():
    """Is the book's own code (with and without bidirectional=True) rebuilt
    by the trusted path, its weights loaded exactly?"""
    for kind, build in CAL.REFERENCE.items():
        entry = _tiny(build, kind)
        net = _judge_tiny(entry, kind)
        for name, t in net.state_dict().items():
            assert torch.equal(t, entry["state_dict"][name])


def test_subclass_that_zeroes_input_rejected():
    """Is a d2l.RNNModel subclass (e.g. one that zeroes its input) rejected
    with a message naming the class, though its shapes would pass?"""
    entry = _tiny(CAL.input_zeroed(CAL.book_deep_lstm))
    assert entry["error"] is None            # it trained fine
    with pytest.raises(CheckFailed, match="ZeroInputModel != expected "
                                          "d2l.torch.RNNModel"):
        perplexity.judge(entry, "deep")


def test_wrong_kind_rejected():
    """Is a one-direction model judged as the bidirectional kind rejected,
    in the book's words?"""
    entry = _tiny(CAL.book_deep_lstm)
    with pytest.raises(CheckFailed, match="bidirectional False != expected "
                                          "True.*num_directions"):
        perplexity.rebuild(entry["spec"], "bidirectional", TINY)


def test_wrong_sizes_rejected():
    """Is a build that ignores the num_hiddens the grader passes rejected?"""
    def fixed(vocab_size, num_hiddens, num_layers, device):
        return CAL.book_deep_lstm(vocab_size, 256, num_layers, device)
    entry = _tiny(fixed)
    with pytest.raises(CheckFailed, match="num_hiddens 256 != expected 4"):
        perplexity.rebuild(entry["spec"], "deep", TINY)


@pytest.mark.parametrize("field, value, words", [
    ("dropout", 2.0, None),            # rebuilt without dropout: accepted
    ("batch_first", True, "batch_first=True != expected False"),
    ("proj_size", 3, "proj_size=3 != expected 0"),
    ("bias", "yes", "bias='yes' != expected True or False"),
])
def test_layout_fields_from_the_box_are_checked(field, value, words):
    """Is every layout field the student's object reported (dropout 2.0
    set behind the grader's back, a projection, batch_first) either
    ignored or refused in words, never passed on to nn.LSTM where it
    would raise in the grader? (Found by a red-team review.)"""
    entry = _tiny(CAL.book_deep_lstm)
    spec = {**entry["spec"], "rnn": {**entry["spec"]["rnn"], field: value}}
    if words is None:
        net = perplexity.rebuild(spec, "deep", TINY)
        assert net.rnn.dropout == 0
    else:
        with pytest.raises(CheckFailed, match=re.escape(words)):
            perplexity.rebuild(spec, "deep", TINY)
    for junk in ([1], "rnn", None):
        with pytest.raises(CheckFailed, match="expected nn.LSTM"):
            perplexity.rebuild({**entry["spec"], "rnn": junk}, "deep", TINY)


@pytest.mark.parametrize("part, field, convert", [
    ("rnn", "input_size", float), ("rnn", "num_layers", float),
    ("rnn", "bidirectional", int), ("linear", "out_features", float),
    ("rnn", "hidden_size", torch.tensor),
])
def test_sizes_must_have_the_books_types(part, field, convert):
    """Second red-team pass: is a size of the right value but another type
    (28.0 for 28, 0 for False, a tensor) refused in words, instead of
    reaching nn.LSTM and raising a TypeError in the grader?"""
    entry = _tiny(CAL.book_deep_lstm)
    value = convert(entry["spec"][part][field])  # the same value
    spec = {**entry["spec"], part: {**entry["spec"][part], field: value}}
    with pytest.raises(CheckFailed, match="wrong structure"):
        perplexity.rebuild(spec, "deep", TINY)


def test_build_error_reported():
    """Does a build that raises fail with the error, not crash the grader?"""
    def broken(vocab_size, num_hiddens, num_layers, device):
        raise NotImplementedError("not yet")
    entry = _tiny(broken)
    assert wire.encode(entry)
    with pytest.raises(CheckFailed, match=r"calling build\(vocab_size, "
                       r"num_hiddens, num_layers, device\) raised "
                       "NotImplementedError: not yet"):
        perplexity.judge(entry, "deep")


def test_forged_weights_rejected(monkeypatch):
    """Are missing or misshapen recorded weights rejected by name?"""
    monkeypatch.setattr(perplexity, "grading_budget", lambda _: TINY)
    entry = _tiny(CAL.book_deep_lstm)
    entry["state_dict"].pop("linear.bias")
    with pytest.raises(CheckFailed, match="missing \\['linear.bias'\\]"):
        perplexity.judge(entry, "deep")
    entry["state_dict"] = "weights"
    with pytest.raises(CheckFailed, match="no trained weights"):
        perplexity.judge(entry, "deep")


def test_evaluate_separates_trained_from_untrained():
    """Does evaluate give a near-uniform perplexity (~vocab_size) for an
    untrained model and a lower one after training?"""
    corpus, vocab = perplexity.corpus_and_vocab()
    torch.manual_seed(0)
    net = CAL.book_deep_lstm(len(vocab), 8, 2, "cpu")
    before = perplexity.evaluate(net, corpus, batch_size=32, num_steps=35,
                                 device="cpu")
    assert 20 < before < 40
    entry = perplexity.collect(
        CAL.book_deep_lstm, kind="deep", device="cpu",
        budget=dataclasses.replace(TINY, num_hiddens=8, epochs_deep=3))
    assert entry["perplexity"] < before


def test_grading_restores_rng_and_threads():
    """Does the check leave the kernel's random state and threads as it
    found them (the student's later cells are unaffected)?"""
    torch.manual_seed(123)
    torch.set_num_threads(2)
    expected = torch.rand(1)
    torch.manual_seed(123)
    _tiny(CAL.book_deep_lstm)
    assert torch.equal(torch.rand(1), expected)
    assert torch.get_num_threads() == 2


# ------------------------------------------- the calibrated budget (slow)

def _graded(build, kind):
    entry = perplexity.collect(build, kind=kind, device="cpu",
                               budget=GRADING_CPU)
    return entry


@pytest.mark.slow
@pytest.mark.parametrize("kind", perplexity.KINDS)
def test_book_code_accepted(kind):
    """Does the book's own code pass under the grading budget, by a margin?"""
    entry = _graded(CAL.REFERENCE[kind], kind)
    message = perplexity.judge(entry, kind)
    assert "perplexity" in message
    assert entry["perplexity"] < 0.8 * GRADING_CPU.max_perplexity(kind)


@pytest.mark.slow
@pytest.mark.parametrize("kind", perplexity.KINDS)
def test_frozen_lstm_rejected_by_perplexity(kind):
    """Is a model whose LSTM weights are frozen with requires_grad=False
    rejected by its perplexity, naming the frozen ones?"""
    entry = _graded(CAL.frozen(CAL.REFERENCE[kind]), kind)
    with pytest.raises(CheckFailed, match="not below the threshold.*frozen "
                                          "parameters.*rnn.weight_ih_l0"):
        perplexity.judge(entry, kind)


def frozen_by_hooks(build):
    """Known-bad: LSTM gradients zeroed by hooks, so its weights never train
    although every parameter still counts as trainable."""
    def build_frozen(vocab_size, num_hiddens, num_layers, device):
        net = build(vocab_size, num_hiddens, num_layers, device)
        for p in net.rnn.parameters():
            p.register_hook(torch.zeros_like)
        return net
    return build_frozen


@pytest.mark.slow
@pytest.mark.parametrize("kind", perplexity.KINDS)
def test_hook_frozen_lstm_passes_other_checks_fails_perplexity(kind):
    """Does an LSTM frozen by gradient hooks pass shapes, parameters and
    device, and still fail on perplexity alone?"""
    from autograder.student import checks, registry

    build = frozen_by_hooks(CAL.REFERENCE[kind])
    prefix = "build_deep_lstm" if kind == "deep" else \
        "build_bidirectional_lstm"
    for what in ("shapes", "params", "device"):
        test = registry.test(f"test_{prefix}_{what}")
        checks.run_here(test.check, {"build": build}, test.visible_sizes,
                        names=test.roles, **test.kwargs)
    entry = _graded(build, kind)
    with pytest.raises(CheckFailed, match="not below the threshold"):
        perplexity.judge(entry, kind)


@pytest.mark.slow
@pytest.mark.parametrize("kind", perplexity.KINDS)
def test_input_ignored_rejected_by_perplexity(kind):
    """Is an exact d2l.RNNModel that ignores its input (first layer's input
    weights zero) rejected by the recomputed perplexity?"""
    entry = _graded(CAL.input_ignored(CAL.REFERENCE[kind]), kind)
    with pytest.raises(CheckFailed, match="not below the threshold"):
        perplexity.judge(entry, kind)


@pytest.mark.slow
def test_zeroed_input_fails_in_its_own_forward():
    """Does a subclass that zeroes its input also show, in its own forward,
    a perplexity above the threshold (it cannot learn the text)?"""
    entry = _graded(CAL.input_zeroed(CAL.book_deep_lstm), "deep")
    assert entry["perplexity"] > GRADING_CPU.max_perplexity("deep")


@pytest.mark.slow
def test_tampered_weights_rejected():
    """Are recorded weights that were not the trained ones (reset to zero
    after training) rejected by the recomputed perplexity?"""
    entry = _graded(CAL.book_deep_lstm, "deep")
    entry["state_dict"] = {k: torch.zeros_like(v)
                           for k, v in entry["state_dict"].items()}
    with pytest.raises(CheckFailed, match="not below the threshold"):
        perplexity.judge(entry, "deep")
