"""Issue 11's attacks on the grading boundary, as corpus entries.

Each one was reported against the kit that judged what the student's
kernel wrote: a forged collect function, torch's own RNN inside a
"scratch" function, the kit's causality probe imported into
leaks_future, a correct answer that warns (stderr zeroed it), and a flood
of evidence. Here each is a submission with its expected outcome
(:class:`corpus.spec.Entry`). The symlinked folder, the zip bomb and the
disk filler are in the sandbox's block of spec.py and in
tests/test_submission.py.
"""
from __future__ import annotations

from corpus.spec import BI_ONLY, DEEP_ONLY, Entry

BUILD_DEEP = ("test_build_deep_lstm_shapes", "test_build_deep_lstm_params",
              "test_build_deep_lstm_device",
              "test_build_deep_lstm_perplexity")

# The reported forgery, for the new channel: replace the checks' calls (and
# the describer) in the student's rnn_checks with ones that return made-up
# shapes, and leave deep_rnn unwritten.
FORGE = '''import torch
import rnn_checks.calls, rnn_checks.plain


def _forged(*args, sizes=None, **kwargs):
    v, b, t = sizes["vocab_size"], sizes["batch_size"], sizes["num_steps"]
    state = tuple(torch.zeros(b, sizes["num_hiddens"])
                  for _ in range(sizes.get("num_layers", 2)))
    out = (torch.zeros(t * b, v), state)
    dump = rnn_checks.plain.dump
    return {"params": None, "begin_state": dump(state), "result": dump(out),
            "error": None, "recurrent_kernels": []}


rnn_checks.calls.scratch_forward = _forged
rnn_checks.calls.scratch_run = _forged


def deep_rnn(inputs, state, params):
    raise NotImplementedError()
'''

# torch's nn.RNN holding the student's parameters: the right numbers.
TORCH_RNN_DEEP = '''def deep_rnn(inputs, state, params):
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

# The weights come from an nn.RNN's own initialisation.
TORCH_RNN_PARAMS = '''def get_deep_rnn_params(vocab_size, num_hiddens, num_layers, device):
    layer = nn.RNN(vocab_size, num_hiddens, num_layers)
    params = []
    for l in range(num_layers):
        params += [getattr(layer, f"weight_ih_l{l}").detach().T.clone(),
                   getattr(layer, f"weight_hh_l{l}").detach().T.clone(),
                   getattr(layer, f"bias_ih_l{l}").detach().clone()]
    params += [torch.randn(num_hiddens, vocab_size) * 0.01,
               torch.zeros(vocab_size)]
    return [p.to(device).requires_grad_(True) for p in params]
'''

# An alias of torch.nn, and a GRU made only to size the state.
TORCH_ALIAS_STATE = '''import torch.nn as tnn


def init_birnn_state(batch_size, num_hiddens, device):
    h = tnn.GRU(1, num_hiddens).hidden_size
    return (torch.zeros((batch_size, h), device=device),
            torch.zeros((batch_size, h), device=device))
'''

# nn.RNN reached through a computed name, imported inside the function:
# the source does not say it; the worker's record of torch's kernels does.
TORCH_RNN_DISGUISED = '''def birnn(inputs, state, params):
    from torch import nn as _n
    layer = getattr(_n, "R" + "NN")(inputs.shape[-1], state[0].shape[1],
                                    bidirectional=True)
    W_xh_f, W_hh_f, b_h_f, W_xh_b, W_hh_b, b_h_b, W_hq, b_q = params
    with torch.no_grad():
        for sfx, (W_xh, W_hh, b_h) in (("", params[0:3]),
                                       ("_reverse", params[3:6])):
            getattr(layer, "weight_ih_l0" + sfx).copy_(W_xh.T)
            getattr(layer, "weight_hh_l0" + sfx).copy_(W_hh.T)
            getattr(layer, "bias_ih_l0" + sfx).copy_(b_h)
            getattr(layer, "bias_hh_l0" + sfx).zero_()
    Y, H = layer(inputs, torch.stack(state))
    return Y.reshape(-1, Y.shape[-1]) @ W_hq + b_q, (H[0], H[1])
'''

# The kit's probe, imported into the student's answer.
KIT_PROBE = '''def leaks_future(model, vocab_size, device):
    from autograder.grader.causality import first_leak
    return first_leak(model, vocab_size, device) is not None
