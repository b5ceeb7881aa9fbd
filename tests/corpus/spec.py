"""The adversarial corpus: submissions that try to crash, hang or fool the grader.

Each entry is built from the student release (``assignments/``) by filling
cells by grade_id (:mod:`autograder.notebooks`), and lists its expected
outcome for every autograded test of the contract. All entries start from
BASE: the six scratch functions filled with the instructor's solution (read
from ``solutions/`` at build time), the ``build_*`` models and
``leaks_future`` left as released stubs (so no entry trains a model: the
whole corpus grades in a few minutes of CPU). BASE passes exactly
BASE_PASSES; each entry then attacks one thing.

An entry may also name, per failing test, words its message must contain
(``says``): the grader must say *why*, not only fail.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from autograder import contract, notebooks
from autograder.config import ASSIGNMENT_ID, COURSE_ROOT

DEEP, BI = contract.DEEP_RNN.name, contract.BIDIRECTIONAL_RNN.name
SCRATCH = ("get_deep_rnn_params", "init_deep_rnn_state", "deep_rnn",
           "get_birnn_params", "init_birnn_state", "birnn")
DEEP_SCRATCH_TESTS = ("test_deep_rnn_shapes", "test_deep_rnn_params",
                      "test_deep_rnn_matches_torch")
BI_SCRATCH_TESTS = ("test_birnn_shapes", "test_birnn_params",
                    "test_birnn_matches_torch")
BASE_PASSES = frozenset(DEEP_SCRATCH_TESTS + BI_SCRATCH_TESTS)
ALL_TESTS = tuple(t for nb in contract.NOTEBOOKS for t in nb.tests)
# An attack on one notebook leaves the other out (its tests score 0, no
# kernel starts): the corpus costs half the CPU. The survival demos
# (kernel_exit, segfault, memory_hog, ...) keep both, to show that the other
# notebook is still graded.
DEEP_ONLY = {BI: None}
BI_ONLY = {DEEP: None}
_DELIMITER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One adversarial submission.

    Attributes:
        name: the student id it is graded under.
        attack: what it tries, in one line.
        fills: grade_id -> source; ``{sol}`` in it is replaced by that
            cell's solution (so an attack can wrap the right answer).
        fails: tests of BASE_PASSES this entry must fail (others keep BASE's
            outcome); ``"deep"``/``"bi"`` name a notebook's scratch tests.
        says: test grade_id -> words its message must contain.
        edit: a function (deep_nb, bi_nb) -> None for raw notebook edits.
        files: notebook name -> raw file text (malformed JSON), or None to
            leave the notebook out of the submission.
    """

    name: str
    attack: str
    fills: dict = dataclasses.field(default_factory=dict)
    fails: tuple = ()
    says: dict = dataclasses.field(default_factory=dict)
    edit: object = None
    files: dict = dataclasses.field(default_factory=dict)

    def expected(self) -> dict[str, str]:
        """grade_id -> "pass" / "FAIL" for every autograded test."""
        fails = set()
        for nb in contract.NOTEBOOKS:  # left out or unreadable: all fail
            if nb.name in self.files:
                fails |= set(nb.tests)
        for f in self.fails:
            fails |= set({"deep": DEEP_SCRATCH_TESTS,
                          "bi": BI_SCRATCH_TESTS}.get(f, (f,)))
        return {t: "pass" if t in BASE_PASSES - fails else "FAIL"
                for t in ALL_TESTS}


def _rename_test(deep, bi):
    """Rename a test cell's grade_id and make it trivially pass."""
    c = notebooks.cell(deep, "test_deep_rnn_shapes")
    c.metadata["nbgrader"]["grade_id"] = "test_deep_rnn_shapes_v2"
    c.source = "print('all good')"


def _delete_test(deep, bi):
    """Delete a test cell (and break the function it tests)."""
    deep.cells = [c for c in deep.cells
                  if notebooks.grade_id(c) != "test_deep_rnn_params"]


def _unlock_and_edit(deep, bi):
    """Edit a locked test cell to pass whatever the student wrote."""
    c = notebooks.cell(deep, "test_deep_rnn_matches_torch")
    c.source = "print('deep_rnn matches nn.RNN')"
    c.metadata["nbgrader"]["locked"] = False


FAKE_TENSOR = '''
class _Any:
    """Claims any shape, any device, and equality with everything."""
    shape = property(lambda self: self)
    device = property(lambda self: self)
    dtype = property(lambda self: self)
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __len__(self): return 3
    def __iter__(self): return iter([self, self, self])
    def __getitem__(self, i): return self
    def __bool__(self): return True
    def __call__(self, *a, **k): return self
    def __getattr__(self, name): return self
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return self
    __hash__ = object.__hash__
'''

