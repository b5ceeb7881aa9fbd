"""Tests of autograder/sandbox/launch.py: what a process in a box can do.

Each test starts small Python processes in real boxes (watchdog, cgroups,
the box's own uid, bubblewrap), as the grader does, and reads what they
could reach and what the box's status says. The findings of issue 16 each
have a test here (the corpus grades them end to end as well):

1 helpers never start from a student's folder; a daemon dies with its box
2 the box runs unprivileged: not root, no new privileges, /proc/sys
  read-only, setuid binaries useless
3 memory counts tmpfs and memfds; the root is read-only; one disk quota
4 threads count against the task limit
7 each box is fresh
10 each box gets an equal CPU share (slow)
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.sandbox import cgroups, launch, uids

OK, WHY = launch.available()
needs_bwrap = pytest.mark.skipif(not OK, reason=WHY)
needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the box keeps the grader's uid")
MiB = 2**20


def _spec(**kw) -> launch.BoxSpec:
    return launch.BoxSpec(name="test", **kw)


def _run(spec: launch.BoxSpec, code: str, *, timeout: float = 60,
         shared=()) -> tuple[int, str, dict]:
    """Run ``python -c code`` in a fresh box; (exit status, stdout,
    box.status())."""
    with launch.Box(spec, shared=shared) as box:
        proc = box.popen([sys.executable, "-c", code],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out, box.status()


def _has(control: str) -> bool:
    """Can this process make a cgroup for ``control``?"""
    group, _ = cgroups.create(f"{cgroups.PREFIX}{os.getpid()}-probe",
                              memory_bytes=0, max_tasks=0)
    if group is None:
        return False
    group.remove()
    return control in group.dirs


# ------------------------------------------------------------ 2: privileges

PRIVILEGES = r"""
import os, subprocess
status = dict(line.split(':', 1) for line in open('/proc/self/status'))
print('uid', os.getuid(), os.geteuid())
print('nnp', status['NoNewPrivs'].strip())
print('capeff', status['CapEff'].strip())
for path in ('/proc/sys/kernel/core_pattern', '/proc/sys/vm/drop_caches',
             '/proc/sysrq-trigger', '/proc/sys/kernel/hostname'):
    try:
        open(path, 'a').close()   # opened for writing, nothing written
        print('writable', path)
    except OSError as err:
        print('refused', path, err.errno)
run = subprocess.run(['/usr/bin/mount', '-t', 'tmpfs', 'x', '/box/work'],
                     capture_output=True, text=True)
print('mount', run.returncode)
"""


@needs_bwrap
@needs_root
def test_box_runs_unprivileged():
    """Finding 2: is the boxed process not root, with NoNewPrivs 1 and no
    capabilities, unable to open any sysctl or sysrq for writing, and does
    the setuid ``mount`` stay powerless?"""
    rc, out, status = _run(_spec(), PRIVILEGES)
    assert rc == 0, out
    lines = out.splitlines()
    uid, euid = lines[0].split()[1:]
    assert uid == euid != "0"
    assert int(uid) >= launch.SANDBOX.uid_base
    assert "nnp 1" in lines and "capeff 0000000000000000" in lines
    assert not [line for line in lines if line.startswith("writable")], out
    assert "mount 0" not in lines, out
    assert status["controls"]["uid"].startswith(uid)


@needs_bwrap
def test_root_is_read_only_and_writes_share_one_quota():
    """Finding 3 and issue 11: is / read-only, and do /box/work, /tmp and
    /dev/shm share one quota (30 MB each of a 50 MB quota: the third write
    hits "No space left")?"""
    code = r"""
import os
for path in ('/etc/x', '/x', '/usr/x'):
    try:
        open(path, 'w'); print('wrote', path)
    except OSError as err:
        print('refused', path, err.errno)
for path in ('/box/work/a', '/tmp/b', '/dev/shm/c'):
    try:
        with open(path, 'wb') as f:
            f.write(b'x' * 20_000_000)
        print('wrote', path)
    except OSError as err:
        print('full', path, err.errno)
