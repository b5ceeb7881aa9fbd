"""Tests of autograder/grader/causality.py: the probe, the zoo, and
grading leaks_future through stand-ins (the worker's view)."""
from __future__ import annotations

import pytest
import torch

from autograder.grader import causality
from autograder.sandbox.box import wire, worker
from autograder.student import calls, checks
from autograder.student import causality as student_causality
from autograder.student.errors import CheckFailed

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("kind", sorted(causality.LABELS))
def test_probe_agrees_with_every_label(kind, gen):
    """Does the kit's probe confirm the label of each zoo model?"""
    entry = causality.zoo_entry(kind, gen)
    model = causality.build_entry(entry)
    leak = causality.first_leak(model, entry["vocab_size"], generator=gen)
    assert (leak is not None) == causality.LABELS[kind]


def test_peeking_model_leaks_one_step_ahead(gen):
    """Does the one-step peek leak at step 0 (it reads token 1 there)?"""
    entry = causality.zoo_entry("GRU reading one step ahead", gen)
    model = causality.build_entry(entry)
    assert causality.first_leak(model, entry["vocab_size"],
                                generator=gen) == 0


def test_scratch_interface_follows_rnn_model_scratch(gen):
    """Do scratch-interface models take (X, state) and begin_state(b, d)?"""
    model = causality.make_model("scratch deep RNN", 6, 4)
    state = model.begin_state(3, "cpu")
    assert len(state) == 2 and tuple(state[0].shape) == (3, 4)
    Y, new_state = model(torch.randint(0, 6, (3, 5), generator=gen), state)
    assert tuple(Y.shape) == (15, 6) and len(new_state) == 2
    assert all(type(p) is torch.Tensor for p in model.params)


def test_zoo_has_seen_and_unseen_models(gen):
    """Does every zoo hold the four lesson models and a leaky unseen one?"""
    for _ in range(10):
        kinds = {e["kind"]: e["leaks"] for e in causality.draw_zoo(gen)}
        assert set(causality.SEEN) <= set(kinds)
        unseen = [k for k in kinds if k in causality.UNSEEN]
        assert any(kinds[k] for k in unseen)
        assert any(not kinds[k] for k in unseen)


def test_zoo_draw_is_reproducible():
    """Does the same seed draw the same zoo (the grader re-derives it)?"""
    a = causality.draw_zoo(torch.Generator().manual_seed(5))
    b = causality.draw_zoo(torch.Generator().manual_seed(5))
    assert a == b


class _Channel:
    """The worker's channel to the grader, in one process: each question
    goes through the wire format to the grader's ModelServer."""

    def __init__(self, server):
        self.server = server

    def request(self, message):
        return _roundtrip(self.server(_roundtrip(message)))


def _roundtrip(message):
    frame = wire.encode(message)
    n = int.from_bytes(frame[4:8], "big")
    return wire.decode(frame[16:16 + n], frame[16 + n:])


def grade(leaks_future, zoo, monkeypatch=None):
    """Grade ``leaks_future`` on ``zoo`` as the grader does: the student's
    function gets the worker's stand-ins, the zoo stays with the server."""
    names = {"leaks_future": "leaks_future"}
    channel = _Channel(causality.ModelServer(zoo))
    before = calls.MODEL_MAKER
    calls.MODEL_MAKER = lambda spec: worker.Model(channel, spec, torch)
    try:
        return checks.drive(
            causality.zoo_check(zoo, names=names),
            lambda call: _roundtrip(calls.leaks_future(
                leaks_future, **call.kwargs, names=names)))[0]
    finally:
        calls.MODEL_MAKER = before


def test_correct_probe_is_accepted(solutions, gen):
    """Does the known-good leaks_future pass on several zoos?"""
    for _ in range(3):
        grade(solutions.leaks_future, causality.draw_zoo(gen))


@pytest.mark.parametrize("answer", [True, False])
def test_constant_answers_are_rejected(answer, gen):
    """Is a leaks_future that always answers the same rejected?"""
    with pytest.raises(CheckFailed, match=f"leaks_future returned {answer} "):
        grade(lambda *a: answer, causality.draw_zoo(gen))


def test_the_student_cannot_tell_which_model_it_is(gen):
    """Is reading the model (its class, its rnn.bidirectional, its
    attributes) of no help: every model is the same stand-in?"""
    seen = set()

    def inspects(model, vocab_size, device):
        seen.add((type(model).__qualname__, tuple(sorted(
            k for k in vars(model) if not k.startswith("__")))))
        return bool(getattr(getattr(model, "rnn", None), "bidirectional",
                            False))

    zoo = causality.draw_zoo(gen)
    with pytest.raises(CheckFailed, match=r"leaks_future returned False "
                       r"for the .*, expected True"):
        grade(inspects, zoo)
    assert len(seen) == 1  # one class, the same attributes, for every model


