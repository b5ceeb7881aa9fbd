"""The perplexity check: train the student's model under the grader's recipe.

``collect`` (the call ``model_train``: in the notebook for a self-check, in
the sandboxed worker when grading) builds a fresh model with the student's
``build_*`` function at sizes the grader chooses, trains it with the
grader's fixed, seeded recipe and budget (:class:`GradingBudget`, CPU or GPU
class), and returns plain data: the model's spec, its trained
``state_dict``, the per-epoch perplexity curve, generated samples.

``judge`` never calls student code. It rebuilds the model from trusted code
(``d2l.RNNModel`` around ``nn.LSTM``/``nn.GRU``/``nn.RNN``), loads the trained
weights and recomputes the perplexity on the data itself, so the grader can
re-judge the evidence in its own process. The threshold is calibrated per
kind and device class by ``scripts/calibrate.py``.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import random
import time

import torch
from torch import nn
from torch.nn import functional as F
from d2l import torch as d2l

from . import trainer
from .config import GradingBudget, grading_budget
from .errors import CheckFailed

KINDS = ("deep", "bidirectional")
# The only classes the check rebuilds (d2l.RNNModel is "d2l.torch.RNNModel").
MODEL_CLASS = f"{d2l.RNNModel.__module__}.{d2l.RNNModel.__qualname__}"
RNN_CLASSES = {f"{c.__module__}.{c.__qualname__}": c
               for c in (nn.LSTM, nn.GRU, nn.RNN)}
LINEAR_CLASS = f"{nn.Linear.__module__}.{nn.Linear.__qualname__}"
# The prefixes whose continuations are kept for feedback (as in d2l.train_ch8).
PREFIXES = ("time traveller", "traveller")
NUM_PREDS = 50


# ----------------------------------------------------------------- helpers

def device_class(device) -> str:
    """"gpu" for a CUDA device, else "cpu"."""
    return "gpu" if torch.device(device).type == "cuda" else "cpu"


def recipe_for(budget: GradingBudget, kind: str) -> trainer.Recipe:
    """The trainer recipe of ``budget`` for ``kind``."""
    return trainer.Recipe(
        num_epochs=budget.epochs(kind), lr=budget.lr(kind),
        optimizer=budget.optimizer, batch_size=budget.batch_size,
        num_steps=budget.num_steps, clip_theta=budget.clip_theta)


# Environment variable naming a verified timemachine.txt (or its folder); the
# kit's own tools set it. Without it, the file is found as the book finds it.
DATA_ENV = "D2L_TIMEMACHINE"


def corpus_and_vocab():
    """The book's corpus (10,000 characters) and its vocab (28 tokens).

    Read from ``$D2L_TIMEMACHINE`` when set, else as the book reads it
    (``../data``, or d2l's download).
    """
    path = os.environ.get(DATA_ENV) or None
    if path and os.path.isdir(path):
        path = os.path.join(path, "timemachine.txt")
    return _corpus_and_vocab(path)


@functools.lru_cache(maxsize=4)
def _corpus_and_vocab(path):
    return trainer.time_machine_corpus(path=path)


@torch.no_grad()
def evaluate(net, corpus, *, batch_size: int, num_steps: int,
             device) -> float:
    """Perplexity of ``net`` on ``corpus`` (no training).

    Sequential partitioning from offset 0, the state carried between
    minibatches, as in training; every full window of num_steps counts.
    """
    tokens = torch.tensor(corpus)
    n = (len(corpus) - 1) // batch_size * batch_size
    X = tokens[:n].reshape(batch_size, -1).to(device)       # (B, n/B)
    Y = tokens[1:n + 1].reshape(batch_size, -1).to(device)  # (B, n/B)
    state = net.begin_state(batch_size=batch_size, device=device)
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for i in range(0, X.shape[1] - num_steps + 1, num_steps):
        y_hat, state = net(X[:, i:i + num_steps], state)   # (T*B, vocab)
        y = Y[:, i:i + num_steps].T.reshape(-1)              # (T*B,)
        total += F.cross_entropy(y_hat, y, reduction="sum").double()
        count += y.numel()
    return math.exp(float(total) / count)


@contextlib.contextmanager
def grading_context(budget: GradingBudget, device):
    """Seed everything, set torch's threads; restore both afterwards."""
    threads = torch.get_num_threads()
    py_state = random.getstate()
    devices = [torch.device(device)] if device_class(device) == "gpu" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(budget.seed)
        random.seed(budget.seed)
        torch.set_num_threads(budget.threads)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            random.setstate(py_state)


# ----------------------------------------------------------------- collect

def describe(net) -> dict:
    """Plain description of a model: classes, sizes, trainable flags.

    Reads the student's object through ``nn.Module``'s own methods and exact
    type checks, never through methods the object may override.
    """
    cls = type(net)
    spec = {"model_class": f"{cls.__module__}.{cls.__qualname__}"}
    if not isinstance(net, nn.Module):
        return spec
    modules = nn.Module.__getattribute__(net, "_modules")
    spec["rnn"] = _describe_rnn(modules.get("rnn"))
    spec["linear"] = _describe_linear(modules.get("linear"))
    spec["requires_grad"] = {
        name: bool(p.requires_grad)
        for name, p in nn.Module.named_parameters(net)}
    return spec


def _describe_rnn(rnn) -> dict:
    cls = type(rnn)
    out = {"class": f"{cls.__module__}.{cls.__qualname__}"}
    if cls in (nn.LSTM, nn.GRU, nn.RNN):
        for key in ("input_size", "hidden_size", "num_layers", "proj_size"):
            out[key] = int(getattr(rnn, key, 0))
        for key in ("bidirectional", "bias", "batch_first"):
            out[key] = bool(getattr(rnn, key))
        out["dropout"] = float(rnn.dropout)
    return out


def _describe_linear(linear) -> dict:
    cls = type(linear)
    out = {"class": f"{cls.__module__}.{cls.__qualname__}"}
    if cls is nn.Linear:
        out["in_features"] = int(linear.in_features)
        out["out_features"] = int(linear.out_features)
    return out


def trained_weights(net) -> dict:
    """The trained ``state_dict`` as plain CPU tensors."""
    if not isinstance(net, nn.Module):
        return {}
    return {name: t.detach().cpu().clone()
            for name, t in nn.Module.state_dict(net).items()
            if type(t) in (torch.Tensor, nn.Parameter)}


def samples(net, vocab, device) -> list[str]:
    """d2l.predict_ch8 continuations of the PREFIXES (kept for feedback)."""
    out = []
    for prefix in PREFIXES:
        try:
            with torch.no_grad():
                text = d2l.predict_ch8(prefix, NUM_PREDS, net, vocab, device)
            out.append(str(text) if type(text) is str else repr(type(text)))
        except Exception as exc:  # noqa: BLE001 - student code
            out.append(f"{prefix}: predict_ch8 failed "
                       f"({type(exc).__name__}: {exc})")
    return out


def collect(build, *, kind: str, device=None,
            budget: GradingBudget | None = None, name: str = "build") -> dict:
    """Build, train and describe a fresh model; return plain evidence.

    Args:
        build: the student's ``build_*(vocab_size, num_hiddens, num_layers,
            device)``.
        kind: "deep" or "bidirectional".
        device: defaults to ``d2l.try_gpu()``.
        budget: defaults to the budget of the device's class.
        name: the student's function, for messages.
    """
    device = torch.device(device) if device is not None else d2l.try_gpu()
    budget = budget or grading_budget(device_class(device))
    corpus, vocab = corpus_and_vocab()
    sizes = {"vocab_size": len(vocab), "num_hiddens": budget.num_hiddens,
             "num_layers": budget.num_layers}
    entry = {"kind": kind, "device_class": budget.device_class,
             "device": str(device), "sizes": sizes,
             "num_epochs": budget.epochs(kind),
             "max_perplexity": budget.max_perplexity(kind),
             "error": None}
    with grading_context(budget, device):
        try:
            _train_into(entry, build, corpus, vocab, device, budget, kind,
                        name)
        except _StepFailed as exc:
            entry["error"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - student code
            entry["error"] = f"{type(exc).__name__}: {exc}"
    return entry


class _StepFailed(Exception):
    """A step of collect (build, training, evaluation) raised."""


def _train_into(entry, build, corpus, vocab, device, budget, kind,
                name="build") -> None:
    """Fill ``entry`` step by step, so a failure keeps what came before."""
    step = f"calling {name}(vocab_size, num_hiddens, num_layers, device)"
    try:
        net = build(entry["sizes"]["vocab_size"], budget.num_hiddens,
                    budget.num_layers, device)
        entry["spec"] = describe(net)
        step = f"training the model {name} returned"
        start = time.perf_counter()
        result = trainer.train(net, corpus, recipe_for(budget, kind), device)
        entry["perplexities"] = [float(p) for p in result.perplexities]
        entry["train_seconds"] = time.perf_counter() - start
        entry["trainer_path"] = result.path
        step = f"evaluating the model {name} returned"
        entry["perplexity"] = evaluate(
            net, corpus, batch_size=budget.batch_size,
            num_steps=budget.num_steps, device=device)
    except Exception as exc:  # noqa: BLE001 - student code
        raise _StepFailed(f"{step} raised {type(exc).__name__}: {exc}") \
            from None
    entry["state_dict"] = trained_weights(net)
    entry["samples"] = samples(net, vocab, device)


# ------------------------------------------------------------------- judge

def judge(entries, kind: str | None = None) -> str:
    """Judge perplexity evidence out of the student's reach.

    Args:
        entries: one evidence dict, or the list ``evidence.load`` returns
            (every entry must pass).
        kind: the expected kind ("deep"/"bidirectional"); defaults to the
            entry's own.

    Returns:
        A one-line success message.

    Raises:
        CheckFailed: with got vs expected, in the book's words.
    """
    if type(entries) is dict:
        entries = [entries]
    if type(entries) is not list or not entries:
        raise CheckFailed("no perplexity evidence was recorded")
    return [judge_entry(e, kind) for e in entries][-1]


def judge_entry(entry: dict, kind: str | None = None) -> str:
    """Judge one evidence entry (see :func:`judge`)."""
    return judge_value(entry, kind)[0]


def judge_value(entry: dict, kind: str | None = None) -> tuple[str, float]:
    """Judge one entry; return the message and the perplexity the judge
    computed itself (the feedback page shows that number).

    Raises:
        CheckFailed: with got vs expected; its ``perplexity`` attribute is
            the computed perplexity when there is one (else None).
    """
    if type(entry) is not dict:
        raise CheckFailed("perplexity evidence is not a dict")
    kind = kind or entry.get("kind")
    if kind not in KINDS:
        raise CheckFailed(f"unknown kind {kind!r}; expected one of {KINDS}")
    budget = grading_budget(_device_class_of(entry))
    if entry.get("error") is not None:
        if type(entry["error"]) is not str:
            raise CheckFailed("the model's training reported an error the "
                              "grader cannot read")
        raise CheckFailed(f"training your model under the grader's recipe "
                          f"failed: "
                          f"{entry['error']}")
    net = rebuild(entry.get("spec"), kind, budget)
    load_weights(net, entry.get("state_dict"))
    corpus, _ = corpus_and_vocab()
    ppl = evaluate(net.eval(), corpus, batch_size=budget.batch_size,
                   num_steps=budget.num_steps, device="cpu")
    limit = budget.max_perplexity(kind)
    flags = entry["spec"].get("requires_grad")
    frozen = [n for n, rg in flags.items() if rg is not True] \
        if type(flags) is dict else ["(not recorded)"]
    if not ppl < limit:
        raise _with_value(CheckFailed(_too_high(ppl, limit, kind, budget,
                                                frozen)), ppl)
    if frozen:
        raise _with_value(CheckFailed(
            f"parameters {frozen} have requires_grad=False; expected every "
            "parameter to be trainable"), ppl)
    return (f"perplexity {ppl:.2f} < {limit:.2f} after "
            f"{budget.epochs(kind)} epochs of the grader's recipe ({kind})",
            ppl)


def _with_value(exc: CheckFailed, ppl: float) -> CheckFailed:
    exc.perplexity = ppl
    return exc


def _device_class_of(entry: dict) -> str:
    got = entry.get("device_class")
    if got not in ("cpu", "gpu"):
        raise CheckFailed(f"device class {got!r} != expected 'cpu' or 'gpu'")
    return got


def _too_high(ppl, limit, kind, budget, frozen) -> str:
    text = (f"perplexity {ppl:.2f} is not below the threshold {limit:.2f} "
            f"for the {kind} LSTM after {budget.epochs(kind)} epochs of the "
            f"grader's recipe ({budget.optimizer}, lr={budget.lr(kind)}, "
            f"num_hiddens={budget.num_hiddens}, "
            f"num_layers={budget.num_layers}): the model does not learn "
            "from its input")
    if frozen:
        text += f"; frozen parameters (requires_grad=False): {frozen}"
    return text


def expected_spec(kind: str, budget: GradingBudget, vocab_size: int) -> dict:
    """The sizes the grader asked for, as the spec would record them."""
    num_directions = 2 if kind == "bidirectional" else 1
    return {"input_size": vocab_size, "hidden_size": budget.num_hiddens,
            "num_layers": budget.num_layers,
            "bidirectional": kind == "bidirectional",
            "in_features": num_directions * budget.num_hiddens,
            "out_features": vocab_size}


def rebuild(spec, kind: str, budget: GradingBudget) -> nn.Module:
    """A trusted ``d2l.RNNModel`` with the recorded structure.

    Raises:
        CheckFailed: the model is not d2l.RNNModel around nn.LSTM, nn.GRU
            or nn.RNN, or its sizes are not the ones the grader asked for.
    """
    if type(spec) is not dict or spec.get("model_class") != MODEL_CLASS:
        got = spec.get("model_class") if type(spec) is dict else None
        raise CheckFailed(
            f"model class {got} != expected {MODEL_CLASS}: the perplexity "
            "check rebuilds only d2l.RNNModel(nn.LSTM(...), vocab_size) "
            "(or nn.GRU / nn.RNN) to recompute the perplexity")
    rnn, linear = spec.get("rnn"), spec.get("linear")
    rnn = rnn if type(rnn) is dict else {}
    linear = linear if type(linear) is dict else {}
    if rnn.get("class") not in RNN_CLASSES or linear.get("class") != \
            LINEAR_CLASS:
        raise CheckFailed(
            f"model.rnn is {rnn.get('class')}, model.linear is "
            f"{linear.get('class')}; expected nn.LSTM (or nn.GRU / nn.RNN) "
            "and nn.Linear")
    _check_sizes(rnn, linear, kind, budget)
    _check_layout(rnn)
    cls = RNN_CLASSES[rnn["class"]]
    # Dropout only acts in training, and the grader evaluates: the rebuilt
    # layer has none, whatever the student's had.
    layer = cls(rnn["input_size"], rnn["hidden_size"], rnn["num_layers"],
                bias=rnn["bias"], bidirectional=rnn["bidirectional"])
    return d2l.RNNModel(layer, linear["out_features"])


def _check_layout(rnn: dict) -> None:
    """Fail unless the layer is laid out as d2l.RNNModel expects: inputs
    (num_steps, batch_size, vocab_size), no projection, bias on or off."""
    wrong = []
    if rnn.get("batch_first", False) is not False:
        wrong.append(f"batch_first={rnn.get('batch_first')!r:.20} != "
                     "expected False (d2l.RNNModel feeds (num_steps, "
                     "batch_size, vocab_size))")
    if type(rnn.get("proj_size", 0)) is not int or \
            rnn.get("proj_size", 0) != 0:
        wrong.append(f"proj_size={rnn.get('proj_size')!r:.20} != expected 0")
    if type(rnn.get("bias")) is not bool:
        wrong.append(f"bias={rnn.get('bias')!r:.20} != expected True or "
                     "False")
    if wrong:
        raise CheckFailed("the model built for the perplexity check is not "
                          "laid out as the book's: " + "; ".join(wrong))


def _check_sizes(rnn: dict, linear: dict, kind, budget) -> None:
    vocab_size = len(corpus_and_vocab()[1])
    want = expected_spec(kind, budget, vocab_size)
    got = {**{k: rnn.get(k) for k in ("input_size", "hidden_size",
                                      "num_layers", "bidirectional")},
           **{k: linear.get(k) for k in ("in_features", "out_features")}}
    names = {"input_size": "rnn input_size (vocab_size)",
             "hidden_size": "num_hiddens", "num_layers": "num_layers",
             "bidirectional": "bidirectional",
             "in_features": "linear in_features "
                            "(num_directions * num_hiddens)",
             "out_features": "linear out_features (vocab_size)"}
    # the exact type too: 28.0 == 28 and 0 == False, but nn.LSTM takes
    # neither, and a tensor has no plain truth value
    wrong = [f"{names[k]} {got[k]!r:.40} != expected {want[k]}"
             for k in want if type(got[k]) is not type(want[k])
             or got[k] != want[k]]
    if wrong:
        raise CheckFailed("the model built for the perplexity check has the "
                          "wrong structure: " + "; ".join(wrong))


def load_weights(net: nn.Module, state_dict) -> None:
    """Load the recorded weights into the trusted model."""
    if type(state_dict) is not dict or not all(
            type(v) is torch.Tensor for v in state_dict.values()):
        raise CheckFailed("no trained weights were recorded")
    expected = nn.Module.state_dict(net)
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    shapes = [f"{k} {tuple(state_dict[k].shape)} != expected "
              f"{tuple(v.shape)}" for k, v in expected.items()
              if k in state_dict and state_dict[k].shape != v.shape]
    if missing or unexpected or shapes:
        raise CheckFailed(f"trained weights do not fit d2l.RNNModel: "
                          f"missing {missing}, unexpected {unexpected}, "
                          f"wrong shapes {shapes}")
    net.load_state_dict(state_dict)
