"""What crosses from the student's code to the checks: plain descriptions.

The checks never judge a student's object directly. :func:`dump` turns
whatever a student's function returned into plain data (dicts, lists,
strings, numbers and CPU tensors that torch itself made), reading each
object through exact type checks and torch's own C methods, so an object
that lies about its shape, device or equality is described as what it is.
:func:`load` turns that data back into small read-only records
(:class:`Tensor`, :class:`Module`, :class:`Opaque`, tuples and lists),
which the checks describe and judge.

During grading, ``dump`` runs in the student's sandboxed process and
``load`` in the grader's, with the grading channel's bounded wire format
in between (``autograder/sandbox/wire.py``). A self-check in a notebook
runs both in the notebook, so that a check sees the same thing in both
places.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

# Tensors whose values are kept (larger ones are described, not copied).
MAX_VALUES = 4_000_000
# Items kept of one list or tuple, and nesting kept, before "truncated".
MAX_ITEMS = 1_000
MAX_DEPTH = 12
# Characters kept of a string a student's function returned.
MAX_STR = 2_000

_BASE = torch._C.TensorBase
_TENSOR_TYPES = (torch.Tensor, nn.Parameter)
# Configuration read from torch's recurrent layers and linear layer.
_RNN_CONFIG = ("input_size", "hidden_size", "num_layers", "proj_size",
               "bias", "batch_first", "dropout", "bidirectional", "mode")
_LINEAR_CONFIG = ("in_features", "out_features")


# ------------------------------------------------------------------ records

@dataclasses.dataclass(frozen=True)
class Tensor:
    """A tensor as the student's code returned it.

    Attributes:
        shape: its size, as a tuple of ints.
        dtype: e.g. ``"float32"``.
        device: e.g. ``"cpu"``, ``"cuda:0"``, ``"meta"``.
        requires_grad, is_leaf: its autograd flags.
        value: a plain CPU copy of its values, or None (meta, too large, or
            not asked for).
    """

    shape: tuple
    dtype: str
    device: str
    requires_grad: bool
    is_leaf: bool
    value: torch.Tensor | None = None


@dataclasses.dataclass(frozen=True)
class Module:
    """An ``nn.Module`` as the student's code returned it.

    Attributes:
        type: its class, e.g. ``"d2l.torch.RNNModel"``.
        parameters: ``(name, Tensor)`` from ``nn.Module.named_parameters``.
        buffers: ``(name, Tensor)`` from ``nn.Module.named_buffers``.
        children: ``(name, Module)`` of its direct submodules.
        config: sizes and flags of torch's recurrent and linear layers.
    """

    type: str
    parameters: tuple = ()
    buffers: tuple = ()
    children: tuple = ()
    config: tuple = ()

    def child(self, name: str) -> "Module | None":
        """The direct submodule ``name``, or None."""
        return dict(self.children).get(name)

    def setting(self, name: str, default=None):
        """One value of :attr:`config`."""
        return dict(self.config).get(name, default)


@dataclasses.dataclass(frozen=True)
class Opaque:
    """Anything else: only its type's name (and why it was not read)."""

    type: str
    note: str = ""


# ------------------------------------------------------------------- dump

def type_name(x) -> str:
    """Name of ``x``'s exact type, e.g. ``'Tensor'``, ``'mod.FakeTensor'``."""
    cls = type(x)
    module = getattr(cls, "__module__", "") or ""
    name = getattr(cls, "__qualname__", None) or cls.__name__
    if module in ("builtins", "torch", "torch.nn.parameter"):
        return str(name)
    return f"{module}.{name}"


def dump(x, *, values: bool = True, depth: int = 0):
    """Plain data describing ``x`` (see the module docstring).

    Args:
        x: anything a student's function returned.
        values: copy tensor values (else only their metadata).
    """
    cls = type(x)
    if x is None or cls is bool or cls is int or cls is float:
        return x
    if cls is str:
        return x[:MAX_STR]
    if any(cls is t for t in _TENSOR_TYPES):
        return dump_tensor(x, values=values)
    if depth >= MAX_DEPTH:
        return {"kind": "object", "type": type_name(x),
                "note": "nested too deep"}
    if cls is tuple or cls is list:
        items = [dump(v, values=values, depth=depth + 1)
                 for v in list(x)[:MAX_ITEMS]]
        node = {"kind": cls.__name__, "items": items}
        if len(x) > MAX_ITEMS:
            node["truncated"] = len(x)
        return node
    if issubclass(cls, nn.Module):  # type(), not a forgeable __class__
        return dump_module(x, depth=depth)
    note = "a torch.Tensor subclass" if isinstance(x, torch.Tensor) else ""
    return {"kind": "object", "type": type_name(x), "note": note}


