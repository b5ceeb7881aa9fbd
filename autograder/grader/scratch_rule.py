""""Scratch means scratch": torch's recurrent layers are not allowed there.

The book's exercise is to write the recurrence by hand. The scratch
functions (``get_*_params``, ``init_*_state``, ``deep_rnn``, ``birnn``)
must not use ``nn.RNN``/``nn.LSTM``/``nn.GRU``, their cells,
``torch.rnn_tanh`` and the like, ``torch._VF``, or
``torch.func.functional_call`` (over such a layer). Two checks catch it,
and either fails the notebook's ``*_matches_torch`` test:

* this module reads the source of the scratch functions' cells (in the
  grader's process, never running it) and finds the plain use and the
  obvious disguises: an alias (``import torch.nn as tnn; tnn.RNN``), an
  import inside the function, ``getattr(nn, "LSTM")``;
* while the scratch functions run, the worker records the recurrent kernels
  torch ran (``rnn_checks.calls.RecurrentKernels``). That record is a
  ``TorchFunctionMode``, which lives in one thread and can be switched off
  from Python; so this module also refuses, in every solution cell, the
  ways around it: threads and processes, ``eval``/``exec``/``__import__``,
  ``getattr`` with a computed name, dunder attributes and the interpreter's
  internals (any import but the book's and a few harmless modules,
  :data:`ALLOWED_MODULES`), TorchScript and ``torch.ops``. None of these has a place in the book's
  functions. A cell this module cannot read (too long, nested too deep to
  parse) is refused too. This is a rule on the source, not a proof: what
  it does not name, it does not catch.
"""
from __future__ import annotations

import ast

# Attribute or imported names that are torch's recurrent layers, cells and
# kernels, or ways around the runtime check.
FORBIDDEN = frozenset({
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RNNBase",
    "RNNCellBase", "rnn_tanh", "rnn_relu", "lstm", "gru", "rnn_tanh_cell",
    "rnn_relu_cell", "lstm_cell", "gru_cell", "_VF", "_VariableFunctions",
    "functional_call", "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell",
    "mkldnn_rnn_layer", "DisableTorchFunction",
    "_disable_torch_function", "_pop_mode", "_push_mode",
})
# The only modules a solution cell may import (torch without its
# backdoors below): the book's, and harmless standard ones. Anything else
# (threading, ctypes, importlib, a module the cell wrote itself, ...) is
# refused, since the code it brings is not read here.
ALLOWED_MODULES = frozenset({
    "torch", "d2l", "math", "numpy", "collections", "functools",
    "itertools", "random", "typing", "dataclasses", "operator", "copy",
    "warnings", "time", "re", "string", "statistics", "enum", "abc",
    "__future__", "rnn_checks", "sys", "matplotlib",
})
# Of ``sys``, only these (``print(..., file=sys.stderr)`` is honest;
# ``sys.modules`` or ``sys._getframe`` reach the interpreter).
SYS_ATTRS = frozenset({"stdout", "stderr", "version", "version_info",
                       "float_info", "maxsize", "platform"})
# torch's ways to run code the runtime record does not see.
TORCH_BACKDOORS = frozenset({
    "_C", "jit", "ops", "compile", "export", "fx", "hub", "package",
    "load", "multiprocessing", "_dynamo", "library", "overrides",
})
# Module names that allowed modules re-export (``torch.sys``, ``d2l.os``,
# ``np.ctypeslib``, ``torch.utils.data.dataloader.threading``): refused as
# an attribute of anything.
REEXPORTED_MODULES = frozenset({
    "sys", "os", "threading", "ctypes", "ctypeslib", "subprocess",
    "multiprocessing", "importlib", "builtins", "gc", "inspect", "signal",
    "modules", "concurrent", "asyncio", "pickle", "marshal", "runpy",
})
# Of torch's backdoors, those refused on any object (the names are not
# used otherwise in these functions); ``load`` and ``compile`` only on
# torch.
ANY_OWNER_BACKDOORS = TORCH_BACKDOORS - {"load", "compile", "export",
                                         "package", "hub"}
# Builtins that run or reach code by name.
DYNAMIC_CALLS = frozenset({
    "eval", "exec", "compile", "__import__", "globals", "vars",
    "breakpoint", "open",
})
NAME_ATTRS = ("getattr", "setattr", "delattr")
# Dunder attributes an honest function may read.
PLAIN_DUNDERS = frozenset({"__init__", "__name__", "__doc__", "__class__",
                           "__module__", "__qualname__", "__len__"})
# Longer cells are not read (a solution cell is a few dozen lines).
MAX_SOURCE_CHARS = 100_000

