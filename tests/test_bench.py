"""Tests for autograder/perf/bench.py: CI smoke-runs the benchmark, tiny."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from autograder.perf import bench

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
    from autograder.student import perplexity
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


def test_cpu_bounds_in_report(tmp_path):
    """Does a CPU run record the machine's matmul peak and, per loop, both
    ceilings: 1/(d2l's LSTM share) for a leaner loop and the roofline's?"""
    rc = bench.main(out=tmp_path / "r.json", **TINY)
    assert rc == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["cpu_peak"]["gflops"] > 0
    (loop,) = report["loops"]
    b = loop["bounds"]
    assert b["peak_gflops"] == report["cpu_peak"]["gflops"]
    assert b["max_speedup_loop"] == pytest.approx(
        1 / b["d2l_lstm_kernel_share"], rel=0.01)
    assert b["max_speedup"] == pytest.approx(
        b["roofline_tokens_per_s"] / loop["d2l"]["tokens_per_s"], rel=0.01)
    assert (tmp_path / "r.png").stat().st_size > 0


def test_cores_busy_arithmetic():
    """Half the machine's jiffies busy on 2 cores is 1 core busy."""
    assert bench.cores_busy((100, 1000), (600, 2000), 2) == 1.0
    assert bench.cores_busy(None, (600, 2000), 2) is None
    assert bench.cores_busy((100, 1000), (100, 1000), 2) is None


def test_machine_busy_counts_work():
    """Does spinning one core for a moment show up as busy jiffies?"""
    import time

    before = bench.machine_busy()
    if before is None:
        pytest.skip("no /proc/stat on this machine")
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:
        pass
    after = bench.machine_busy()
    assert after[0] > before[0] and after[1] > before[1]
    assert bench.cores_busy(before, after, 1) > 0


def test_end_to_end_curve(monkeypatch):
    """Does the end-to-end part time one submission and each worker count,
    and compute each point's speedup over one worker? (Grading is faked:
    W workers take 0.4 / W seconds.)"""
    import time

    from autograder.release import examples
    from autograder.grader import grade
    from autograder.grader import grade_all

    monkeypatch.setattr(examples, "build", lambda root, names: {
        "solution": (root / "solution").mkdir(parents=True) or
        root / "solution"})
    monkeypatch.setattr(grade, "main", lambda *a, **k: time.sleep(0.1) or 0)

    def fake_batch(directory, *, workers, **kwargs):
        assert len(list(directory.iterdir())) == 3
        time.sleep(0.4 / workers)
        return 0

    monkeypatch.setattr(grade_all, "main", fake_batch)
    got = bench.end_to_end(submissions=3, workers=(1, 2), sandbox=False)
    assert got["one_submission"]["rc"] == 0
    assert got["one_submission"]["seconds"] >= 0.1
    one, two = got["batch"]
    assert (one["workers"], two["workers"]) == (1, 2)
    assert one["speedup"] == 1.0
    assert two["speedup"] == pytest.approx(2.0, rel=0.25)
    assert two["submissions_per_min"] > one["submissions_per_min"]


def _fake_results(out, task_s):
    """results.json files as a cluster run writes them (one per task)."""
    for i, seconds in enumerate(task_s):
        path = out / f"s{i}" / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(
            {"extra_data": {"worker": {"address": "tcp://w", "task_s":
                                       seconds}}}))


def test_cluster_point_ratio_and_overhead(tmp_path):
    """Does a cluster point give its throughput as a ratio to local grading
    with as many workers, and the worker time not spent in tasks per
    submission?"""
    _fake_results(tmp_path, [20.0, 22.0, 18.0, 20.0])
    local = [{"workers": 1, "seconds": 90.0}, {"workers": 2, "seconds": 45.0}]
    got = bench._dask_point(tmp_path, rc=0, seconds=50.0, threads=2,
                            start_s=7.0, local=local)
    assert got["workers"] == 2 and got["submissions"] == 4
    assert got["ratio_to_local"] == pytest.approx(45.0 / 50.0)
    assert got["task_s_mean"] == 20.0
    # 2 workers x 50 s = 100 s of worker time, 80 s of it in tasks
    assert got["overhead_per_submission_s"] == pytest.approx(5.0)
    assert got["submissions_per_min"] == pytest.approx(4.8)
    assert got["extra_per_submission_s"] == pytest.approx((50 - 45) / 4)
    alone = bench._dask_point(tmp_path, rc=0, seconds=50.0, threads=3,
                              start_s=7.0, local=local)
    assert alone["ratio_to_local"] is None   # no local run with 3 workers


def test_cluster_mode_grades_once_per_worker_count(tmp_path, monkeypatch):
    """Does ``cluster="local"`` grade the batch through a scheduler with
    each worker count, and an address once with the workers it has?
    (Dask and grading are faked.)"""
    import contextlib

    from autograder.grader import grade_all

    calls = []

    @contextlib.contextmanager
    def fake_dask(cluster, workers, sandbox):
        yield f"tcp://{cluster}-{workers}", workers or 3, 1.0

    def fake_main(batch, *, cluster, out_dir, **kwargs):
        calls.append(cluster)
        _fake_results(out_dir, [1.0, 1.0])
        return 0

    monkeypatch.setattr(bench, "_dask", fake_dask)
    monkeypatch.setattr(grade_all, "main", fake_main)
    local = [{"workers": 1, "seconds": 4.0}, {"workers": 2, "seconds": 2.0}]
    points = bench.through_dask(tmp_path / "batch", tmp_path, cluster="local",
                                workers=(1, 2), sandbox=False, local=local)
    assert calls == ["tcp://local-1", "tcp://local-2"]
    assert [p["workers"] for p in points] == [1, 2]
    assert all(p["rc"] == 0 and p["submissions"] == 2 for p in points)
    points = bench.through_dask(tmp_path / "batch", tmp_path / "a",
                                cluster="sched:8786", workers=(1, 2),
                                sandbox=False, local=local)
    assert calls[-1] == "tcp://sched:8786-None"
    assert [p["workers"] for p in points] == [3]


def test_cluster_points_follow_each_local_point(monkeypatch):
    """With ``cluster="local"``, is each worker count graded through Dask
    right after its local run, so that both see the same load on a shared
    machine? (Grading and Dask are faked.)"""
    import contextlib
    import time

    from autograder.release import examples
    from autograder.grader import grade
    from autograder.grader import grade_all

    order = []
    monkeypatch.setattr(examples, "build", lambda root, names: {
        "solution": (root / "solution").mkdir(parents=True) or
        root / "solution"})
    monkeypatch.setattr(grade, "main", lambda *a, **k: 0)

    @contextlib.contextmanager
    def fake_dask(cluster, workers, sandbox):
        yield f"tcp://w{workers}", workers, 0.0

    def fake_main(directory, *, workers=None, cluster=None, out_dir=None,
                  **kwargs):
        order.append(cluster or f"local{workers}")
        time.sleep(0.02)  # seconds are rounded to 0.01
        if cluster:
            _fake_results(out_dir, [0.1, 0.1])
        return 0

    monkeypatch.setattr(bench, "_dask", fake_dask)
    monkeypatch.setattr(grade_all, "main", fake_main)
    got = bench.end_to_end(submissions=2, workers=(1, 2), sandbox=False,
                           cluster="local")
    assert order == ["local1", "tcp://w1", "local2", "tcp://w2"]
    assert [p["workers"] for p in got["cluster"]] == [1, 2]
    assert all(p["ratio_to_local"] is not None for p in got["cluster"])
