"""Tests of autograder/grader/cluster.py: grading a class on a Dask cluster.

The fast tests check the worker's check (kit, pins, sandbox, data) on its
own and on an in-process Dask cluster, the windowed submission, and the
command line. The slow test starts a real ``dask scheduler`` and two
``dask worker`` processes from the kit's environment, grades a small class
through them, SIGKILLs one worker mid-batch, and compares with a local run.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from distributed import Client, LocalCluster, as_completed, get_worker

import autograder
from autograder import cli, config
from autograder.grader import cluster, grade, grade_all, publish, results
from autograder.grader import gradebook as gbook
from autograder.grader.errors import GraderError
from autograder.sandbox import launch
from fixtures import tiny_course as tc

DASK = Path(sys.executable).parent / "dask"


@pytest.fixture(autouse=True)
def _fresh_checks():
    """Each test checks the worker afresh (the checks are cached)."""
    for cached in (cluster.refusal, cluster._sandbox_here,
                   cluster._data_here):
        cached.cache_clear()
    yield


@pytest.fixture
def wanted() -> cluster.Requirements:
    """What this machine has, without the sandbox: a worker here agrees."""
    return cluster.requirements(sandbox=False)


def _differ(req, *, kit=None, **pins) -> cluster.Requirements:
    """``req`` with another kit version and other pinned versions."""
    changed = tuple((n, pins.get(n, v)) for n, v in req.pins)
    return dataclasses.replace(req, kit=kit or req.kit, pins=changed)


def _wait(condition, timeout=30.0):
    """Poll ``condition`` until it gives something true (returned), or
    ``timeout`` seconds pass (None)."""
    end = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > end:
            return None
        time.sleep(0.2)
    return found


# ------------------------------------------------------------ the check


def test_kit_version_is_the_version_and_a_hash_of_the_sources(tmp_path):
    """Does the kit version change when one source byte changes, and only
    then?"""
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    first = cluster.kit_version(tmp_path)
    assert first.startswith(autograder.__version__ + "+")
    assert cluster.kit_version(tmp_path) == first
    (tmp_path / "sub" / "b.py").write_text("y = 3\n")
    assert cluster.kit_version(tmp_path) != first


def test_pins_are_read_from_the_requirements_files(tmp_path):
    """Are the pinned names read from requirements.txt and
    requirements-d2l.txt, comments and blank lines skipped?"""
    (tmp_path / "requirements.txt").write_text(
        "# a comment\n\ntorch==2.14.1  # why\nSQLAlchemy==2.1.9\n")
    (tmp_path / "requirements-d2l.txt").write_text("d2l==0.17.6\n")
    assert cluster.pinned_names(tmp_path) == ["torch", "SQLAlchemy", "d2l"]
    assert cluster.installed(["no-such-package"]) == {
        "no-such-package": "not installed"}


def test_the_kit_pins_torch_and_distributed(wanted):
    """Does the client require the same torch, distributed and Python as
    it has?"""
    pins = dict(wanted.pins)
    assert pins["python"] == sys.version.split()[0]
    assert {"torch", "distributed", "nbgrader", "d2l"} <= set(pins)


def test_a_worker_like_the_client_agrees(wanted):
    """Does a worker with the client's kit, pins and data agree?"""
    assert cluster.refusal(wanted) is None


def test_a_worker_with_another_kit_or_pins_refuses(wanted):
    """Does a worker whose kit and torch differ refuse, saying what it has
    and what the client has?"""
    why = cluster.refusal(_differ(wanted, kit="0.0.9+abc", torch="1.0.0"))
    here = dict(wanted.pins)["torch"]
    assert f"kit {wanted.kit} != the client's 0.0.9+abc" in why
    assert f"torch {here} != the client's 1.0.0" in why
    assert "requirements.lock.txt" in why


def test_a_worker_without_the_sandbox_refuses(wanted, monkeypatch):
    """Does a worker that cannot sandbox refuse a client that grades in
    the sandbox, and only such a client?"""
    monkeypatch.setattr(cluster, "_sandbox_here", lambda: (
        False, "bubblewrap (bwrap) is not installed"))
    boxed = dataclasses.replace(wanted, sandbox=True)
    assert cluster.refusal(boxed) == (
        "sandbox: bubblewrap (bwrap) is not installed, but the client "
        "grades in the sandbox")
    assert cluster.refusal(wanted) is None


def test_a_worker_without_the_data_refuses(wanted, monkeypatch, tmp_path):
    """Does a worker without the Time Machine text refuse?"""
    from autograder import data

    monkeypatch.setenv(data.DATA.env_var, str(tmp_path / "missing.txt"))
    monkeypatch.setattr(data, "DATA", dataclasses.replace(
        data.DATA, shared_dir=tmp_path, d2l_cache_dir=str(tmp_path)))
    assert "timemachine.txt not found" in cluster.refusal(wanted)


# ----------------------------------------------- the check, on a cluster


@pytest.fixture
def in_process():
    """A Dask scheduler and one worker in this process, and a client."""
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as local, \
            Client(local, set_as_default=False) as client:
        yield local, client


