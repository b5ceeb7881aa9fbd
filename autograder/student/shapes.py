"""Shape check: outputs and every state tensor, in the book's words.

Covers ``d2l.RNNModel`` (LSTM tuple states, GRU/RNN tensor states, one or
two directions) and the scratch functions of the contract, which follow
``d2l.RNNModelScratch``.

``collect_*`` calls student code on inputs drawn at grading time and returns
plain data; ``judge_*`` decides from that data alone.
"""
from __future__ import annotations

import torch

from . import calls, plain, trust
from .errors import CheckFailed

STATE_FORMULA = "(num_directions*num_layers, batch_size, num_hiddens)"
OUTPUT_FORMULA = "(num_steps*batch_size, vocab_size)"
SCRATCH_STATE_FORMULA = "(batch_size, num_hiddens)"


# ---------------------------------------------------------------- evidence

def describe(x, what: str, evidence: dict) -> None:
    """Record the structure and shapes of a tensor or tuple of tensors.

    Args:
        x: a record (:mod:`.plain`) of what the student's code returned.

    Adds ``evidence["structure"][what]`` (``"tensor"``, ``"tuple of N"`` or
    a reason) and ``evidence["shapes"][name]`` for each tensor in it.
    """
    structure, shapes = evidence["structure"], evidence["shapes"]
    if trust.is_tensor(x) or (type(x) is trust.Opaque
                              and "subclass" in x.note):
        structure[what] = "tensor"
        shapes[what] = trust.shape_of(x, what)  # a reason for a subclass
        return
    items = trust.sequence(x, what)
    if isinstance(items, str):
        structure[what] = trust.describe_type(x)
        return
    structure[what] = f"tuple of {len(items)}"
    for i, item in enumerate(items):
        name = f"{what}[{i}]"
        shapes[name] = trust.shape_of(item, name)


def new_evidence(sizes: dict, names: dict | None = None) -> dict:
    """Empty shape evidence for a call with ``sizes``."""
    return {"sizes": dict(sizes), "structure": {}, "shapes": {},
            "error": None, "names": dict(names or {})}


def random_tokens(vocab_size, batch_size, num_steps, generator):
    """Token ids drawn for a check."""
    return torch.randint(0, vocab_size, (batch_size, num_steps),
                         generator=generator)  # (batch_size, num_steps)


def error_of(reply: dict) -> str | None:
    """The message of the student's error in a call's reply, if any."""
    err = reply.get("error") if type(reply) is dict else None
    if err is None:
        return None
    return str(err.get("message")) if type(err) is dict else str(err)


def evidence_model(reply: dict, sizes: dict, names: dict) -> dict:
    """Shape evidence from a :func:`.calls.model_forward` reply."""
    ev = new_evidence(sizes, names)
    model = plain.load(reply.get("model"))
    if reply.get("begin_state") is not None:
        describe(plain.load(reply["begin_state"]), "begin_state", ev)
    if reply.get("result") is not None:
        record_result(plain.load(reply["result"]), "model(X, state)", ev)
    ev["error"] = error_of(reply) or (
        reply.get("model") is not None and trust.module_reason(
            model, f"{names.get('build', 'build')} returned")) or None
    return ev


def record_result(result, call: str, ev: dict) -> None:
    """Record ``(output, state)`` returned by a forward call (a record)."""
    items = trust.sequence(result, call)
    if isinstance(items, str) or len(items) != 2:
        ev["error"] = (f"{call} must return (output, state), got "
                       f"{items if isinstance(items, str) else len(items)}"
                       f"{'' if isinstance(items, str) else ' items'}")
        return
    describe(items[0], "output", ev)
    describe(items[1], "state", ev)


def evidence_scratch(reply: dict, sizes: dict, names: dict) -> dict:
    """Shape evidence from a :func:`.calls.scratch_forward` reply."""
    ev = new_evidence(sizes, names)
    if reply.get("begin_state") is not None:
        describe(plain.load(reply["begin_state"]), "begin_state", ev)
    if reply.get("result") is not None:
        rnn = names.get("rnn", "rnn")
        record_result(plain.load(reply["result"]),
                      f"{rnn}(inputs, state, params)", ev)
    ev["error"] = error_of(reply) or ev["error"]
    return ev


def collect_model(build, *, vocab_size, num_hiddens, num_layers, batch_size,
                  num_steps, generator, device="cpu", names=None) -> dict:
    """Build a model with ``build`` and record its state and output shapes
    (a self-check: the call runs here)."""
    sizes = dict(vocab_size=vocab_size, num_hiddens=num_hiddens,
                 num_layers=num_layers, batch_size=batch_size,
                 num_steps=num_steps)
    names = names or {"build": "build"}
    X = random_tokens(vocab_size, batch_size, num_steps, generator)
    reply = calls.model_forward(build, sizes=sizes, tokens=X, device=device,
                                names=names)
    return evidence_model(reply, sizes, names)


