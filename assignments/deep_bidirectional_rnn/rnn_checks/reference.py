"""Reference comparison: the scratch RNNs against torch's own nn.RNN.

The check draws parameters, an initial state and token ids at grading time
(shapes from the contract), runs the student's ``deep_rnn``/``birnn`` on
them, then copies the very same parameters into
``nn.RNN(vocab_size, num_hiddens, num_layers)`` or
``nn.RNN(vocab_size, num_hiddens, bidirectional=True)`` plus an output
layer, and compares outputs and final states within an explicit tolerance
(``CHECKS.ref_atol``/``ref_rtol``). The message says at which time step and
in which direction the first mismatch occurs.

For the bidirectional model the student's function also runs with the
backward half of W_hq zeroed (outputs then depend on the forward direction
only) and with the forward half zeroed, which tells the directions apart.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from . import params as params_check
from . import shapes
from . import calls, plain, trust
from .config import CHECKS
from .errors import CheckFailed

RUNS_BI = ("full", "forward", "backward")  # which half of W_hq is kept


# ------------------------------------------------------------------- draw

def draw_case(sizes: dict, generator: torch.Generator) -> dict:
    """Parameters, initial state and token ids drawn at grading time.

    Weights have std 1/sqrt(fan_in), so tanh is neither linear nor
    saturated; biases have std ``CHECKS.ref_bias_std``.

    Args:
        sizes: vocab_size, num_hiddens, batch_size, num_steps and, for the
            deep RNN, num_layers (its absence means bidirectional).
    """
    L = sizes.get("num_layers")
    rows = params_check.scratch_shapes(sizes["vocab_size"],
                                       sizes["num_hiddens"], L)
    params = [draw_tensor(shape, generator) for _, _, shape in rows]
    n_states = 2 if L is None else L
    state = [torch.randn((sizes["batch_size"], sizes["num_hiddens"]),
                         generator=generator) for _ in range(n_states)]
    tokens = shapes.random_tokens(sizes["vocab_size"], sizes["batch_size"],
                                  sizes["num_steps"], generator)
    return {"params": params, "state": state, "tokens": tokens}


def draw_tensor(shape, generator) -> torch.Tensor:
    """One weight (std 1/sqrt(fan_in)) or bias (std ref_bias_std)."""
    std = 1 / math.sqrt(shape[0]) if len(shape) == 2 else CHECKS.ref_bias_std
    return torch.randn(shape, generator=generator) * std


def one_hot(tokens, vocab_size) -> torch.Tensor:
    """Inputs as d2l.RNNModelScratch builds them."""
    X = F.one_hot(tokens.T, vocab_size)
    return X.to(torch.float32)  # (num_steps, batch_size, vocab_size)


def masked_params(params, half: str, num_hiddens: int) -> list:
    """Params with W_hq's other half zeroed (``half`` = forward/backward)."""
    W_hq = params[-2].clone()  # (2*num_hiddens, vocab_size)
    if half == "forward":
        W_hq[num_hiddens:] = 0
    elif half == "backward":
        W_hq[:num_hiddens] = 0
    return params[:-2] + [W_hq, params[-1]]


# ---------------------------------------------------------------- evidence

def runs_for(sizes: dict) -> tuple[str, ...]:
    """The runs of the check: one for the deep RNN, three for the BiRNN."""
    return ("full",) if "num_layers" in sizes else RUNS_BI


def run_inputs(case: dict, run: str, sizes: dict) -> dict:
    """The arguments of one :func:`.calls.scratch_run` call."""
    params = list(case["params"])
    if run != "full":
        params = masked_params(params, run, sizes["num_hiddens"])
    return {"inputs": one_hot(case["tokens"], sizes["vocab_size"]),
            "state": list(case["state"]), "params": params}


def judge_setup(reply: dict, sizes: dict, names: dict) -> None:
    """Fail unless get_*_params/init_*_state give the contract's shapes
    (their values are then replaced by the drawn ones)."""
    p_ev = params_check.evidence_scratch(reply, sizes, names)
    params_check.judge_scratch_shapes(p_ev)
    s_ev = shapes.new_evidence(sizes, names)
    if reply.get("begin_state") is not None:
        shapes.describe(plain.load(reply["begin_state"]), "begin_state",
                        s_ev)
    shapes.judge_state(s_ev, "begin_state", sizes.get("num_layers", 2),
                       shapes.SCRATCH_STATE_FORMULA,
                       (sizes["batch_size"], sizes["num_hiddens"]), "")


