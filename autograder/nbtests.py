"""The functions the notebooks' test cells call, one per test grade_id.

Each one collects evidence by calling the student's functions on inputs
drawn at grading time, records it (when grading), then judges it and
prints a one-line success message, or raises ``CheckFailed`` with a message
in the book's words. The grader re-judges the recorded evidence in its own
process (:mod:`autograder.grader.verdicts`), out of the student's reach.

Visible tests pass the book-like sizes; hidden tests pass
``**hidden_sizes(grade_id)``, drawn from the grading seed.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import random
import secrets

import torch
from d2l import torch as d2l

from autograder.grader import causality
from autograder.grader import evidence
from autograder.student import params
from autograder.student import reference
from autograder.student import shapes
from autograder.student import device as device_check
from autograder.config import CHECKS

# The sizes each test takes, in the order hidden_sizes draws them.
MODEL_SIZES = ("vocab_size", "num_hiddens", "num_layers")
RUN_SIZES = ("batch_size", "num_steps")
SIZE_KEYS: dict[str, tuple[str, ...]] = {
    "test_deep_rnn_shapes": MODEL_SIZES + RUN_SIZES,
    "test_deep_rnn_params": MODEL_SIZES,
    "test_deep_rnn_matches_torch": MODEL_SIZES + RUN_SIZES,
    "test_build_deep_lstm_shapes": MODEL_SIZES + RUN_SIZES,
    "test_build_deep_lstm_params": MODEL_SIZES,
    "test_build_deep_lstm_device": MODEL_SIZES,
    "test_birnn_shapes": ("vocab_size", "num_hiddens") + RUN_SIZES,
    "test_birnn_params": ("vocab_size", "num_hiddens"),
    "test_birnn_matches_torch": ("vocab_size", "num_hiddens") + RUN_SIZES,
    "test_build_bidirectional_lstm_shapes": MODEL_SIZES + RUN_SIZES,
    "test_build_bidirectional_lstm_params": MODEL_SIZES,
    "test_build_bidirectional_lstm_device": MODEL_SIZES,
    "test_leaks_future_causality": (),
}
PERPLEXITY_TESTS = {
    "test_build_deep_lstm_perplexity": "deep",
    "test_build_bidirectional_lstm_perplexity": "bidirectional",
}
_RANGES = {"vocab_size": CHECKS.vocab_size_range,
           "num_hiddens": CHECKS.num_hiddens_range,
           "num_layers": CHECKS.num_layers_range,
           "batch_size": CHECKS.batch_size_range,
           "num_steps": CHECKS.num_steps_range}
_FALLBACK_SEED = str(secrets.randbits(32))  # outside grading: new each run


# ------------------------------------------------------------ seeds/sizes

def grading() -> bool:
    """True when nbgrader executes the notebook or evidence is recorded."""
    return bool(os.environ.get("NBGRADER_EXECUTION")
                or os.environ.get(CHECKS.evidence_env))


def grading_seed() -> str:
    """The grading seed (``AUTOGRADER_SEED``), else this kernel's own."""
    return os.environ.get(CHECKS.seed_env) or _FALLBACK_SEED


def hidden_sizes(grade_id: str, seed: str | int | None = None) -> dict:
    """Sizes for the hidden part of test ``grade_id``, drawn from the seed.

    Args:
        seed: defaults to :func:`grading_seed`; the grader passes the
            submission's seed to re-derive the same sizes.
    """
    if grade_id not in SIZE_KEYS:
        raise KeyError(f"{grade_id!r} has no hidden sizes; tests with "
                       f"sizes: {', '.join(SIZE_KEYS)}")
    seed = grading_seed() if seed is None else str(seed)
    rng = random.Random(f"{seed}:{grade_id}")
    return {k: rng.randint(*_RANGES[k]) for k in SIZE_KEYS[grade_id]}


