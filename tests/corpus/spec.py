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
        passes: tests outside BASE_PASSES this entry must pass (a right
            answer BASE leaves as a stub).
    """

    name: str
    attack: str
    fills: dict = dataclasses.field(default_factory=dict)
    fails: tuple = ()
    says: dict = dataclasses.field(default_factory=dict)
    edit: object = None
    files: dict = dataclasses.field(default_factory=dict)
    passes: tuple = ()

    def expected(self) -> dict[str, str]:
        """grade_id -> "pass" / "FAIL" for every autograded test."""
        fails = set()
        for nb in contract.NOTEBOOKS:  # left out or unreadable: all fail
            if nb.name in self.files:
                fails |= set(nb.tests)
        for f in self.fails:
            fails |= set({"deep": DEEP_SCRATCH_TESTS,
                          "bi": BI_SCRATCH_TESTS}.get(f, (f,)))
        passing = (BASE_PASSES | set(self.passes)) - fails
        return {t: "pass" if t in passing else "FAIL" for t in ALL_TESTS}


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
    # The self-checks turned into no-ops, a wrong deep_rnn. (Before issue 11
    # the test cells then recorded no evidence and all three deep tests
    # failed; now the grader calls the functions itself, and the correct
    # get_deep_rnn_params keeps its points.)
    Entry("patch_nbtests", "replaces the self-checks (rnn_checks) by no-ops",
          fills={"deep_rnn": "import rnn_checks\n"
                 "for _n in dir(rnn_checks):\n"
                 "    if not _n.startswith('_') and callable(getattr(rnn_checks, _n)):\n"
                 "        setattr(rnn_checks, _n, lambda *a, **k: print('passed'))\n"
                 "def deep_rnn(inputs, state, params):\n"
                 "    return inputs, state"},
          fails=("test_deep_rnn_shapes", "test_deep_rnn_matches_torch"),
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
          # (the grader's worker has no IPython shell: the cell raises and
          # deep_rnn is not defined; get_deep_rnn_params keeps its points)
          fails=("test_deep_rnn_shapes", "test_deep_rnn_matches_torch"),
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


# ==========================================================================
# Issue 16: sandbox escapes and resource limits (one entry per finding that
# a submission can carry; finding 6 is the grading channel's, 8 and 9 are
# tested where they happen: tests/test_submission.py, the feedback tests).
# An escape aims at MARKER, a host file that tests/test_corpus.py plants
# before grading and finds untouched after (escapes_seen()).
# ==========================================================================

import os  # noqa: E402
import tempfile  # noqa: E402

MARKER = Path(tempfile.gettempdir()) / f"ag-corpus-marker-{os.getpid()}.txt"
SPINNER = "ag-corpus-spinner"

# Finding 1: a package named like the grader's (and Python's start-up
# hooks) planted wherever the kernel can write; imported by any host
# Python that starts from there, it would rewrite MARKER.
_PLANT = f'''
import os
_payload = "open({str(MARKER)!r}, 'w').write('pwned')\\n"
_dirs = {{os.getcwd(), os.path.expanduser('~'), '/tmp', '/dev/shm', '..',
         '../..'}}
try:
    from ipykernel.connect import get_connection_file
    _dirs.add(os.path.dirname(get_connection_file()))
except Exception:
    pass
for _d in _dirs:
    for _rel in ('autograder/__init__.py', 'autograder/sandbox/__init__.py',
                 'autograder/sandbox/watchdog.py', 'nbgrader/__init__.py',
                 'sitecustomize.py', 'usercustomize.py',
                 'nbgrader_config.py', 'jupyter_config.py'):
        try:
            os.makedirs(os.path.join(_d, os.path.dirname(_rel)),
                        exist_ok=True)
            open(os.path.join(_d, _rel), 'w').write(_payload)
        except OSError:
            pass
'''
# Finding 2: wrong unless the kernel is unprivileged (opened for writing,
# nothing is written).
_PRIVILEGED = '''
import os
_status = dict(line.split(':', 1) for line in open('/proc/self/status'))
_writable = []
for _p in ('/proc/sys/kernel/core_pattern', '/proc/sys/vm/drop_caches',
           '/proc/sysrq-trigger'):
    try:
        open(_p, 'a').close()
        _writable.append(_p)
    except OSError:
        pass
if os.getuid() == 0 or _status['NoNewPrivs'].strip() != '1' or _writable:
    print('privileged:', os.getuid(), _writable)
    def deep_rnn(inputs, state, params):
        return inputs, state
'''
# Finding 3: 2.7 GB in three memfds (each under RLIMIT_FSIZE), never mapped.
_MEMFD = '''
import os
_fds = [os.memfd_create('hog') for _ in range(3)]
for _fd in _fds:
    for _ in range(9):
        os.write(_fd, b'x' * 100_000_000)
'''
# Finding 3 / issue 11: deep_rnn fills /dev/shm when called (in the test).
_SHM_FILL = '''
_right = deep_rnn
def deep_rnn(inputs, state, params):
    with open('/dev/shm/fill', 'ab') as f:
        for _ in range(20):
            f.write(b'x' * 100_000_000)
    return _right(inputs, state, params)
'''
# Finding 4: deep_rnn, when called, starts 3,000 sleeping threads (a
# refused thread is caught) and waits: the box is stopped while it waits.
_THREADS = '''
import threading, time
_right = deep_rnn
def deep_rnn(inputs, state, params):
    try:
        for _ in range(3000):
            threading.Thread(target=time.sleep, args=(600,),
                             daemon=True).start()
    except RuntimeError:
        pass
    time.sleep(60)
    return _right(inputs, state, params)
'''
# Finding 5: the first call of deep_rnn sleeps 45 s, in a test cell the
# student tagged "training" (the corpus's cell limit is 30 s).
_SLEEP_ONCE = '''
_right, _slept = deep_rnn, []
def deep_rnn(inputs, state, params):
    if not _slept:
        _slept.append(1)
        import time
        time.sleep(45)
    return _right(inputs, state, params)
'''


def _tag_training(deep, bi):
    """Tag deep_rnn's cell and its first test ``training``."""
    for gid in ("deep_rnn", "test_deep_rnn_shapes"):
        notebooks.cell(deep, gid).metadata.setdefault("tags", []).append(
            "training")


