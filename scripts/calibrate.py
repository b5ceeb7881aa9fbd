"""Calibrate the perplexity check's thresholds.

Trains, under the grader's budget (``autograder.config.GradingBudget``), the
reference models (the book's own code) over several seeds, and the known-bad
models that the check must reject (frozen LSTM weights; input ignored). Then
puts each kind's threshold halfway, in log space, between the worst
reference seed and the best bad model, and writes everything to
``scripts/calibration.json``: command, machine, torch version, per-seed
numbers, spread and the chosen thresholds. Copy the thresholds into
``GradingBudget`` in ``autograder/config.py``.

Usage::

    .venv/bin/python scripts/calibrate.py [--seeds 5] [--device cpu]
        [--out scripts/calibration.json]

The perplexity reported per run is the one the grader judges: recomputed by
``perplexity.judge``'s trusted path (d2l.RNNModel rebuilt, trained weights
loaded). For a model the judge cannot rebuild (a subclass), the perplexity of
the student's own forward, measured in the kernel, is reported instead.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from d2l import torch as d2l

from autograder import data
from autograder.perf import bench
from autograder.student import perplexity
from autograder.config import grading_budget
from autograder.student.errors import CheckFailed

OUT = Path(__file__).resolve().parent / "calibration.json"


# ------------------------------------------------------------------ models
# The reference: the book's own concise code (d2l 0.17.6, sections 9.3/9.4).

def book_deep_lstm(num_inputs, num_hiddens, num_layers, device):
    lstm_layer = nn.LSTM(num_inputs, num_hiddens, num_layers)
    return d2l.RNNModel(lstm_layer, num_inputs).to(device)


def book_bidirectional_lstm(num_inputs, num_hiddens, num_layers, device):
    lstm_layer = nn.LSTM(num_inputs, num_hiddens, num_layers,
                         bidirectional=True)
    return d2l.RNNModel(lstm_layer, num_inputs).to(device)


REFERENCE = {"deep": book_deep_lstm,
             "bidirectional": book_bidirectional_lstm}


def frozen(build):
    """Known-bad: the LSTM's weights never train (only the output layer)."""
    def build_frozen(vocab_size, num_hiddens, num_layers, device):
        net = build(vocab_size, num_hiddens, num_layers, device)
        net.rnn.requires_grad_(False)
        return net
    return build_frozen


def input_ignored(build):
    """Known-bad, exact d2l.RNNModel: W_ih of layer 1 zero and frozen."""
    def build_deaf(vocab_size, num_hiddens, num_layers, device):
        net = build(vocab_size, num_hiddens, num_layers, device)
        for name, p in net.rnn.named_parameters():
            if name.startswith("weight_ih_l0"):      # both directions
                p.detach().zero_()
                p.requires_grad_(False)
        return net
    return build_deaf


class ZeroInputModel(d2l.RNNModel):
    """Known-bad subclass: zeroes its input before the book's forward."""

    def forward(self, inputs, state):
        return super().forward(torch.zeros_like(inputs), state)


def input_zeroed(build):
    """Known-bad: a d2l.RNNModel subclass that zeroes its input tokens."""
    def build_zeroed(vocab_size, num_hiddens, num_layers, device):
        net = build(vocab_size, num_hiddens, num_layers, device)
        return ZeroInputModel(net.rnn, vocab_size).to(device)
    return build_zeroed


def unidirectional(vocab_size, num_hiddens, num_layers, device):
    """Bad for the bidirectional kind: the deep (one-direction) LSTM."""
    return book_deep_lstm(vocab_size, num_hiddens, num_layers, device)


def bad_models(kind: str) -> dict:
    """The known-bad builds for ``kind`` (name -> build)."""
    ref = REFERENCE[kind]
    bad = {"frozen_lstm": frozen(ref), "input_ignored": input_ignored(ref),
           "input_zeroed_subclass": input_zeroed(ref)}
    if kind == "bidirectional":
        bad["unidirectional"] = unidirectional
    return bad


# ----------------------------------------------------------------- running