def test_a_mismatched_worker_is_refused_and_retired(in_process, wanted):
    """Is a worker whose kit differs refused with its address and why, and
    retired, so that no task can reach it?"""
    _, client = in_process
    (address,) = client.nthreads()
    with pytest.raises(GraderError) as err:
        cluster.admit(client, _differ(wanted, kit="0.0.9+abc"))
    assert str(err.value).startswith(
        f"no worker can grade: worker {address} refuses to grade: kit ")
    assert "!= the client's 0.0.9+abc" in str(err.value)
    assert _wait(lambda: not client.nthreads())


def test_a_matching_worker_is_admitted(in_process, wanted):
    """Is a worker like the client admitted, and kept?"""
    _, client = in_process
    assert cluster.admit(client, wanted) == []
    assert len(client.nthreads()) == 1


def test_a_worker_joining_later_checks_itself(wanted):
    """Does a worker that joins after the client's check, and differs,
    close itself?"""
    with LocalCluster(n_workers=0, threads_per_worker=1, processes=False,
                      dashboard_address=None) as local, \
            Client(local, set_as_default=False) as client:
        client.register_plugin(cluster.KitCheck(_differ(wanted, kit="0.9")))
        local.scale(1)
        assert _wait(lambda: local.workers and all(
            w.status.name == "closed" for w in local.workers.values()))
        assert not client.nthreads()


def test_kernels_share_the_cores_of_all_workers_on_a_machine(monkeypatch):
    """With two one-thread workers on an 8-core machine, does each kernel
    get 4 threads (as a local run with two workers would)?"""
    monkeypatch.setattr(cluster.os, "cpu_count", lambda: 8)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as local, \
            Client(local, set_as_default=False) as client:
        got = client.submit(lambda: cluster.threads_per_kernel(
            get_worker())).result()
    assert got == 4


def test_an_unreachable_scheduler_is_one_line(monkeypatch):
    """Is an unreachable scheduler reported in one line with its address?"""
    monkeypatch.setattr(config, "CLUSTER", dataclasses.replace(
        config.CLUSTER, connect_timeout_s=1.0))
    with pytest.raises(GraderError, match="cannot reach the Dask scheduler "
                       "at tcp://127.0.0.1:9"):
        cluster.connect("tcp://127.0.0.1:9")


def test_submissions_go_a_window_at_a_time(in_process):
    """Is each submission yielded exactly once, never more than the window
    in flight, with an unreadable one yielded as its error?"""
    _, client = in_process
    todo = {f"s{i}": Path(f"/nowhere/s{i}") for i in range(7)}
    in_flight, most = set(), []

    def submit(student, path):
        if student == "s3":
            raise GraderError("s3.txt is neither a folder nor a .zip")
        in_flight.add(student)
        most.append(len(in_flight))
        return client.submit(str, path, key=f"t-{student}", pure=False)

    got = {}
    for student, future in cluster._as_they_finish(
            todo, submit, as_completed(loop=client.loop), lambda: 2):
        assert student not in got
        got[student] = future
        in_flight.discard(student)
    assert set(got) == set(todo)
    assert max(most) <= 2
    with pytest.raises(GraderError, match="neither a folder"):
        got["s3"].result()
    assert got["s5"].result() == "/nowhere/s5"


def test_command_line_passes_the_cluster_and_resources(monkeypatch):
    """Does ``grade-all DIR --cluster ADDRESS --resources GPU=1`` reach
    grade_all.main, and is a malformed --resources refused?"""
    seen = {}
    monkeypatch.setattr(grade_all, "main", lambda **kw: seen.update(kw))
    cli.main(["grade-all", "subs", "--cluster", "tcp://10.0.0.5:8786",
              "--resources", "GPU=1"])
    assert seen["cluster"] == "tcp://10.0.0.5:8786"
    assert seen["resources"] == {"GPU": 1.0}
    with pytest.raises(SystemExit):
        cli.main(["grade-all", "subs", "--resources", "GPU"])


@pytest.mark.slow  # builds the grading template (nbgrader): ~25 s here
def test_grade_all_without_a_scheduler_stops_at_once(tmp_path, monkeypatch,
                                                     capsys):
    """Does grade-all --cluster with no scheduler there stop with status 2
    and one line naming the address?"""
    monkeypatch.setattr(config, "CLUSTER", dataclasses.replace(
        config.CLUSTER, connect_timeout_s=1.0))
    tc.student(tmp_path / "class" / "alice", tc.ANSWERS)
    code = grade_all.main(tmp_path / "class", course_root=tmp_path / "c",
                          source=tc.write_source(tmp_path / "src"),
                          cluster="tcp://127.0.0.1:9", quiet=True)
    assert code == 2
    assert ("cannot reach the Dask scheduler at tcp://127.0.0.1:9"
            in capsys.readouterr().err)


# ------------------------------------------------ a real cluster (slow)


