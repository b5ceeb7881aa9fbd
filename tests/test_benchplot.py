"""Tests for autograder/perf/benchplot.py: the benchmark's figure."""
from __future__ import annotations

from autograder.perf import benchplot


def _loop(kind, h, d2l_ppl, kit_ppl, bounds=True):
    c = {"device": "cpu", "kind": kind, "num_hiddens": h, "speedup": 1.1,
         "d2l": {"tokens_per_s": 1000.0, "perplexities": d2l_ppl},
         "kit": {"tokens_per_s": 1100.0, "perplexities": kit_ppl}}
    if bounds:
        c["bounds"] = {"roofline_tokens_per_s": 1500.0}
    return c


E2E = {"batch": [{"workers": 1, "submissions": 4, "submissions_per_min": 2.2},
                 {"workers": 2, "submissions": 4, "submissions_per_min": 4.3}]}


def test_all_panels(tmp_path):
    """Loops and end-to-end data: three panels, one solid and one dashed
    line per loop, bars with the roofline, and the scaling curve."""
    report = {"machine": {"cpu": "test", "cores": 2}, "threads": 1,
              "loops": [_loop("deep", 8, [20, 18], [20, 18]),
                        _loop("bidirectional", 8, [22, 17], [22, 17])],
              "end_to_end": E2E}
    fig = benchplot.plot(report, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 0
    traj, bars, scaling = fig.axes
    assert len(traj.lines) == 4
    assert [t.get_text() for t in bars.get_legend().get_texts()] == [
        "target", "d2l", "kit", "roofline ceiling"]
    measured = scaling.lines[0]
    assert list(measured.get_ydata()) == [2.2, 4.3]
    assert list(scaling.lines[1].get_ydata()) == [2.2, 4.4]   # linear


def test_end_to_end_only(tmp_path):
    report = {"machine": {"cores": 2}, "loops": [], "end_to_end": E2E}
    fig = benchplot.plot(report, tmp_path / "e.png")
    assert len(fig.axes) == 1 and (tmp_path / "e.png").exists()


def test_nothing_to_draw(tmp_path):
    assert benchplot.plot({"loops": []}, tmp_path / "n.png") is None
    assert not (tmp_path / "n.png").exists()
