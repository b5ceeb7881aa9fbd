"""Causality: is a model's output at step t invariant to inputs after t?

Two parts:

* :func:`first_leak`, the kit's probe. It changes only the inputs after
  step t and reports the first step whose output moved. The kit uses it to
  verify the labels of its own models (tests/test_causality.py).
* The model zoo on which the student's ``leaks_future`` is graded: the four
  models of the lesson (deep LSTM and scratch deep RNN are causal,
  bidirectional LSTM and scratch BiRNN are not) plus models drawn at grading
  time that the student never saw (a GRU, a bidirectional GRU, a GRU that
  reads one step ahead or one step behind, a scratch RNN that peeks ahead).
  Each label is known by construction.

The scratch-interface models follow ``d2l.RNNModelScratch``'s calling
convention but run torch's own layers through
``torch.func.functional_call``; no from-scratch RNN lives here.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F
from d2l import torch as d2l

from autograder.student import trust
from autograder.config import CHECKS, TOLERANCES
from autograder.student.causality import (  # noqa: F401 - MAX_CALLS re-exported
    MAX_CALLS, probe_bounds_error)
from autograder.student.errors import CheckFailed


# ------------------------------------------------------------------ probe

def outputs_by_step(model, X, device) -> torch.Tensor:
    """Outputs of ``model(X, begin_state)`` as (num_steps, batch_size, -1)."""
    batch_size, num_steps = X.shape
    state = model.begin_state(batch_size=batch_size, device=device)
    with torch.no_grad():
        Y, _ = model(X, state)  # (num_steps*batch_size, vocab_size)
    return Y.reshape(num_steps, batch_size, -1)


def first_leak(model, vocab_size, device="cpu", *, generator=None,
               batch_size=None, num_steps=None) -> int | None:
    """The first step t whose output changes when only inputs after t do.

    Returns:
        That step, or None if the model is causal on this probe.
    """
    batch_size = batch_size or TOLERANCES.causal_batch_size
    num_steps = num_steps or TOLERANCES.causal_num_steps
    X = torch.randint(0, vocab_size, (batch_size, num_steps),
                      generator=generator).to(device)
    base = outputs_by_step(model, X, device)
    for t in range(num_steps - 1):
        X2 = X.clone()
        shift = torch.randint(1, vocab_size, X2[:, t + 1:].shape,
                              generator=generator).to(device)
        X2[:, t + 1:] = (X2[:, t + 1:] + shift) % vocab_size
        moved = (outputs_by_step(model, X2, device)[:t + 1]
                 - base[:t + 1]).abs().amax(dim=(1, 2))
        if bool((moved > TOLERANCES.causal_atol).any()):
            return int(torch.nonzero(moved > TOLERANCES.causal_atol)[0])
    return None


# ----------------------------------------------------------------- models

class ScratchInterfaceRNN:
    """``d2l.RNNModelScratch``'s calling convention over a torch layer.

    ``model(X, state)`` takes token ids (batch_size, num_steps) and a tuple
    of (batch_size, num_hiddens) tensors, one per layer and direction;
    ``begin_state(batch_size, device)`` returns zeros. The layer runs through
    ``functional_call`` on the tensors of ``self.params``.

    Args:
        layer: an ``nn.RNN``/``nn.GRU``.
        peek: 1 to feed step t the one-hot of tokens t and t+1 (the layer
            must then read 2*vocab_size inputs); 0 for plain inputs.
    """

    def __init__(self, layer: nn.RNNBase, vocab_size: int, peek: int = 0):
        self.vocab_size, self.num_hiddens = vocab_size, layer.hidden_size
        self.layer, self.peek = layer, peek
        directions = 2 if layer.bidirectional else 1
        self.num_states = directions * layer.num_layers
        self.linear = nn.Linear(directions * layer.hidden_size, vocab_size)
        self.named = {k: v.detach().clone()
                      for k, v in layer.named_parameters()}
        self.params = list(self.named.values())

    def __call__(self, X, state):
        X = F.one_hot(X.T, self.vocab_size).type(torch.float32)
        if self.peek:
            X = torch.cat([X, shifted(X, self.peek)], dim=-1)
        H0 = torch.stack(state)  # (num_states, batch_size, num_hiddens)
        Y, H = functional_call(self.layer, self.named, (X, H0))
        out = self.linear(Y.reshape(-1, Y.shape[-1]))
        return out, tuple(H)

    def begin_state(self, batch_size, device):
        return tuple(torch.zeros((batch_size, self.num_hiddens),
                                 device=device)
                     for _ in range(self.num_states))


def shifted(X, k: int) -> torch.Tensor:
    """X moved k steps in time: step t sees step t+k (zeros past the ends)."""
    out = torch.zeros_like(X)  # (num_steps, batch_size, vocab_size)
    if k > 0:
        out[:-k] = X[k:]
    else:
        out[-k:] = X[:k]
    return out


class ShiftedRNNModel(d2l.RNNModel):
    """A d2l.RNNModel whose step t also reads the token at t+shift.

    shift=1 peeks one step into the future (not causal); shift=-1 reads one
    step of the past (causal).
    """

    def __init__(self, rnn_layer, vocab_size, shift: int):
        super().__init__(rnn_layer, vocab_size)
        self.shift = shift

    def forward(self, inputs, state):
        X = F.one_hot(inputs.T.long(), self.vocab_size).to(torch.float32)
        X = torch.cat([X, shifted(X, self.shift)], dim=-1)
        Y, state = self.rnn(X, state)
        return self.linear(Y.reshape((-1, Y.shape[-1]))), state


def make_model(kind: str, v: int, h: int):
    """Build the zoo model ``kind`` with vocab_size v and num_hiddens h."""
    builders = {
        "deep LSTM": lambda: d2l.RNNModel(nn.LSTM(v, h, 2), v),
        "scratch deep RNN": lambda: ScratchInterfaceRNN(nn.RNN(v, h, 2), v),
        "bidirectional LSTM": lambda: d2l.RNNModel(
            nn.LSTM(v, h, 2, bidirectional=True), v),
        "scratch BiRNN": lambda: ScratchInterfaceRNN(
            nn.RNN(v, h, bidirectional=True), v),
        "GRU": lambda: d2l.RNNModel(nn.GRU(v, h), v),
        "bidirectional GRU": lambda: d2l.RNNModel(
            nn.GRU(v, h, bidirectional=True), v),
        "GRU reading one step ahead": lambda: ShiftedRNNModel(
            nn.GRU(2 * v, h), v, shift=1),
        "GRU reading one step behind": lambda: ShiftedRNNModel(
            nn.GRU(2 * v, h), v, shift=-1),
        "scratch RNN peeking one step ahead": lambda: ScratchInterfaceRNN(
            nn.RNN(2 * v, h, 2), v, peek=1),
        "scratch 3-layer GRU": lambda: ScratchInterfaceRNN(
            nn.GRU(v, h, 3), v),
    }
    return builders[kind]()


# Label of each zoo model, known by construction: True = leaks the future.
SEEN = {"deep LSTM": False, "scratch deep RNN": False,
        "bidirectional LSTM": True, "scratch BiRNN": True}
UNSEEN = {"GRU": False, "bidirectional GRU": True,
          "GRU reading one step ahead": True,
          "GRU reading one step behind": False,
          "scratch RNN peeking one step ahead": True,
          "scratch 3-layer GRU": False}
LABELS = {**SEEN, **UNSEEN}


def draw_zoo(generator: torch.Generator) -> list[dict]:
    """The models to grade on: the four seen ones plus unseen draws.

    At least one unseen model leaks and one does not. Each entry holds
    ``kind``, ``vocab_size``, ``num_hiddens``, ``seed`` and ``leaks``.
    """
    leaky = [k for k, v in UNSEEN.items() if v]
    causal = [k for k, v in UNSEEN.items() if not v]
    unseen = [leaky[_draw(0, len(leaky) - 1, generator)],
              causal[_draw(0, len(causal) - 1, generator)]]
    rest = [k for k in UNSEEN if k not in unseen]
    while len(unseen) < CHECKS.causal_unseen_models and rest:
        unseen.append(rest.pop(_draw(0, len(rest) - 1, generator)))
    kinds = list(SEEN) + unseen
    order = torch.randperm(len(kinds), generator=generator).tolist()
    return [zoo_entry(kinds[i], generator) for i in order]


def zoo_entry(kind: str, generator) -> dict:
    """One zoo entry with sizes and a weight seed drawn from ``generator``."""
    return {"kind": kind,
            "vocab_size": _draw(*CHECKS.causal_vocab_size_range, generator),
            "num_hiddens": _draw(*CHECKS.causal_num_hiddens_range, generator),
            "seed": _draw(0, 2**31 - 1, generator), "leaks": LABELS[kind]}


def _draw(low: int, high: int, generator) -> int:
    """An int in [low, high] from ``generator``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def build_entry(entry: dict):
    """The zoo model of ``entry``, with seeded weights, on the CPU.

    The global RNG is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(entry["seed"])
        return make_model(entry["kind"], entry["vocab_size"],
                          entry["num_hiddens"])


# ---------------------------------------------------------- collect/judge

def collect(leaks_future, zoo: list[dict]) -> dict:
    """Ask the student's ``leaks_future`` about every zoo model."""
    answers = []
    for entry in zoo:
        model = build_entry(entry)
        try:
            got = trust.call("calling leaks_future(model, vocab_size, "
                             "device)", leaks_future, model,
                             entry["vocab_size"], torch.device("cpu"))
        except trust.StudentError as exc:
            answers.append((entry["kind"], str(exc)))
            continue
        answers.append((entry["kind"], trust.as_bool(got)))
    return {"answers": answers}


