"""The grading worker: a notebook's functions, answering the grader's calls.

It runs in the box (:mod:`autograder.sandbox.launch`), started by the
grader as ``python -I /box/kit/agbox/worker.py``, and talks to it over its
standard input and output in the wire format of :mod:`.wire`. It first
moves the channel off the standard streams, so that what the student's
code prints goes to standard error (which the grader drains and keeps only
the end of) and never into the channel.

Requests, one frame each, one reply each:

* ``{"op": "exec", "label": grade_id, "source": code}``: run a cell of the
  notebook (the kit's setup cell, then each of the student's solution
  cells) in the notebook's namespace. Reply ``{"ok": True}`` or
  ``{"ok": False, "error": {"message", "frames"}}``.
* ``{"op": "call", "call": name, "functions": [...], "kwargs": {...}}``:
  run ``rnn_checks.calls.<name>`` on the student's functions of those
  names. Reply: what the call returned (plain data), or ``{"error": ...}``.
* ``{"op": "defined", "names": [...]}``: which of those names the cells
  defined. Reply ``{"defined": [...]}``.
* ``{"op": "bye"}``: exit.

While ``leaks_future`` runs, the models it is asked about are stand-ins
(:class:`Model`): each of their calls is sent to the grader, which runs the
real model and answers (``{"op": "model", ...}`` frames in the other
direction). Nothing in this process tells what the model is.

Everything here is student-side: the worker imports the student-facing
checks (``rnn_checks``), torch and this folder, nothing of the grader's.
"""
from __future__ import annotations

import contextlib
import linecache
import os
import signal
import sys
import traceback

KIT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A cell's code is compiled under this file name: its frames are the
# student's own.
CELL_FILE = "<cell {label}>"


def _streams() -> tuple[int, int]:
    """Keep the channel on private descriptors; stdout goes to stderr."""
    chan_in, chan_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    return chan_in, chan_out


class Channel:
    """The frames to and from the grader."""

    def __init__(self, chan_in: int, chan_out: int, wire):
        self.chan_in, self.chan_out, self.wire = chan_in, chan_out, wire

    def receive(self):
        return self.wire.read_frame(self.chan_in)

    def send(self, message) -> None:
        self.wire.write_frame(self.chan_out, message)

    def request(self, message):
        """Ask the grader something while a call runs; return its answer."""
        self.send(message)
        return self.receive()


# ------------------------------------------------------------------ cells

class _NoShell:
    """Stands in for IPython's shell: cells may hold magics (%time, !ls);
    the worker has no shell, so they do nothing. A cell magic's body does
    not run either: the grader's source rule reads only Python
    (autograder/grader/scratch_rule.py), and refuses such a cell."""

    def run_line_magic(self, *args, **kwargs):
        return None

    def run_cell_magic(self, name, line, cell):
        return None

    def system(self, *args, **kwargs):
        return None

    getoutput = system


_NAMESPACE: dict = {"__name__": "__main__",
                    "get_ipython": lambda: _NoShell()}


def _python_source(source: str) -> str:
    """The cell's source with IPython's syntax turned into Python."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython is in the kit's pins
        return source
    return TransformerManager().transform_cell(source)


def error_of(exc: BaseException, trust) -> dict:
    """An exception of the student's code as plain data."""
    frames = [list(f) for f in trust.student_frames(exc.__traceback__)
              if f[0].startswith("<cell ")]
    if isinstance(exc, SyntaxError) and exc.lineno:
        frames.append([exc.filename or "", exc.lineno, "<cell>",
                       (exc.text or "").strip()])
    return {"message": f"{type(exc).__name__}: {exc}", "frames": frames}


def run_cell(label: str, source: str, trust) -> dict:
    """Run one cell in the notebook's namespace."""
    filename = CELL_FILE.format(label=label)
    try:
        python = _python_source(source)
        # tracebacks (and the messages the checks give) show the cell's lines
        linecache.cache[filename] = (len(python), None,
                                     python.splitlines(True), filename)
        code = compile(python, filename, "exec")
        exec(code, _NAMESPACE)
    except BaseException as exc:  # noqa: BLE001 - any student error
        return {"ok": False, "error": error_of(exc, trust)}
    return {"ok": True}


@contextlib.contextmanager
def interruptible():
    """Let the grader's interrupt (SIGINT) stop the student's code inside,
    and only there: between requests the worker ignores it, so that a late
    or repeated interrupt cannot end the worker while it talks."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


# ------------------------------------------------------------------ calls

def run_call(request: dict, calls) -> dict:
    """Run one of the checks' calls on the student's functions."""
    name = request.get("call")
    if name not in calls.CALLS:
        return {"error": {"message": f"no call named {name!r}",
                          "frames": []}}
    functions = []
    for fn in request.get("functions", []):
        if fn not in _NAMESPACE:
            return {"error": {"message": f"{fn} is not defined: its cell "
                              "did not define it (or raised first)",
                              "frames": []}}
        functions.append(_NAMESPACE[fn])
    try:
        return getattr(calls, name)(*functions, **request.get("kwargs", {}))
    except BaseException as exc:  # noqa: BLE001 - e.g. SystemExit in code
        return {"error": {"message": f"{type(exc).__name__}: {exc}",
                          "frames": []}}


class State:
    """A state of a model of the grader's (what it holds stays there)."""

    def __init__(self, handle: int):
        self._handle = handle