def test_the_probe_is_bounded(gen):
    """Does a probe that asks too much, or nonsense, fail its test (and
    not the grader)?"""

    def greedy(model, vocab_size, device):
        for _ in range(causality.MAX_CALLS + 1):
            model.begin_state(batch_size=1, device=device)
        return True

    def huge(model, vocab_size, device):
        X = torch.zeros((1000, 1000), dtype=torch.int64)
        return model(X, model.begin_state(batch_size=1000, device=device))

    def long(model, vocab_size, device):
        X = torch.zeros((1, student_causality.MAX_STEPS + 1),
                        dtype=torch.int64)
        return model(X, model.begin_state(batch_size=1, device=device))

    zoo = causality.draw_zoo(gen)[:1]
    with pytest.raises(CheckFailed, match="must decide with fewer"):
        grade(greedy, zoo)
    with pytest.raises(CheckFailed, match="batch_size 1000 is not 1..64"):
        grade(huge, zoo)
    with pytest.raises(CheckFailed, match=r"shape \(1, 129\); batch_size "
                       r"must be 1..64 and num_steps 1..128"):
        grade(long, zoo)


def test_the_self_check_has_the_graders_bounds(gen):
    """Does the self-check refuse exactly the probe the grader refuses (an
    honest probe that passes here must not fail when graded)?"""
    names = {"leaks_future": "leaks_future"}

    def long(model, vocab_size, device):
        X = torch.zeros((1, student_causality.MAX_STEPS + 1),
                        dtype=torch.int64)
        model(X, model.begin_state(batch_size=1, device=device))
        return True

    reply = calls.leaks_future(long, models=student_causality.lesson_specs(),
                               names=names)
    messages = [a["error"]["message"] for a in reply["answers"]]
    assert all("num_steps 1..128" in m for m in messages), messages


@pytest.mark.parametrize("bad", [
    [1], "1", 10**30, -1, None, {"a": 1}, 2.0])
def test_bad_state_handles_fail_the_call_not_the_grader(gen, bad):
    """Does any handle the worker sends (an unhashable list, a huge int,
    nonsense) give an error answer instead of raising in the grader?"""
    server = causality.ModelServer(causality.draw_zoo(gen)[:1])
    X = torch.zeros((1, 3), dtype=torch.int64)
    answer = server({"id": 0, "method": "forward", "X": X, "state": bad})
    assert "state must come from this model" in answer["error"]
    for junk in ([1], None, {"id": [1]}, {"id": 0, "method": [1]},
                 {"id": 0, "method": "forward", "X": [[1]]}):
        assert "error" in server(junk)


def test_a_state_belongs_to_its_model(gen):
    """Is one model's state refused by another model (so that an error
    text cannot tell the models' sizes apart), and a batch mismatch
    refused before the model runs?"""
    zoo = causality.draw_zoo(gen)[:2]
    server = causality.ModelServer(zoo)
    h0 = server({"id": 0, "method": "begin_state", "batch_size": 2})["state"]
    X = torch.zeros((2, 3), dtype=torch.int64)
    assert "this model's begin_state" in server(
        {"id": 1, "method": "forward", "X": X, "state": h0})["error"]
    assert "begun with batch_size 2" in server(
        {"id": 0, "method": "forward", "X": X[:1], "state": h0})["error"]
    assert "Y" in server({"id": 0, "method": "forward", "X": X, "state": h0})


def test_fake_bool_is_rejected(gen, fakes):
    """Is an always-equal object instead of a bool rejected?"""
    with pytest.raises(CheckFailed, match=r"got .*AlwaysEqual, expected "
                       r"True or False"):
        grade(lambda *a: fakes.AlwaysEqual(), causality.draw_zoo(gen))


def test_exceptions_are_reported(gen):
    """Does a crashing leaks_future fail with the model it crashed on?"""

    def crash(model, vocab_size, device):
        return model.rnn.bidirectional  # scratch models have no .rnn

    zoo = [causality.zoo_entry("scratch BiRNN", gen)]
    with pytest.raises(CheckFailed, match=r"for the scratch BiRNN: calling "
                       r"leaks_future.* raised AttributeError"):
        grade(crash, zoo)


def test_probe_leaves_global_rng_alone(gen):
    """Does building a zoo model leave the student's global RNG as it was?"""
    torch.manual_seed(7)
    expected = torch.rand(1)
    torch.manual_seed(7)
    causality.build_entry(causality.zoo_entry("deep LSTM", gen))
    assert torch.equal(torch.rand(1), expected)
