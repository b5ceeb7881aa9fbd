"""Tests of autograder/grader/verdicts.py: verdicts out of the student's reach.

A "kernel" here is the test calling nbtests with AUTOGRADER_EVIDENCE_DIR and
AUTOGRADER_SEED set, as the grader's sandboxed kernel would; the "grader" is
verdicts.rejudge on the recorded folder.
"""
from __future__ import annotations

import sys
import types

import pytest
import torch

import autograder
from autograder import nbtests
from autograder.grader import evidence
from autograder.grader import verdicts
from autograder.student.errors import CheckFailed

pytestmark = pytest.mark.usefixtures("one_thread")
SEED = "4242"


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """Grading environment: evidence folder and seed set."""
    monkeypatch.setenv("AUTOGRADER_EVIDENCE_DIR", str(tmp_path))
    monkeypatch.setenv("AUTOGRADER_SEED", SEED)
    return tmp_path


@pytest.fixture
def fake_perplexity(monkeypatch):
    """A stand-in autograder.perplexity whose judge passes."""
    fake = types.ModuleType("autograder.student.perplexity")
    fake.judge = lambda entries, kind: (True, f"{len(entries)} {kind} ok")
    monkeypatch.setitem(sys.modules, "autograder.student.perplexity", fake)
    import autograder.student
    monkeypatch.setattr(autograder.student, "perplexity", fake,
                        raising=False)
    return fake


def test_solutions_pass_when_rejudged(kernel, solutions, fake_perplexity,
                                     run_checks):
    """Does every test of a correct submission pass in the grader?"""
    run_checks(solutions)
    run_checks(solutions, hidden=True)
    for gid in nbtests.PERPLEXITY_TESTS:
        evidence.record(gid, {"perplexity": 1.5})
    result = verdicts.rejudge(kernel, SEED)
    assert set(result) == set(verdicts.test_ids())
    assert all(ok for ok, _ in result.values()), result


def test_missing_evidence_fails(tmp_path):
    """Does a test that recorded nothing fail with a clear message?"""
    result = verdicts.rejudge(tmp_path, SEED)
    assert result["test_deep_rnn_shapes"] == (False, verdicts.NO_EVIDENCE)


def test_skipped_hidden_test_fails(kernel, solutions, run_checks):
    """Does a test whose hidden part never ran fail when re-judged?"""
    run_checks(solutions)
    ok, msg = verdicts.rejudge_one(kernel, "test_birnn_shapes", SEED)
    assert not ok and msg.startswith("no evidence for the hidden test")


def test_patched_judge_in_kernel_does_not_help(kernel, solutions,
                                               monkeypatch):
    """Does patching the kit's judges in the kernel leave the verdict?"""

    def wrong_rnn(inputs, state, params):
        out, H = solutions.deep_rnn(inputs, state, params)
        return out * 2, H

    gid = "test_deep_rnn_matches_torch"
    with monkeypatch.context() as m:  # the student's patch, in the kernel
        m.setitem(nbtests.JUDGES, gid, lambda ev: None)
        sizes = nbtests.hidden_sizes(gid)
        nbtests.deep_rnn_matches_torch(
            solutions.get_deep_rnn_params, solutions.init_deep_rnn_state,
            wrong_rnn, **sizes)
    ok, msg = verdicts.rejudge_one(kernel, gid, SEED)
    assert not ok and "outputs differ from nn.RNN" in msg


def test_patched_torch_allclose_does_not_help(kernel, solutions,
                                              monkeypatch):
    """Does patching torch.allclose in the kernel leave the verdict?"""

    def relu_rnn(inputs, state, params):
        out, H = solutions.deep_rnn(inputs, state, params)
        return torch.relu(out), H

    gid = "test_deep_rnn_matches_torch"
    with monkeypatch.context() as m:
        m.setattr(torch, "allclose", lambda *a, **k: True)
        nbtests.deep_rnn_matches_torch(
            solutions.get_deep_rnn_params, solutions.init_deep_rnn_state,
            relu_rnn, **nbtests.hidden_sizes(gid))
    ok, msg = verdicts.rejudge_one(kernel, gid, SEED)
    assert not ok and "differ" in msg


def test_forged_inputs_fail(kernel, solutions):
    """Is evidence computed on other inputs than the seed's rejected?"""
    gid = "test_birnn_matches_torch"
    sizes = nbtests.hidden_sizes(gid)
    nbtests.birnn_matches_torch(solutions.get_birnn_params,
                                solutions.init_birnn_state, solutions.birnn,
                                **sizes)
    entries = evidence.load(kernel, gid)
    entries[0]["tokens"] = torch.zeros_like(entries[0]["tokens"])
    torch.save(entries, evidence.path_of(kernel, gid))
    ok, msg = verdicts.rejudge_one(kernel, gid, SEED)
    assert (ok, msg) == (False, "the recorded inputs are not the ones drawn "
                         "at grading time")


def test_forged_device_expectation_fails(kernel, solutions):
    """Is a device entry that expected another device re-judged?"""
    gid = "test_build_deep_lstm_device"
    sizes = nbtests.hidden_sizes(gid)
    nbtests.build_deep_lstm_device(solutions.build_deep_lstm, **sizes,
                                   device="meta")
    entries = evidence.load(kernel, gid)
    entries[0]["requested"] = None  # "I used the default device"
    torch.save(entries, evidence.path_of(kernel, gid))
    ok, msg = verdicts.rejudge_one(kernel, gid, SEED)
    assert not ok and "is on meta, expected cpu" in msg


def test_malicious_evidence_is_unusable(kernel):
    """Does a pickle with an arbitrary object fail, not run?"""
    torch.save([types.SimpleNamespace(a=1)],
               evidence.path_of(kernel, "test_birnn_params"))
    ok, msg = verdicts.rejudge_one(kernel, "test_birnn_params", SEED)
    assert not ok and msg.startswith("evidence unusable")


def test_malformed_entry_fails(kernel):
    """Does a plain but malformed entry fail with a message, not crash?"""
    evidence.record("test_build_deep_lstm_params", {"nonsense": 1})
    ok, msg = verdicts.rejudge_one(kernel, "test_build_deep_lstm_params",
                                   SEED)
    assert not ok and msg.startswith("evidence malformed")


def test_perplexity_is_judged_by_perplexity_module(kernel, fake_perplexity):
    """Is perplexity evidence handed to perplexity.judge, failing or not?"""
    gid = "test_build_deep_lstm_perplexity"
    evidence.record(gid, {"perplexity": 9.0})
    assert verdicts.rejudge_one(kernel, gid, SEED) == (True, "1 deep ok")

    def fail(entries, kind):
        raise CheckFailed("perplexity 9.0 >= threshold 2.0")

    fake_perplexity.judge = fail
    assert verdicts.rejudge_one(kernel, gid, SEED) == (
        False, "perplexity 9.0 >= threshold 2.0")


def test_causality_zoo_is_redrawn_from_the_seed(kernel, solutions):
    """Do answers recorded under another seed fail when re-judged?"""
    nbtests.leaks_future_causality(solutions.leaks_future)
    gid = "test_leaks_future_causality"
    assert verdicts.rejudge_one(kernel, gid, SEED)[0]
    assert not verdicts.rejudge_one(kernel, gid, "1")[0]