"""
    rc, out, status = _run(_spec(disk_bytes=50 * MiB), code)
    assert rc == 0, out
    assert "wrote /x" not in out and "wrote /etc/x" not in out
    assert "wrote /box/work/a" in out and "wrote /tmp/b" in out
    assert "full /dev/shm/c 28" in out, out
    assert status["controls"]["disk"] == "tmpfs of 50 MiB"


# ---------------------------------------------------- 3 and 4: what counts

MEMFD = r"""
import os, time
fds = [os.memfd_create('hog') for _ in range(3)]
for fd in fds:
    for _ in range(10):
        os.write(fd, b'x' * 10_000_000)
print('held 300 MB')
time.sleep(30)
"""


@needs_bwrap
@pytest.mark.skipif(not OK or not _has("memory"),
                    reason="no memory cgroup here: tmpfs and memfds are not "
                    "counted (the box says so in its status)")
@pytest.mark.parametrize("where", ["memfd", "/dev/shm"])
def test_memfd_and_tmpfs_count_as_memory(where):
    """Finding 3: is a process holding 300 MB in memfds, or in files of
    /dev/shm, stopped at a 200 MiB memory limit, with the limit's words?"""
    code = MEMFD if where == "memfd" else (
        "import time\nfor i in range(30):\n"
        "    open(f'/dev/shm/f{i}', 'wb').write(b'x' * 10_000_000)\n"
        "time.sleep(30)")
    rc, out, status = _run(_spec(memory_bytes=200 * MiB), code)
    assert rc != 0
    assert (status["limit_hit"] or "").startswith("memory limit exceeded"), (
        status, out)
    assert "cgroup" in status["controls"]["memory"]


THREADS = r"""
import threading, time
n = 0
try:
    for _ in range(3000):
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        n += 1
except RuntimeError as err:
    print('refused after', n, err)
time.sleep(30)
"""


@needs_bwrap
@pytest.mark.parametrize("use_cgroups", [True, False],
                         ids=["cgroups", "no-cgroups"])
def test_threads_count_against_the_task_limit(use_cgroups):
    """Finding 4: are 3,000 threads stopped at a 100-task limit with
    "process limit exceeded", with cgroups and (RLIMIT_NPROC of the box's
    uid, and the watchdog's count) without?"""
    rc, out, status = _run(_spec(max_tasks=100, cgroups=use_cgroups),
                           THREADS)
    assert rc != 0
    assert (status["limit_hit"] or "").startswith("process limit exceeded")
    assert status["watchdog"]["peak_tasks"] <= 100 + launch.NPROC_MARGIN
    if not use_cgroups:
        assert "cgroups are turned off" in " ".join(status["fallback"])


def test_fallbacks_are_reported():
    """Without cgroups, does the box say that memory falls back to the
    watchdog's sampled count, and why?"""
    with launch.Box(_spec(cgroups=False, isolated=False)) as box:
        status = box.status()
    assert "watchdog" in status["controls"]["memory"]
    assert "watchdog" in status["controls"]["tasks"]
    assert status["fallback"] == ["cgroups are turned off "
                                  "(SandboxConfig.cgroups)"]


# ------------------------------------------------- 1 and 7: nothing stays

PLANT = r"""
import os, subprocess, sys
marker = sys.argv[1]
payload = f"open({marker!r}, 'w').write('pwned')\n"
for folder in {os.getcwd(), os.path.expanduser('~'), '/tmp', '/dev/shm',
               *sys.argv[2:]}:
    for rel in ('autograder/__init__.py', 'autograder/sandbox/__init__.py',
                'sitecustomize.py', 'usercustomize.py'):
        try:
            os.makedirs(os.path.dirname(os.path.join(folder, rel)),
                        exist_ok=True)
            open(os.path.join(folder, rel), 'w').write(payload)
        except OSError:
            pass
    try:
        open(os.path.join(folder, 'left-behind'), 'w').write('x')
    except OSError:
        pass
subprocess.Popen([sys.executable, '-c',
                  'import time; time.sleep(120)  # ag-test-daemon'],
                 start_new_session=True)
"""
SEE = r"""
import glob, os, sys
own = os.path.dirname(sys.argv[1])   # this box's connection folder's
seen = [p for d in ('/box/work', '/box/home', '/tmp', '/dev/shm', own)
        for p in glob.glob(d + '/*')
        if not sys.argv[1].startswith(p)
        and not sys.prefix.startswith(p)]  # the bound venv's own folders
print('seen', seen)
"""


