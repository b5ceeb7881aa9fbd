"""Tests of autograder/grader/session.py and the worker in the box
(autograder/sandbox/box/worker.py): the grading channel."""
from __future__ import annotations

import time

import pytest
import torch

from autograder import data
from autograder.grader.session import CallTimeout, Session, WorkerGone
from autograder.sandbox import launch

pytestmark = pytest.mark.slow
SETUP = ("import torch\nfrom torch import nn\nfrom d2l import torch as d2l\n"
         "import rnn_checks\n")
NAMES = {"get_params": "get_params", "init_state": "init_state",
         "rnn": "rnn"}


@pytest.fixture(scope="module", params=[True, False],
                ids=["sandboxed", "unsandboxed"])
def session(request):
    """One worker (the setup cell run), for the module's tests."""
    if request.param and not launch.available()[0]:
        pytest.skip(launch.available()[1])
    spec = launch.BoxSpec(name="test worker", isolated=request.param,
                          data_file=str(data.locate(download=False)),
                          env={"OMP_NUM_THREADS": "1"})
    with Session(spec, interrupt_grace_s=5) as ses:
        assert ses.exec_cell("setup", SETUP, 120) == {"ok": True}
        yield ses


class _fresh:
    """A new worker, started and ready (its imports done)."""

    def __enter__(self) -> Session:
        spec = launch.BoxSpec(name="test worker", isolated=False,
                              env={"OMP_NUM_THREADS": "1"})
        self.session = Session(spec, interrupt_grace_s=3).start()
        assert self.session.exec_cell("warm", "pass", 300) == {"ok": True}
        return self.session

    def __exit__(self, *exc):
        self.session.close()


def test_cells_run_and_report_the_students_errors(session):
    """Does a cell run in the notebook's namespace, and does a failing one
    say what it raised, at which line of which cell?"""
    assert session.exec_cell("f", "def double(x):\n    return 2 * x", 30) \
        == {"ok": True}
    bad = session.exec_cell("g", "x = 1\ny = [][0]", 30)
    assert not bad["ok"]
    assert bad["error"]["message"].startswith("IndexError")
    assert bad["error"]["frames"][-1][:2] == ["<cell g>", 2]
    magic = session.exec_cell("m", "%time z = 3", 30)
    assert magic == {"ok": True}


def test_calls_return_what_the_functions_returned(session):
    """Does a call come back as plain data describing the real tensors?"""
    session.exec_cell("fns", (
        "def get_params(v, h, L, device):\n"
        "    return [torch.zeros(v, h, requires_grad=True)]\n"
        "def init_state(b, h, device, L):\n"
        "    return tuple(torch.zeros(b, h) for _ in range(L))\n"
        "def rnn(inputs, state, params):\n"
        "    return inputs.reshape(-1, inputs.shape[-1]), state\n"), 30)
    sizes = dict(vocab_size=5, num_hiddens=4, num_layers=2, batch_size=3,
                 num_steps=2)
    reply = session.call("scratch_forward", list(NAMES.values()),
                         {"sizes": sizes, "tokens": torch.zeros(3, 2,
                                                                dtype=torch.int64),
                          "device": "cpu", "names": NAMES}, 30)
    assert reply["error"] is None and reply["recurrent_kernels"] == []
    out = reply["result"]["items"][0]
    assert out["shape"] == [6, 5] and type(out["value"]) is torch.Tensor


def test_patching_the_students_copy_forges_nothing(session):
    """Does a cell that replaces rnn_checks' call functions (as the
    reported forgery did) leave the worker's calls as they were?"""
    session.exec_cell("forge", (
        "import rnn_checks.calls, rnn_checks.plain\n"
        "rnn_checks.calls.scratch_setup = lambda *a, **k: {'forged': 1}\n"
        "rnn_checks.plain.dump = lambda *a, **k: 'forged'\n"
        "def broken(v, h, device):\n    raise NotImplementedError()\n"), 30)
    reply = session.call("scratch_setup", ["broken"],
                         {"sizes": {"vocab_size": 3, "num_hiddens": 2},
                          "device": "cpu",
                          "names": {"get_params": "broken"}}, 30)
    assert "forged" not in reply
    assert "NotImplementedError" in reply["error"]["message"]


def test_undefined_function_is_named(session):
    """Does a call on a function no cell defined say so?"""
    reply = session.call("scratch_setup", ["nowhere"],
                         {"sizes": {"vocab_size": 3, "num_hiddens": 2},
                          "names": {"get_params": "nowhere"}}, 30)
    assert "nowhere is not defined" in reply["error"]["message"]


def test_prints_do_not_reach_the_channel(session):
    """Does output flooding stdout and stderr leave the channel intact?"""
    flood = ("import sys\nfor _ in range(200):\n"
             "    print('AGW1' * 5000)\n    sys.stderr.write('x' * 20000)\n")
    assert session.exec_cell("flood", flood, 60) == {"ok": True}
    assert session.exec_cell("after", "y = 2", 30) == {"ok": True}
    assert len(session.output_tail()) <= 8_000


def test_timeout_interrupts_and_the_session_goes_on():
    """Is a call over its limit interrupted, the session still usable?"""
    with _fresh() as ses:
        start = time.monotonic()
        with pytest.raises(CallTimeout, match="time limit exceeded"):
            ses.exec_cell("loop", "while True:\n    pass", 1)
        assert time.monotonic() - start < 10
        assert ses.exec_cell("after", "x = 1", 10) == {"ok": True}


def test_a_worker_that_ignores_interrupts_is_stopped():
    """Is a worker that ignores the interrupt stopped, and said why?"""
    with _fresh() as ses:
        code = ("import signal\nsignal.signal(signal.SIGINT, "
                "signal.SIG_IGN)\nwhile True:\n    pass")
        with pytest.raises(WorkerGone, match="did not stop"):
            ses.exec_cell("stubborn", code, 1)
        with pytest.raises(WorkerGone):
            ses.exec_cell("after", "x = 1", 10)


def test_a_worker_that_exits_is_reported():
    """Does os._exit in a cell end the session with the exit status?"""
    with _fresh() as ses:
        with pytest.raises(WorkerGone, match=r"exit status 3"):
            ses.exec_cell("exit", "import os\nos._exit(3)", 10)


def test_forged_frames_fail_only_that_call():
    """Does a cell that writes garbage (or a huge frame header) into the
    channel stop the worker with a reason, not the grader?"""
    with _fresh() as ses:
        code = ("import os, struct\nfor fd in range(3, 20):\n    try:\n"
                "        os.write(fd, b'AGW1' + struct.pack('>IQ', 10, "
                "2**40))\n    except OSError:\n        pass\n")
        with pytest.raises(WorkerGone, match="could not be read|stopped"):
            ses.exec_cell("forge", code, 10)