def collect_scratch(get_params, init_state, rnn, *, vocab_size, num_hiddens,
                    batch_size, num_steps, generator, num_layers=None,
                    device="cpu", names=None) -> dict:
    """Run the scratch functions once and record state and output shapes
    (a self-check: the call runs here).

    Args:
        num_layers: deep RNN when given (the deep contract's signatures),
            bidirectional RNN when None.
    """
    sizes = dict(vocab_size=vocab_size, num_hiddens=num_hiddens,
                 batch_size=batch_size, num_steps=num_steps)
    if num_layers is not None:
        sizes["num_layers"] = num_layers
    names = names or {"get_params": "get_params", "init_state": "init_state",
                      "rnn": "rnn"}
    X = random_tokens(vocab_size, batch_size, num_steps, generator)
    reply = calls.scratch_forward(get_params, init_state, rnn, sizes=sizes,
                                  tokens=X, device=device, names=names)
    return evidence_scratch(reply, sizes, names)


# ------------------------------------------------------------------ judge

def judge_tensor(ev, name, formula, expected) -> None:
    """Fail unless tensor ``name`` was recorded with shape ``expected``."""
    got = ev["shapes"].get(name)
    if got is None:
        kind = ev["structure"].get(name, "nothing")
        raise CheckFailed(f"{name}: got {kind}, expected a tensor of shape "
                          f"{formula} = {tuple(expected)}")
    if isinstance(got, str):
        raise CheckFailed(got)
    if got != tuple(expected):
        raise CheckFailed(f"{name} shape {got} != expected {formula} = "
                          f"{tuple(expected)}")


def judge_state(ev, what, count, formula, expected, count_formula) -> None:
    """Fail unless ``what`` is a tensor (count None) or a tuple of ``count``.

    Args:
        count_formula: the book's words for ``count``, e.g. ``"(H, C)"``.
    """
    structure = ev["structure"].get(what, "missing")
    if count is None:
        if structure != "tensor":
            raise CheckFailed(f"{what}: got {structure}, expected a tensor "
                              f"of shape {formula} = {tuple(expected)}")
        judge_tensor(ev, what, formula, expected)
        return
    if structure != f"tuple of {count}":
        raise CheckFailed(f"{what}: got {structure}, expected a tuple of "
                          f"{count} tensors {count_formula}")
    for i in range(count):
        judge_tensor(ev, f"{what}[{i}]", formula, expected)


def judge_common(ev) -> None:
    """Fail on a recorded error."""
    if ev.get("error"):
        raise CheckFailed(ev["error"])


def judge_model(ev, *, num_directions, cell="LSTM") -> None:
    """Judge shapes recorded by :func:`collect_model`.

    Args:
        num_directions: 2 for a bidirectional model, else 1.
        cell: ``"LSTM"`` (state is a tuple (H, C)), ``"GRU"`` or ``"RNN"``
            (state is one tensor).
    """
    judge_common(ev)
    s = ev["sizes"]
    state_shape = (num_directions * s["num_layers"], s["batch_size"],
                   s["num_hiddens"])
    count = 2 if cell == "LSTM" else None
    try:
        for what in ("begin_state", "state"):
            judge_state(ev, what, count, STATE_FORMULA, state_shape,
                        "(H, C) of nn.LSTM")
        judge_tensor(ev, "output", OUTPUT_FORMULA,
                     (s["num_steps"] * s["batch_size"], s["vocab_size"]))
    except CheckFailed as exc:
        build = ev.get("names", {}).get("build")
        if not build:
            raise
        raise CheckFailed(f"the model {build} returned: {exc}") from None


def judge_scratch(ev) -> None:
    """Judge shapes recorded by :func:`collect_scratch` (deep or bi)."""
    judge_common(ev)
    s = ev["sizes"]
    deep = "num_layers" in s
    count = s["num_layers"] if deep else 2
    words = "(one per layer, num_layers)" if deep else "(H_f, H_b)"
    state_shape = (s["batch_size"], s["num_hiddens"])
    for what in ("begin_state", "state"):
        judge_state(ev, what, count, SCRATCH_STATE_FORMULA, state_shape,
                    words)
    judge_tensor(ev, "output", OUTPUT_FORMULA,
                 (s["num_steps"] * s["batch_size"], s["vocab_size"]))