def evidence_run(reply: dict, names: dict) -> dict:
    """``{"output", "state"}`` of one run: values, or reasons."""
    err = shapes.error_of(reply)
    if err:
        raise CheckFailed(err)
    rnn = names.get("rnn", "rnn")
    items = trust.sequence(plain.load(reply.get("result")),
                           f"{rnn}(inputs, state, params)")
    if isinstance(items, str) or len(items) != 2:
        raise CheckFailed(f"{rnn}(inputs, state, params) must return "
                          "(outputs, state)")
    new_state = trust.sequence(items[1], "state")
    if not isinstance(new_state, str):
        new_state = [trust.tensor_values(s, f"state[{i}]")
                     for i, s in enumerate(new_state)]
    return {"output": trust.tensor_values(items[0], "outputs"),
            "state": new_state}


def judge_kernels(replies, names: dict) -> None:
    """Fail when the scratch functions ran torch's recurrent kernels."""
    used = sorted({k for r in replies for k in r.get("recurrent_kernels", [])
                   if type(k) is str})
    if used:
        rnn = names.get("rnn", "rnn")
        raise CheckFailed(
            f"{rnn} (or the functions it calls) ran torch's recurrent "
            f"kernel {', '.join('torch.' + k for k in used)}, which is what "
            "nn.RNN/nn.LSTM/nn.GRU and their cells run: the exercise asks "
            "you to write the recurrence yourself, from X @ W_xh, H @ W_hh, "
            "b_h and torch.tanh")


def collect(get_params, init_state, rnn, *, sizes: dict,
            generator: torch.Generator, names=None) -> dict:
    """Run the student's scratch RNN on parameters drawn here
    (a self-check: the calls run here).

    ``get_params`` and ``init_state`` must first give the contract's shapes
    (the shape and parameter checks say more); their values are then
    replaced by the drawn ones.
    """
    names = names or {"get_params": "get_params", "init_state": "init_state",
                      "rnn": "rnn"}
    case = draw_case(sizes, generator)
    ev = {"sizes": dict(sizes), "tokens": case["tokens"],
          "params": case["params"], "state": case["state"], "runs": {},
          "error": None, "names": dict(names)}
    replies = [calls.scratch_setup(get_params, init_state, sizes=sizes,
                                   names=names)]
    try:
        judge_setup(replies[0], sizes, names)
        for run in runs_for(sizes):
            replies.append(calls.scratch_run(
                rnn, **run_inputs(case, run, sizes), names=names))
            ev["runs"][run] = evidence_run(replies[-1], names)
        judge_kernels(replies, names)
    except CheckFailed as exc:
        ev["error"] = str(exc)
    return ev


# -------------------------------------------------------------- reference

def torch_reference(case: dict, sizes: dict, run: str = "full"):
    """Outputs and final states of nn.RNN holding the drawn parameters.

    Returns:
        ``(outputs, h_n)``: (num_steps, batch_size, vocab_size) and
        (num_directions*num_layers, batch_size, num_hiddens).
    """
    v, h = sizes["vocab_size"], sizes["num_hiddens"]
    L = sizes.get("num_layers")
    params = case["params"]
    if L is None:
        params = masked_params(params, run, h)
        rnn = nn.RNN(v, h, bidirectional=True)
        copy_layer(rnn, "l0", params[0:3])
        copy_layer(rnn, "l0_reverse", params[3:6])
    else:
        rnn = nn.RNN(v, h, L)
        for layer in range(L):
            copy_layer(rnn, f"l{layer}", params[3 * layer:3 * layer + 3])
    linear = nn.Linear(params[-2].shape[0], v)
    with torch.no_grad():
        linear.weight.copy_(params[-2].T)
        linear.bias.copy_(params[-1])
        Y, h_n = rnn(one_hot(case["tokens"], v), torch.stack(case["state"]))
        return linear(Y), h_n  # (num_steps, batch_size, vocab_size)


