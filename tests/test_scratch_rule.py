"""Tests of autograder/grader/scratch_rule.py: no torch recurrent layers in
the scratch functions, plain or disguised."""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest

from autograder.grader import scratch_rule

sys.path.insert(0, str(Path(__file__).resolve().parent))
import solutions_ref  # noqa: E402


@pytest.mark.parametrize("source, what", [
    ("def deep_rnn(inputs, state, params):\n    rnn = nn.RNN(3, 4)\n",
     "nn.RNN"),
    ("def birnn(inputs, state, params):\n    return torch.nn.LSTM(3, 4)\n",
     "torch.nn.LSTM"),
    ("import torch.nn as tnn\ndef deep_rnn(i, s, p):\n    tnn.GRU(1, 2)\n",
     "tnn.GRU"),
    ("def deep_rnn(i, s, p):\n    from torch.nn import RNN as R\n"
     "    return R(1, 2)\n", "from torch.nn import RNN"),
    ("def deep_rnn(i, s, p):\n    return getattr(nn, 'LSTM')(1, 2)\n",
     "getattr(..., 'LSTM')"),
    ("def deep_rnn(i, s, p):\n    return torch._VF.rnn_tanh(i)\n",
     "torch._VF"),
    ("from torch.func import functional_call\n", "functional_call"),
    ("def birnn(i, s, p):\n    return torch.rnn_tanh_cell(i)\n",
     "torch.rnn_tanh_cell"),
    ("def f():\n    with torch._C.DisableTorchFunction():\n        pass\n",
     "DisableTorchFunction"),
])
def test_recurrent_layers_are_found(source, what):
    """Is each use of torch's recurrent layers found, with its line?"""
    found = scratch_rule.uses(source)
    assert found and any(what in w for _, w in found), found
    assert all(line >= 1 for line, _ in found)


def test_the_reference_solutions_are_clean():
    """Do hand-written scratch RNNs (the kit's own) pass the rule?"""
    for fn in (solutions_ref.get_deep_rnn_params, solutions_ref.deep_rnn,
               solutions_ref.init_birnn_state, solutions_ref.birnn):
        assert scratch_rule.uses(inspect.getsource(fn)) == []


def test_words_in_comments_and_strings_are_not_uses():
    """Are comments, docstrings and a local variable named lstm ignored?"""
    source = ('def deep_rnn(inputs, state, params):\n'
              '    """Like nn.RNN, but by hand."""\n'
              '    lstm = 1  # not nn.LSTM\n    return lstm\n')
    assert scratch_rule.uses(source) == []


def test_message_names_the_cell_and_the_rule():
    """Does the message say which cell used what, and the rule?"""
    found = scratch_rule.scan({"deep_rnn": "x = nn.RNN(1, 2)\n",
                               "init_deep_rnn_state": "x = 1\n"})
    assert list(found) == ["deep_rnn"]
    text = scratch_rule.message(found)
    assert "deep_rnn uses nn.RNN (line 1)" in text
    assert "write the recurrence" in text


def test_other_cells_may_use_the_concise_api_only():
    """May a build cell use nn.LSTM (the concise API) but not hide nn.RNN
    or functional_call for the scratch functions to call?"""
    cells = {"build_deep_lstm": "def build_deep_lstm(v, h, L, d):\n"
                                "    return nn.LSTM(v, h, L)\n",
             "deep_rnn": "def deep_rnn(i, s, p):\n    return _helper(i)\n",
             "leaks_future": "_helper = nn.RNN(3, 4)\n"}
    found = scratch_rule.scan(cells, scratch={"deep_rnn"})
    assert list(found) == ["leaks_future"]
    assert scratch_rule.scan({"deep_rnn": "x = nn.LSTM(1, 2)"},
                             scratch={"deep_rnn"}) != {}


@pytest.mark.parametrize("source, what", [
    # The red-team review's bypass: nn.RNN run in a thread, which the
    # runtime record (a thread-local TorchFunctionMode) does not see.
    ("import threading\ndef deep_rnn(i, s, p):\n    threading.Thread()\n",
     "import threading"),
    ("from concurrent.futures import ThreadPoolExecutor\n",
     "import concurrent.futures"),
    ("def deep_rnn(i, s, p):\n    return getattr(nn, 'R' + 'NN')(1, 2)\n",
     "getattr(...) with a computed name"),
    ("def f():\n    return eval('nn.' + 'RNN')\n", "eval(...)"),
    ("def f():\n    return __import__('thr' + 'eading')\n",
     "__import__(...)"),
    ("def f():\n    return ().__class__.__base__.__subclasses__()\n",
     "the attribute __base__"),
    ("def f(m):\n    return m.forward.__globals__\n",
     "the attribute __globals__"),
    ("import ctypes\n", "import ctypes"),
    ("import my_helpers\n", "import my_helpers"),
    ("from . import x\n", "a relative import"),
    ("def f(x):\n    return torch.ops.aten.lstm(x)\n", "torch.ops"),
    ("def f(b):\n    return torch.jit.load(b)\n", "torch.jit"),
    ("from torch import _C\n", "from torch import _C"),
    ("import torch.multiprocessing as mp\n", "import torch.multiprocessing"),
    ("def f():\n    return open('m.py', 'w')\n", "open(...)"),
    ("import sys\ndef f():\n    return sys.modules['torch']\n",
     "sys.modules"),
    ("from sys import _getframe\n", "from sys import _getframe"),
    ("def f():\n    return getattr(torch, '_C')\n", "private attribute _C"),
    ("def f():\n    return getattr(f, '__globals__')\n",
     "the attribute __globals__"),
    ("def f():\n    return d2l.nn.RNN(1, 2)\n", "d2l.nn.RNN"),
    ("x = 1" + " + 1" * 20_000 + "\n", "nested too deeply"),
    ("x = " + "-" * 90_000 + "1\n", "nested too deeply"),
    ("x = " + "-" * 200_000 + "1\n", "more than"),
])
def test_ways_around_the_runtime_record_are_found(source, what):
    """Is each way around the runtime record of torch's kernels (threads,
    computed names, the interpreter's internals, TorchScript, a module of
    the student's own) found, and a cell too long or too deep to parse
    refused instead of crashing the grader?"""
    found = scratch_rule.uses(source)
    assert found and any(what in w for _, w in found), found


