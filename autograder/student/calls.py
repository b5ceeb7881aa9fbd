"""Calling the student's functions on given inputs: the checks' only contact
with student code.

Each function here (a *call*) takes the student's functions and the inputs
a check drew, calls them the way the contract says, and returns plain data
(:func:`autograder.student.plain.dump`): what they returned, or the error
they raised, in the book's words and naming the student's function. Calls
never judge.

A self-check in a notebook runs them in the notebook. When grading, the
grader sends the same calls, by name, to a worker in the sandbox
(``autograder/sandbox/box/worker.py``), which runs them on the functions
of the student's submission and sends back what they return: the grader
judges that, in its own process.

While the student's scratch functions run, torch's recurrent layers and
kernels (``nn.RNN``/``nn.LSTM``/``nn.GRU``, their cells, ``torch.rnn_tanh``
and the like, however reached) are recorded (:class:`RecurrentKernels`):
the scratch exercises ask for the recurrence written by hand.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from . import causality, perplexity, plain, trust

# torch functions that run a recurrent layer or cell (what nn.RNN, nn.LSTM,
# nn.GRU, their cells and torch.func.functional_call over them end in).
RECURRENT_KERNELS = frozenset({
    "rnn_tanh", "rnn_relu", "lstm", "gru", "rnn_tanh_cell", "rnn_relu_cell",
    "lstm_cell", "gru_cell", "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell",
    "quantized_lstm", "quantized_gru", "quantized_lstm_cell",
    "quantized_gru_cell", "quantized_rnn_tanh_cell",
    "quantized_rnn_relu_cell", "mkldnn_rnn_layer", "_cudnn_rnn",
    "miopen_rnn", "_use_cudnn_rnn_flatten_weight", "_cudnn_rnn_flatten_weight",
})
# The calls a worker may be asked to make (the grader names them).
CALLS = ("scratch_setup", "scratch_forward", "scratch_run", "model_forward",
         "model_train", "leaks_future")


class RecurrentKernels(TorchFunctionMode):
    """Records the torch recurrent kernels called inside ``with``."""

    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "") or ""
        if name.split(".")[0] in RECURRENT_KERNELS:
            self.seen.add(name)
        return func(*args, **(kwargs or {}))


def _error(exc: trust.StudentError) -> dict:
    """A student error as plain data: message and the student's frames."""
    return {"message": str(exc), "frames": [list(f) for f in exc.frames]}


def _scratch_signatures(names: dict, sizes: dict):
    """How to call get_params and init_state, deep or bidirectional."""
    gp = names.get("get_params", "get_params")
    ist = names.get("init_state", "init_state")
    if "num_layers" in sizes:
        return ((f"calling {gp}(vocab_size, num_hiddens, num_layers, device)",
                 ("vocab_size", "num_hiddens", "num_layers")),
                (f"calling {ist}(batch_size, num_hiddens, device, "
                 f"num_layers)", ("batch_size", "num_hiddens", None,
                                  "num_layers")))
    return ((f"calling {gp}(vocab_size, num_hiddens, device)",
             ("vocab_size", "num_hiddens")),
            (f"calling {ist}(batch_size, num_hiddens, device)",
             ("batch_size", "num_hiddens", None)))


def _params(get_params, sizes, device, names):
    """What get_*_params returns (untrusted); StudentError if it raised."""
    (stage, keys), _ = _scratch_signatures(names, sizes)
    return trust.call(stage, get_params, *[sizes[k] for k in keys],
                      torch.device(device))


def _state(init_state, sizes, device, names):
    """What init_*_state returns (untrusted); StudentError if it raised."""
    _, (stage, keys) = _scratch_signatures(names, sizes)
    dev = torch.device(device)
    return trust.call(stage, init_state,
                      *[dev if k is None else sizes[k] for k in keys])


def one_hot(tokens, vocab_size: int, device="cpu") -> torch.Tensor:
    """Inputs as ``d2l.RNNModelScratch`` builds them from token ids."""
    X = F.one_hot(tokens.T.long(), vocab_size).to(torch.float32)
    return X.to(device)  # (num_steps, batch_size, vocab_size)


# ----------------------------------------------------------- scratch models

def scratch_setup(get_params, init_state=None, *, sizes: dict, device="cpu",
                  names: dict) -> dict:
    """What get_*_params and init_*_state return for ``sizes``.

    Returns:
        ``{"params", "begin_state"}`` (plain) and ``"error"`` (or None),
        plus ``"recurrent_kernels"`` they called.
    """
    out = {"params": None, "begin_state": None, "error": None}
    with RecurrentKernels() as kernels:
        try:
            out["params"] = plain.dump(_params(get_params, sizes, device,
                                               names))
            if init_state is not None:
                out["begin_state"] = plain.dump(
                    _state(init_state, sizes, device, names))
        except trust.StudentError as exc:
            out["error"] = _error(exc)
    out["recurrent_kernels"] = sorted(kernels.seen)
    return out


