"""Parameter-count check: trainable parameters against the closed form.

Expected counts come from one formula (:func:`torch_layer_count`,
:func:`scratch_layer_count`), never from a table. For the book's 2-layer
LSTM with vocab_size 28 and 256 hidden units it gives 826,396, and
2,177,052 for the bidirectional twin. On a mismatch the message shows the
per-layer breakdown of expected against got.
"""
from __future__ import annotations

import math
import re

from . import calls, plain, trust
from .errors import CheckFailed

# Gates per cell type: each gate has its own W_x, W_h and biases.
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
OUTPUT_LAYER = "output layer"
_TORCH_NAME = re.compile(r"^rnn\.(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$")


# ---------------------------------------------------------------- formula

def torch_layer_count(cell: str, input_size: int, num_hiddens: int) -> int:
    """Parameters of one direction of one layer of nn.RNN/nn.GRU/nn.LSTM.

    Each gate has W_ih (input_size, h), W_hh (h, h) and two biases of h
    (torch keeps b_ih and b_hh apart).
    """
    h = num_hiddens
    return GATES[cell] * (input_size * h + h * h + 2 * h)


def layer_name(layer: int, direction: int, num_directions: int) -> str:
    """``'rnn layer 0'`` or ``'rnn layer 0 (backward)'``."""
    if num_directions == 1 and direction == 0:
        return f"rnn layer {layer}"
    return f"rnn layer {layer} ({('forward', 'backward')[direction]})"


def expected_model(vocab_size, num_hiddens, num_layers, num_directions=1,
                   cell="LSTM") -> list[tuple[str, int]]:
    """Per-layer expected counts of ``d2l.RNNModel(nn.<cell>(...))``.

    Layer 0 reads vocab_size inputs; layer l > 0 reads the
    num_directions*num_hiddens outputs of the layer below. The output layer
    is ``nn.Linear(num_directions*num_hiddens, vocab_size)``.
    """
    rows = []
    for layer in range(num_layers):
        inputs = vocab_size if layer == 0 else num_directions * num_hiddens
        for d in range(num_directions):
            rows.append((layer_name(layer, d, num_directions),
                         torch_layer_count(cell, inputs, num_hiddens)))
    width = num_directions * num_hiddens
    rows.append((OUTPUT_LAYER, width * vocab_size + vocab_size))
    return rows


def scratch_layer_count(input_size: int, num_hiddens: int) -> int:
    """W_xh (input_size, h) + W_hh (h, h) + b_h (h,) of a scratch RNN."""
    return input_size * num_hiddens + num_hiddens * num_hiddens + num_hiddens


def scratch_names(num_layers: int | None) -> list[str]:
    """Names of get_*_params' list, in the contract's order."""
    if num_layers is None:
        names = ["W_xh_f", "W_hh_f", "b_h_f", "W_xh_b", "W_hh_b", "b_h_b"]
    else:
        names = [f"{w}_{l}" for l in range(1, num_layers + 1)
                 for w in ("W_xh", "W_hh", "b_h")]
    return names + ["W_hq", "b_q"]


def scratch_shapes(vocab_size, num_hiddens, num_layers=None):
    """``[(name, formula, shape)]`` for get_deep_rnn_params/get_birnn_params.

    Args:
        num_layers: deep RNN when given, bidirectional RNN when None.
    """
    v, h = vocab_size, num_hiddens
    rows = []
    for name in scratch_names(num_layers)[:-2]:
        if name.startswith("W_xh") and name not in ("W_xh_1", "W_xh_f",
                                                     "W_xh_b"):
            rows.append((name, "(num_hiddens, num_hiddens)", (h, h)))
        elif name.startswith("W_xh"):
            rows.append((name, "(vocab_size, num_hiddens)", (v, h)))
        elif name.startswith("W_hh"):
            rows.append((name, "(num_hiddens, num_hiddens)", (h, h)))
        else:
            rows.append((name, "(num_hiddens,)", (h,)))
    if num_layers is None:
        rows.append(("W_hq", "(2*num_hiddens, vocab_size)", (2 * h, v)))
    else:
        rows.append(("W_hq", "(num_hiddens, vocab_size)", (h, v)))
    rows.append(("b_q", "(vocab_size,)", (v,)))
    return rows


