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

# nn.LSTM is allowed in a build cell (the concise API); a helper made
# there and called from deep_rnn passes the source rule, and the worker's
# record of torch's kernels catches it.
HELPER_BUILD = '''{sol}


def _lstm_helper(X):
    return nn.LSTM(X.shape[-1], 2)(X)
'''
HELPER_DEEP = '''{sol}
_plain_deep_rnn = deep_rnn


def deep_rnn(inputs, state, params):
    _lstm_helper(inputs)
    return _plain_deep_rnn(inputs, state, params)
'''

# --- found by the red-team review of this round (a student who read the
# source): each crashed the grader, fooled a check, or failed an honest
# answer before it was fixed.

# nn.RNN run in a thread: the runtime record is a thread-local
# TorchFunctionMode; the source rule refuses threading.
TORCH_RNN_THREAD = '''def deep_rnn(inputs, state, params):
    import threading
    *layer_params, W_hq, b_q = params
    L, (V, H) = len(state), layer_params[0].shape
    layer = nn.RNN(V, H, L)
    with torch.no_grad():
        for l in range(L):
            W_xh, W_hh, b_h = layer_params[3 * l:3 * l + 3]
            layer.all_weights[l][0].copy_(W_xh.T)
            layer.all_weights[l][1].copy_(W_hh.T)
            layer.all_weights[l][2].copy_(b_h)
            layer.all_weights[l][3].zero_()
    box = {}
    t = threading.Thread(target=lambda: box.update(
        out=layer(inputs, torch.stack(tuple(state)))))
    t.start()
    t.join()
    Y, Hn = box["out"]
    return Y.reshape(-1, H) @ W_hq + b_q, tuple(Hn)
'''

# A state handle the grader's model server could not hash (a list), made
# from the stand-in's own State class: it crashed the whole grading.
STATE_HANDLE = '''def leaks_future(model, vocab_size, device):
    state = model.begin_state(batch_size=1, device=device)
    model(torch.zeros((1, 2), dtype=torch.long), type(state)([1]))
    return False
'''

# A well-formed frame written straight into the worker's reply pipe, with
# a tensor torch cannot allocate: it crashed the grader's decoder.
WIRE_FORGE = '''{sol}
import os, json, stat, struct


def _forge():
    hdr = json.dumps({"$tensor": ["float32", [0, 2**63], 0, 0]}).encode()
    frame = b"AGW1" + struct.pack(">IQ", len(hdr), 0) + hdr
    for fd in range(3, 64):
        try:
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                continue
            with open(f"/proc/self/fdinfo/{fd}") as f:
                flags = int(f.read().split("flags:")[1].split()[0], 8)
            if flags & 3 == os.O_WRONLY:
                os.write(fd, frame)
        except OSError:
            continue


_forge()
'''

# An expression nested too deeply for ast.parse: it crashed the grader's
# source rule.
DEEP_EXPRESSION = "{sol}\n_unused = 1" + " + 1" * 20_000 + "\n"

# The layer's dropout set to 2.0 after the build (put back to 0 before
# training): the grader passed it on to nn.LSTM and crashed.
DROPOUT_RESET = '''def build_deep_lstm(vocab_size, num_hiddens, num_layers, device):
    lstm_layer = nn.LSTM(vocab_size, num_hiddens, num_layers)
    model = d2l.RNNModel(lstm_layer, vocab_size).to(device)
    lstm_layer.dropout = 2.0

    def _reset(module, args):
        module.dropout = 0.0
    lstm_layer.register_forward_pre_hook(_reset)
    return model
'''

# An honest probe with num_steps = 100 and one state per question: the
# self-check passed it, the grader refused it (num_steps capped at 64).
LONG_PROBE = '''def leaks_future(model, vocab_size, device):
    batch_size, num_steps = 1, 100

    def outputs(X):
        state = model.begin_state(batch_size=batch_size, device=device)
        with torch.no_grad():
            Y, _ = model(X, state)
        return Y.reshape(num_steps, batch_size, -1)

    X = torch.randint(0, vocab_size, (batch_size, num_steps), device=device)
    Y = outputs(X)
    for t in range(num_steps - 1):
        X_changed = X.clone()
        X_changed[:, t + 1:] = (X[:, t + 1:] + 1) % vocab_size
        if not torch.allclose(Y[:t + 1], outputs(X_changed)[:t + 1],
                              atol=1e-6):
            return True
    return False
'''

