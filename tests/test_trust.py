"""Tests of autograder/student/trust.py: exact types before values."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from autograder.student import trust

pytestmark = pytest.mark.usefixtures("one_thread")


def test_real_tensor_shape_is_read():
    """Is a real tensor's shape read as a tuple of ints?"""
    assert trust.shape_of(torch.zeros(2, 3), "X") == (2, 3)
    assert trust.shape_of(nn.Parameter(torch.zeros(4)), "W") == (4,)


def test_always_equal_object_is_not_a_tensor(fakes):
    """Is an object that equals everything and claims a shape rejected?"""
    fake = fakes.AlwaysEqual((2, 3))
    got = trust.shape_of(fake, "output")
    assert isinstance(got, str)
    assert got.startswith("output: got") and "expected torch.Tensor" in got


def test_tensor_subclass_is_rejected(fakes):
    """Is a torch.Tensor subclass rejected with a message that says so?"""
    sub = torch.zeros(2).as_subclass(fakes.SubTensor)
    got = trust.shape_of(sub, "state[0]")
    assert "torch.Tensor subclass" in got


def test_device_is_read_only_from_real_tensors(fakes):
    """Does device_of report a real device and reject a fake one?"""
    assert trust.device_of(torch.zeros(1, device="meta"), "X") == "meta"
    assert trust.is_reason(trust.device_of(fakes.AlwaysEqual(), "X"), "X")


def test_plain_copies_detach_and_refuse_meta():
    """Does plain() give a detached CPU copy, and refuse meta tensors?"""
    x = torch.ones(2, requires_grad=True)
    y = trust.plain(x, "x")
    assert type(y) is torch.Tensor and not y.requires_grad
    y += 1
    assert float(x.detach().sum()) == 2.0
    assert isinstance(trust.plain(torch.zeros(1, device="meta"), "m"), str)


def test_as_bool_accepts_bools_only(fakes):
    """Are True/False, bool tensors and numpy bools accepted, others not?"""
    assert trust.as_bool(True) is True
    assert trust.as_bool(torch.tensor(False)) is False
    assert trust.as_bool(np.bool_(True)) is True
    assert isinstance(trust.as_bool(fakes.AlwaysEqual()), str)
    assert isinstance(trust.as_bool(1), str)


def test_named_tensors_ignore_overridden_parameters():
    """Does a module that hides its parameters() still show them?"""

    class Hiding(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(3))

        def named_parameters(self, *args, **kwargs):
            return iter(())

    names = [n for n, _ in trust.named_tensors(Hiding(), "parameters")]
    assert names == ["w"]


def test_call_reports_student_errors():
    """Does a student exception become a message naming the call?"""

    def broken(x):
        return [][x]

    with pytest.raises(trust.StudentError, match=r"calling f\(1\) raised "
                       r"IndexError.*line"):
        trust.call("calling f(1)", broken, 1)
    with pytest.raises(trust.StudentError, match="cannot be called"):
        trust.call("calling f", None)


def test_patched_tensor_shape_is_not_believed(monkeypatch):
    """Does patching torch.Tensor.shape/size leave the shape read intact?"""
    x = torch.zeros(2, 3)
    monkeypatch.setattr(torch.Tensor, "shape", property(lambda s: (9, 9)))
    monkeypatch.setattr(torch.Tensor, "size", lambda s, *d: (9, 9))
    assert trust.shape_of(x, "x") == (2, 3)


def test_forged_class_is_not_a_module(fakes):
    """Is an object claiming __class__ = nn.Module still rejected?"""

    class Liar(fakes.AlwaysEqual):
        @property
        def __class__(self):
            return nn.Module

    liar = Liar()
    assert isinstance(liar, nn.Module)  # what a naive check would believe
    assert "expected an nn.Module" in trust.module_reason(liar, "model")


def test_metaclass_equal_to_everything_is_not_a_tensor():
    """Is a class whose metaclass equals every type rejected?"""

    class Meta(type):
        def __eq__(cls, other):
            return True

        __hash__ = type.__hash__

    class Liar(metaclass=Meta):
        shape = (2, 3)

    assert type(Liar()) == torch.Tensor  # what `type(x) in (...)` believes
    assert isinstance(trust.shape_of(Liar(), "X"), str)
    assert isinstance(trust.sequence(Liar(), "state"), str)
