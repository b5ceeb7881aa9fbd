"""Device-placement check: every tensor where the model was asked to be.

Every parameter and buffer, every tensor from ``begin_state`` and the
forward outputs must be on the expected device (``d2l.try_gpu()`` unless
told otherwise). The message names the offending tensor. On a CPU-only
machine the check is exercised against the ``meta`` device.
"""
from __future__ import annotations

import torch

from . import calls, plain, trust
from .errors import CheckFailed
from .shapes import random_tokens


def normalize(device) -> str:
    """``'cuda'`` -> ``'cuda:0'``; other devices as ``str(torch.device)``."""
    d = torch.device(device)
    if d.type == "cuda" and d.index is None:
        return "cuda:0"
    return str(d)


def add_tensors(x, what: str, rows: list) -> None:
    """Record ``(name, device)`` for a tensor record or each one of a tuple."""
    if trust.is_tensor(x):
        rows.append((what, trust.device_of(x, what)))
        return
    items = trust.sequence(x, what)
    if isinstance(items, str):
        rows.append((what, items))
        return
    for i, item in enumerate(items):
        rows.append((f"{what}[{i}]", trust.device_of(item, f"{what}[{i}]")))


def add_module_tensors(model, rows: list) -> None:
    """Record every parameter and buffer of a module record."""
    for kind, word in (("parameters", "parameter"), ("buffers", "buffer")):
        for name, t in trust.named_tensors(model, kind):
            label = f"{word} {name}"
            rows.append((label, trust.device_of(t, label)))


def evidence_model(reply: dict, expected, names: dict) -> dict:
    """Device evidence from a :func:`.calls.model_forward` reply."""
    ev = {"expected": normalize(expected), "tensors": [], "error": None,
          "names": dict(names)}
    model = plain.load(reply.get("model"))
    err = reply.get("error")
    if reply.get("model") is not None:
        reason = trust.module_reason(
            model, f"{names.get('build', 'build')}(...) returned")
        if reason:
            ev["error"] = reason
            return ev
        add_module_tensors(model, ev["tensors"])
    if reply.get("begin_state") is not None:
        add_tensors(plain.load(reply["begin_state"]), "begin_state",
                    ev["tensors"])
    if reply.get("result") is not None:
        items = trust.sequence(plain.load(reply["result"]), "model(X, state)")
        if isinstance(items, str) or len(items) != 2:
            ev["tensors"].append(("model(X, state)", "model(X, state): must "
                                  "return (output, state)"))
        else:
            add_tensors(items[0], "output", ev["tensors"])
            add_tensors(items[1], "state", ev["tensors"])
    if err is not None:
        ev["error"] = str(err.get("message")) if type(err) is dict \
            else str(err)
    return ev


def collect_model(build, *, vocab_size, num_hiddens, num_layers, device,
                  generator, batch_size=2, num_steps=3, names=None) -> dict:
    """Build on ``device`` and record the device of every tensor met
    (a self-check: the call runs here).

    Args:
        device: the device passed to ``build`` (and the expected one).
        generator: draws the token ids of the forward call.
    """
    names = names or {"build": "build"}
    sizes = dict(vocab_size=vocab_size, num_hiddens=num_hiddens,
                 num_layers=num_layers)
    X = random_tokens(vocab_size, batch_size, num_steps, generator)
    reply = calls.model_forward(build, sizes=sizes, tokens=X,
                                device=normalize(device), names=names)
    ev = evidence_model(reply, device, names)
    ev["sizes"] = sizes
    return ev


def judge_model(ev, *, expected: str | None = None) -> None:
    """Fail unless every recorded tensor is on the expected device.

    Args:
        expected: the device the grader expects; defaults to the one
            recorded (the grader passes its own when re-judging).
    """
    want = normalize(expected if expected is not None else ev["expected"])
    rows = ev["tensors"]
    # Placement first: a model left on the CPU fails in forward, and the
    # tensor that was left behind is the more useful message.
    for name, where in rows:
        if where != want and not where.startswith(f"{name}:"):
            build = ev.get("names", {}).get("build", "build")
            raise CheckFailed(f"{name} is on {where}, expected {want} (the "
                              f"device passed to {build}): move the model "
                              f"with .to(device)")
    for name, where in rows:
        if where != want:
            raise CheckFailed(where)
    if ev.get("error"):
        raise CheckFailed(ev["error"])
    if not rows:
        raise CheckFailed("the model has no parameters, expected an "
                          "nn.LSTM and an output layer")
