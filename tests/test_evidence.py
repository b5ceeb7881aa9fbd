"""Tests of autograder/grader/evidence.py: plain data in, safe load out."""
from __future__ import annotations

import pytest
import torch

from autograder.grader import evidence

pytestmark = pytest.mark.usefixtures("one_thread")


class Payload:
    """An arbitrary object: weights_only loading must refuse it."""


def test_nothing_is_recorded_outside_grading(tmp_path, monkeypatch):
    """Does record() do nothing when AUTOGRADER_EVIDENCE_DIR is unset?"""
    monkeypatch.chdir(tmp_path)
    assert evidence.record("test_x", {"a": 1}) is None
    assert list(tmp_path.iterdir()) == []


def test_entries_are_appended_and_loaded(tmp_path, monkeypatch):
    """Are two calls of one test kept as two entries, tensors intact?"""
    monkeypatch.setenv("AUTOGRADER_EVIDENCE_DIR", str(tmp_path))
    evidence.record("test_x", {"t": torch.arange(3), "s": (1, "two")})
    evidence.record("test_x", {"t": None, "f": 1.5, "b": True})
    entries = evidence.load(tmp_path, "test_x")
    assert len(entries) == 2
    assert torch.equal(entries[0]["t"], torch.arange(3))
    assert entries[1] == {"t": None, "f": 1.5, "b": True}


def test_missing_evidence_loads_as_none(tmp_path):
    """Is a test that recorded nothing told apart from an empty record?"""
    assert evidence.load(tmp_path, "test_nothing") is None


@pytest.mark.parametrize("bad", [
    Payload(),
    torch.zeros(1, device="meta"),
    {1: "non-str key"},
])
def test_non_plain_data_is_refused(tmp_path, bad):
    """Are objects, meta tensors and odd keys refused at record time?"""
    with pytest.raises(evidence.BadEvidence):
        evidence.record("test_x", {"x": bad}, directory=tmp_path)


def test_tensor_subclass_is_refused(tmp_path, fakes):
    """Is a tensor subclass (which could carry code) refused?"""
    sub = torch.zeros(2).as_subclass(fakes.SubTensor)
    with pytest.raises(evidence.BadEvidence, match="not plain data"):
        evidence.record("test_x", [sub], directory=tmp_path)


def test_forged_pickle_is_not_loaded(tmp_path):
    """Does load() refuse a file holding an arbitrary pickled object?"""
    torch.save([Payload()], evidence.path_of(tmp_path, "test_x"))
    with pytest.raises(evidence.BadEvidence, match="cannot be loaded "
                       "safely"):
        evidence.load(tmp_path, "test_x")


def test_non_list_file_is_refused(tmp_path):
    """Is a file that is not a list of entries refused?"""
    torch.save({"a": 1}, evidence.path_of(tmp_path, "test_x"))
    with pytest.raises(evidence.BadEvidence, match="list of entries"):
        evidence.load(tmp_path, "test_x")