# A cell the student added (it runs only under nbgrader's execution, in
# its kernel) that sends 40 error messages of ~6 MB each: the executed
# notebook grew to 198 MB in the grader's memory.
ERROR_FLOOD = '''_k = get_ipython().kernel
_parent = _k.get_parent("shell")
_line = "x" * 99_000
for _i in range(40):
    _k.session.send(_k.iopub_socket, "error",
                    {"ename": "E", "evalue": _line, "traceback": [_line] * 60},
                    parent=_parent)
'''


def _add_error_flood(deep, bi):
    import nbformat
    deep.cells.append(nbformat.v4.new_code_cell(ERROR_FLOOD))


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
          says={"test_birnn_matches_torch": "computed name"},
          files=BI_ONLY),
    Entry("torch_lstm_helper", "deep_rnn calls a helper that runs nn.LSTM, "
          "made in the build cell where nn.LSTM is allowed",
          fills={"build_deep_lstm": HELPER_BUILD, "deep_rnn": HELPER_DEEP},
          fails=("test_deep_rnn_matches_torch",), passes=BUILD_DEEP,
          says={"test_deep_rnn_matches_torch": "recurrent kernel"},
          files=DEEP_ONLY),
    Entry("kit_probe", "issue 11: leaks_future imports the kit's causality "
          "probe (the grader's package is not in the box)",
          fills={"leaks_future": KIT_PROBE},
          fails=("test_birnn_matches_torch",),  # the scratch rule's imports
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
    Entry("torch_rnn_thread", "red team: nn.RNN run in a thread, where "
          "the runtime record does not look",
          fills={"deep_rnn": TORCH_RNN_THREAD},
          fails=("test_deep_rnn_matches_torch",),
          says={"test_deep_rnn_matches_torch": "import threading"},
          files=DEEP_ONLY),
    Entry("state_handle", "red team: leaks_future hands the grader's model "
          "a state whose handle is a list",
          fills={"leaks_future": STATE_HANDLE},
          says={"test_leaks_future_causality": "state must come from this "
                                               "model"},
          files=BI_ONLY),
    Entry("wire_forge", "red team: a well-formed reply frame with a tensor "
          "torch cannot allocate, written into the worker's pipe",
          fills={"deep_rnn": WIRE_FORGE}, fails=("deep",),
          files=DEEP_ONLY),
    Entry("deep_expression", "red team: an expression too deep for "
          "ast.parse in init_deep_rnn_state",
          fills={"init_deep_rnn_state": DEEP_EXPRESSION},
          # Python cannot compile it in the worker either: the function is
          # not defined (get_deep_rnn_params, in its own cell, is)
          fails=("test_deep_rnn_shapes", "test_deep_rnn_matches_torch"),
          says={"test_deep_rnn_matches_torch": "RecursionError",
                "test_deep_rnn_shapes": "init_deep_rnn_state is not defined"},
          files=DEEP_ONLY),
    Entry("dropout_reset", "red team: the LSTM's dropout reads 2.0 after "
          "the build and 0 in training (a right model otherwise)",
          fills={"build_deep_lstm": DROPOUT_RESET},
          passes=BUILD_DEEP, files=DEEP_ONLY),
    Entry("long_probe", "red team: an honest leaks_future with num_steps "
          "100 (the self-check and the grader have the same bounds)",
          fills={"leaks_future": LONG_PROBE},
          passes=("test_leaks_future_causality",), files=BI_ONLY),
    Entry("error_flood", "red team: an added cell sends 40 huge error "
          "messages (nbgrader's executed copy must stay small)",
          edit=_add_error_flood, files=DEEP_ONLY),
)
