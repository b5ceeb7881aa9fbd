"""Tests of autograder/student/trust.py and plain.py: what a student's
object is, never what it claims (records are made by plain.dump)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from autograder.student import trust

R = trust.record  # what the checks see of an object

pytestmark = pytest.mark.usefixtures("one_thread")


def test_real_tensor_shape_is_read():
    """Is a real tensor's shape read as a tuple of ints?"""
    assert trust.shape_of(R(torch.zeros(2, 3)), "X") == (2, 3)
    assert trust.shape_of(R(nn.Parameter(torch.zeros(4))), "W") == (4,)


def test_always_equal_object_is_not_a_tensor(fakes):
    """Is an object that equals everything and claims a shape rejected?"""
    fake = fakes.AlwaysEqual((2, 3))
    got = trust.shape_of(R(fake), "output")
    assert isinstance(got, str)
    assert got.startswith("output: got") and "expected torch.Tensor" in got


def test_tensor_subclass_is_rejected(fakes):
    """Is a torch.Tensor subclass rejected with a message that says so?"""
    sub = torch.zeros(2).as_subclass(fakes.SubTensor)
    got = trust.shape_of(R(sub), "state[0]")
    assert "torch.Tensor subclass" in got


def test_device_is_read_only_from_real_tensors(fakes):
    """Does device_of report a real device and reject a fake one?"""
    assert trust.device_of(R(torch.zeros(1, device="meta")), "X") == "meta"
    assert trust.is_reason(trust.device_of(R(fakes.AlwaysEqual()), "X"), "X")


def test_values_are_detached_copies_and_meta_has_none():
    """Are a tensor's values a detached CPU copy, and does a meta tensor
    say it holds none?"""
    x = torch.ones(2, requires_grad=True)
    y = trust.tensor_values(R(x), "x")
    assert type(y) is torch.Tensor and not y.requires_grad
    y += 1
    assert float(x.detach().sum()) == 2.0
    assert isinstance(trust.tensor_values(R(torch.zeros(1, device="meta")), "m"), str)


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

    names = [n for n, _ in trust.named_tensors(R(Hiding()), "parameters")]
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
    assert trust.shape_of(R(x), "x") == (2, 3)


def test_forged_class_is_not_a_module(fakes):
    """Is an object claiming __class__ = nn.Module still rejected?"""

    class Liar(fakes.AlwaysEqual):
        @property
        def __class__(self):
            return nn.Module

    liar = Liar()
    assert isinstance(liar, nn.Module)  # what a naive check would believe
    assert "expected an nn.Module" in trust.module_reason(R(liar), "model")


def test_metaclass_equal_to_everything_is_not_a_tensor():
    """Is a class whose metaclass equals every type rejected?"""

    class Meta(type):
        def __eq__(cls, other):
            return True

        __hash__ = type.__hash__

    class Liar(metaclass=Meta):
        shape = (2, 3)

    assert type(Liar()) == torch.Tensor  # what `type(x) in (...)` believes
    assert isinstance(trust.shape_of(R(Liar()), "X"), str)
    assert isinstance(trust.sequence(R(Liar()), "state"), str)


def test_student_frames_skip_the_checks_own():
    """Does a StudentError keep the student's frames, not the kit's?"""

    def students_function(x):
        return 1 / x

    with pytest.raises(trust.StudentError) as info:
        trust.call("calling students_function(0)", students_function, 0)
    names = [f[2] for f in info.value.frames]
    assert names == ["students_function"]
    assert "ZeroDivisionError" in str(info.value)


def test_records_are_plain_data(fakes):
    """Does dump give only plain data (what the wire carries), whatever the
    object, and does load give it back as records?"""
    from autograder.sandbox.box import wire
    from autograder.student import plain

    model = fakes.AnyShapeModel(5, 3, 2)
    for x in (model, (torch.zeros(2), [fakes.AlwaysEqual()]), "s" * 10**5,
              list(range(5000))):
        node = plain.dump(x)
        header, body = wire.encode(node)[16:], b""
        assert plain.load(node) is not None and header
    assert type(plain.load(plain.dump(model))) is plain.Module
    assert len(plain.dump("s" * 10**5)) == plain.MAX_STR
    assert plain.dump(list(range(5000)))["truncated"] == 5000
