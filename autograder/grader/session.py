"""The grader's end of the grading channel: one notebook's worker.

A :class:`Session` starts the worker (``autograder/sandbox/box/worker.py``)
in a fresh box (:class:`autograder.sandbox.launch.Box`), runs the
notebook's cells there, and makes the checks' calls, each under a time
limit. Every reply is read with the wire format's bounds
(:mod:`autograder.sandbox.box.wire`), so a worker that answers too much, too
late or nonsense costs the grader a bounded amount of memory and time, and
fails only the test that was waiting.

When a call runs over its limit the worker is interrupted (a
``KeyboardInterrupt`` in the student's code); a worker that does not answer
within the grace period, or dies, ends the session: :class:`WorkerGone`
says why, in the words of the limit that stopped it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from autograder.config import SANDBOX
from autograder.sandbox import launch
from autograder.sandbox import watchdog
from autograder.sandbox.box import wire

WORKER = f"{launch.KIT}/agbox/worker.py"
# What a reply may hold: tensors of the checks' sizes and one trained model
# (the perplexity check's state_dict is ~30 KB); far under these.
REPLY_BOUNDS = wire.Bounds(max_header_bytes=4 * 2**20,
                           max_body_bytes=64 * 2**20)
# Characters kept of what the student's code printed (the end of it).
STDERR_TAIL = 8_000


class WorkerGone(RuntimeError):
    """The worker stopped (a limit, a crash, no answer): the reason."""


class CallTimeout(RuntimeError):
    """A call ran over its time limit and was interrupted."""


class Session:
    """One notebook's worker, in a box of its own.

    Args:
        spec: the box (:class:`launch.BoxSpec`).
        interrupt_grace_s: how long an interrupted worker has to answer.

    Use it as a context manager; leaving it ends the worker and the box.
    """

    def __init__(self, spec: launch.BoxSpec, *,
                 interrupt_grace_s: float = SANDBOX.interrupt_grace_s):
        self.spec = spec
        self.grace = interrupt_grace_s
        self.box = launch.Box(spec)
        self.proc: subprocess.Popen | None = None
        self.gone: str | None = None
        self.final_status: dict = {}
        self._tail = b""
        self.started = time.monotonic()

    # -- lifetime ----------------------------------------------------------

    def start(self) -> "Session":
        """Start the worker in the box."""
        # -I: no current folder or PYTHON* variables; -S: no .pth files, so
        # not even an editable install of the grader is importable there
        argv = [sys.executable, "-I", "-S", self.box.inside(WORKER)]
        self.proc = self.box.popen(argv, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE,
                                   start_new_session=True)
        os.set_blocking(self.proc.stdin.fileno(), False)
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        """Keep the end of what the worker printed (bounded)."""
        for chunk in iter(lambda: self.proc.stderr.read1(65536), b""):
            self._tail = (self._tail + chunk)[-STDERR_TAIL:]

    def output_tail(self) -> str:
        """The end of what the student's code printed."""
        return self._tail.decode("utf-8", "replace")

    def close(self) -> None:
        """End the worker (politely, then not) and remove the box."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                wire.write_frame(self.proc.stdin.fileno(), {"op": "bye"},
                                 time.monotonic() + 1)
                self.proc.wait(timeout=2)
            except (OSError, TimeoutError, subprocess.TimeoutExpired):
                self._kill()
        self._kill()
        self.final_status = self.box.status()
        self.box.close()

    def _kill(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self) -> "Session":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests ----------------------------------------------------------

    def exec_cell(self, label: str, source: str, timeout: float) -> dict:
        """Run one cell; ``{"ok": ...}`` (see the worker)."""
        return self.request({"op": "exec", "label": label,
                             "source": source}, timeout)

    def call(self, call: str, functions, kwargs: dict, timeout: float,
             answer_model=None) -> dict:
        """Make one of the checks' calls on the student's functions.

        Args:
            answer_model: answers the worker's questions about the
                grader's models (``leaks_future``): ``request -> reply``.
        """
        return self.request({"op": "call", "call": call,
                             "functions": list(functions), "kwargs": kwargs},
                            timeout, answer_model)

    def request(self, message: dict, timeout: float, answer_model=None):
        """Send one request and read its reply within ``timeout`` seconds.

        Raises:
            WorkerGone: the worker is (or had to be) stopped; why.
            CallTimeout: it ran over ``timeout``, was interrupted, and
                answered within the grace period (the session goes on).
        """
        if self.gone:
            raise WorkerGone(self.gone)
        deadline = time.monotonic() + timeout
        try:
            wire.write_frame(self.proc.stdin.fileno(), message, deadline)
            return self._reply(deadline, answer_model)
        except TimeoutError:
            return self._interrupt(timeout)
        except (EOFError, OSError) as err:
            raise self._stopped(f"the worker stopped ({type(err).__name__})")
        except wire.WireError as err:
            raise self._stopped(f"the worker's reply could not be read: "
                                f"{err}")

    def _reply(self, deadline: float, answer_model):
        """The reply, answering the worker's model questions meanwhile."""
        while True:
            reply = wire.read_frame(self.proc.stdout.fileno(), deadline,
                                    REPLY_BOUNDS)
            if type(reply) is dict and reply.get("op") == "model":
                answer = (answer_model(reply) if answer_model else
                          {"error": "no model questions expected now"})
                wire.write_frame(self.proc.stdin.fileno(), answer, deadline)
                continue
            return reply

    def _interrupt(self, timeout: float):
        """Interrupt the worker; it either answers in time or is stopped."""
        try:
            os.kill(self.proc.pid, signal.SIGINT)  # the watchdog forwards it
            self._reply(time.monotonic() + self.grace, None)
        except (TimeoutError, EOFError, OSError, wire.WireError):
            raise self._stopped(
                f"{watchdog.MESSAGES['deadline']}: the call ran longer than "
                f"its {timeout:g} s limit and the code did not stop when "
                "interrupted", wait=False) from None
        raise CallTimeout(f"{watchdog.MESSAGES['deadline']}: the call ran "
                          f"longer than its {timeout:g} s limit and was "
                          "interrupted")

    def _stopped(self, fallback: str, *, wait: bool = True) -> WorkerGone:
        """Stop the worker; the reason, the limit's words when one hit.

        Args:
            wait: give a worker that is ending (it closed the channel) a
                moment, so that its watchdog records why.
        """
        if wait and self.proc is not None:
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
        self._kill()
        status = self.box.status()
        code = (status.get("watchdog") or {}).get("returncode")
        self.gone = status.get("limit_hit") or death_message(code, fallback)
        return WorkerGone(self.gone)


def death_message(code, fallback: str) -> str:
    """Why the worker's process ended, from its exit status.

    Args:
        code: the status the watchdog saw (negative: a signal; bubblewrap
            reports 128 + the signal), or None when unknown.
        fallback: what to say when the status says nothing more.
    """
    if code is None or code == 0:
        return fallback
    if code < 0 or 128 < code < 160:
        num = -code if code < 0 else code - 128
        try:
            name = signal.Signals(num).name
        except ValueError:
            name = f"signal {num}"
        return (f"{watchdog.MESSAGES['exited']} (killed by {name}): the "
                "student's code ended the process")
    return (f"{watchdog.MESSAGES['exited']} (exit status {code}): the "
            "student's code ended the process (os._exit or a crash)")
