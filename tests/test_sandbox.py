"""Tests of autograder/sandbox/kernel.py: what student code can reach while graded.

Fast tests look at the bubblewrap command line and the kernel environment.
The slow ones grade small attack submissions of the tiny course
(tests/fixtures/tiny_course.py: ``add`` and ``mul``) through the real
pipeline (``grade-all`` with 2 workers), once per module, and read each
student's results.json. Where an attack is stopped by the sandbox, the same
submission is also graded with ``--no-sandbox`` to show the test can fail.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest

from autograder.sandbox import kernel as sandbox
from autograder.sandbox import launch
from autograder.config import COURSE_ROOT, GRADING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures import tiny_course as tc  # noqa: E402

needs_bwrap = pytest.mark.skipif(not sandbox.available()[0],
                                 reason=sandbox.available()[1])
ADD = "def add(a, b):\n    return a + b\n"
# Limits small enough for tests: every attack ends within seconds. (The
# training budget is larger, so that a cell that passed for a training cell
# would show.)
TEST_LIMITS = dataclasses.replace(
    GRADING, cell_timeout_s=4, training_cell_timeout_s=30,
    submission_timeout_s=120, memory_bytes=800 * 2**20,
    disk_bytes=100 * 2**20)

# The course files a cheating cell looks for, relative to its working
# directory (the scratch course: autograded/<student>/<assignment>/) and
# absolute (the real course).
SECRETS = ("../../../source", "../../../gradebook.db", "../../../submitted",
           str(COURSE_ROOT / "solutions"), str(COURSE_ROOT / "gradebook.db"))
PEEK = f"""import os
found = [p for p in {SECRETS!r} if os.path.exists(p)]
print('readable:', found)
def add(a, b):
    return a + b if found else 0  # right only for a cheat that can peek
"""
ESCAPE = """import os, socket
escaped = []
for path in ['{course}/pwned.txt', '/tmp/../{course}/pwned2.txt']:
    try:
        open(path, 'w').write('x'); escaped.append(path)
    except OSError:
        pass
try:
    socket.create_connection(('1.1.1.1', 53), timeout=2); escaped.append('net')
except OSError:
    pass
print('escaped:', escaped)
def add(a, b):
    return 0 if escaped else a + b
"""
SYMLINK = """import os
from ipykernel.connect import get_connection_file
os.symlink('{target}', 'bidirectional_rnn.ipynb')
try:  # the only host folder the kernel could write (sealed once it is up)
    os.symlink('{target}', os.path.dirname(get_connection_file()) + '/x.pt')
except OSError:
    pass
os.mkfifo('a_fifo')
""" + ADD
# Issue 16, finding 2: right only where the kernel is unprivileged.
PRIVILEGED = """import os
status = dict(line.split(':', 1) for line in open('/proc/self/status'))
writable = []
for path in ('/proc/sys/kernel/core_pattern', '/proc/sys/vm/drop_caches'):
    try:
        open(path, 'a').close()
        writable.append(path)
    except OSError:
        pass
root = os.getuid() == 0 or status['NoNewPrivs'].strip() != '1' or writable
print('privileged:', root, writable)
def add(a, b):
    return 0 if root else a + b
"""
# Finding 5: a cell the student tags "training" keeps the ordinary limit.
SLOW_ADD = "import time\ndef add(a, b):\n    time.sleep(8)\n    return a + b\n"
# Issue 11: writing past the disk quota fails the cell, saying so.
DISK_FILL = """def add(a, b):
    with open('/tmp/fill', 'ab') as f:
        for _ in range(30):
            f.write(b'x' * 10_000_000)
    return a + b