# Finding 7: the first notebook leaves files wherever it can write; the
# second is wrong if it sees any.
_LEAVE = '''
import os
for _d in ('.', os.path.expanduser('~'), '/tmp', '/dev/shm', '..'):
    try:
        open(os.path.join(_d, 'ag-left-behind'), 'w').write('x')
    except OSError:
        pass
'''
_LOOK = '''
import glob, os
_seen = [p for _d in ('.', os.path.expanduser('~'), '/tmp', '/dev/shm', '..')
         for p in glob.glob(os.path.join(_d, 'ag-left-behind'))]
if _seen:
    print('seen', _seen)
    def get_birnn_params(vocab_size, num_hiddens, device):
        return []
'''
# Finding 10: 50 setsid'd spinners, started in the last solution cell
# (leaks_future stays unsolved, as in BASE).
_SPINNERS = f'''
import subprocess, sys
for _ in range(50):
    subprocess.Popen([sys.executable, '-c', 'while True: pass  # {SPINNER}'],
                     start_new_session=True)
'''

# The escapes import os, ctypes, subprocess...: beside what the sandbox
# stops, the scratch rule (autograder/grader/scratch_rule.py) refuses those
# imports in any solution cell, so the notebook's *_matches_torch fails too.
_RULE_DEEP = ("test_deep_rnn_matches_torch",)
_RULE_BI = ("test_birnn_matches_torch",)