def dump_tensor(t, *, values: bool = True) -> dict:
    """Metadata (and values) of a real tensor, read from torch's C class."""
    shape = [int(d) for d in _BASE.size(t)]
    device = _BASE.__dict__["device"].__get__(t)
    node = {"kind": "tensor", "shape": shape,
            "dtype": str(_BASE.__dict__["dtype"].__get__(t)).removeprefix(
                "torch."),
            "device": str(device) if type(device) is torch.device else "?",
            "requires_grad": bool(
                _BASE.__dict__["requires_grad"].__get__(t)),
            "is_leaf": bool(_BASE.__dict__["is_leaf"].__get__(t)),
            "value": None}
    numel = 1
    for d in shape:
        numel *= d
    if values and node["device"] != "meta" and numel <= MAX_VALUES:
        copy = _BASE.to(_BASE.detach(t), "cpu", copy=True)
        if type(copy) is torch.Tensor and not copy.is_sparse:
            node["value"] = copy.contiguous()
    return node


def dump_module(m: nn.Module, *, depth: int = 0) -> dict:
    """Type, parameters, buffers, children and layer settings of a module.

    Read through ``nn.Module``'s own methods and storage, so that a class
    overriding ``parameters()`` or ``__getattr__`` cannot hide anything.
    """
    node = {"kind": "module", "type": type_name(m),
            "parameters": [[str(n), _member(p)]
                           for n, p in nn.Module.named_parameters(m)],
            "buffers": [[str(n), _member(b)]
                        for n, b in nn.Module.named_buffers(m)],
            "children": [], "config": {}}
    if depth < MAX_DEPTH:
        for name, child in object.__getattribute__(m, "_modules").items():
            if child is not None and issubclass(type(child), nn.Module):
                node["children"].append(
                    [str(name), dump_module(child, depth=depth + 1)])
    cls = type(m)
    keys = (_RNN_CONFIG if cls in (nn.LSTM, nn.GRU, nn.RNN)
            else _LINEAR_CONFIG if cls is nn.Linear else ())
    state = object.__getattribute__(m, "__dict__")
    for key in keys:
        value = state.get(key)
        if type(value) in (int, float, bool, str):
            node["config"][key] = value
    return node


def _member(x) -> dict:
    """A parameter or buffer: its metadata, or what it is if no tensor."""
    if any(type(x) is t for t in _TENSOR_TYPES):
        return dump_tensor(x, values=False)
    return {"kind": "object", "type": type_name(x),
            "note": "a torch.Tensor subclass" if isinstance(x, torch.Tensor)
            else ""}


def state_dict(m: nn.Module) -> dict:
    """The module's ``state_dict`` values, as plain CPU tensors."""
    out = {}
    for name, t in nn.Module.state_dict(m).items():
        if any(type(t) is c for c in _TENSOR_TYPES):
            out[str(name)] = _BASE.to(_BASE.detach(t), "cpu", copy=True)
    return out


# ------------------------------------------------------------------- load

def load(node):
    """The records :func:`dump` described (any malformed part: Opaque)."""
    cls = type(node)
    if node is None or cls in (bool, int, float, str):
        return node
    if cls is not dict:
        return Opaque("?", "malformed description")
    kind = node.get("kind")
    if kind in ("tuple", "list"):
        items = node.get("items")
        if type(items) is not list:
            return Opaque(kind, "malformed description")
        out = [load(v) for v in items]
        return tuple(out) if kind == "tuple" else out
    if kind == "tensor":
        return _load_tensor(node)
    if kind == "module":
        return _load_module(node)
    return Opaque(str(node.get("type", "?")), str(node.get("note", "")))


def _load_tensor(node: dict):
    shape = node.get("shape")
    if type(shape) is not list or not all(type(d) is int for d in shape):
        return Opaque("tensor", "malformed description")
    value = node.get("value")
    if value is not None and (type(value) is not torch.Tensor
                              or tuple(value.shape) != tuple(shape)):
        value = None
    return Tensor(tuple(shape), str(node.get("dtype", "?")),
                  str(node.get("device", "?")),
                  node.get("requires_grad") is True,
                  node.get("is_leaf") is True, value)


def _pairs(items, make):
    if type(items) is not list:
        return ()
    return tuple((str(p[0]), make(p[1])) for p in items
                 if type(p) is list and len(p) == 2)


def _load_module(node: dict) -> Module:
    config = node.get("config") if type(node.get("config")) is dict else {}
    return Module(
        type=str(node.get("type", "?")),
        parameters=_pairs(node.get("parameters"), load),
        buffers=_pairs(node.get("buffers"), load),
        children=_pairs(node.get("children"), _load_module_or_opaque),
        config=tuple((str(k), v) for k, v in config.items()
                     if type(v) in (int, float, bool, str)))


def _load_module_or_opaque(node):
    if type(node) is dict and node.get("kind") == "module":
        return _load_module(node)
    return Opaque("?", "malformed description")


def roundtrip(x, *, values: bool = True):
    """``load(dump(x))``: what the checks see of ``x``."""
    return load(dump(x, values=values))
