"""The checks, each written once for the self-check and for grading.

A check is a generator. It draws its inputs, *yields* each call it needs
(:class:`Call`: which of :mod:`.calls` to run, on which of the student's
functions, with which inputs), receives the call's plain reply, and judges:
it returns a one-line message (or ``(message, detail)``) or raises
:class:`CheckFailed`. It never touches student code itself.

Who answers the calls differs:

* a self-check in a notebook (:func:`run_here`) runs them right here, on
  the functions the test cell passed;
* the grader sends them over the grading channel to the worker in the
  sandbox, which runs them on the submission's functions, and the check
  runs in the grader's own process (``autograder/grader/verdicts.py``).

Every check takes ``sizes`` (the test's sizes), a seeded ``generator``
(its inputs), ``device`` and ``names`` (the check's roles -> the student's
function names, for messages), plus the test's fixed arguments
(:attr:`.registry.Test.kwargs`).
"""
from __future__ import annotations

import dataclasses

import torch

from . import calls, causality, device as device_check, params, perplexity
from . import reference, shapes
from .errors import CheckFailed


@dataclasses.dataclass(frozen=True)
class Call:
    """One call a check needs: ``calls.<call>(*functions, **kwargs)``.

    Attributes:
        call: the name of the function of :mod:`.calls`.
        roles: the check's roles of the student's functions it takes.
        kwargs: plain data (numbers, strings, tensors, lists, dicts).
    """

    call: str
    roles: tuple
    kwargs: dict


def sizes_text(sizes: dict) -> str:
    """``'vocab_size=28, num_hiddens=16'``."""
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


# ----------------------------------------------------------- scratch models

def scratch_shapes(sizes, *, generator, device="cpu", names):
    """Outputs and every state tensor of the scratch deep RNN or BiRNN."""
    tokens = shapes.random_tokens(sizes["vocab_size"], sizes["batch_size"],
                                  sizes["num_steps"], generator)
    reply = yield Call("scratch_forward", ("get_params", "init_state", "rnn"),
                       {"sizes": dict(sizes), "tokens": tokens,
                        "device": str(device)})
    shapes.judge_scratch(shapes.evidence_scratch(reply, sizes, names))
    states = (f"{sizes['num_layers']} state tensors" if "num_layers" in sizes
              else "(H_f, H_b)")
    return f"outputs and {states} have the right shapes"


def scratch_params(sizes, *, generator, device="cpu", names):
    """The list from get_*_params: order, shapes, grads, count."""
    reply = yield Call("scratch_setup", ("get_params",),
                       {"sizes": dict(sizes), "device": str(device)})
    params.judge_scratch(params.evidence_scratch(reply, sizes, names))
    count = params.total(params.expected_scratch(
        sizes["vocab_size"], sizes["num_hiddens"], sizes.get("num_layers")))
    n = len(params.scratch_names(sizes.get("num_layers")))
    return f"{n} tensors, {count:,} parameters"


def scratch_reference(sizes, *, generator, device="cpu", names):
    """The scratch model against nn.RNN holding the same parameters."""
    case = reference.draw_case(sizes, generator)
    replies = [(yield Call("scratch_setup", ("get_params", "init_state"),
                           {"sizes": dict(sizes), "device": "cpu"}))]
    reference.judge_setup(replies[0], sizes, names)
    ev = {"sizes": dict(sizes), "tokens": case["tokens"],
          "params": case["params"], "state": case["state"], "runs": {},
          "error": None, "names": dict(names)}
    for run in reference.runs_for(sizes):
        replies.append((yield Call("scratch_run", ("rnn",),
                                   reference.run_inputs(case, run, sizes))))
        ev["runs"][run] = reference.evidence_run(replies[-1], names)
    reference.judge_kernels(replies, names)
    reference.judge(ev)
    if "num_layers" in sizes:
        return "outputs and final states match nn.RNN"
    return ("both directions and final states match "
            "nn.RNN(bidirectional=True)")


# -------------------------------------------------------------- d2l models

def model_shapes(sizes, *, generator, device="cpu", names,
                 num_directions=1):
    """Output and (H, C) shapes of a d2l.RNNModel around nn.LSTM."""
    tokens = shapes.random_tokens(sizes["vocab_size"], sizes["batch_size"],
                                  sizes["num_steps"], generator)
    reply = yield Call("model_forward", ("build",),
                       {"sizes": dict(sizes), "tokens": tokens,
                        "device": "cpu"})
    shapes.judge_model(shapes.evidence_model(reply, sizes, names),
                       num_directions=num_directions)
    return "output and (H, C) have the right shapes"