'''

# Right answers that warn and print to stderr, while defined and at every
# call (torch warns in several common cases; nbgrader zeroed such cells).
NOISY_STATE = '''import sys
import warnings

{sol}
warnings.warn("a warning while defining init_deep_rnn_state")
print("some stderr", file=sys.stderr)
_quiet_init = init_deep_rnn_state


def init_deep_rnn_state(batch_size, num_hiddens, device, num_layers):
    warnings.warn("UserWarning at every call")
    print("stderr at every call", file=sys.stderr)
    return _quiet_init(batch_size, num_hiddens, device, num_layers)
'''
NOISY_BUILD = '''import sys
import warnings


def build_deep_lstm(vocab_size, num_hiddens, num_layers, device):
    warnings.warn("nn.LSTM: dropout option adds dropout after all but last "
                  "recurrent layer", UserWarning)
    print("building on", device, file=sys.stderr)
    model = d2l.RNNModel(nn.LSTM(vocab_size, num_hiddens, num_layers),
                         vocab_size)
    return model.to(device)
'''

# Garbage written into every descriptor the worker has, from a thread, for
# as long as it runs: the channel breaks; the grader stops reading at the
# first bad frame and the notebook's tests end at once.
FLOOD = '''
import os, threading


def _flood():
    junk = b"AGW1" + b"\\xff" * 4092
    for _ in range(20000):
        for fd in range(3, 12):
            try:
                os.write(fd, junk)
            except OSError:
                pass


threading.Thread(target=_flood, daemon=True).start()
'''

ENTRIES: tuple[Entry, ...] = (
    Entry("forge_calls", "issue 11: replaces rnn_checks' calls with ones "
          "that return made-up shapes; deep_rnn only raises",
          fills={"deep_rnn": FORGE},
          fails=("test_deep_rnn_shapes", "test_deep_rnn_matches_torch"),
          says={"test_deep_rnn_shapes": "NotImplementedError"},
          files=DEEP_ONLY),
    Entry("torch_rnn_deep", "issue 11: deep_rnn runs nn.RNN holding its "
          "parameters (the right numbers)",
          fills={"deep_rnn": TORCH_RNN_DEEP},
          fails=("test_deep_rnn_matches_torch",),
          says={"test_deep_rnn_matches_torch": "deep_rnn uses nn.RNN"},
          files=DEEP_ONLY),
    Entry("torch_rnn_params", "issue 11: get_deep_rnn_params takes its "
          "weights from an nn.RNN",
          fills={"get_deep_rnn_params": TORCH_RNN_PARAMS},
          fails=("test_deep_rnn_matches_torch",),
          says={"test_deep_rnn_matches_torch":
                "get_deep_rnn_params uses nn.RNN"},
          files=DEEP_ONLY),
    Entry("torch_alias_state", "issue 11: init_birnn_state uses an alias "
          "of torch.nn (tnn.GRU)",
          fills={"init_birnn_state": TORCH_ALIAS_STATE},
          fails=("test_birnn_matches_torch",),
          says={"test_birnn_matches_torch": "tnn.GRU"},
          files=BI_ONLY),
    Entry("torch_rnn_disguised", "issue 11: birnn reaches nn.RNN through a "
          "computed name, imported inside the function",
          fills={"birnn": TORCH_RNN_DISGUISED},
          fails=("test_birnn_matches_torch",),
          says={"test_birnn_matches_torch": "recurrent kernel"},
          files=BI_ONLY),
    Entry("kit_probe", "issue 11: leaks_future imports the kit's causality "
          "probe (the grader's package is not in the box)",
          fills={"leaks_future": KIT_PROBE},
          says={"test_leaks_future_causality":
                "No module named 'autograder'"},
          files=BI_ONLY),
    Entry("noisy_but_right", "issue 11: right answers that warn and print to "
          "stderr, while defined and at every call",
          fills={"init_deep_rnn_state": NOISY_STATE,
                 "build_deep_lstm": NOISY_BUILD},
          passes=BUILD_DEEP, files=DEEP_ONLY),
    Entry("channel_flood", "issue 16 finding 6: a thread floods the "
          "worker's channel with garbage frames",
          fills={"deep_rnn": "{sol}\n" + FLOOD}, fails=("deep",),
          files=DEEP_ONLY),
)