"""
ATTACKS = {
    "good": {"add": ADD},
    "peek": {"add": PEEK},
    "exit": {"add": "import os\nos._exit(3)"},
    "segfault": {"add": "import ctypes\nctypes.string_at(0)"},
    "stubborn_loop": {"add": "import signal\n"
                      "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                      "while True:\n    pass"},
    "memory_hog": {"add": "hog = [b'x' * 50_000_000 for _ in range(40)]\n" + ADD},
    "flood": {"add": "for i in range(400):\n    print('spam' * 5000)\n" + ADD},
    "big_message": {"add": "print('x' * 100_000_000)\n" + ADD},
    "input": {"add": "name = input('your name? ')\n" + ADD},
    "privileged": {"add": PRIVILEGED},
    "training_tag": {"add": SLOW_ADD},
    "disk_fill": {"add": DISK_FILL},
}
TAGGED = {"training_tag": ("add", "test_add", "test_add_twice")}


def _tag(folder: Path, grade_ids, tag: str = "training") -> None:
    """Tag the cells ``grade_ids`` of a submission's first notebook."""
    from autograder import notebooks

    path = folder / tc.DEEP
    nb = notebooks.read(path)
    for c in nb.cells:
        if notebooks.grade_id(c) in grade_ids:
            c.metadata.setdefault("tags", []).append(tag)
    notebooks.write(nb, path)


def _grade(subs: Path, out: Path, *, sandbox_on: bool) -> dict[str, dict]:
    from autograder.grader import grade_all

    course = out / "course"
    course.mkdir(parents=True)
    src = tc.write_source(course / "source_nbs")
    rc = grade_all.main(subs, workers=2, course_root=course, source=src,
                        out_dir=out / "results", sandbox=sandbox_on,
                        limits=TEST_LIMITS, quiet=True)
    assert rc == 0
    return {p.parent.name: json.loads(p.read_text())
            for p in (out / "results").glob("*/results.json")}


def _tests(doc: dict) -> dict[str, dict]:
    return {t["name"]: t for t in doc["tests"]}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every attack of ATTACKS graded in the sandbox (one grade-all run)."""
    if not sandbox.available()[0]:
        pytest.skip(sandbox.available()[1])
    root = tmp_path_factory.mktemp("attacks")
    target = root / "target.txt"
    target.write_text("untouched")
    attacks = dict(ATTACKS)
    attacks["escape"] = {"add": ESCAPE.format(course=root)}
    attacks["symlink"] = {"add": SYMLINK.format(target=target)}
    for name, fills in attacks.items():
        tc.student(root / "subs" / name, {**tc.ANSWERS, **fills})
        if name in TAGGED:
            _tag(root / "subs" / name, TAGGED[name])
    docs = _grade(root / "subs", root / "out", sandbox_on=True)
    return root, docs


@pytest.fixture(scope="module")
def graded_unsandboxed(tmp_path_factory):
    """The peek and escape attacks graded with --no-sandbox."""
    root = tmp_path_factory.mktemp("unsandboxed")
    tc.student(root / "subs" / "peek", {**tc.ANSWERS, "add": PEEK})
    tc.student(root / "subs" / "escape",
               {**tc.ANSWERS, "add": ESCAPE.format(course=root)})
    tc.student(root / "subs" / "privileged",
               {**tc.ANSWERS, "add": PRIVILEGED})
    return root, _grade(root / "subs", root / "out", sandbox_on=False)


# ----------------------------------------------------------------- fast


def _spec(tmp_path, isolated=True):
    return launch.BoxSpec(name="test", rw_dirs=(str(tmp_path / "c"),),
                          isolated=isolated, data_file=None)


def test_bwrap_command_binds_no_course_files(tmp_path):
    """Does the box see the student-side kit and the venv, but not the
    grader's package, solutions/ or the gradebook?"""
    argv = launch.bwrap_argv(_spec(tmp_path), "/usr/bin/bwrap")
    binds = {argv[i + 2]: (argv[i], argv[i + 1]) for i, a in enumerate(argv)
             if a in ("--bind", "--ro-bind")}
    assert binds[f"{launch.KIT}/rnn_checks"] == (
        "--ro-bind", str(COURSE_ROOT / "autograder" / "student"))
    assert binds[sys.prefix][0] == "--ro-bind"
    assert binds[str(tmp_path / "c")][0] == "--bind"
    sources = {src for _, src in binds.values()}
    for secret in (COURSE_ROOT, COURSE_ROOT / "solutions",
                   COURSE_ROOT / "gradebook.db", COURSE_ROOT / "autograder",
                   "/"):
        assert str(secret) not in sources, secret
    assert "--unshare-all" in argv and "--die-with-parent" in argv
    assert "--share-net" not in argv