def model_params(sizes, *, generator, device="cpu", names,
                 num_directions=1):
    """Trainable parameters of the model against the closed form."""
    reply = yield Call("model_forward", ("build",),
                       {"sizes": dict(sizes), "device": "cpu"})
    params.judge_model(params.evidence_model(reply, sizes, names),
                       num_directions=num_directions)
    count = params.total(params.expected_model(
        sizes["vocab_size"], sizes["num_hiddens"], sizes["num_layers"],
        num_directions))
    return f"{count:,} trainable parameters"


def model_device(sizes, *, generator, device="cpu", names):
    """Every parameter, buffer, state and output of the model on
    ``device``."""
    tokens = shapes.random_tokens(sizes["vocab_size"], 2, 3, generator)
    want = device_check.normalize(device)
    reply = yield Call("model_forward", ("build",),
                       {"sizes": dict(sizes), "tokens": tokens,
                        "device": want})
    ev = device_check.evidence_model(reply, want, names)
    ev["sizes"] = dict(sizes)
    device_check.judge_model(ev)
    return f"every parameter, buffer, state and output is on {want}"


def perplexity_check(sizes, *, generator, device="cpu", names, kind):
    """Train a fresh model under the grader's recipe; judge its perplexity.

    Returns:
        ``(message, detail)``: detail holds the training curve, the
        samples, the threshold and the perplexity the judge computed.
    """
    entry = yield Call("model_train", ("build",),
                       {"kind": kind, "device": str(device)})
    detail = perplexity_detail(entry)
    try:
        message, ppl = perplexity.judge_value(entry, kind)
    except CheckFailed as exc:
        exc.detail = {**detail, "perplexity": getattr(exc, "perplexity",
                                                      None)}
        raise
    return message, {**detail, "perplexity": ppl}


def perplexity_detail(entry) -> dict:
    """What the feedback page shows of a training run (plain numbers)."""
    if type(entry) is not dict:
        return {}
    curve = entry.get("perplexities")
    samples = entry.get("samples")
    return {
        "curve": [float(v) for v in curve if type(v) in (int, float)]
        if type(curve) is list else [],
        "threshold": entry.get("max_perplexity")
        if type(entry.get("max_perplexity")) in (int, float) else None,
        "samples": [s for s in samples if type(s) is str][:4]
        if type(samples) is list else [],
        "error": entry.get("error") if type(entry.get("error")) is str
        else None,
    }


# ----------------------------------------------------------- leaks_future

def causality_check(sizes, *, generator, device="cpu", names):
    """leaks_future on the lesson's models (labels known by construction)."""
    specs = causality.lesson_specs()
    reply = yield Call("leaks_future", ("leaks_future",),
                       {"models": specs, "device": str(device)})
    return causality.judge_answers(reply.get("answers"),
                                   [s["kind"] for s in specs],
                                   causality.LABELS, names)


CHECKS = {
    "scratch_shapes": scratch_shapes,
    "scratch_params": scratch_params,
    "scratch_reference": scratch_reference,
    "model_shapes": model_shapes,
    "model_params": model_params,
    "model_device": model_device,
    "perplexity": perplexity_check,
    "causality": causality_check,
}


# --------------------------------------------------------- running a check

def drive(check, answer):
    """Run a check generator, answering each :class:`Call` with ``answer``.

    Args:
        check: a generator from one of :data:`CHECKS`.
        answer: ``Call -> reply`` (plain data).

    Returns:
        ``(message, detail)``; detail is ``{}`` when the check gave none.

    Raises:
        CheckFailed: the check's verdict.
    """
    frames = []
    try:
        call = next(check)
        while True:
            reply = answer(call)
            frames = _frames(reply) or frames
            call = check.send(reply)
    except StopIteration as stop:
        result = stop.value
    except CheckFailed as exc:
        if frames and not getattr(exc, "frames", None):
            exc.frames = frames  # the student's code raised: show where
        raise
    if isinstance(result, tuple):
        return result[0], dict(result[1])
    return result, {}


def _frames(reply) -> list:
    """The student's frames of an error in a call's reply, if any."""
    err = reply.get("error") if type(reply) is dict else None
    frames = err.get("frames") if type(err) is dict else None
    if type(frames) is not list:
        return []
    return [tuple(f) for f in frames if type(f) is list and len(f) == 4]


def run_here(check_name: str, functions: dict, sizes: dict, *, names: dict,
             device="cpu", seed: int = 0, **kwargs):
    """Run a check in this process, on the given functions (a self-check).

    Args:
        functions: the check's roles -> the student's functions.
        names: the check's roles -> the student's function names.
        seed: seeds the check's inputs.

    Returns:
        ``(message, detail)``.
    """
    generator = torch.Generator().manual_seed(seed)
    check = CHECKS[check_name](dict(sizes), generator=generator,
                               device=device, names=names, **kwargs)

    def answer(call: Call):
        fns = [functions[role] for role in call.roles]
        return getattr(calls, call.call)(*fns, **call.kwargs, names=names)

    return drive(check, answer)