def _start(args: list[str], log: Path) -> subprocess.Popen:
    """Start ``dask ARGS`` in a process group of its own."""
    return subprocess.Popen([str(DASK), *args], stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, cwd=log.parent,
                            start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc``'s whole process group (a machine gone)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@pytest.fixture
def dask_processes(tmp_path):
    """A ``dask scheduler`` and two one-thread ``dask worker`` processes
    on 127.0.0.1; yields (address, {name: Popen}). Every process group is
    killed at the end."""
    logs = tmp_path / "dask"
    logs.mkdir()
    file = logs / "scheduler.json"
    procs = {"scheduler": _start(
        ["scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(file)],
        logs / "scheduler.log")}
    try:
        assert _wait(file.exists, 60), "the scheduler did not start"
        for name in ("w0", "w1"):
            procs[name] = _start(
                ["worker", "--scheduler-file", str(file), "--host",
                 "127.0.0.1", "--nthreads", "1", "--name", name,
                 "--no-dashboard", "--local-directory", str(logs / name)],
                logs / f"{name}.log")
        address = json.loads(file.read_text())["address"]
        with Client(address, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
        yield address, procs
    finally:
        for proc in procs.values():
            _kill(proc)


def _small_class(folder: Path) -> list[str]:
    """Four tiny submissions: right, wrong and partial, right and zipped,
    wrong."""
    tc.student(folder / "alice", tc.ANSWERS)
    tc.student(folder / "bob", {**tc.ANSWERS, "add": "def add(a, b):\n"
                                "    return a - b"}, skip=(tc.BI,))
    tc.student(folder / "carol", {**tc.ANSWERS, "mul": "def mul(a, b):\n"
                                  "    return 6"})
    dave = tc.student(folder / "dave_src", tc.ANSWERS)
    with zipfile.ZipFile(folder / "dave.zip", "w") as zf:
        for name in (tc.DEEP, tc.BI):
            zf.write(dave / name, f"dave/{name}")
    for name in (tc.DEEP, tc.BI):
        (dave / name).unlink()
    dave.rmdir()
    return ["alice", "bob", "carol", "dave"]


def _scores(course: Path, students) -> dict:
    """student -> {grade_id: score} from each results.json."""
    return {s: {gid: t.get("score") for gid, t in results.tests_of(
        results.read(course / "results" / s / "results.json")).items()}
        for s in students}


class _Counted:
    """Wraps a function and remembers each call's first argument."""

    def __init__(self, fn, key):
        self.fn, self.key, self.calls = fn, key, []

    def __call__(self, *args, **kwargs):
        out = self.fn(*args, **kwargs)
        self.calls.append(self.key(args, kwargs, out))
        return out


def _kill_a_busy_worker(address, procs) -> tuple[str, list[str]]:
    """SIGKILL a worker that is grading a submission; return its address
    and the tasks it was running."""
    with Client(address, set_as_default=False) as watch:
        def busy():
            running = watch.run(lambda dask_worker: [
                str(ts.key) for ts in dask_worker.state.executing])
            return next(((a, k) for a, k in running.items() if k), None)
        found = _wait(busy, 600)
        assert found, "no worker started grading"
        victim, keys = found
        name = watch.scheduler_info()["workers"][victim]["name"]
    _kill(procs[name])
    return victim, keys


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_killed_worker_costs_nothing(tmp_path, dask_processes,
                                       monkeypatch):
    """SIGKILL one of two workers mid-batch: is every submission graded
    exactly once, with the seed the client drew, and the scores a local
    run gives?"""
    address, procs = dask_processes
    students = _small_class(tmp_path / "class")
    source = tc.write_source(tmp_path / "source")
    boxed = launch.available()[0]
    local = tmp_path / "local"
    assert grade_all.main(tmp_path / "class", workers=2, course_root=local,
                          source=source, sandbox=boxed, quiet=True) == 0
    reads = _Counted(grade.read_job, lambda a, k, job: (job.student,
                                                        job.seed))
    published = _Counted(publish.publish_graded,
                         lambda a, k, doc: a[0].student)
    monkeypatch.setattr(grade, "read_job", reads)
    monkeypatch.setattr(publish, "publish_graded", published)
    course = tmp_path / "course"
    with cf.ThreadPoolExecutor(1) as pool:
        batch = pool.submit(grade_all.main, tmp_path / "class",
                            course_root=course, source=source,
                            sandbox=boxed, quiet=True, cluster=address)
        victim, held = _kill_a_busy_worker(address, procs)
        assert batch.result(timeout=900) == 0
    assert sorted(published.calls) == students          # published once
    seeds = dict(reads.calls)
    assert sorted(s for s, _ in reads.calls) == students  # read once
    docs = {s: results.read(course / "results" / s / "results.json")
            for s in students}
    assert {s: d["extra_data"]["seed"] for s, d in docs.items()} == seeds
    regraded = [s for s in students if any(k.startswith(f"grade-{s}-")
                                           for k in held)]
    assert regraded, "the killed worker held no submission"
    for s in regraded:
        assert docs[s]["extra_data"]["worker"]["address"] != victim
    assert _scores(course, students) == _scores(local, students)
    url = gbook.db_url(None, course)
    with gbook.open_gradebook(url) as gb:
        rows = gb.assignment_submissions(config.ASSIGNMENT_ID)
        assert sorted(sub.student.id for sub in rows) == students