def _daemons() -> list[int]:
    """Processes whose command line holds this module's daemon token."""
    found = []
    for entry in os.scandir("/proc"):
        try:
            cmd = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        if entry.name.isdigit() and b"ag-test-daemon" in cmd:
            found.append(int(entry.name))
    return found


@needs_bwrap
def test_planted_packages_and_daemons_do_not_outlive_the_box(tmp_path):
    """Findings 1 and 7: a box plants an ``autograder`` package and
    sitecustomize.py wherever it can write, leaves a file, and starts a
    setsid'd daemon. Does the next box (whose watchdog is a host Python
    process) leave the host marker untouched and see none of it, and is
    the daemon gone?"""
    marker = tmp_path / "marker.txt"
    marker.write_text("untouched")
    spec = _spec()
    with launch.Box(spec, shared=("c",)) as box:
        proc = box.popen([sys.executable, "-c", PLANT, str(marker),
                          str(box.shared["c"])],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
        proc.communicate(timeout=60)
        time.sleep(0.5)
    assert not _daemons()
    with launch.Box(spec, shared=("c",)) as box:
        proc = box.popen([sys.executable, "-c", SEE, str(box.shared["c"])],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "seen []" in out, out
    assert marker.read_text() == "untouched"


def test_the_watchdog_starts_isolated_from_the_grader_folder(tmp_path):
    """Finding 1: does the watchdog start with ``python -I`` from the
    box's runtime folder (the grader's own, not writable by the box), and
    is its environment free of PYTHONPATH-style variables from the host?"""
    with launch.Box(_spec(isolated=False)) as box:
        cmd = box.command(["true"])
        kwargs = box.popen_kwargs()
        assert cmd[:4] == [sys.executable, "-I", "-m",
                           "autograder.sandbox.watchdog"]
        assert kwargs["cwd"] == str(box.runtime)
        assert box.runtime.stat().st_uid == os.getuid()


@needs_bwrap
@needs_root
def test_concurrent_boxes_get_their_own_uids():
    """Do two boxes open at once run as two different uids, and is a uid
    free again once its box is closed?"""
    with launch.Box(_spec()) as a, launch.Box(_spec()) as b:
        assert a.slot.uid != b.slot.uid
        first = a.slot.uid
    with launch.Box(_spec()) as c:
        assert c.slot.uid == first


def test_uid_lock_frees_with_its_holder():
    """Is a uid claimed by a process that died free for the next claim?"""
    code = ("from autograder.sandbox import uids; import os; "
            "s = uids.claim(base=3_900_000, count=1, wait_s=0); "
            "print(s.uid, flush=True); os._exit(0)")
    run = subprocess.run([sys.executable, "-I", "-c", code],
                         capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "3900000", run.stderr
    slot = uids.claim(base=3_900_000, count=1, wait_s=0)
    try:
        with pytest.raises(uids.NoFreeUid):
            uids.claim(base=3_900_000, count=1, wait_s=0)
    finally:
        slot.release()


# -------------------------------------------------------------- cgroups


V1_CGROUP = "4:memory:/jobs/42\n8:pids:/\n1:cpu,cpuacct:/\n0::/\n"
V1_MOUNTS = (
    "30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    "31 25 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
    "32 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "33 25 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")


def test_v1_hierarchies_are_found():
    """Are cgroup v1's memory, pids and cpu hierarchies found from
    /proc/self/cgroup and mountinfo, with this process's group in each?"""
    found = cgroups.hierarchies(V1_CGROUP, V1_MOUNTS)
    assert found["memory"] == cgroups.Hierarchy(
        1, Path("/sys/fs/cgroup/memory"), "/jobs/42")
    assert found["memory"].here == Path("/sys/fs/cgroup/memory/jobs/42")
    assert found["cpu"].mount == Path("/sys/fs/cgroup/cpu,cpuacct")
    assert found["pids"].version == 1


def test_v2_hierarchy_needs_its_controllers(tmp_path):
    """On cgroup v2, is a controller used only when the root lists it in
    cgroup.controllers?"""
    (tmp_path / "cgroup.controllers").write_text("cpu pids\n")
    mounts = f"40 25 0:30 / {tmp_path} rw - cgroup2 cgroup2 rw\n"
    found = cgroups.hierarchies("0::/user.slice/grader\n", mounts)
    assert set(found) == {"cpu", "pids"}
    assert found["pids"].here == tmp_path / "user.slice/grader"


def test_missing_controllers_are_named():
    """With no cgroup mounted, does create() give no group and say why for
    each controller?"""
    group, why = cgroups.create("ag-1-x", memory_bytes=1, max_tasks=1,
                                hier={})
    assert group is None
    assert len(why) == 3 and all("no " in w and "cgroup" in w for w in why)


@pytest.mark.skipif(not _has("pids"), reason="no pids cgroup here")
def test_sweep_removes_groups_of_dead_graders():
    """Is a box group named after a dead grader removed, and one of this
    live process kept?"""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    dead, _ = cgroups.create(f"{cgroups.PREFIX}{done.pid}-t", memory_bytes=0,
                             max_tasks=0)
    live, _ = cgroups.create(f"{cgroups.PREFIX}{os.getpid()}-t",
                             memory_bytes=0, max_tasks=0)
    try:
        removed = cgroups.sweep()
        assert set(dead.folders()) <= set(removed)
        assert all(f.is_dir() for f in live.folders())
    finally:
        live.remove()
        dead.remove()


# ------------------------------------------------------------- 10: CPU

# Each spinner in a session of its own, as in the finding (the kernel's
# autogroups would otherwise share the CPU per session already).
SPIN = ("import multiprocessing as mp, os, time\n"
        "def spin():\n    os.setsid()\n    while True:\n        pass\n"
        "procs = [mp.Process(target=spin) for _ in range({n})]\n"
        "[p.start() for p in procs]\n"
        "time.sleep({seconds})\n"
        "t = os.times()\n"
        "print(t.children_user + t.children_system)\n")


def _cpu_seconds(box: launch.Box) -> float:
    """CPU seconds used so far by the processes of a box's cgroup."""
    total = 0
    for pid in cgroups.members(box.group.dirs["cpu"]):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]
        except OSError:
            continue
        utime, stime = fields.split()[11:13]
        total += int(utime) + int(stime)
    return total / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
@needs_bwrap
@pytest.mark.skipif(not _has("cpu"), reason="no cpu cgroup here")
def test_a_box_of_spinners_gets_one_share():
    """Finding 10: with 2 setsid'd spinners in one box and 16 in another,
    does the first still get at least 2/3 of the second's CPU (without a
    share per box it gets about 1/8)?"""
    spec = _spec(max_processes=64)
    code_a = SPIN.replace("{n}", "2").replace("{seconds}", "8")
    code_b = SPIN.replace("{n}", "16").replace("{seconds}", "8")
    with launch.Box(spec) as a, launch.Box(spec) as b:
        procs = [box.popen([sys.executable, "-c", code],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
                 for box, code in ((a, code_a), (b, code_b))]
        time.sleep(3)                 # both running: measure 4 s
        start = _cpu_seconds(a), _cpu_seconds(b)
        time.sleep(4)
        used_a, used_b = (_cpu_seconds(a) - start[0],
                          _cpu_seconds(b) - start[1])
        for p in procs:
            p.kill()
            p.wait()
    assert used_a >= 2 / 3 * used_b, (used_a, used_b)


def test_spec_round_trips_with_the_new_limits():
    """Do the new BoxSpec fields survive dump() and load()?"""
    spec = dataclasses.replace(_spec(), disk_bytes=5, max_tasks=6,
                               cpu_quota=0.5, cgroups=False,
                               rw_dirs=("/a",))
    assert launch.BoxSpec.load(spec.dump()) == spec