def generator_for(grade_id: str, sizes: dict, seed=None) -> torch.Generator:
    """The generator of a test's inputs: (seed, grade_id, sizes) -> stream."""
    seed = grading_seed() if seed is None else str(seed)
    key = f"{seed}|{grade_id}|{sorted(sizes.items())}".encode()
    g = torch.Generator()
    g.manual_seed(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
    return g


@contextlib.contextmanager
def one_thread():
    """Run torch on one thread inside (restored afterwards).

    The checks' tensors are tiny; on a loaded small machine a second torch
    thread turns a 1 ms LSTM call into hundreds of ms. Usable as a
    decorator: ``@one_thread()``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _finish(grade_id: str, ev: dict, judge, message: str) -> None:
    """Record, judge, and print the success line."""
    evidence.record(grade_id, ev)
    judge(ev)
    print(f"{grade_id}: {message}")


def sizes_text(sizes: dict) -> str:
    """``'vocab_size=28, num_hiddens=16'``."""
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


# ---------------------------------------------------------------- judges
# One per grade_id; each takes one recorded entry. verdicts.py uses them.

def _judge_device(ev, expected=None):
    device_check.judge_model(ev, expected=expected)


JUDGES = {
    "test_deep_rnn_shapes": shapes.judge_scratch,
    "test_deep_rnn_params": params.judge_scratch,
    "test_deep_rnn_matches_torch": reference.judge,
    "test_build_deep_lstm_shapes":
        lambda ev: shapes.judge_model(ev, num_directions=1),
    "test_build_deep_lstm_params":
        lambda ev: params.judge_model(ev, num_directions=1),
    "test_build_deep_lstm_device": _judge_device,
    "test_birnn_shapes": shapes.judge_scratch,
    "test_birnn_params": params.judge_scratch,
    "test_birnn_matches_torch": reference.judge,
    "test_build_bidirectional_lstm_shapes":
        lambda ev: shapes.judge_model(ev, num_directions=2),
    "test_build_bidirectional_lstm_params":
        lambda ev: params.judge_model(ev, num_directions=2),
    "test_build_bidirectional_lstm_device": _judge_device,
}


def _scratch_shapes(gid, fns, sizes: dict, what: str) -> None:
    """The shapes check of a scratch model ``fns`` = (get_params,
    init_state, rnn), on inputs drawn for ``gid`` and ``sizes``."""
    ev = shapes.collect_scratch(*fns, generator=generator_for(gid, sizes),
                                **sizes)
    _finish(gid, ev, JUDGES[gid],
            f"{what} have the right shapes ({sizes_text(sizes)})")


def _scratch_reference(gid, fns, sizes: dict, what: str) -> None:
    """The scratch model ``fns`` against torch's nn.RNN (reference.py)."""
    ev = reference.collect(*fns, sizes=sizes,
                           generator=generator_for(gid, sizes))
    _finish(gid, ev, JUDGES[gid], f"{what} ({sizes_text(sizes)})")


# ----------------------------------------------------------- deep_rnn.ipynb

@one_thread()
def deep_rnn_shapes(get_params, init_state, rnn, *, vocab_size, num_hiddens,
                    num_layers, batch_size, num_steps):
    """Outputs and every state tensor of the scratch deep RNN."""
    sizes = dict(vocab_size=vocab_size, num_hiddens=num_hiddens,
                 num_layers=num_layers, batch_size=batch_size,
                 num_steps=num_steps)
    _scratch_shapes("test_deep_rnn_shapes", (get_params, init_state, rnn),
                    sizes, f"outputs and {num_layers} state tensors")


@one_thread()
def deep_rnn_params(get_params, *, vocab_size, num_hiddens, num_layers):
    """The list from get_deep_rnn_params: order, shapes, grads, count."""
    gid = "test_deep_rnn_params"
    ev = params.collect_scratch(get_params, vocab_size=vocab_size,
                                num_hiddens=num_hiddens,
                                num_layers=num_layers)
    count = params.total(params.expected_scratch(vocab_size, num_hiddens,
                                                 num_layers))
    _finish(gid, ev, JUDGES[gid],
            f"{3 * num_layers + 2} tensors, {count:,} parameters "
            f"({sizes_text(ev['sizes'])})")


@one_thread()
def deep_rnn_matches_torch(get_params, init_state, rnn, *, vocab_size,
                           num_hiddens, num_layers, batch_size, num_steps):
    """deep_rnn against nn.RNN(vocab_size, num_hiddens, num_layers)."""
    sizes = dict(vocab_size=vocab_size, num_hiddens=num_hiddens,
                 num_layers=num_layers, batch_size=batch_size,
                 num_steps=num_steps)
    _scratch_reference("test_deep_rnn_matches_torch",
                       (get_params, init_state, rnn), sizes,
                       "outputs and final states match nn.RNN")


@one_thread()
def build_deep_lstm_shapes(build, *, vocab_size, num_hiddens, num_layers,
                           batch_size, num_steps):
    """Output and (H, C) shapes of the deep LSTM d2l.RNNModel."""
    _model_shapes("test_build_deep_lstm_shapes", build, vocab_size,
                  num_hiddens, num_layers, batch_size, num_steps)


@one_thread()
def build_deep_lstm_params(build, *, vocab_size, num_hiddens, num_layers):
    """Trainable parameters of the deep LSTM against the closed form."""
    _model_params("test_build_deep_lstm_params", build, vocab_size,
                  num_hiddens, num_layers, num_directions=1)


@one_thread()
def build_deep_lstm_device(build, *, vocab_size, num_hiddens, num_layers,
                           device=None):
    """Every tensor of the deep LSTM on ``device`` (d2l.try_gpu())."""
    _model_device("test_build_deep_lstm_device", build, vocab_size,
                  num_hiddens, num_layers, device)


def build_deep_lstm_perplexity(build):
    """Train a fresh deep LSTM under the grader's recipe (perplexity.py)."""
    from autograder.student import perplexity
    return perplexity.run_test(build, kind="deep",
                               grade_id="test_build_deep_lstm_perplexity",
                               record=evidence.record)


# -------------------------------------------------- bidirectional_rnn.ipynb

@one_thread()
def birnn_shapes(get_params, init_state, rnn, *, vocab_size, num_hiddens,
                 batch_size, num_steps):
    """Outputs and (H_f, H_b) shapes of the scratch BiRNN."""
    sizes = dict(vocab_size=vocab_size, num_hiddens=num_hiddens,
                 batch_size=batch_size, num_steps=num_steps)
    _scratch_shapes("test_birnn_shapes", (get_params, init_state, rnn),
                    sizes, "outputs and (H_f, H_b)")


@one_thread()
def birnn_params(get_params, *, vocab_size, num_hiddens):
    """The list from get_birnn_params: order, shapes, grads, count."""
    gid = "test_birnn_params"
    ev = params.collect_scratch(get_params, vocab_size=vocab_size,
                                num_hiddens=num_hiddens)
    count = params.total(params.expected_scratch(vocab_size, num_hiddens))
    _finish(gid, ev, JUDGES[gid],
            f"8 tensors, {count:,} parameters ({sizes_text(ev['sizes'])})")


@one_thread()
def birnn_matches_torch(get_params, init_state, rnn, *, vocab_size,
                        num_hiddens, batch_size, num_steps):
    """birnn against nn.RNN(vocab_size, num_hiddens, bidirectional=True)."""
    sizes = dict(vocab_size=vocab_size, num_hiddens=num_hiddens,
                 batch_size=batch_size, num_steps=num_steps)
    _scratch_reference("test_birnn_matches_torch",
                       (get_params, init_state, rnn), sizes,
                       "both directions and final states match "
                       "nn.RNN(bidirectional=True)")


@one_thread()
def build_bidirectional_lstm_shapes(build, *, vocab_size, num_hiddens,
                                    num_layers, batch_size, num_steps):
    """Output and (H, C) shapes of the bidirectional LSTM d2l.RNNModel."""
    _model_shapes("test_build_bidirectional_lstm_shapes", build, vocab_size,
                  num_hiddens, num_layers, batch_size, num_steps)


@one_thread()
def build_bidirectional_lstm_params(build, *, vocab_size, num_hiddens,
                                    num_layers):
    """Trainable parameters of the bidirectional LSTM (closed form)."""
    _model_params("test_build_bidirectional_lstm_params", build, vocab_size,
                  num_hiddens, num_layers, num_directions=2)


@one_thread()
def build_bidirectional_lstm_device(build, *, vocab_size, num_hiddens,
                                    num_layers, device=None):
    """Every tensor of the bidirectional LSTM on ``device``."""
    _model_device("test_build_bidirectional_lstm_device", build, vocab_size,
                  num_hiddens, num_layers, device)


def build_bidirectional_lstm_perplexity(build):
    """Train a fresh bidirectional LSTM under the grader's recipe."""
    from autograder.student import perplexity
    return perplexity.run_test(
        build, kind="bidirectional",
        grade_id="test_build_bidirectional_lstm_perplexity",
        record=evidence.record)


@one_thread()
def leaks_future_causality(leaks_future):
    """Grade leaks_future on the kit's models, some never seen before."""
    gid = "test_leaks_future_causality"
    zoo = causality.draw_zoo(generator_for(gid, {}))
    ev = causality.collect(leaks_future, zoo)
    _finish(gid, ev, lambda e: causality.judge(e, zoo),
            f"right on all {len(zoo)} models "
            f"({sum(e['leaks'] for e in zoo)} of them leak the future)")


# ------------------------------------------------------------ model tests

def _model_shapes(gid, build, vocab_size, num_hiddens, num_layers,
                  batch_size, num_steps):
    sizes = dict(vocab_size=vocab_size, num_hiddens=num_hiddens,
                 num_layers=num_layers, batch_size=batch_size,
                 num_steps=num_steps)
    ev = shapes.collect_model(build, generator=generator_for(gid, sizes),
                              **sizes)
    _finish(gid, ev, JUDGES[gid],
            f"output and (H, C) have the right shapes ({sizes_text(sizes)})")


def _model_params(gid, build, vocab_size, num_hiddens, num_layers,
                  num_directions):
    ev = params.collect_model(build, vocab_size=vocab_size,
                              num_hiddens=num_hiddens, num_layers=num_layers)
    count = params.total(params.expected_model(
        vocab_size, num_hiddens, num_layers, num_directions))
    _finish(gid, ev, JUDGES[gid],
            f"{count:,} trainable parameters ({sizes_text(ev['sizes'])})")


def _model_device(gid, build, vocab_size, num_hiddens, num_layers, device):
    requested = None if device is None else str(device)
    target = d2l.try_gpu() if device is None else device
    sizes = dict(vocab_size=vocab_size, num_hiddens=num_hiddens,
                 num_layers=num_layers)
    ev = device_check.collect_model(build, device=target,
                                    generator=generator_for(gid, sizes),
                                    **sizes)
    ev["requested"] = requested
    _finish(gid, ev, JUDGES[gid],
            f"every parameter, buffer, state and output is on "
            f"{ev['expected']} ({sizes_text(sizes)})")
