"""Tests for autograder/bench.py: CI smoke-runs the benchmark, tiny."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from autograder import bench

TINY = dict(epochs=1, num_hiddens=(4,), kinds=("deep",), devices=("cpu",),
            grading=False, quiet=True)


@pytest.fixture(autouse=True)
def _restore_threads():
    """bench.main sets torch's threads; keep the suite's as they were."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_smoke_run_writes_json(tmp_path):
    """Does a tiny benchmark run finish, agree, and write its JSON with
    tokens/s, the ratio, both trajectories and the tolerance?"""
    rc = bench.main(out=tmp_path / "r.json", **TINY)
    assert rc == 0
    report = json.loads((tmp_path / "r.json").read_text())
    (loop,) = report["loops"]
    assert loop["agree"] and loop["max_rel_diff"] <= loop["rtol"]
    assert loop["d2l"]["tokens"] == loop["kit"]["tokens"] == 8 * 32 * 35
    assert len(loop["d2l"]["perplexities"]) == len(
        loop["kit"]["perplexities"]) == 1
    assert loop["speedup"] > 0 and 0 < loop["kit_lstm_kernel_share"] < 1
    assert report["machine"]["cores"] >= 1


def test_disagreement_is_reported(tmp_path, monkeypatch):
    """Does the benchmark fail (exit 1) when the kit's loop does not follow
    d2l's numbers (here: it trains with half the learning rate)?"""
    real = bench.run_kit

    def wrong_lr(net, corpus, recipe, device):
        return real(net, corpus, dataclasses.replace(recipe,
                                                     lr=recipe.lr / 2),
                    device)

    monkeypatch.setattr(bench, "run_kit", wrong_lr)
    rc = bench.main(out=tmp_path / "r.json", **TINY)
    assert rc == 1
    (loop,) = json.loads((tmp_path / "r.json").read_text())["loops"]
    assert not loop["agree"]


def test_grading_times_both_models(monkeypatch):
    """Does the grading part time both perplexity checks and judge them?"""
    from autograder import perplexity
    from autograder.config import GRADING_CPU

    tiny = dataclasses.replace(GRADING_CPU, num_hiddens=4, epochs_deep=1,
                               epochs_bidirectional=1, max_perplexity_deep=99,
                               max_perplexity_bidirectional=99)
    monkeypatch.setattr(perplexity, "grading_budget", lambda _: tiny)
    monkeypatch.setattr(bench, "grading_budget", lambda _: tiny)
    got = bench.grading_times("cpu", seed=0)
    assert set(got) == {"deep", "bidirectional", "total_seconds"}
    assert got["deep"]["epochs"] == 1
    assert "perplexity" in got["bidirectional"]["verdict"]