class Model:
    """A stand-in for a model of the grader's, in d2l's calling convention.

    ``model(X, state)`` with token ids X (batch_size, num_steps) and
    ``model.begin_state(batch_size=..., device=...)``; every call goes to
    the grader, which runs the real model.
    """

    def __init__(self, channel: Channel, spec: dict, torch):
        self._channel, self._id, self._torch = channel, spec["id"], torch

    def __call__(self, X, state):
        torch = self._torch
        if type(X) is not torch.Tensor:
            raise TypeError(f"model(X, state): X must be a tensor of token "
                            f"ids, got {type(X).__name__}")
        if type(state) is not State:
            raise TypeError("model(X, state): state must come from "
                            "model.begin_state(...) or an earlier call")
        answer = self._channel.request({
            "op": "model", "id": self._id, "method": "forward",
            "X": X.detach().to("cpu", torch.int64), "state": state._handle})
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["Y"].to(X.device), State(answer["state"])

    forward = __call__

    def begin_state(self, *args, **kwargs):
        """``begin_state(batch_size, device)`` or d2l.RNNModel's
        ``begin_state(device, batch_size=1)``."""
        batch_size = kwargs.get("batch_size")
        for arg in args:
            if type(arg) is int:
                batch_size = arg
        answer = self._channel.request({
            "op": "model", "id": self._id, "method": "begin_state",
            "batch_size": 1 if batch_size is None else batch_size})
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return State(answer["state"])

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def to(self, *args, **kwargs):
        return self


# ------------------------------------------------------------------- main

def private_kit():
    """The checks' calls, the wire format and trust, loaded under private
    names and then removed from ``sys.modules``.

    The student's cells import ``rnn_checks`` themselves and get a copy of
    their own: replacing a function of it (say ``calls.scratch_forward``)
    changes nothing the worker runs. (Code that goes looking for the
    worker's objects through the interpreter can still reach them; what it
    could forge then is only what the student's own functions could have
    returned, and the grader judges that.)
    """
    import importlib
    import importlib.util

    loaded = {}
    for private, name in (("_kit_checks", "rnn_checks"),
                          ("_kit_box", "agbox")):
        folder = os.path.join(KIT, name)
        spec = importlib.util.spec_from_file_location(
            private, os.path.join(folder, "__init__.py"),
            submodule_search_locations=[folder])
        module = importlib.util.module_from_spec(spec)
        sys.modules[private] = module
        spec.loader.exec_module(module)
        loaded[name] = module
    calls = importlib.import_module("_kit_checks.calls")
    trust = importlib.import_module("_kit_checks.trust")
    wire = importlib.import_module("_kit_box.wire")
    for key in [k for k in sys.modules if k.startswith(("_kit_checks",
                                                        "_kit_box"))]:
        del sys.modules[key]
    return calls, trust, wire


def _paths() -> None:
    """Import from the box's kit first, then the environment's packages.

    The worker starts with ``-I -S``: no site module, so the environment's
    ``.pth`` files are not read and the grader's own package (installed
    editable) is not importable, even without the sandbox.
    """
    import sysconfig

    sys.path.insert(0, KIT)
    root = os.path.dirname(os.path.dirname(sys.executable))
    where = ({"base": root, "platbase": root}
             if os.path.exists(os.path.join(root, "pyvenv.cfg")) else None)
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths(vars=where)[key]
        if path not in sys.path:
            sys.path.append(path)


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # see interruptible()
    chan_in, chan_out = _streams()
    _paths()
    import torch
    calls, trust, wire = private_kit()

    channel = Channel(chan_in, chan_out, wire)
    calls.MODEL_MAKER = lambda spec: Model(channel, spec, torch)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    while True:
        try:
            request = channel.receive()
        except EOFError:
            return 0
        except KeyboardInterrupt:  # an interrupt between requests
            continue
        op = request.get("op") if type(request) is dict else None
        if op == "bye":
            return 0
        try:
            if op == "exec":
                with interruptible():
                    reply = run_cell(str(request.get("label")),
                                     str(request.get("source", "")), trust)
            elif op == "call":
                with interruptible():
                    reply = run_call(request, calls)
            elif op == "defined":
                reply = {"defined": [n for n in request.get("names", [])
                                     if type(n) is str and n in _NAMESPACE]}
            else:
                reply = {"error": {"message": f"unknown op {op!r}",
                                   "frames": []}}
        except KeyboardInterrupt:
            reply = {"error": {"message": "interrupted", "frames": []}}
        try:
            channel.send(reply)
        except TypeError as exc:  # the reply held something not plain
            channel.send({"error": {"message": f"reply not plain: {exc}",
                                    "frames": []}})
        except Exception:  # noqa: BLE001 - the grader is gone
            traceback.print_exc()
            return 1


if __name__ == "__main__":
    sys.exit(main())