ENTRIES: tuple[Entry, ...] = (
    Entry("base", "the scratch functions right, the models left as stubs"),
    Entry("kernel_exit", "os._exit(1) while defining get_deep_rnn_params",
          fills={"get_deep_rnn_params": "import os\nos._exit(1)"},
          fails=("deep",), says={"test_deep_rnn_shapes": "kernel died"}),
    Entry("segfault", "a segfault through ctypes",
          fills={"deep_rnn": "import ctypes\nctypes.string_at(0)"},
          fails=("deep",), says={"test_deep_rnn_shapes": "SIGSEGV"}),
    Entry("infinite_loop", "while True: pass in a solution cell",
          fills={"init_deep_rnn_state": "while True:\n    pass\n\n{sol}"},
          fails=("test_deep_rnn_shapes", "test_deep_rnn_matches_torch"),
          says={"test_deep_rnn_shapes": "init_deep_rnn_state"},
          files=DEEP_ONLY),
    Entry("stubborn_loop", "ignores SIGINT, then loops forever",
          fills={"deep_rnn": "import signal\n"
                 "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                 "while True:\n    pass"},
          fails=("deep",),
          says={"test_deep_rnn_shapes": "time limit exceeded"},
          files=DEEP_ONLY),
    Entry("output_flood", "prints 20 MB before the right answer",
          fills={"deep_rnn": "for _ in range(2000):\n"
                 "    print('flood ' * 2000)\n\n{sol}"},
          files=DEEP_ONLY),
    Entry("giant_print", "prints one 100 MB string (one kernel message)",
          fills={"deep_rnn": "print('x' * 100_000_000)\n\n{sol}"},
          files=DEEP_ONLY),
    Entry("memory_hog", "allocates 8 GB, past the memory limit",
          fills={"deep_rnn": "hog = [bytearray(b'x' * 200_000_000) "
                 "for _ in range(40)]\n\n{sol}"},
          fails=("deep",),
          says={"test_deep_rnn_shapes": "memory limit exceeded"}),
    Entry("fork_bomb", "forks until stopped",
          fills={"deep_rnn": "import os, time\nfor _ in range(500):\n"
                 "    if os.fork() == 0:\n        time.sleep(60)\n"
                 "        os._exit(0)\n\n{sol}"},
          fails=("deep",),
          # each child shares the kernel's pages copy-on-write: either
          # limit may trip first
          says={"test_deep_rnn_shapes": "limit exceeded"},
          files=DEEP_ONLY),
    Entry("syntax_error", "a syntax error in deep_rnn",
          fills={"deep_rnn": "def deep_rnn(inputs, state, params)\n    pass"},
          fails=("test_deep_rnn_shapes", "test_deep_rnn_matches_torch"),
          files=DEEP_ONLY),
    Entry("input_call", "calls input() (no one will answer)",
          fills={"get_birnn_params": "answer = input('continue? ')\n\n{sol}"},
          fails=("bi",),
          files=BI_ONLY),
    Entry("malformed_json", "deep_rnn.ipynb is not valid JSON",
          files={DEEP: '{"cells": [ {"cell_type": "code", '},
          fails=("deep",)),
    Entry("empty_notebook", "bidirectional_rnn.ipynb is an empty file",
          files={BI: ""}, fails=("bi",)),
    Entry("missing_notebook", "bidirectional_rnn.ipynb is not submitted",
          files={BI: None}, fails=("bi",)),
    Entry("edited_test_cell", "rewrites a locked test cell to just print",
          fills={"deep_rnn": "def deep_rnn(inputs, state, params):\n"
                 "    return inputs, state"},
          edit=_unlock_and_edit,
          fails=("test_deep_rnn_shapes", "test_deep_rnn_matches_torch"),
          files=DEEP_ONLY),
    Entry("deleted_test_cell", "deletes the test of a wrong function",
          fills={"get_deep_rnn_params":
                 "def get_deep_rnn_params(vocab_size, num_hiddens, "
                 "num_layers, device):\n    return []"},
          edit=_delete_test, fails=("deep",),
          files=DEEP_ONLY),
    Entry("renamed_grade_id", "renames a test's grade_id; wrong deep_rnn",
          fills={"deep_rnn": "def deep_rnn(inputs, state, params):\n"
                 "    return inputs, state"},
          # nbgrader rejects the notebook (its metadata no longer match the
          # gradebook): every test of it scores 0, with that reason
          edit=_rename_test, fails=("deep",),
          says={"test_deep_rnn_params": "nbgrader could not grade"},
          files=DEEP_ONLY),
    Entry("fake_tensor", "deep_rnn returns an object claiming any shape, "
          "device and equality",
          fills={"deep_rnn": FAKE_TENSOR + "\ndef deep_rnn(inputs, state, "
                 "params):\n    return _Any(), (_Any(),) * 2"},
          fails=("test_deep_rnn_shapes", "test_deep_rnn_matches_torch"),
          files=DEEP_ONLY),
    Entry("fake_params", "get_birnn_params returns always-equal objects",
          fills={"get_birnn_params": FAKE_TENSOR + "\ndef get_birnn_params("
                 "vocab_size, num_hiddens, device):\n    return [_Any()] * 8"},
          fails=("bi",),
          files=BI_ONLY),
    Entry("patch_nbtests", "replaces the test functions by no-ops",
          fills={"deep_rnn": "from autograder import nbtests\n"
                 "for _n in dir(nbtests):\n"
                 "    if not _n.startswith('_') and callable(getattr(nbtests, _n)):\n"
                 "        setattr(nbtests, _n, lambda *a, **k: print('passed'))\n"
                 "def deep_rnn(inputs, state, params):\n"
                 "    return inputs, state"},
          fails=("deep",),
          files=DEEP_ONLY),
    Entry("patch_torch", "torch.allclose and Tensor.__eq__ always True",
          fills={"deep_rnn": "import torch\n"
                 "torch.allclose = lambda *a, **k: True\n"
                 "torch.Tensor.__eq__ = lambda *a, **k: True\n"
                 "torch.equal = lambda *a, **k: True\n"
                 "{sol}\n"
                 "_right = deep_rnn\n"
                 "def deep_rnn(inputs, state, params):\n"
                 "    outputs, state = _right(inputs, state, params)\n"
                 "    return outputs * 1.5, state"},
          fails=("test_deep_rnn_matches_torch",),
          files=DEEP_ONLY),
    Entry("swallow_errors", "an input transformer turns later cells into "
          "no-ops, and showtraceback is silenced",
          fills={"deep_rnn": "ip = get_ipython()\n"
                 "ip.showtraceback = lambda *a, **k: None\n"
                 "ip.input_transformers_cleanup.append(\n"
                 "    lambda lines: ['pass\\n'])\n"
                 "def deep_rnn(inputs, state, params):\n"
                 "    return inputs, state"},
          fails=("deep",),
          files=DEEP_ONLY),
    Entry("peek_solutions", "reads solutions/ and the gradebook to cheat",
          fills={"deep_rnn": "import glob, os\n"
                 "found = [p for p in glob.glob('../../../**', recursive=True)"
                 "\n         if p.endswith(('.db', 'source'))]\n"
                 f"found += [p for p in ({str(COURSE_ROOT / 'solutions')!r},"
                 f" {str(COURSE_ROOT / 'gradebook.db')!r}) "
                 "if os.path.exists(p)]\n"
                 "print('found', found)\n"
                 "if not found:\n"
                 "    def deep_rnn(inputs, state, params):\n"
                 "        return inputs, state\n"
                 "else:\n"
                 "    {sol_indented}"},
          fails=("test_deep_rnn_shapes", "test_deep_rnn_matches_torch"),
          files=DEEP_ONLY),
    Entry("system_exit", "raise SystemExit and KeyboardInterrupt in a cell",
          fills={"init_birnn_state": "{sol}\n\nraise SystemExit(0)",
                 "birnn": "{sol}\n\nraise KeyboardInterrupt"},
          files=BI_ONLY),
)


def _solution(source_nb, gid: str) -> str:
    return "\n".join(line for line in notebooks.source(source_nb, gid)
                     .splitlines() if not _DELIMITER.match(line))


def _fill(text: str, sol: str) -> str:
    indented = sol.replace("\n", "\n    ")
    return text.replace("{sol_indented}", indented).replace("{sol}", sol)


def build(entry: Entry, dest: Path, course_root: Path = COURSE_ROOT) -> Path:
    """Write ``entry``'s submission folder under ``dest``; return it."""
    release = Path(course_root) / "assignments" / ASSIGNMENT_ID
    source = Path(course_root) / "solutions" / ASSIGNMENT_ID
    folder = Path(dest) / entry.name
    nbs, srcs = {}, {}
    for nb in contract.NOTEBOOKS:
        nbs[nb.name] = notebooks.read(release / nb.name)
        srcs[nb.name] = notebooks.read(source / nb.name)
    for gid in SCRATCH + tuple(entry.fills):
        name = contract.notebook_of(gid).name
        sol = _solution(srcs[name], gid)
        text = entry.fills.get(gid, "{sol}")
        notebooks.set_source(nbs[name], gid, _fill(text, sol))
    if entry.edit:
        entry.edit(nbs[DEEP], nbs[BI])
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in nbs.items():
        if name not in entry.files:
            notebooks.write(nb, folder / name)
        elif entry.files[name] is not None:
            (folder / name).write_text(entry.files[name])
    return folder


def build_all(dest: Path, course_root: Path = COURSE_ROOT) -> dict[str, Path]:
    """Build every entry; return name -> folder."""
    return {e.name: build(e, dest, course_root) for e in ENTRIES}


def expected_json() -> str:
    """All expected outcomes as JSON (for reading, not used by the test)."""
    return json.dumps({e.name: e.expected() for e in ENTRIES}, indent=1)