# What the other solution cells may use: the concise API's layers (the
# build_* functions are nn.LSTM; a curious student may try nn.GRU there).
CONCISE = frozenset({"LSTM", "GRU", "lstm", "gru"})
TORCH_ROOTS = ("torch", "d2l")  # d2l re-exports torch's nn
RULE = ("the scratch functions must write the recurrence themselves "
        "(X @ W_xh + H @ W_hh + b_h, torch.tanh): torch's recurrent "
        "layers, cells and kernels are not allowed there, nor, in any "
        "solution cell, the ways around that check (threads, eval/exec, "
        "a computed getattr, dunder attributes, the interpreter's "
        "internals, TorchScript)")


def uses(source: str, allowed=frozenset(),
         shared_aliases=frozenset()) -> list[tuple[int, str]]:
    """Where a cell's source uses torch's recurrent layers or kernels.

    Args:
        allowed: names not counted (the other cells may use nn.LSTM).

    Returns:
        ``(line, what)`` pairs, e.g. ``(4, "nn.RNN")``; empty when the
        source is not Python (the cell then fails to run anyway), one pair
        when it is too long or too deeply nested to read.
    """
    if type(source) is not str or len(source) > MAX_SOURCE_CHARS:
        return [(0, f"a cell of more than {MAX_SOURCE_CHARS} characters")]
    try:
        tree = parse_as_the_worker(source)
    except (SyntaxError, ValueError):
        return []  # the worker cannot compile it either: it does not run
    except (RecursionError, MemoryError):
        return [(0, "an expression nested too deeply to read")]
    try:
        aliases = _torch_aliases(tree) | set(shared_aliases)
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                child._parent = parent
        found = []
        for node in ast.walk(tree):
            what = (_forbidden(node, aliases, FORBIDDEN - allowed)
                    or _dynamic(node, aliases))
            if what:
                found.append((getattr(node, "lineno", 0), what))
    except RecursionError:
        return [(0, "an expression nested too deeply to read")]
    return sorted(set(found))


def parse_as_the_worker(source: str) -> ast.Module:
    """The cell as the worker compiles it: IPython's syntax (``%time``,
    ``!ls``, ``x?``) turned into Python first, by the same IPython, and
    integers of any length (an earlier cell may lift the worker's limit).

    Raises:
        SyntaxError, ValueError: the worker cannot compile it either.
    """
    import sys

    from IPython.core.inputtransformer2 import TransformerManager

    try:
        python = TransformerManager().transform_cell(source)
    except Exception as exc:  # noqa: BLE001 - the worker fails the same way
        raise SyntaxError(f"IPython cannot read it ({type(exc).__name__})"
                          ) from None
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return ast.parse(python)
    finally:
        sys.set_int_max_str_digits(before)


def _dynamic(node, aliases: set[str]) -> str | None:
    """A way around the runtime record that a node uses, or None."""
    if isinstance(node, ast.ImportFrom) and any(
            a.name == "*" for a in node.names):
        return f"from {node.module} import *"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        modules = ([a.name for a in node.names] if isinstance(
            node, ast.Import) else [node.module or ""])
        for module in modules:
            parts = module.split(".")
            if node.__class__ is ast.ImportFrom and node.level:
                return f"a relative import (from {'.' * node.level}{module})"
            if parts[0] not in ALLOWED_MODULES or (
                    parts[0] in TORCH_ROOTS and set(parts) & TORCH_BACKDOORS):
                return f"import {module}"
        if isinstance(node, ast.ImportFrom) and node.module == "sys":
            bad = [a.name for a in node.names if a.name not in SYS_ATTRS]
            if bad:
                return f"from sys import {', '.join(bad)}"
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(
                ".")[0] in TORCH_ROOTS:
            bad = [a.name for a in node.names if a.name in TORCH_BACKDOORS]
            if bad:
                return f"from {node.module} import {', '.join(bad)}"
        return None
    if isinstance(node, ast.Name) and node.id in (
            "__builtins__", "__loader__", "__spec__", "__import__"):
        return node.id
    if isinstance(node, ast.Name) and node.id in NAME_ATTRS + (
            "attrgetter", "methodcaller") and not _called(node):
        return f"{node.id} passed around as a value"
    if isinstance(node, ast.Attribute):
        return _attribute(node.attr, node.value, aliases, _dotted(node))
    if isinstance(node, ast.Call) and _call_name(node.func) == \
            "run_cell_magic":
        return ("a cell magic (%%): its body does not run when grading, "
                "and is not read")
    if isinstance(node, ast.Call) and _call_name(node.func) in (
            "attrgetter", "methodcaller"):
        return f"{_call_name(node.func)}(...)"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in DYNAMIC_CALLS:
            return f"{node.func.id}(...)"
        if node.func.id in NAME_ATTRS:
            if len(node.args) < 2 or not isinstance(node.args[1],
                                                    ast.Constant):
                return f"{node.func.id}(...) with a computed name"
            name = node.args[1].value
            if type(name) is str:  # getattr(x, "name") is x.name
                return _attribute(name, node.args[0], aliases,
                                  f"{node.func.id}(..., {name!r})")
    return None