ENTRIES = ENTRIES + (
    Entry("plant_host_code", "finding 1: plants an autograder package, "
          "sitecustomize.py and nbgrader_config.py wherever it can write",
          fills={"deep_rnn": "{sol}\n" + _PLANT},
          fails=_RULE_DEEP),
    Entry("sysctl_write", "finding 2: opens core_pattern and sysrq-trigger "
          "for writing; wrong if it runs privileged",
          fills={"deep_rnn": "{sol}\n" + _PRIVILEGED}, fails=_RULE_DEEP,
          files=DEEP_ONLY),
    Entry("memfd_hog", "finding 3: 2.7 GB in memfds, past the memory limit",
          fills={"deep_rnn": "{sol}\n" + _MEMFD}, fails=("deep",),
          says={"test_deep_rnn_shapes": "memory limit exceeded"},
          files=DEEP_ONLY),
    Entry("shm_fill", "finding 3, issue 11: deep_rnn writes 2 GB to "
          "/dev/shm, past the disk quota",
          fills={"deep_rnn": "{sol}\n" + _SHM_FILL},
          fails=("test_deep_rnn_shapes", "test_deep_rnn_matches_torch"),
          says={"test_deep_rnn_shapes": "disk limit exceeded"},
          files=DEEP_ONLY),
    Entry("thread_bomb", "finding 4: deep_rnn starts 3,000 threads",
          fills={"deep_rnn": "{sol}\n" + _THREADS}, fails=("deep",),
          says={"test_deep_rnn_shapes": "process limit exceeded"},
          files=DEEP_ONLY),
    Entry("training_tag", "finding 5: tags its slow test cell 'training' "
          "to get the training budget",
          fills={"deep_rnn": "{sol}\n" + _SLEEP_ONCE}, edit=_tag_training,
          fails=("test_deep_rnn_shapes",),
          says={"test_deep_rnn_shapes": "time limit exceeded"},
          files=DEEP_ONLY),
    Entry("folder_leak", "finding 7: the first notebook leaves files for "
          "the second; wrong if they are seen",
          fills={"deep_rnn": "{sol}\n" + _LEAVE,
                 "get_birnn_params": "{sol}\n" + _LOOK},
          fails=_RULE_DEEP + _RULE_BI),
    Entry("spinners", "finding 10: 50 setsid'd CPU spinners",
          fills={"leaks_future": _SPINNERS}, fails=_RULE_BI,
          files=BI_ONLY),
    Entry("linked_solutions", "issue 11: both notebooks are symbolic links "
          "to the course's solutions/ (as unzip restores them)",
          fails=("deep", "bi"),
          says={"test_deep_rnn_shapes": "symbolic link"}),
    Entry("zip_bomb", "issue 11: a small .zip that would unzip to 150 MB",
          fails=("deep", "bi"),
          says={"test_deep_rnn_shapes": "would unzip to 150 MB"}),
)


def _link_to_solutions(folder: Path, course_root: Path) -> None:
    """Replace the notebooks by links to the solutions."""
    for nb in contract.NOTEBOOKS:
        (folder / nb.name).unlink()
        (folder / nb.name).symlink_to(
            Path(course_root) / "solutions" / ASSIGNMENT_ID / nb.name)


def _zip_bomb(folder: Path, course_root: Path) -> None:
    """Replace the folder by ``<name>.zip``: the notebooks and 150 MB of
    blanks after deep_rnn.ipynb's JSON (~150 KB compressed)."""
    import shutil
    import zipfile

    with zipfile.ZipFile(folder.with_suffix(".zip"), "w",
                         zipfile.ZIP_DEFLATED) as zf:
        for nb in contract.NOTEBOOKS:
            with zf.open(nb.name, "w", force_zip64=True) as member:
                member.write((folder / nb.name).read_bytes())
                if nb is contract.DEEP_RNN:
                    for _ in range(150):
                        member.write(b" " * 10**6)
    shutil.rmtree(folder)


# Entries that are not a plain folder of notebooks: made from one.
_AFTER_BUILD = {"linked_solutions": _link_to_solutions,
                "zip_bomb": _zip_bomb}
_build_all_folders = build_all


def build_all(dest: Path, course_root: Path = COURSE_ROOT) -> dict[str, Path]:
    """Build every entry; return name -> its folder (or .zip)."""
    built = _build_all_folders(dest, course_root)
    for name, make in _AFTER_BUILD.items():
        make(built[name], course_root)
        if name == "zip_bomb":
            built[name] = built[name].with_suffix(".zip")
    return built


def plant_marker() -> Path:
    """Write the host marker the escapes aim at (before grading)."""
    MARKER.write_text("untouched")
    return MARKER


def escapes_seen() -> list[str]:
    """What the escapes left on the host (after grading): [] when none."""
    seen = []
    if MARKER.read_text() != "untouched":
        seen.append(f"{MARKER} was rewritten")
    for entry in os.scandir("/proc"):
        try:
            cmd = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        if entry.name.isdigit() and SPINNER.encode() in cmd and \
                b"-c" in cmd:
            seen.append(f"a spinner still runs (pid {entry.name})")
    return seen


# Issue 11's attacks on the grading boundary (tests/corpus/boundary.py).
from corpus import boundary  # noqa: E402

ENTRIES = ENTRIES + boundary.ENTRIES