def expected_scratch(vocab_size, num_hiddens, num_layers=None):
    """Per-layer expected counts of the scratch deep RNN or BiRNN."""
    v, h = vocab_size, num_hiddens
    if num_layers is None:
        rows = [("forward", scratch_layer_count(v, h)),
                ("backward", scratch_layer_count(v, h))]
        width = 2 * h
    else:
        rows = [(f"layer {l}", scratch_layer_count(v if l == 1 else h, h))
                for l in range(1, num_layers + 1)]
        width = h
    return rows + [(OUTPUT_LAYER, width * v + v)]


def total(rows) -> int:
    """Sum of a breakdown."""
    return sum(n for _, n in rows)


# ---------------------------------------------------------------- evidence

def param_row(p, name: str):
    """``(name, shape, requires_grad, is_leaf)`` or ``(name, reason)``
    for a tensor record."""
    shape = trust.shape_of(p, name)
    if isinstance(shape, str):
        return (name, shape)
    return (name, shape, trust.requires_grad(p), trust.is_leaf(p))


def _error(reply: dict) -> str | None:
    err = reply.get("error")
    if err is None:
        return None
    return str(err.get("message")) if type(err) is dict else str(err)


def evidence_model(reply: dict, sizes: dict, names: dict) -> dict:
    """Parameter evidence from a :func:`.calls.model_forward` reply."""
    ev = {"sizes": {k: sizes[k] for k in ("vocab_size", "num_hiddens",
                                          "num_layers")},
          "params": [], "error": _error(reply), "names": dict(names)}
    if ev["error"]:
        return ev
    model = plain.load(reply.get("model"))
    reason = trust.module_reason(model, f"{names.get('build', 'build')}"
                                 "(...) returned")
    if reason:
        ev["error"] = reason
        return ev
    ev["params"] = [param_row(p, name)
                    for name, p in trust.named_tensors(model, "parameters")]
    return ev


def evidence_scratch(reply: dict, sizes: dict, names: dict) -> dict:
    """Parameter evidence from a :func:`.calls.scratch_setup` reply."""
    ev = {"sizes": {k: v for k, v in sizes.items()
                    if k in ("vocab_size", "num_hiddens", "num_layers")},
          "params": [], "error": _error(reply), "names": dict(names)}
    if ev["error"]:
        return ev
    gp = names.get("get_params", "get_params")
    items = trust.sequence(plain.load(reply.get("params")), f"{gp}(...)")
    if isinstance(items, str):
        ev["error"] = items
        return ev
    ev["params"] = [param_row(p, f"params[{i}]") for i, p in enumerate(items)]
    return ev


def collect_model(build, *, vocab_size, num_hiddens, num_layers,
                  device="cpu", names=None) -> dict:
    """Build a model and record ``(name, shape, requires_grad)`` per param
    (a self-check: the call runs here)."""
    sizes = dict(vocab_size=vocab_size, num_hiddens=num_hiddens,
                 num_layers=num_layers)
    names = names or {"build": "build"}
    reply = calls.model_forward(build, sizes=sizes, device=device,
                                names=names)
    return evidence_model(reply, sizes, names)


def collect_scratch(get_params, *, vocab_size, num_hiddens, num_layers=None,
                    device="cpu", names=None) -> dict:
    """Call get_*_params and record each tensor of the returned list
    (a self-check: the call runs here)."""
    sizes = dict(vocab_size=vocab_size, num_hiddens=num_hiddens)
    if num_layers is not None:
        sizes["num_layers"] = num_layers
    names = names or {"get_params": "get_params"}
    reply = calls.scratch_setup(get_params, None, sizes=sizes, device=device,
                                names={"init_state": "init_state", **names})
    return evidence_scratch(reply, sizes, names)


# ------------------------------------------------------------------ judge

def got_model_breakdown(rows, num_directions=1) -> list[tuple[str, int]]:
    """Group recorded model parameters (trainable only) by layer."""
    counts: dict[str, int] = {}
    for row in rows:
        name, shape, requires_grad = row[0], row[1], row[2]
        if not requires_grad:
            continue
        m = _TORCH_NAME.match(name)
        if m:
            key = layer_name(int(m.group(3)), 1 if m.group(4) else 0,
                             num_directions)
        elif name in ("linear.weight", "linear.bias"):
            key = OUTPUT_LAYER
        else:
            key = name
        counts[key] = counts.get(key, 0) + math.prod(shape)
    return list(counts.items())


