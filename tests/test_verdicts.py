"""Tests of autograder/grader/verdicts.py: the grader calls the student's
functions in a worker and judges what comes back, in its own process."""
from __future__ import annotations

import time

import pytest

from autograder import contract, data, notebooks
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT
from autograder.grader import verdicts
from autograder.sandbox import launch
from autograder.student import registry

pytestmark = pytest.mark.slow
SOURCE = COURSE_ROOT / "solutions" / ASSIGNMENT_ID
RELEASE = COURSE_ROOT / "assignments" / ASSIGNMENT_ID
DEEP, BI = contract.DEEP_RNN.name, contract.BIDIRECTIONAL_RNN.name


def _solution(gid: str) -> str:
    nb = notebooks.read(SOURCE / contract.notebook_of(gid).name)
    return "\n".join(line for line in notebooks.source(nb, gid).splitlines()
                     if "### " not in line)


def _submission(name: str, fills: dict):
    """The release of ``name`` with every function solved, then ``fills``
    (grade_id -> source; ``{sol}`` is the solution)."""
    nb = notebooks.read(RELEASE / name)
    for gid in next(n for n in contract.NOTEBOOKS if n.name == name).functions:
        text = fills.get(gid, "{sol}")
        notebooks.set_source(nb, gid, text.replace("{sol}", _solution(gid)))
    return nb


def _grade(name: str, nb, isolated=False) -> dict:
    if isolated and not launch.available()[0]:
        pytest.skip(launch.available()[1])
    grading = verdicts.Grading(
        seed=7, setup_source=notebooks.source(notebooks.read(SOURCE / name),
                                              "setup"),
        isolated=isolated, data_file=str(data.locate(download=False)),
        deadline=time.monotonic() + 600)
    found, info = verdicts.grade_notebook(name, nb, grading)
    assert set(found) == {t.grade_id for t in registry.of_notebook(name)}
    return found


def test_solutions_pass_at_every_size():
    """Does each solved notebook pass every test, at the visible sizes and
    at other sizes drawn from the seed (recorded for the feedback)?"""
    found = _grade(BI, _submission(BI, {}))
    assert all(v.passed for v in found.values()), found
    shapes = found["test_birnn_shapes"].detail
    assert shapes["sizes"] == registry.test("test_birnn_shapes").visible_sizes
    assert shapes["other_sizes"] != shapes["sizes"]
    assert found["test_build_bidirectional_lstm_perplexity"].detail[
        "perplexity"] < 5.98
    assert "7 models" in found["test_leaks_future_causality"].message


FORGE = '''import rnn_checks.calls, rnn_checks.plain
rnn_checks.calls.model_forward = lambda *a, **k: {"forged": True}
rnn_checks.plain.dump = lambda *a, **k: {"kind": "forged"}

def build_deep_lstm(vocab_size, num_hiddens, num_layers, device):
    raise NotImplementedError()
'''
TORCH_RNN = '''def deep_rnn(inputs, state, params):
    layer = nn.RNN(inputs.shape[-1], state[0].shape[1], len(state))
    with torch.no_grad():
        for l in range(len(state)):
            W_xh, W_hh, b_h = params[3 * l:3 * l + 3]
            getattr(layer, f"weight_ih_l{l}").copy_(W_xh.T)
            getattr(layer, f"weight_hh_l{l}").copy_(W_hh.T)
            getattr(layer, f"bias_ih_l{l}").copy_(b_h)
            getattr(layer, f"bias_hh_l{l}").zero_()
    Y, H = layer(inputs, torch.stack(state))
    return Y.reshape(-1, Y.shape[-1]) @ params[-2] + params[-1], tuple(H)
'''
NOISY = '''import sys, warnings
{sol}
warnings.warn("a warning while defining init_deep_rnn_state")
print("and some stderr", file=sys.stderr)
_init = init_deep_rnn_state

def init_deep_rnn_state(batch_size, num_hiddens, device, num_layers):
    warnings.warn("UserWarning at every call")
    print("stderr at every call", file=sys.stderr)
    return _init(batch_size, num_hiddens, device, num_layers)
'''


def test_attacks_on_the_deep_notebook():
    """In one submission: a forged build (patching rnn_checks), a deep_rnn
    that runs nn.RNN, a noisy but correct init_deep_rnn_state, and a
    get_deep_rnn_params cell that raises after its def. Does each get the
    verdict its values deserve?"""
    found = _grade(DEEP, _submission(DEEP, {
        "build_deep_lstm": FORGE, "deep_rnn": TORCH_RNN,
        "init_deep_rnn_state": NOISY,
        "get_deep_rnn_params": "{sol}\nraise SystemExit(1)"}))
    passed = {g for g, v in found.items() if v.passed}
    assert passed == {"test_deep_rnn_shapes", "test_deep_rnn_params"}
    reference = found["test_deep_rnn_matches_torch"].message
    assert "deep_rnn uses nn.RNN (line 2)" in reference
    for gid in ("shapes", "params", "device", "perplexity"):
        message = found[f"test_build_deep_lstm_{gid}"].message
        assert "NotImplementedError" in message, message


def test_leaks_future_cannot_use_the_grader():
    """Does a leaks_future that imports the kit's probe fail (the grader's
    package is not in the box)?"""
    found = _grade(BI, _submission(BI, {
        "leaks_future": "def leaks_future(model, vocab_size, device):\n"
                        "    from autograder.grader import causality\n"
                        "    return causality.first_leak(model, vocab_size) "
                        "is not None\n"}), isolated=True)
    message = found["test_leaks_future_causality"].message
    assert "ModuleNotFoundError" in message, message
