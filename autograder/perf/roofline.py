"""How fast could any trainer of the same arithmetic run on this machine?

The benchmark compares the kit's loop with d2l's. This module gives the
bound that comparison lives under, as a roofline:

* :func:`flops_per_token` counts the fp32 floating-point operations of the
  matrix products in one training step of the book's model
  (``d2l.RNNModel`` around ``nn.LSTM``), per target token. It leaves out all
  elementwise work (gate nonlinearities, loss, clipping, optimizer), so it
  is a *lower* bound on the work of a step.
* :func:`peak_gflops` measures the best fp32 matrix-product throughput
  ``torch.matmul`` reaches on this machine with the given threads, over the
  shapes an LSTM step uses, including a large square one that runs closer
  to the hardware's peak than any of the step's own products.
* :func:`ceiling` divides the two: the tokens/s that a trainer doing the same
  arithmetic could reach if every product ran at that peak and everything
  else were free. Its ratio to d2l's tokens/s is the largest speedup over
  d2l that any loop, kernel or fusion keeping the numerics can reach here.

A speedup target above that ratio cannot be met without changing the
arithmetic (lower precision, a smaller model, fewer epochs), which the
benchmark's "same numerics" rule rules out.
"""
from __future__ import annotations

import time

import torch

# Gates of an LSTM cell: input, forget, cell candidate, output.
LSTM_GATES = 4


def flops_per_token(vocab_size: int, num_hiddens: int, num_layers: int,
                    bidirectional: bool) -> dict:
    """FLOPs of one training step's matrix products, per target token.

    Per layer and direction the forward pass multiplies the layer's input
    (``vocab_size`` one-hot features for the first layer, ``num_hiddens``
    times the number of directions above it) and the previous hidden state
    by the stacked gate weights (``4 * num_hiddens`` rows); the output layer
    multiplies the last layer's hidden state by ``vocab_size`` rows. The
    backward pass computes a weight gradient for every product (as much
    work as the forward) and an input gradient for every product except the
    first layer's input projection (its one-hot input needs none).

    Returns:
        {"forward", "backward", "total"} in FLOPs (2 per multiply-add).
    """
    if min(vocab_size, num_hiddens, num_layers) < 1:
        raise ValueError(
            f"got vocab_size={vocab_size}, num_hiddens={num_hiddens}, "
            f"num_layers={num_layers}; expected positive sizes")
    directions = 2 if bidirectional else 1
    gates = LSTM_GATES * num_hiddens
    first_input = 0                      # the first layer's input products
    macs = 0
    for layer in range(num_layers):
        inputs = vocab_size if layer == 0 else directions * num_hiddens
        per_direction = gates * (inputs + num_hiddens)
        macs += directions * per_direction
        if layer == 0:
            first_input = directions * gates * inputs
    macs += vocab_size * directions * num_hiddens          # output layer
    forward = 2 * macs
    backward = 2 * forward - 2 * first_input
    return {"forward": forward, "backward": backward,
            "total": forward + backward}


def lstm_shapes(vocab_size: int, num_hiddens: int, batch_size: int,
                num_steps: int) -> list[tuple[int, int, int]]:
    """The (m, k, n) matrix products a step of the book's model is made of,
    plus a large square one as the machine's best case."""
    gates = LSTM_GATES * num_hiddens
    return [
        (batch_size, num_hiddens, gates),                # recurrent, per step
        (batch_size * num_steps, num_hiddens, gates),    # input, all steps
        (batch_size * num_steps, num_hiddens, vocab_size),   # output layer
        (1024, 1024, 1024),                              # best case
    ]


def peak_gflops(shapes, *, threads: int | None = None,
                seconds: float = 0.3) -> dict:
    """Best measured fp32 ``torch.matmul`` throughput over ``shapes``.

    Each shape runs for about ``seconds`` after a warm-up; the fastest of
    several timed chunks counts (other jobs on a shared machine only ever
    slow a chunk down).

    Args:
        shapes: (m, k, n) products, as :func:`lstm_shapes` gives.
        threads: torch threads while measuring (default: as set).

    Returns:
        {"gflops": best over shapes, "threads": n,
         "by_shape": {"m x k x n": gflops}}.
    """
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        by_shape = {f"{m} x {k} x {n}": _matmul_gflops(m, k, n, seconds)
                    for m, k, n in shapes}
        return {"gflops": max(by_shape.values()),
                "threads": torch.get_num_threads(), "by_shape": by_shape}
    finally:
        torch.set_num_threads(before)


def _matmul_gflops(m: int, k: int, n: int, seconds: float) -> float:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=gen)
    b = torch.randn(k, n, generator=gen)
    out = torch.empty(m, n)
    for _ in range(3):
        torch.matmul(a, b, out=out)
    # Calls per chunk: enough that one chunk takes ~seconds / 5.
    start = time.perf_counter()
    torch.matmul(a, b, out=out)
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(1, int(seconds / 5 / once))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            torch.matmul(a, b, out=out)
        best = min(best, (time.perf_counter() - start) / calls)
    return float(f"{2 * m * k * n / best / 1e9:.3g}")   # 3 significant digits


def ceiling(flops: float, peak: float, tokens_per_s: float) -> dict:
    """Where a measured loop stands under the roofline.

    Args:
        flops: FLOPs per token (:func:`flops_per_token`'s "total").
        peak: the machine's measured GFLOPS (:func:`peak_gflops`).
        tokens_per_s: the loop's measured tokens/s (d2l's, in the bench).

    Returns:
        roofline_tokens_per_s: tokens/s if every product ran at ``peak``
            and nothing else cost time;
        achieved_gflops: what the loop's products ran at;
        efficiency: achieved / peak;
        max_speedup: roofline / measured, the most any trainer of the same
            arithmetic can gain over this loop on this machine.
    """
    if flops <= 0 or peak <= 0 or tokens_per_s <= 0:
        raise ValueError(
            f"got flops={flops}, peak={peak}, tokens_per_s={tokens_per_s}; "
            "expected positive numbers")
    roof = peak * 1e9 / flops
    achieved = tokens_per_s * flops / 1e9
    return {"roofline_tokens_per_s": round(roof, 1),
            "achieved_gflops": round(achieved, 1),
            "efficiency": round(achieved / peak, 3),
            "max_speedup": round(roof / tokens_per_s, 2)}