def test_plain_python_stays_allowed():
    """Are the imports and attributes honest code uses still allowed?"""
    source = ("import math\nimport numpy as np\nfrom torch import nn\n"
              "import sys\nprint('x', file=sys.stderr)\n"
              "from torch.nn import functional as F\n"
              "def f(m, x):\n    print(type(m).__name__, m.__class__)\n"
              "    return getattr(m, 'rnn', None), math.sqrt(x.numel())\n")
    assert scratch_rule.uses(source) == []


def test_an_alias_counts_in_every_cell():
    """Is an alias bound in one cell (they share one namespace) followed
    into another?"""
    found = scratch_rule.scan({"build_deep_lstm": "import torch.nn as tnn\n",
                               "deep_rnn": "x = tnn.RNN(1, 2)\n"},
                              scratch={"deep_rnn"})
    assert found == {"deep_rnn": [(1, "tnn.RNN")]}


# The second red-team pass: each of these left the rule silent (and the
# runtime record empty) before it was tightened.
@pytest.mark.parametrize("source, what", [
    ("%%time\ndef birnn(i, s, p):\n    return nn.RNN(3, 4)(i)\n",
     "a cell magic"),
    ("%matplotlib inline\ndef birnn(i, s, p):\n    return nn.RNN(3, 4)(i)\n",
     "nn.RNN"),
    ("!true\ndef birnn(i, s, p):\n    return torch.rnn_tanh(i)\n",
     "torch.rnn_tanh"),
    ("x = " + "9" * 5000 + "\ndef birnn(i, s, p):\n    return nn.RNN(3, 4)\n",
     "nn.RNN"),
    ("def birnn(i, s, p):\n    with [torch][0]._C.DisableTorchFunction():\n"
     "        return [nn][0].RNN(3, 4)(i)\n", "private attribute _C"),
    ("def birnn(i, s, p, T=torch):\n    return T.nn.RNN(3, 4)(i)\n",
     "T.nn.RNN"),
    ("import operator\nf = operator.attrgetter('_C.DisableTorchFunction')\n",
     "attrgetter(...)"),
    ("import functools\ng = functools.reduce(getattr, ['nn', 'RNN'], torch)\n",
     "getattr passed around as a value"),
    ("def f():\n    return torch.sys.modules['threading']\n", "torch.sys"),
    ("def f():\n    return typing.sys\n", "typing.sys"),
    ("def f():\n    return d2l.os.fork()\n", "d2l.os"),
    ("def f():\n    return np.ctypeslib.ctypes\n", "np.ctypeslib"),
    ("def f():\n    return torch.utils.data.dataloader.threading\n",
     "threading"),
    ("def f():\n    return random._os\n", "private attribute _os"),
    ("from torch.nn import *\n", "import *"),
    ("def f():\n    m = nn.modules.rnn\n    return m._VF\n", "m._VF"),
    ("def f():\n    return torch.overrides._pop_mode_temporarily()\n",
     "torch.overrides"),
])
def test_second_review_bypasses_are_found(source, what):
    """Is each bypass of the second red-team review found: IPython syntax
    (the worker transforms it first), a literal the default parser
    refuses, an alias by subscript or default argument, getattr chains,
    modules re-exported by allowed ones, private attributes, star imports?
    """
    found = scratch_rule.uses(source)
    assert found and any(what in w for _, w in found), found


def test_honest_uses_of_sys_and_dunders_pass():
    """Are the honest uses the second review saw flagged now allowed?"""
    source = ("import sys\nimport matplotlib.pyplot as plt\n"
              "def f(x):\n    sys.stdout.flush()\n"
              "    sys.stderr.write('x')\n"
              "    eps = sys.float_info.epsilon\n"
              "    return x.__len__(), sys.version_info.major, eps\n")
    assert scratch_rule.uses(source) == []
