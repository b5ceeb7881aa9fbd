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
  torch ran (``rnn_checks.calls.RecurrentKernels``), which catches any way
  of reaching them.
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
# What the other solution cells may use: the concise API's layers (the
# build_* functions are nn.LSTM; a curious student may try nn.GRU there).
CONCISE = frozenset({"LSTM", "GRU", "lstm", "gru"})
TORCH_ROOTS = ("torch",)
RULE = ("the scratch functions must write the recurrence themselves "
        "(X @ W_xh + H @ W_hh + b_h, torch.tanh): torch's recurrent "
        "layers, cells and kernels are not allowed there")


def uses(source: str, allowed=frozenset()) -> list[tuple[int, str]]:
    """Where a cell's source uses torch's recurrent layers or kernels.

    Args:
        allowed: names not counted (the other cells may use nn.LSTM).

    Returns:
        ``(line, what)`` pairs, e.g. ``(4, "nn.RNN")``; empty when the
        source does not parse (the cell then fails to run anyway).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    aliases = _torch_aliases(tree)
    found = []
    for node in ast.walk(tree):
        what = _forbidden(node, aliases, FORBIDDEN - allowed)
        if what:
            found.append((getattr(node, "lineno", 0), what))
    return sorted(set(found))


def _torch_aliases(tree) -> set[str]:
    """Names bound to torch or its modules by the cell's imports."""
    names = {"torch", "nn", "F", "functional", "func"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in TORCH_ROOTS:
                    names.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(
                ".")[0] in TORCH_ROOTS:
            names.update(a.asname or a.name for a in node.names)
    return names


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
    if isinstance(node, ast.Attribute) and node.attr in forbidden \
            and _root(node) in aliases:
        return _dotted(node)
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
    found = {}
    for gid, src in cells.items():
        hits = uses(src, frozenset() if gid in scratch else CONCISE)
        if hits:
            found[gid] = hits
    return found


def message(found: dict[str, list[tuple[int, str]]]) -> str:
    """The failure message naming what was used, where."""
    parts = [f"{gid} uses {what} (line {line})"
             for gid, items in found.items() for line, what in items[:3]]
    return "; ".join(parts) + ": " + RULE