def _called(node: ast.Name) -> bool:
    """Whether a name is the function of a call (``getattr(x, "a")``), not
    a value handed on (``reduce(getattr, ...)``)."""
    parent = getattr(node, "_parent", None)
    return isinstance(parent, ast.Call) and parent.func is node


def _call_name(func) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _attribute(attr: str, owner, aliases: set[str], text: str) -> str | None:
    """What reading ``owner.attr`` reaches that the rule refuses, or None.

    Whatever ``owner`` is (an alias, ``[torch][0]``, a parameter's default):
    private names (``_C``, ``_VF``, ``_getframe``, ``_os``), dunders but a
    few, modules re-exported by allowed ones (``torch.sys``, ``d2l.os``,
    ``dataloader.threading``) and torch's backdoors (``jit``, ``ops``) are
    refused on any object. ``sys`` itself offers only :data:`SYS_ATTRS`.
    """
    if attr.startswith("__") and attr.endswith("__"):
        return None if attr in PLAIN_DUNDERS else f"the attribute {attr}"
    if attr.startswith("_"):
        return f"the private attribute {attr}"
    if attr in REEXPORTED_MODULES or attr in ANY_OWNER_BACKDOORS:
        return text
    root = _root(owner) if isinstance(owner, (ast.Attribute, ast.Name)) \
        else None
    if attr in TORCH_BACKDOORS and root in aliases:
        return text
    if isinstance(owner, ast.Name) and owner.id in _sys_aliases(aliases) \
            and attr not in SYS_ATTRS:
        return text
    return None


def _sys_aliases(aliases: set[str]) -> set[str]:
    return {a[len("sys:"):] for a in aliases if a.startswith("sys:")}


def _torch_aliases(tree) -> set[str]:
    """Names bound to torch or its modules by the cell's imports."""
    names = {"torch", "nn", "F", "functional", "func", "d2l", "sys:sys"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in TORCH_ROOTS:
                    names.add((a.asname or a.name).split(".")[0])
                if a.name == "sys":
                    names.add("sys:" + (a.asname or "sys"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(
                ".")[0] in TORCH_ROOTS:
            names.update(a.asname or a.name for a in node.names)
    return names


def aliases_of(cells: dict[str, str]) -> frozenset[str]:
    """The aliases every cell binds: all cells run in one namespace, so
    ``import torch.nn as tnn`` in one counts in the others."""
    names: set[str] = set()
    for src in cells.values():
        try:
            if type(src) is str and len(src) <= MAX_SOURCE_CHARS:
                names |= _torch_aliases(ast.parse(src))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    return frozenset(names)


def _root(node) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _forbidden(node, aliases: set[str], forbidden) -> str | None:
    """What a node uses that is forbidden, or None."""
    if isinstance(node, ast.Attribute) and node.attr in forbidden:
        return _dotted(node)  # on any object: nn.RNN, [nn][0].RNN, T.RNN
    if isinstance(node, ast.ImportFrom) and (node.module or "").split(
            ".")[0] in TORCH_ROOTS:
        bad = [a.name for a in node.names if a.name in forbidden]
        if bad:
            return f"from {node.module} import {', '.join(bad)}"
    if isinstance(node, ast.Import):
        bad = [a.name for a in node.names
               if set(a.name.split(".")) & forbidden]
        if bad:
            return f"import {', '.join(bad)}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == "getattr" and len(node.args) >= 2 \
            and isinstance(node.args[1], ast.Constant) \
            and node.args[1].value in forbidden:
        return f"getattr(..., {node.args[1].value!r})"
    return None


def scan(cells: dict[str, str], scratch=None
         ) -> dict[str, list[tuple[int, str]]]:
    """``grade_id -> uses`` for the solution cells that use any.

    Args:
        cells: grade_id -> source of the solution cells.
        scratch: the scratch functions' grade_ids (default: all cells);
            the other cells may use the concise API's nn.LSTM and nn.GRU,
            but nothing else of the list (a helper hidden in a build cell
            and called from deep_rnn is caught there).
    """
    scratch = set(cells) if scratch is None else set(scratch)
    shared = aliases_of(cells)
    found = {}
    for gid, src in cells.items():
        hits = uses(src, frozenset() if gid in scratch else CONCISE, shared)
        if hits:
            found[gid] = hits
    return found


def message(found: dict[str, list[tuple[int, str]]]) -> str:
    """The failure message naming what was used, where."""
    parts = [f"{gid} uses {what} (line {line})"
             for gid, items in found.items() for line, what in items[:3]]
    return "; ".join(parts) + ": " + RULE