def breakdown_table(expected, got) -> str:
    """Two-column text table of expected against got counts."""
    names = [n for n, _ in expected] + [n for n, _ in got
                                        if n not in dict(expected)]
    exp, gt = dict(expected), dict(got)
    width = max(len(n) for n in names + ["total"])
    lines = [f"  {'':{width}}  {'expected':>10}  {'got':>10}"]
    for n in names:
        mark = "" if exp.get(n) == gt.get(n) else "   <--"
        lines.append(f"  {n:{width}}  {exp.get(n, 0):>10,}  "
                     f"{gt.get(n, 0):>10,}{mark}")
    lines.append(f"  {'total':{width}}  {total(expected):>10,}  "
                 f"{total(got):>10,}")
    return "\n".join(lines)


def judge_rows_trusted(ev) -> None:
    """Fail on a recorded error or on a parameter that is not a tensor."""
    if ev.get("error"):
        raise CheckFailed(ev["error"])
    for row in ev["params"]:
        if len(row) == 2:
            raise CheckFailed(row[1])


def judge_model(ev, *, num_directions, cell="LSTM") -> None:
    """Judge the trainable parameter count of a ``d2l.RNNModel``."""
    judge_rows_trusted(ev)
    s = ev["sizes"]
    expected = expected_model(s["vocab_size"], s["num_hiddens"],
                              s["num_layers"], num_directions, cell)
    got = got_model_breakdown(ev["params"], num_directions)
    if total(got) != total(expected) or dict(got) != dict(expected):
        dirs = " bidirectional" if num_directions == 2 else ""
        raise CheckFailed(
            f"trainable parameters {total(got):,} != expected "
            f"{total(expected):,} for a {s['num_layers']}-layer{dirs} "
            f"nn.{cell} (vocab_size={s['vocab_size']}, "
            f"num_hiddens={s['num_hiddens']}) plus its output layer:\n"
            + breakdown_table(expected, got))


def judge_scratch(ev) -> None:
    """Judge the list returned by get_deep_rnn_params/get_birnn_params.

    Length and shapes first, then that each tensor is a leaf that requires
    grad, then the total against the closed form.
    """
    judge_scratch_shapes(ev)
    names = scratch_names(ev["sizes"].get("num_layers"))
    for i, (row, name) in enumerate(zip(ev["params"], names)):
        what = f"params[{i}] ({name})"
        if not row[2]:
            raise CheckFailed(f"{what} does not require grad: call "
                              f"requires_grad_(True) so training updates it")
        if not row[3]:
            raise CheckFailed(f"{what} is not a leaf tensor (it was computed "
                              f"from another tensor): training cannot "
                              f"update it")
    judge_scratch_total(ev)


def judge_scratch_shapes(ev) -> None:
    """Fail unless the list has the contract's length and shapes."""
    judge_rows_trusted(ev)
    s = ev["sizes"]
    shapes = scratch_shapes(s["vocab_size"], s["num_hiddens"],
                            s.get("num_layers"))
    rows = ev["params"]
    if len(rows) != len(shapes):
        raise CheckFailed(
            f"{ev.get('names', {}).get('get_params', 'get_params')} returned "
            f"{len(rows)} tensors, expected "
            f"{len(shapes)}: [{', '.join(n for n, _, _ in shapes)}]")
    for i, (row, (name, formula, want)) in enumerate(zip(rows, shapes)):
        if row[1] != want:
            raise CheckFailed(f"params[{i}] ({name}) shape {row[1]} != "
                              f"expected {formula} = {want}")


def judge_scratch_total(ev) -> None:
    """Cross-check the total against the closed form (per-layer table)."""
    s = ev["sizes"]
    expected = expected_scratch(s["vocab_size"], s["num_hiddens"],
                                s.get("num_layers"))
    got_total = sum(math.prod(r[1]) for r in ev["params"])
    if got_total != total(expected):
        raise CheckFailed(f"parameters {got_total:,} != expected "
                          f"{total(expected):,}:\n"
                          + breakdown_table(expected, [("got", got_total)]))