def graded_perplexity(entry: dict, kind: str, budget) -> tuple[float, str]:
    """The perplexity the judge computes, and where it came from."""
    if entry.get("error"):
        return math.nan, f"error: {entry['error']}"
    try:
        net = perplexity.rebuild(entry["spec"], kind, budget)
    except CheckFailed:
        return float(entry["perplexity"]), "student forward (not rebuilt)"
    perplexity.load_weights(net, entry["state_dict"])
    corpus, _ = perplexity.corpus_and_vocab()
    ppl = perplexity.evaluate(net.eval(), corpus, device="cpu",
                              batch_size=budget.batch_size,
                              num_steps=budget.num_steps)
    return ppl, "recomputed from trained weights"


def run(build, kind: str, seed: int, budget, device) -> dict:
    """Train one model under the budget with ``seed``; return its numbers."""
    b = dataclasses.replace(budget, seed=seed)
    start = time.perf_counter()
    entry = perplexity.collect(build, kind=kind, device=device, budget=b)
    seconds = time.perf_counter() - start
    ppl, source = graded_perplexity(entry, kind, b)
    return {"seed": seed, "perplexity": ppl, "source": source,
            "train_curve": entry.get("perplexities"),
            "train_seconds": entry.get("train_seconds"),
            "seconds": seconds, "sample": (entry.get("samples") or [""])[0]}


def spread(values: list[float]) -> dict:
    """min, max, mean and standard deviation."""
    return {"min": min(values), "max": max(values),
            "mean": statistics.fmean(values),
            "stdev": statistics.stdev(values) if len(values) > 1 else 0.0}


def threshold(good_max: float, bad_min: float) -> float:
    """Halfway in log space between the worst good and best bad model."""
    if not good_max < bad_min:
        raise SystemExit(f"no separation: worst reference {good_max:.2f} >= "
                         f"best bad model {bad_min:.2f}")
    return round(math.sqrt(good_max * bad_min), 2)


def calibrate_kind(kind: str, seeds: list[int], budget, device) -> dict:
    """All runs of one kind and the threshold they give."""
    good = [run(REFERENCE[kind], kind, s, budget, device) for s in seeds]
    for g in good:
        print(f"{kind:13s} reference   seed {g['seed']}: "
              f"{g['perplexity']:.3f} ({g['seconds']:.1f} s)", flush=True)
    bad = {}
    for name, build in bad_models(kind).items():
        bad[name] = [run(build, kind, s, budget, device) for s in seeds[:2]]
        print(f"{kind:13s} {name:22s}: "
              f"{[round(b['perplexity'], 2) for b in bad[name]]}", flush=True)
    good_ppl = [g["perplexity"] for g in good]
    threshold_of = [b["perplexity"] for name, runs in bad.items()
                    for b in runs if name != "unidirectional"]
    limit = threshold(max(good_ppl), min(threshold_of))
    return {"reference": good, "reference_spread": spread(good_ppl),
            "bad": bad, "best_bad_model": min(threshold_of),
            "threshold": limit,
            "margin_factor": round(min(threshold_of) / max(good_ppl), 2)}


def machine() -> dict:
    """A description of the machine the calibration ran on."""
    return {**bench.machine(), "d2l": importlib.metadata.version("d2l")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    data.export_env()
    budget = grading_budget(perplexity.device_class(args.device))
    seeds = list(range(args.seeds))
    start = time.perf_counter()
    kinds = {k: calibrate_kind(k, seeds, budget, args.device)
             for k in perplexity.KINDS}
    report = {
        "command": " ".join([".venv/bin/python", "scripts/calibrate.py",
                             *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "machine": machine(), "device": args.device,
        "budget": dataclasses.asdict(budget), "seeds": seeds,
        "kinds": kinds, "seconds": round(time.perf_counter() - start, 1),
        "note": ("thresholds are halfway in log space between the worst "
                 "reference seed and the best known-bad model; the CPU was "
                 "shared with other jobs, so seconds are noisy"),
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for kind, k in kinds.items():
        print(f"{kind}: reference {k['reference_spread']['min']:.2f}.."
              f"{k['reference_spread']['max']:.2f}, best bad "
              f"{k['best_bad_model']:.2f} -> max_perplexity_{kind} = "
              f"{k['threshold']} (margin x{k['margin_factor']})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