def judge(ev, zoo: list[dict]) -> None:
    """Fail unless every answer matches the zoo model's label."""
    answers = ev["answers"]
    if [k for k, _ in answers] != [e["kind"] for e in zoo]:
        raise CheckFailed("the answers recorded do not belong to the models "
                          "drawn at grading time")
    for (kind, got), entry in zip(answers, zoo):
        seen = "" if kind in SEEN else " (a kit model you have not seen)"
        if type(got) is str:
            raise CheckFailed(f"for the {kind}{seen}: {got}")
        if got is not entry["leaks"]:
            why = ("its output at some step t changes when only inputs "
                   "after t change" if entry["leaks"] else
                   "its output at step t depends only on inputs up to t")
            raise CheckFailed(f"leaks_future returned {got} for the "
                              f"{kind}{seen}, expected {entry['leaks']}: "
                              f"{why}")


# ---------------------------------------------------------------- grading
# The zoo stays in the grader's process. The worker's leaks_future gets
# stand-ins (autograder/sandbox/box/worker.py: Model) whose every call comes
# here; ModelServer runs the real model and answers with the outputs only.

# Bounds on what the student's probe may ask of the grader's models: the
# self-check's (autograder/student/causality.py). Each call keeps at most
# one state, so the states kept are bounded too (zoo size x MAX_CALLS, each
# a few KB).