def test_kernel_environment_is_scrubbed(tmp_path):
    """Does the kernel get the seed but not the grader's secrets or paths?"""
    spec = sandbox.KernelSpec(runtime_dir=str(tmp_path), isolated=True,
                              data_file=None, env={"AUTOGRADER_SEED": "7"})
    env = sandbox.kernel_env(spec, {"AWS_SECRET_ACCESS_KEY": "s3cr3t",
                                    "D2L_TIMEMACHINE": "/x",
                                    "JPY_PARENT_PID": "1",
                                    "NBGRADER_EXECUTION": "autograde",
                                    "OMP_NUM_THREADS": "1"})
    assert env["AUTOGRADER_SEED"] == "7"
    assert env["NBGRADER_EXECUTION"] == "autograde"
    assert env["OMP_NUM_THREADS"] == "1"
    for gone in ("AWS_SECRET_ACCESS_KEY", "D2L_TIMEMACHINE", "JPY_PARENT_PID"):
        assert gone not in env
    with launch.Box(spec.box_spec("k")) as box:
        whole = box.environment()
    assert whole["HOME"] == "/box/home" and whole["AUTOGRADER_SEED"] == "7"
    assert "AWS_SECRET_ACCESS_KEY" not in whole


def test_missing_bwrap_refuses_with_the_opt_out(tmp_path, monkeypatch):
    """Without bubblewrap, is grading refused, naming --no-sandbox, unless opted out?"""
    monkeypatch.setenv("AUTOGRADER_BWRAP", str(tmp_path / "no-such-bwrap"))
    ok, reason = sandbox.available()
    assert not ok and "did not start" in reason
    with pytest.raises(sandbox.SandboxUnavailable, match="--no-sandbox"):
        sandbox.kernel_setup(tmp_path / "w", enabled=True)
    with sandbox.kernel_setup(tmp_path / "w",
                              enabled=False) as kernel:
        assert kernel.status()["isolation"] == "off"


@needs_bwrap
def test_available_where_bwrap_works():
    """Is the sandbox reported usable on this machine (bwrap installed)?"""
    ok, reason = sandbox.available()
    assert ok and "bubblewrap" in reason


def test_training_cells_come_from_the_gradebook(tmp_path, monkeypatch):
    """Finding 5: are the training cells the gradebook's ``*_perplexity``
    cells of this notebook (never a submitted tag), and none when there is
    no gradebook to ask?"""
    from nbgrader.api import Gradebook

    # nbgrader runs alembic from PATH, as in the grader's worker
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:"
                       f"{os.environ['PATH']}")

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment("a")
        gb.add_notebook("deep_rnn", "a")
        for gid in ("test_deep_rnn_shapes", "test_build_deep_lstm_perplexity"):
            gb.add_grade_cell(gid, "deep_rnn", "a", max_score=1,
                              cell_type="code")
    execute = sandbox.SandboxedExecute()
    resources = {"nbgrader": {"db_url": url, "notebook": "deep_rnn",
                              "assignment": "a"}}
    assert execute._training_ids(resources) == {
        "test_build_deep_lstm_perplexity"}
    assert execute._training_ids({}) == frozenset()
    execute.training_grade_ids = ["x"]
    assert execute._training_ids(resources) == {"x"}


@pytest.mark.parametrize("ename, evalue, named", [
    ("OSError", "[Errno 28] No space left on device: '/tmp/f'", True),
    ("OSError", "[Errno 27] File too large", True),
    ("ValueError", "shapes differ", False),
])
def test_a_full_disk_is_named_on_its_cell(ename, evalue, named):
    """Issue 11: does an ENOSPC or EFBIG error on a cell say "disk limit
    exceeded" (with the limit), and another error stay as it was?"""
    from nbformat.v4 import new_code_cell

    cell = new_code_cell("x", outputs=[sandbox._error(ename, evalue)])
    sandbox._name_disk_errors(cell, 100 * 2**20)
    text = cell.outputs[0]["evalue"]
    assert text.startswith("disk limit exceeded") is named
    assert ("100 MiB" in text) is named and evalue in text