def scratch_forward(get_params, init_state, rnn, *, sizes: dict, tokens,
                    device="cpu", names: dict) -> dict:
    """Set up with the student's functions, then run one forward pass.

    Args:
        tokens: token ids (batch_size, num_steps) the check drew.

    Returns:
        ``{"params", "begin_state", "result", "error",
        "recurrent_kernels"}``: ``result`` is what ``rnn`` returned.
    """
    out = {"params": None, "begin_state": None, "result": None,
           "error": None}
    with RecurrentKernels() as kernels:
        try:
            params = _params(get_params, sizes, device, names)
            state = _state(init_state, sizes, device, names)
            out["params"] = plain.dump(params, values=False)
            out["begin_state"] = plain.dump(state)
            X = one_hot(tokens, sizes["vocab_size"], device)
            result = trust.call(f"calling {names['rnn']}(inputs, state, "
                                "params)", rnn, X, state, params)
            out["result"] = plain.dump(result)
        except trust.StudentError as exc:
            out["error"] = _error(exc)
    out["recurrent_kernels"] = sorted(kernels.seen)
    return out


def scratch_run(rnn, *, inputs, state, params, names: dict) -> dict:
    """Run the student's scratch RNN on inputs, state and parameters the
    check drew (the reference comparison).

    Args:
        inputs: (num_steps, batch_size, vocab_size) one-hot float inputs.
        state: list of (batch_size, num_hiddens) tensors.
        params: list of tensors in the contract's order (they are made to
            require grad, as get_*_params returns them).

    Returns:
        ``{"result", "error", "recurrent_kernels"}``.
    """
    params = [p.detach().clone().requires_grad_(True) for p in params]
    state = tuple(s.detach().clone() for s in state)
    out = {"result": None, "error": None}
    with RecurrentKernels() as kernels:
        try:
            result = trust.call(f"calling {names['rnn']}(inputs, state, "
                                "params)", rnn, inputs.clone(), state,
                                params)
            out["result"] = plain.dump(result)
        except trust.StudentError as exc:
            out["error"] = _error(exc)
    out["recurrent_kernels"] = sorted(kernels.seen)
    return out


# -------------------------------------------------------------- d2l models

def model_forward(build, *, sizes: dict, tokens=None, device="cpu",
                  names: dict) -> dict:
    """Build a model, then (with ``tokens``) begin_state and one forward.

    Returns:
        ``{"model", "begin_state", "result", "error"}`` (plain).
    """
    out = {"model": None, "begin_state": None, "result": None,
           "error": None}
    dev = torch.device(device)
    b = names["build"]
    try:
        model = trust.call(f"calling {b}(vocab_size, num_hiddens, "
                           "num_layers, device)", build, sizes["vocab_size"],
                           sizes["num_hiddens"], sizes["num_layers"], dev)
        out["model"] = plain.dump(model, values=False)
        if tokens is None or type(out["model"]) is not dict or \
                out["model"].get("kind") != "module":
            return out
        begin_state = trust.method(model, "begin_state",
                                   f"the model {b} returned")
        state = trust.call("calling model.begin_state(batch_size="
                           "batch_size, device=device)", begin_state,
                           batch_size=int(tokens.shape[0]), device=dev)
        out["begin_state"] = plain.dump(state)
        result = trust.call("calling model(X, state)", model, tokens.to(dev),
                            state)
        out["result"] = plain.dump(result)
    except trust.StudentError as exc:
        out["error"] = _error(exc)
    return out


def model_train(build, *, kind: str, device="cpu", names: dict) -> dict:
    """Build a fresh model and train it under the grader's recipe.

    Returns:
        The perplexity check's entry (:func:`.perplexity.collect`).
    """
    return perplexity.collect(build, kind=kind, device=device,
                              name=names["build"])


# ------------------------------------------------------------ leaks_future

# How a model named by the check is made in this process. A self-check
# builds the lesson's models itself (:mod:`.causality`); the grading worker
# replaces this with stand-ins whose every call goes back to the grader.
MODEL_MAKER = None


def leaks_future(fn, *, models: list, device="cpu", names: dict) -> dict:
    """Ask the student's ``leaks_future`` about each model.

    Args:
        models: descriptions of the models (``{"vocab_size", ...}``),
            made into models by :data:`MODEL_MAKER`.

    Returns:
        ``{"answers": [True / False / a reason, ...]}``, one per model.
    """
    make = MODEL_MAKER or causality.bounded_lesson_model
    answers = []
    dev = torch.device(device)
    for spec in models:
        model = make(spec)
        try:
            got = trust.call(f"calling {names['leaks_future']}(model, "
                             "vocab_size, device)", fn, model,
                             spec["vocab_size"], dev)
        except trust.StudentError as exc:
            answers.append({"error": _error(exc)})
            continue
        answers.append(trust.as_bool(got))
    return {"answers": answers}
