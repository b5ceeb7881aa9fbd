"""Tests for autograder/perf/roofline.py: the ceiling on any trainer's speed."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from autograder.perf import roofline


def _macs_by_hand(V, h, L, directions):
    """The forward multiply-adds, counted from nn.LSTM's own weights."""
    lstm = nn.LSTM(V, h, L, bidirectional=directions == 2)
    macs = sum(w.numel() for name, w in lstm.named_parameters()
               if name.startswith("weight_"))     # one MAC per weight/token
    return macs + V * directions * h               # d2l.RNNModel's Linear


@pytest.mark.parametrize("V,h,L,bidirectional", [
    (28, 256, 2, False), (28, 256, 2, True), (28, 32, 1, False),
    (5, 7, 3, True)])
def test_forward_matches_the_weights(V, h, L, bidirectional):
    """Is the forward count 2 FLOPs per weight of the LSTM and output layer
    (each weight is used once per token)?"""
    got = roofline.flops_per_token(V, h, L, bidirectional)
    assert got["forward"] == 2 * _macs_by_hand(V, h, L,
                                               2 if bidirectional else 1)


def test_book_deep_lstm_numbers():
    """The book's deep LSTM (V=28, h=256, 2 layers): forward 1,644,544
    FLOPs per token; backward twice that, less the first layer's input
    gradient (1024 * 28 multiply-adds, 2 FLOPs each)."""
    got = roofline.flops_per_token(28, 256, 2, False)
    assert got["forward"] == 1_644_544
    assert got["backward"] == 2 * 1_644_544 - 2 * 1024 * 28
    assert got["total"] == got["forward"] + got["backward"]


def test_bidirectional_costs_more_than_twice_deep():
    """The second bidirectional layer reads both directions (2h inputs),
    so the bidirectional step costs more than twice the deep one."""
    deep = roofline.flops_per_token(28, 256, 2, False)["total"]
    bidi = roofline.flops_per_token(28, 256, 2, True)["total"]
    assert bidi > 2 * deep


@pytest.mark.parametrize("bad", [(0, 256, 2), (28, 0, 2), (28, 256, 0)])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError, match="expected positive sizes"):
        roofline.flops_per_token(*bad, False)


def test_ceiling_arithmetic():
    """1e6 FLOPs per token at 100 GFLOPS is 1e5 tokens/s; a loop at 25,000
    tokens/s runs its products at 25 GFLOPS and can gain at most x4."""
    got = roofline.ceiling(1e6, 100.0, 25_000)
    assert got == {"roofline_tokens_per_s": 100_000.0,
                   "achieved_gflops": 25.0, "efficiency": 0.25,
                   "max_speedup": 4.0}


def test_ceiling_refuses_nonsense():
    with pytest.raises(ValueError, match="expected positive numbers"):
        roofline.ceiling(1e6, 100.0, 0)


def test_shapes_are_the_lstm_products():
    shapes = roofline.lstm_shapes(28, 256, 32, 35)
    assert (32, 256, 1024) in shapes            # recurrent, one step
    assert (1120, 256, 1024) in shapes          # input, all steps at once


def test_peak_is_measured_and_threads_restored():
    """Does the peak come from timing real products (a larger product
    reaches more GFLOPS than a tiny one) and leave torch's threads as
    they were?"""
    before = torch.get_num_threads()
    got = roofline.peak_gflops([(8, 8, 8), (256, 256, 256)], threads=1,
                               seconds=0.05)
    assert torch.get_num_threads() == before
    assert got["threads"] == 1
    tiny, big = got["by_shape"]["8 x 8 x 8"], got["by_shape"]["256 x 256 x 256"]
    assert 0 < tiny < big == got["gflops"]