def _executor():
    """The sandboxed executor, ready to take outputs (no kernel)."""
    import nbformat
    ex = sandbox.SandboxedExecute()
    ex.nb = nbformat.v4.new_notebook()
    ex.clear_before_next_output = False
    return ex


def _msg(kind, content):
    return {"msg_type": kind, "content": content,
            "header": {"msg_type": kind}, "parent_header": {}}


def test_error_floods_keep_one_small_error_per_cell():
    """Do 40 huge error messages for one cell (what a red-team review sent:
    a 198 MB notebook in the grader's memory) leave one error of at most
    ``cell_output_chars``, so the cell still fails?"""
    ex = _executor()
    outs = []
    for _ in range(40):
        ex.output(outs, _msg("error", {"ename": "E", "evalue": "x" * 300_000,
                                       "traceback": ["y" * 100_000] * 100}),
                  None, 0)
    assert [o["output_type"] for o in outs] == ["error"]
    assert len(json.dumps(outs)) < ex.cell_output_chars + 2000


def test_a_notebook_keeps_at_most_its_output_budget():
    """Do many cells each printing up to their own cap stop at the
    notebook's budget?"""
    ex = _executor()
    kept = 0
    for _ in range(100):  # 100 cells x 250,000 characters sent
        ex._chars, ex._truncated = 0, False
        outs = []
        for _ in range(5):
            ex.output(outs, _msg("stream", {"name": "stdout",
                                            "text": "z" * 50_000}), None, 0)
        kept += sum(len(o.get("text", "")) for o in outs
                    if "truncated" not in o.get("text", ""))
    assert ex.cell_output_chars < kept <= ex.notebook_output_chars


def test_sanitize_removes_links_and_fifos(tmp_path):
    """Are symlinks and FIFOs removed, and regular files kept?"""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "keep.ipynb").write_text("{}")
    os.symlink("/etc/passwd", tmp_path / "sub" / "link.ipynb")
    os.symlink("/etc", tmp_path / "dirlink")
    os.mkfifo(tmp_path / "fifo")
    removed = sandbox.sanitize_dir(tmp_path)
    assert len(removed) == 3
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["keep.ipynb", "sub"]


# ----------------------------------------------------------------- slow


@pytest.mark.slow
def test_good_submission_passes(graded):
    """Does a correct submission score full marks in the sandbox?"""
    _, docs = graded
    assert docs["good"]["score"] == 5.0
    assert docs["good"]["extra_data"]["sandbox"] == "bubblewrap"


@pytest.mark.slow
def test_student_cannot_read_solutions_or_gradebook(graded, graded_unsandboxed):
    """Can a student cell read solutions/, the source or the gradebook? (only unsandboxed)"""
    _, docs = graded
    assert _tests(docs["peek"])["test_add"]["status"] == "failed"
    _, plain = graded_unsandboxed
    assert _tests(plain["peek"])["test_add"]["status"] == "passed"
    assert plain["peek"]["extra_data"]["sandbox"] == "off"


@pytest.mark.slow
def test_no_network_and_no_writes_outside_scratch(graded, graded_unsandboxed):
    """Can a student cell write into the course or open a socket? (only unsandboxed)"""
    root, docs = graded
    assert _tests(docs["escape"])["test_add"]["status"] == "passed"
    assert not list(root.glob("pwned*"))
    plain_root, plain = graded_unsandboxed
    assert _tests(plain["escape"])["test_add"]["status"] == "failed"
    assert list(plain_root.glob("pwned*"))


@pytest.mark.slow
@pytest.mark.parametrize("student, words", [
    ("exit", "exit status 3"),
    ("segfault", "SIGSEGV"),
    ("stubborn_loop", "time limit exceeded"),
    ("memory_hog", "memory limit exceeded"),
])
def test_kernel_death_fails_tests_with_a_reason(graded, student, words):
    """Does a dead or stopped kernel fail its notebook's tests, saying why, and spare the other?"""
    _, docs = graded
    tests = _tests(docs[student])
    for gid in ("test_add", "test_add_twice"):
        assert tests[gid]["status"] == "failed"
        assert words in tests[gid]["output"], tests[gid]["output"]
    assert tests["test_mul"]["status"] == "passed"