def zoo_check(zoo: list[dict], *, names: dict):
    """The grading check of ``leaks_future`` (a check generator, see
    ``autograder.student.checks``): every zoo model, by stand-in."""
    from autograder.student.causality import judge_answers
    from autograder.student.checks import Call

    specs = [{"id": i, "vocab_size": e["vocab_size"]}
             for i, e in enumerate(zoo)]
    reply = yield Call("leaks_future", ("leaks_future",),
                       {"models": specs, "device": "cpu"})
    answers = reply.get("answers") if type(reply) is dict else None
    if answers is None:
        err = reply.get("error") if type(reply) is dict else None
        raise CheckFailed(err.get("message") if type(err) is dict
                          else f"no answers came back ({reply!r:.80})")
    kinds = [e["kind"] for e in zoo]
    return judge_answers(answers, kinds, LABELS, names,
                         unseen=frozenset(UNSEEN))


class ModelServer:
    """Answers the worker's questions about the zoo's models.

    Each question names a model by its index and asks for ``begin_state``
    or a forward pass on token ids; the answer holds only the outputs and
    a handle for the new state. Everything is bounded as in the self-check
    (batch, steps, calls per model), plus the states kept; a state belongs
    to the model and batch size that made it, so nothing a model answers
    depends on another model's state. Whatever the request holds, the
    answer is an ``{"error": ...}`` at worst (never an exception here).
    """

    def __init__(self, zoo: list[dict]):
        self.zoo = zoo
        self.models: dict[int, object] = {}
        # handle -> (model index, batch_size, state)
        self.states: dict[int, tuple[int, int, object]] = {}
        self.calls: dict[int, int] = {}

    def __call__(self, request) -> dict:
        try:
            return self._answer(request)
        except CheckFailed as exc:
            return {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - untrusted request
            return {"error": f"the model could not answer this call "
                             f"({type(exc).__name__})"}

    def _answer(self, request) -> dict:
        if type(request) is not dict:
            raise CheckFailed("not a question about a model")
        i = request.get("id")
        if type(i) is not int or not 0 <= i < len(self.zoo):
            raise CheckFailed(f"no model {i!r:.40}")
        self.calls[i] = self.calls.get(i, 0) + 1
        method = request.get("method")
        if method == "begin_state":
            b = request.get("batch_size")
            why = probe_bounds_error(self.calls[i], batch_size=b)
            if why:
                raise CheckFailed(why)
            state = self._model(i).begin_state(
                batch_size=b, device=torch.device("cpu"))
            return {"state": self._keep(i, b, state)}
        if method == "forward":
            return self._forward(i, request)
        raise CheckFailed(f"unknown method {method!r:.40}")

    def _model(self, i: int):
        if i not in self.models:
            self.models[i] = build_entry(self.zoo[i])
        return self.models[i]

    def _keep(self, i: int, batch_size: int, state) -> int:
        handle = len(self.states) + 1
        self.states[handle] = (i, batch_size, state)
        return handle

    def _forward(self, i: int, request: dict) -> dict:
        X, handle = request.get("X"), request.get("state")
        why = probe_bounds_error(self.calls[i], X=X)
        if why:
            raise CheckFailed(why)
        if X.dtype != torch.int64:
            raise CheckFailed("model(X, state): X must be token ids "
                              "(torch.long)")
        vocab_size = self.zoo[i]["vocab_size"]
        if int(X.min()) < 0 or int(X.max()) >= vocab_size:
            raise CheckFailed(f"model(X, state): token ids must be in "
                              f"0..{vocab_size - 1}")
        kept = self.states.get(handle) if type(handle) is int else None
        if kept is None or kept[0] != i:
            raise CheckFailed("model(X, state): state must come from this "
                              "model's begin_state(...) or an earlier call "
                              "of this model")
        if kept[1] != X.shape[0]:
            raise CheckFailed(f"model(X, state): X has batch_size "
                              f"{X.shape[0]} but the state was begun with "
                              f"batch_size {kept[1]}")
        try:
            with torch.no_grad():
                Y, state = self._model(i)(X, kept[2])
        except Exception as exc:  # noqa: BLE001 - no detail of the model
            raise CheckFailed(f"model(X, state) failed "
                              f"({type(exc).__name__})") from None
        return {"Y": Y.detach().to(torch.float32).contiguous(),
                "state": self._keep(i, kept[1], state)}