def copy_layer(rnn: nn.RNN, suffix: str, weights) -> None:
    """Copy one scratch layer (W_xh, W_hh, b_h) into nn.RNN (x @ W form)."""
    W_xh, W_hh, b_h = weights
    with torch.no_grad():
        getattr(rnn, f"weight_ih_{suffix}").copy_(W_xh.T)
        getattr(rnn, f"weight_hh_{suffix}").copy_(W_hh.T)
        getattr(rnn, f"bias_ih_{suffix}").copy_(b_h)
        getattr(rnn, f"bias_hh_{suffix}").zero_()


# ------------------------------------------------------------------ judge

def judge(ev) -> None:
    """Compare recorded outputs and final states with nn.RNN's."""
    if ev.get("error"):
        raise CheckFailed(ev["error"])
    sizes = ev["sizes"]
    case = {k: ev[k] for k in ("params", "state", "tokens")}
    deep = "num_layers" in sizes
    for run in ("full",) if deep else ("forward", "backward", "full"):
        if run not in ev["runs"]:
            raise CheckFailed(f"no outputs recorded for the {run} run")
        want, h_n = torch_reference(case, sizes, run)
        judge_outputs(ev["runs"][run]["output"], want, sizes, run)
    judge_states(ev["runs"]["full"]["state"], h_n, sizes)


def layer_words(sizes) -> str:
    """``nn.RNN(vocab_size, num_hiddens, ...)`` as the check built it."""
    if "num_layers" in sizes:
        return "nn.RNN(vocab_size, num_hiddens, num_layers)"
    return "nn.RNN(vocab_size, num_hiddens, bidirectional=True)"


def judge_outputs(got, want, sizes, run: str) -> None:
    """Fail at the first time step (in reading order) that differs."""
    T, B, V = want.shape
    if isinstance(got, str):
        raise CheckFailed(got)
    if tuple(got.shape) != (T * B, V):
        raise CheckFailed(f"outputs shape {tuple(got.shape)} != expected "
                          f"{shapes.OUTPUT_FORMULA} = {(T * B, V)}")
    got = got.reshape(T, B, V)
    steps = range(T - 1, -1, -1) if run == "backward" else range(T)
    for t in steps:
        if not torch.allclose(got[t], want[t], atol=CHECKS.ref_atol,
                              rtol=CHECKS.ref_rtol):
            raise CheckFailed(mismatch_message(got[t], want[t], t, T, run,
                                               sizes))


def mismatch_message(got_t, want_t, t, T, run, sizes) -> str:
    """Where and by how much the outputs first differ."""
    diff = float((got_t - want_t).abs().max())
    where = {"full": "outputs",
             "forward": "outputs of the forward direction (W_hq's backward "
                        "half zeroed)",
             "backward": "outputs of the backward direction (W_hq's forward "
                         "half zeroed; read from t=num_steps-1 down)"}[run]
    direction = "" if "num_layers" in sizes else f" [direction: {run}]"
    return (f"{where} differ from {layer_words(sizes)} first at time step "
            f"t={t} (num_steps={T}){direction}: max abs diff {diff:.3g} > "
            f"atol={CHECKS.ref_atol:g} + rtol={CHECKS.ref_rtol:g}*|expected|")


def judge_states(got, h_n, sizes) -> None:
    """Fail unless each final state matches nn.RNN's h_n."""
    if isinstance(got, str):
        raise CheckFailed(got)
    deep = "num_layers" in sizes
    names = ([f"state[{i}] (layer {i + 1})" for i in range(len(h_n))] if deep
             else ["state[0] (H_f, forward)", "state[1] (H_b, backward)"])
    if len(got) != len(names):
        raise CheckFailed(f"state: got {len(got)} tensors, expected "
                          f"{len(names)}")
    for name, g, want in zip(names, got, h_n):
        if isinstance(g, str):
            raise CheckFailed(g)
        if tuple(g.shape) != tuple(want.shape):
            raise CheckFailed(f"final {name} shape {tuple(g.shape)} != "
                              f"expected {shapes.SCRATCH_STATE_FORMULA} = "
                              f"{tuple(want.shape)}")
        if not torch.allclose(g, want, atol=CHECKS.ref_atol,
                              rtol=CHECKS.ref_rtol):
            diff = float((g - want).abs().max())
            raise CheckFailed(f"final {name} differs from {layer_words(sizes)}"
                              f"'s h_n by up to {diff:.3g}: expected the "
                              f"hidden state after the last step read in "
                              f"that direction")