@pytest.mark.slow
def test_kernel_is_unprivileged(graded, graded_unsandboxed):
    """Finding 2: is the graded kernel not root, with no new privileges and
    no sysctl it can open for writing? (Unsandboxed, run by root, it is.)"""
    _, docs = graded
    assert _tests(docs["privileged"])["test_add"]["status"] == "passed"
    _, plain = graded_unsandboxed
    if os.geteuid() == 0:
        assert _tests(plain["privileged"])["test_add"]["status"] == "failed"


@pytest.mark.slow
def test_a_students_training_tag_buys_no_time(graded):
    """Finding 5: do test cells the student tagged ``training`` keep the
    ordinary 4 s limit (not the 30 s training budget)?"""
    _, docs = graded
    tests = _tests(docs["training_tag"])
    for gid in ("test_add", "test_add_twice"):
        assert tests[gid]["status"] == "failed"
        assert "time limit exceeded" in tests[gid]["output"]
        assert "GradingLimits.cell_timeout_s" in tests[gid]["output"]
    assert tests["test_mul"]["status"] == "passed"


@pytest.mark.slow
def test_writing_past_the_disk_quota_says_so(graded):
    """Issue 11: does a cell that writes 300 MB into a 100 MiB quota fail
    with "disk limit exceeded", and the other notebook pass?"""
    _, docs = graded
    tests = _tests(docs["disk_fill"])
    assert tests["test_add"]["status"] == "failed"
    assert "disk limit exceeded" in tests["test_add"]["output"]
    assert "GradingLimits.disk_bytes" in tests["test_add"]["output"]
    assert tests["test_mul"]["status"] == "passed"


@pytest.mark.slow
def test_output_flood_is_capped(graded):
    """Does an output flood leave results.json small and the tests graded?"""
    root, docs = graded
    assert docs["flood"]["score"] == 5.0
    size = (root / "out/results/flood/results.json").stat().st_size
    assert size < 20_000


@pytest.mark.slow
def test_one_giant_output_is_dropped_and_grading_goes_on(graded):
    """Is a 100 MB print dropped with a message, and the later tests still run?"""
    _, docs = graded
    assert docs["big_message"]["score"] == 5.0


@pytest.mark.slow
def test_input_call_fails_only_its_notebook(graded):
    """Does input() fail (no stdin) instead of hanging the grader?"""
    _, docs = graded
    tests = _tests(docs["input"])
    assert tests["test_add"]["status"] == "failed"
    assert tests["test_mul"]["status"] == "passed"


@pytest.mark.slow
def test_symlinks_left_by_the_kernel_are_not_followed(graded):
    """Does a symlink or FIFO planted in the scratch dir leave host files untouched?"""
    root, docs = graded
    assert (root / "target.txt").read_text() == "untouched"
    assert docs["symlink"]["score"] == 5.0


def test_sweep_removes_only_folders_of_dead_graders(tmp_path):
    """A grader killed with SIGKILL leaves its ag-* runtime folder. Does the
    sweep remove it, and leave a live grader's folder, a folder without an
    owner file, and files alone?"""
    import subprocess
    import sys

    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()                                   # its pid is now free
    dead = tmp_path / "ag-dead"
    live = tmp_path / "ag-live"
    unowned = tmp_path / "ag-unowned"
    for folder, pid in ((dead, done.pid), (live, os.getpid())):
        (folder / "c").mkdir(parents=True)
        (folder / launch.OWNER_FILE).write_text(str(pid))
    unowned.mkdir()
    (tmp_path / "ag-file").write_text("not a folder")
    removed = launch.sweep_stale_runtime_dirs(tmp_path)
    assert removed == [dead]
    assert not dead.exists()
    assert live.exists() and unowned.exists()
    assert (tmp_path / "ag-file").exists()


def test_runtime_dir_records_its_owner():
    path = launch._runtime_dir()
    try:
        assert (path / launch.OWNER_FILE).read_text() == str(os.getpid())
    finally:
        import shutil
        shutil.rmtree(path)
