"""Distrust of student objects: exact type checks before any value is read.

A student object may lie: its ``__eq__`` may always return True, its
``.shape`` may report whatever is expected, it may be a ``torch.Tensor``
subclass that overrides ``__torch_function__``. Every helper here checks the
*exact* type first and only then reads values, and it turns whatever it
cannot trust into a ``str`` that says what was got. Nothing here calls
``==`` on a student object.
"""
from __future__ import annotations

import traceback

import torch
from torch import nn

# Exact tensor types the kit reads values from. nn.Parameter is what
# nn.Module stores; torch.Tensor is what functions return.
TENSOR_TYPES = (torch.Tensor, nn.Parameter)
# Values are read through torch's C base class: its attributes cannot be
# replaced from Python ("immutable type"), unlike torch.Tensor's, so a
# student cell that patches torch.Tensor.shape cannot make the kit misread.
_BASE = torch._C.TensorBase
_DEVICE = torch.device
_MODULE = nn.Module


def _attr(x, name: str):
    """``x.<name>`` read from torch's C base class (x is a real tensor)."""
    return _BASE.__dict__[name].__get__(x)


def type_name(x) -> str:
    """Name of ``x``'s exact type, e.g. ``'Tensor'`` or ``'FakeTensor'``."""
    cls = type(x)
    module = getattr(cls, "__module__", "") or ""
    name = getattr(cls, "__qualname__", None) or cls.__name__
    if module in ("builtins", "torch", "torch.nn.parameter"):
        return name
    return f"{module}.{name}"


def is_tensor(x) -> bool:
    """True only for a real ``torch.Tensor`` or ``nn.Parameter``."""
    return is_exactly(x, TENSOR_TYPES)


def is_exactly(x, types) -> bool:
    """True if ``type(x)`` is one of ``types``, compared by identity.

    ``type(x) in types`` would call ``==`` on the type, which a metaclass
    can make always True.
    """
    cls = type(x)
    return any(cls is t for t in types)


def tensor_reason(x, what: str) -> str | None:
    """Why ``x`` is not a trustworthy tensor, or None if it is one.

    Args:
        x: any object a student produced.
        what: its name in messages, e.g. ``"state[0]"``.
    """
    if is_tensor(x):
        return None
    if isinstance(x, torch.Tensor):
        return (f"{what}: got {type_name(x)} (a torch.Tensor subclass), "
                f"expected a plain torch.Tensor")
    return f"{what}: got {type_name(x)}, expected torch.Tensor"


def shape_of(x, what: str) -> tuple[int, ...] | str:
    """Shape of a real tensor as a tuple of ints, else a reason ``str``."""
    reason = tensor_reason(x, what)
    if reason:
        return reason
    return tuple(int(d) for d in _BASE.size(x))


def requires_grad(x) -> bool:
    """``x.requires_grad`` of a real tensor, read from torch's C class."""
    return bool(_attr(x, "requires_grad"))


def is_leaf(x) -> bool:
    """``x.is_leaf`` of a real tensor, read from torch's C class."""
    return bool(_attr(x, "is_leaf"))


def device_of(x, what: str) -> str:
    """Device of a real tensor as a ``str`` (``'cpu'``, ``'cuda:0'``).

    Returns a reason ``str`` starting with ``what + ":"`` when ``x`` is not a
    real tensor; callers tell the two apart with :func:`is_reason`.
    """
    reason = tensor_reason(x, what)
    if reason:
        return reason
    device = _attr(x, "device")
    if type(device) is not _DEVICE:
        return f"{what}: device is {type_name(device)}, expected torch.device"
    return str(device)


def is_reason(value, what: str) -> bool:
    """True if ``value`` is a reason string produced for ``what``."""
    return type(value) is str and value.startswith(f"{what}:")


def plain(x, what: str) -> torch.Tensor | str:
    """A detached float/long CPU copy of a real tensor, else a reason.

    Tensors on the ``meta`` device have no values; they give a reason too.
    """
    reason = tensor_reason(x, what)
    if reason:
        return reason
    if device_of(x, what) == "meta":
        return f"{what}: is on the meta device and holds no values"
    copy = _BASE.to(_BASE.detach(x), "cpu", copy=True)
    if type(copy) is not torch.Tensor:
        return f"{what}: could not be copied to a plain CPU tensor"
    return copy


def sequence(x, what: str, types=(tuple, list)) -> list | str:
    """The items of a real tuple/list as a Python list, else a reason."""
    if is_exactly(x, types):
        return list(x)
    expected = " or ".join(t.__name__ for t in types)
    return f"{what}: got {type_name(x)}, expected a {expected}"


def module_reason(x, what: str) -> str | None:
    """Why ``x`` is not an ``nn.Module``, or None if it is one."""
    if issubclass(type(x), _MODULE):  # type(), not a forgeable __class__
        return None
    return f"{what}: got {type_name(x)}, expected an nn.Module"


def named_tensors(model: nn.Module, kind: str) -> list[tuple[str, object]]:
    """``(name, tensor)`` pairs of a module, read from torch's own storage.

    Uses the unbound ``nn.Module`` methods so that a student override of
    ``parameters()``/``named_buffers()`` cannot hide anything.

    Args:
        model: a real ``nn.Module``.
        kind: ``"parameters"`` or ``"buffers"``.
    """
    method = getattr(_MODULE, f"named_{kind}")
    return list(method(model))


def submodule(model: nn.Module, name: str):
    """A child module from torch's own registry (None if absent)."""
    return object.__getattribute__(model, "_modules").get(name)


def as_bool(x) -> bool | str:
    """A Python bool from ``bool`` or a one-element bool tensor, else reason.

    ``numpy.bool_`` is accepted too (``bool(np.any(...))`` is common).
    """
    if type(x) is bool:
        return x
    if type(x) is torch.Tensor and _attr(x, "dtype") is torch.bool \
            and _BASE.numel(x) == 1:
        return bool(_BASE.item(x))
    cls = type(x)
    if cls.__module__ == "numpy" and cls.__name__ in ("bool_", "bool"):
        return bool(x)
    return f"got {type_name(x)}, expected True or False (a bool)"


class StudentError(Exception):
    """Student code raised; the message says where, in the book's words."""


def call(stage: str, fn, *args, **kwargs):
    """Call student code, turning any exception into a :class:`StudentError`.

    Args:
        stage: what was being done, e.g. ``"calling deep_rnn(X, state,
            params)"``; it starts the message.
        fn: the student's function.

    Raises:
        StudentError: ``fn`` raised; the message names the exception and the
            last line of the traceback.
    """
    if not callable(fn):
        raise StudentError(f"{stage}: got {type_name(fn)}, which cannot be "
                           f"called")
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any student error is reported
        raise StudentError(f"{stage} raised {error_text(exc)}") from None


def method(obj, name: str, what: str):
    """``obj.<name>`` of a student object, any error as a StudentError."""
    try:
        return getattr(obj, name)
    except Exception as exc:  # noqa: BLE001 - any student error is reported
        raise StudentError(f"{what}: reading .{name} raised "
                           f"{error_text(exc)}") from None


def error_text(exc: BaseException) -> str:
    """``'Name: message (line N: source)'`` for an exception."""
    text = f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (line {last.lineno}: {(last.line or '').strip()})"
    return text
