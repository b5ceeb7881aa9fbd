"""Calling student code, and reading what it returned, without trusting it.

Two halves:

* Calling: :func:`call` runs a student's function and turns any exception
  into a :class:`StudentError` whose message names the function in the
  book's words and whose ``frames`` are the student's own (not the kit's,
  not torch's).
* Reading: what a student's function returned is first described by
  :func:`autograder.student.plain.dump` and read back as records
  (:mod:`.plain`). The helpers here read those records: a shape, a device,
  the items of a tuple. A record is what the object *is* (its exact type,
  the values torch itself holds), never what it claims to be, so an object
  whose ``__eq__`` is always True, whose ``.shape`` says anything, or that
  subclasses ``torch.Tensor`` to lie, is reported as what it is.
"""
from __future__ import annotations

import os
import sys
import traceback

import torch

from . import plain
from .plain import Module, Opaque, Tensor, type_name  # noqa: F401

# Frames from these folders are not the student's: the kit's own checks,
# the grading worker beside them in the box (``agbox``), Python's standard
# library and the installed packages (torch, d2l).
_HERE = os.path.dirname(os.path.abspath(__file__))
_NOT_STUDENT = tuple(os.path.realpath(p) + os.sep for p in {
    _HERE, os.path.join(os.path.dirname(_HERE), "agbox"), sys.prefix,
    sys.base_prefix, sys.exec_prefix})
# Lines of the student's own traceback kept in a message.
MAX_FRAMES = 6


# ----------------------------------------------------------------- calling

class StudentError(Exception):
    """Student code raised; the message says where, in the book's words.

    Attributes:
        frames: the student's own frames of the traceback, as
            ``(file, line number, function, source line)``, innermost last.
    """

    def __init__(self, message: str, frames=()):
        super().__init__(message)
        self.frames = tuple(frames)


def student_frames(tb) -> list[tuple]:
    """The frames of a traceback that are the student's own code."""
    frames = []
    for f in traceback.extract_tb(tb):
        path = os.path.realpath(f.filename) if not f.filename.startswith(
            "<") else f.filename
        if path.startswith(_NOT_STUDENT):
            continue
        frames.append((f.filename, f.lineno, f.name, (f.line or "").strip()))
    return frames[-MAX_FRAMES:]


def error_text(exc: BaseException) -> str:
    """``'Name: message (line N: source)'``, the line from the student's
    innermost frame when there is one."""
    text = type(exc).__name__ + (f": {exc}" if str(exc) else "")
    frames = student_frames(exc.__traceback__) or [
        (f.filename, f.lineno, f.name, (f.line or "").strip())
        for f in traceback.extract_tb(exc.__traceback__)[-1:]]
    if frames:
        _, lineno, _, line = frames[-1]
        text += f" (line {lineno}: {line})"
    return text


def call(stage: str, fn, *args, **kwargs):
    """Call student code, turning any exception into a :class:`StudentError`.

    Args:
        stage: what was being done, in the book's words, naming the
            student's function: ``"calling deep_rnn(inputs, state,
            params)"``; it starts the message.
        fn: the student's function.

    Raises:
        StudentError: ``fn`` raised (or is not a function).
    """
    if not callable(fn):
        raise StudentError(f"{stage}: got {type_name(fn)}, which cannot be "
                           f"called")
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any student error is reported
        raise StudentError(f"{stage} raised {error_text(exc)}",
                           student_frames(exc.__traceback__)) from None


def method(obj, name: str, what: str):
    """``obj.<name>`` of a student object, any error as a StudentError."""
    try:
        return getattr(obj, name)
    except Exception as exc:  # noqa: BLE001 - any student error is reported
        raise StudentError(f"{what}: reading .{name} raised "
                           f"{error_text(exc)}",
                           student_frames(exc.__traceback__)) from None


def as_bool(x) -> bool | str:
    """A Python bool from ``bool`` or a one-element bool tensor, else reason.

    ``numpy.bool_`` is accepted too (``bool(np.any(...))`` is common).
    """
    if type(x) is bool:
        return x
    base = torch._C.TensorBase
    if type(x) is torch.Tensor and \
            base.__dict__["dtype"].__get__(x) is torch.bool and \
            base.numel(x) == 1:
        return bool(base.item(x))
    cls = type(x)
    if cls.__module__ == "numpy" and cls.__name__ in ("bool_", "bool"):
        return bool(x)
    return f"got {type_name(x)}, expected True or False (a bool)"


# ----------------------------------------------------------------- reading

def is_tensor(x) -> bool:
    """True for a tensor record (what a real, plain tensor becomes)."""
    return type(x) is Tensor


def tensor_reason(x, what: str) -> str | None:
    """Why ``x`` is not a trustworthy tensor, or None if it is one."""
    if type(x) is Tensor:
        return None
    if type(x) is Opaque and "subclass" in x.note:
        return (f"{what}: got {x.type} (a torch.Tensor subclass), "
                f"expected a plain torch.Tensor")
    return f"{what}: got {describe_type(x)}, expected torch.Tensor"


def describe_type(x) -> str:
    """The type a record stands for, e.g. ``'tuple'``, ``'mod.Fake'``."""
    if type(x) in (Opaque, Module):
        return x.type
    if type(x) is Tensor:
        return "Tensor"
    return type(x).__name__


def shape_of(x, what: str) -> tuple[int, ...] | str:
    """Shape of a tensor record, else a reason ``str``."""
    return tensor_reason(x, what) or x.shape


def requires_grad(x) -> bool:
    """``requires_grad`` of a tensor record."""
    return x.requires_grad


def is_leaf(x) -> bool:
    """``is_leaf`` of a tensor record."""
    return x.is_leaf


def device_of(x, what: str) -> str:
    """Device of a tensor record (``'cpu'``, ``'cuda:0'``), else a reason
    starting with ``what + ':'`` (tell them apart with :func:`is_reason`)."""
    return tensor_reason(x, what) or x.device


def is_reason(value, what: str) -> bool:
    """True if ``value`` is a reason string produced for ``what``."""
    return type(value) is str and value.startswith(f"{what}:")


def tensor_values(x, what: str) -> torch.Tensor | str:
    """The values of a tensor record (a plain CPU tensor), else a reason."""
    reason = tensor_reason(x, what)
    if reason:
        return reason
    if x.value is None:
        why = ("is on the meta device and holds no values"
               if x.device == "meta" else "holds no values we could read")
        return f"{what}: {why}"
    return x.value


def sequence(x, what: str, types=(tuple, list)) -> list | str:
    """The items of a tuple/list record as a Python list, else a reason."""
    if type(x) in types:
        return list(x)
    expected = " or ".join(t.__name__ for t in types)
    return f"{what}: got {describe_type(x)}, expected a {expected}"


def module_reason(x, what: str) -> str | None:
    """Why ``x`` is not an ``nn.Module`` record, or None if it is one."""
    if type(x) is Module:
        return None
    return f"{what}: got {describe_type(x)}, expected an nn.Module"


def named_tensors(model: Module, kind: str) -> list[tuple[str, Tensor]]:
    """``(name, tensor record)`` of a module record's parameters/buffers."""
    return list(getattr(model, kind))


def record(x, *, values: bool = True):
    """What the checks see of a live object: ``plain.load(plain.dump(x))``."""
    return plain.roundtrip(x, values=values)
