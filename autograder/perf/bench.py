"""``python -m autograder bench``: how fast the grader trains, and grades.

In one run, on the same machine, data, seed and model:

1. **Loops.** d2l's ``train_epoch_ch8`` against the kit's trainer
   (:mod:`autograder.student.trainer`) under the book's recipe (SGD, lr 2 for the
   deep LSTM and 1 for the bidirectional one, clipping theta=1, sequential
   partitioning, batch_size 32, num_steps 35), for the deep and the
   bidirectional LSTM, at the book's num_hiddens (256) and at the grading
   budget's, on the CPU and on CUDA when there is one. Reports tokens/s, the
   ratio, and both per-epoch perplexity trajectories, which must agree
   within ``rtol`` (same numerics).
2. **Grading.** The perplexity part of grading one submission: both
   perplexity checks under the grading budget, with the book's model.
3. **End to end** (``end_to_end=True``): the wall time to grade one complete
   submission, and N submissions with W workers (``autograder.grader.grade`` and
   ``autograder.grader.grade_all``); with ``cluster``, the same N through a
   Dask scheduler (``grade-all --cluster``): throughput as a ratio to local
   grading with as many workers, and the overhead per submission.

Timings on a shared machine are noisy: compare the ratios measured in the
same run, not absolute numbers across runs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import platform
import random
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from d2l import torch as d2l

from autograder.perf import benchplot
from autograder.student import perplexity
from autograder.perf import roofline
from autograder.student import trainer
from autograder import data
from autograder.config import BOOK, COURSE_ROOT, GRADING_CPU, grading_budget

OUT_DIR = COURSE_ROOT / "benchmarks"
# Per-epoch perplexities of the two loops agree to this relative tolerance.
# The loops differ only in clipping's theta/(norm + 1e-6) vs theta/norm and
# in summation order; measured differences are ~1e-7 after 10 epochs.
RTOL = 1e-4


def book_model(vocab_size, num_hiddens, num_layers, bidirectional, device):
    """The book's d2l.RNNModel around nn.LSTM (sections 9.3 and 9.4)."""
    lstm = nn.LSTM(vocab_size, num_hiddens, num_layers,
                   bidirectional=bidirectional)
    return d2l.RNNModel(lstm, vocab_size).to(device)


def book_recipe(kind: str, num_epochs: int) -> trainer.Recipe:
    """The book's SGD recipe for ``kind`` with ``num_epochs`` epochs."""
    lr = BOOK.lr_deep if kind == "deep" else BOOK.lr_bidirectional
    return trainer.Recipe(num_epochs=num_epochs, lr=lr, optimizer="sgd",
                          batch_size=BOOK.batch_size,
                          num_steps=BOOK.num_steps,
                          clip_theta=BOOK.clip_theta)


class _Batches:
    """d2l's sequential iterator over ``corpus``, re-made every epoch."""

    def __init__(self, corpus, recipe: trainer.Recipe):
        self.corpus, self.recipe = corpus, recipe

    def __iter__(self):
        return d2l.seq_data_iter_sequential(
            self.corpus, self.recipe.batch_size, self.recipe.num_steps)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def run_d2l(net, corpus, recipe: trainer.Recipe, device) -> dict:
    """Train with d2l's own epoch loop, as d2l.train_ch8 calls it."""
    loss = nn.CrossEntropyLoss()
    updater = torch.optim.SGD(net.parameters(), recipe.lr)
    batches = _Batches(corpus, recipe)
    ppls = []
    _sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(recipe.num_epochs):
        ppl, _ = d2l.train_epoch_ch8(net, batches, loss, updater, device,
                                     False)
        ppls.append(ppl)
    _sync(device)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    # Same seed, same offsets: the tokens are the kit run's (set in compare).
    return _loop_result(ppls, None, seconds, cpu, "d2l.train_epoch_ch8")


def run_kit(net, corpus, recipe: trainer.Recipe, device) -> dict:
    """Train with the kit's trainer."""
    _sync(device)
    cpu = time.process_time()
    result = trainer.train(net, corpus, recipe, device)
    cpu = time.process_time() - cpu
    return _loop_result(result.perplexities, result.tokens, result.seconds,
                        cpu, f"autograder.student.trainer ({result.path})")


def _loop_result(ppls, tokens, seconds, cpu_seconds, name) -> dict:
    return {"loop": name, "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu_seconds, 3), "tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1) if tokens else None,
            "perplexities": [float(p) for p in ppls]}


def compare(kind, num_hiddens, device, corpus, vocab, *, epochs, seed,
            rtol, repeats) -> dict:
    """d2l's loop vs the kit's, same seed/model/data; best of ``repeats``."""
    recipe = book_recipe(kind, epochs)
    runs = {"d2l": [], "kit": []}
    order = ("d2l", "kit")
    for r in range(repeats):
        for name in order if r % 2 == 0 else order[::-1]:
            torch.manual_seed(seed)
            random.seed(seed)
            net = book_model(len(vocab), num_hiddens, BOOK.num_layers,
                             kind == "bidirectional", device)
            run = run_d2l if name == "d2l" else run_kit
            runs[name].append(run(net, corpus, recipe, device))
    d2l_run = min(runs["d2l"], key=lambda x: x["seconds"])
    kit_run = min(runs["kit"], key=lambda x: x["seconds"])
    # d2l consumed the same random offsets, so it saw the same tokens.
    d2l_run["tokens"] = kit_run["tokens"]
    d2l_run["tokens_per_s"] = round(kit_run["tokens"] / d2l_run["seconds"], 1)
    cpu_ratio = (min(r["cpu_seconds"] for r in runs["d2l"])
                 / max(min(r["cpu_seconds"] for r in runs["kit"]), 1e-9))
    diff = max(abs(a - b) / a for a, b in
               zip(d2l_run["perplexities"], kit_run["perplexities"]))
    return {"device": str(device), "kind": kind, "num_hiddens": num_hiddens,
            "num_layers": BOOK.num_layers, "epochs": epochs,
            "recipe": dataclasses.asdict(recipe), "repeats": repeats,
            "d2l": d2l_run, "kit": kit_run,
            "speedup": round(kit_run["tokens_per_s"]
                             / d2l_run["tokens_per_s"], 2),
            # The same ratio from the process's CPU time: less sensitive to
            # other jobs on a shared machine (one thread: CPU time ~ work).
            "speedup_cpu_time": round(cpu_ratio, 2),
            "max_rel_diff": diff, "rtol": rtol, "agree": diff <= rtol}


def lstm_share(kind, num_hiddens, corpus, vocab, loop: str = "kit") -> float:
    """Share of a loop's CPU time spent inside the LSTM kernels.

    The profile that bounds what any loop can gain on the CPU: the rest
    (loss, clipping, optimizer, Python) is all a leaner loop around the same
    kernels can remove, so d2l's loop can be beaten by at most 1 / (d2l's
    share) that way.

    Args:
        loop: "kit" (the kit's trainer) or "d2l" (``train_epoch_ch8``).
    """
    from torch.profiler import ProfilerActivity, profile

    run = {"kit": run_kit, "d2l": run_d2l}[loop]
    net = book_model(len(vocab), num_hiddens, BOOK.num_layers,
                     kind == "bidirectional", "cpu")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run(net, corpus, book_recipe(kind, 1), "cpu")
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    lstm = sum(e.self_cpu_time_total for e in events
               if "rnn" in e.key.lower() or "lstm" in e.key.lower())
    return round(lstm / total, 3) if total else 0.0


def cpu_bounds(c: dict, vocab_size: int, peak: dict, d2l_share: float) -> dict:
    """The two ceilings on the kit's CPU speedup over d2l for loop ``c``.

    * ``max_speedup_loop``: a leaner loop around the same LSTM kernels
      gains at most 1 / (share of d2l's time in those kernels);
    * ``max_speedup``: any trainer of the same arithmetic gains at most the
      roofline tokens/s (every matrix product at the machine's measured
      peak, nothing else costing time) over d2l's measured tokens/s
      (:func:`autograder.perf.roofline.ceiling`, whose other keys come along).
    """
    flops = roofline.flops_per_token(vocab_size, c["num_hiddens"],
                                     c["num_layers"],
                                     c["kind"] == "bidirectional")
    roof = roofline.ceiling(flops["total"], peak["gflops"],
                            c["d2l"]["tokens_per_s"])
    return {"flops_per_token": flops, "peak_gflops": peak["gflops"],
            "d2l_lstm_kernel_share": d2l_share,
            "max_speedup_loop": round(1 / d2l_share, 2) if d2l_share else None,
            **roof}


def warm_up(device, corpus, vocab, num_hiddens) -> None:
    """One untimed epoch, so that neither loop pays one-time setup."""
    for bidirectional in (False, True):
        net = book_model(len(vocab), num_hiddens, BOOK.num_layers,
                         bidirectional, device)
        trainer.train(net, corpus, book_recipe("deep", 1), device)


def grading_times(device, *, seed) -> dict:
    """The perplexity part of grading one submission (both checks)."""
    out = {}
    budget = dataclasses.replace(
        grading_budget(perplexity.device_class(device)), seed=seed)
    for kind in perplexity.KINDS:
        def build(vocab_size, num_hiddens, num_layers, dev, _k=kind):
            return book_model(vocab_size, num_hiddens, num_layers,
                              _k == "bidirectional", dev)
        start = time.perf_counter()
        entry = perplexity.collect(build, kind=kind, device=device,
                                   budget=budget)
        message = perplexity.judge(entry, kind)
        out[kind] = {"seconds": round(time.perf_counter() - start, 3),
                     "train_seconds": round(entry["train_seconds"], 3),
                     "epochs": entry["num_epochs"],
                     "num_hiddens": budget.num_hiddens,
                     "perplexity": entry["perplexity"], "verdict": message}
    out["total_seconds"] = round(sum(v["seconds"] for v in out.values()), 3)
    return out


def machine_busy() -> tuple[int, int] | None:
    """(busy, total) CPU jiffies of the whole machine so far, from
    /proc/stat; None where there is no /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal (guest time is
    # already inside user and nice)
    ticks = [int(v) for v in fields[1:9]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)   # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def cores_busy(before, after, cores: int) -> float | None:
    """Average number of busy cores between two :func:`machine_busy`
    readings (the whole machine: other jobs count too)."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(cores * (after[0] - before[0]) / (after[1] - before[1]), 2)


def end_to_end(*, submissions: int, workers, sandbox: bool,
               cluster: str | None = None) -> dict:
    """Wall time to grade one complete submission, and N with W workers.

    Each point also records how many cores the machine kept busy on
    average while it ran: throughput can only grow with workers while
    there are idle cores left.

    Args:
        submissions, workers, sandbox: N, the Ws, and the sandbox.
        cluster: also grade the N through Dask (:func:`through_dask`):
            ``"local"`` or a scheduler's address.
    """
    from autograder.release import examples
    from autograder.grader import grade
    from autograder.grader import grade_all

    cores = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="autograder-bench-"))
    try:
        sub = examples.build(tmp / "examples", names=["solution"])["solution"]
        busy, start = machine_busy(), time.perf_counter()
        rc = grade.main(sub, db=str(tmp / "one.db"),
                        out=tmp / "one" / "results.json", sandbox=sandbox,
                        quiet=True)
        one = {"seconds": round(time.perf_counter() - start, 2), "rc": rc,
               "cores_busy": cores_busy(busy, machine_busy(), cores)}
        batch = tmp / "batch"
        for i in range(submissions):
            shutil.copytree(sub, batch / f"student{i:03d}")
        curve, dask = [], []
        for w in workers:
            busy, start = machine_busy(), time.perf_counter()
            rc = grade_all.main(batch, workers=w, db=str(tmp / f"w{w}.db"),
                                out_dir=tmp / f"w{w}", sandbox=sandbox,
                                grades_csv=tmp / f"w{w}.csv", quiet=True)
            seconds = time.perf_counter() - start
            curve.append({"workers": w, "submissions": submissions,
                          "seconds": round(seconds, 2), "rc": rc,
                          "submissions_per_min": round(
                              60 * submissions / seconds, 2),
                          "cores_busy": cores_busy(busy, machine_busy(),
                                                   cores)})
            if cluster == "local":  # right after: the same load on both
                dask += through_dask(batch, tmp, cluster=cluster,
                                     workers=(w,), sandbox=sandbox,
                                     local=curve)
        base = next((p for p in curve if p["workers"] == 1), None)
        for p in curve:
            if base:
                p["speedup"] = round(base["seconds"] / p["seconds"], 2)
        report = {"one_submission": one, "batch": curve, "sandbox": sandbox,
                  "cores": cores}
        if cluster and cluster != "local":
            dask = through_dask(batch, tmp, cluster=cluster, workers=workers,
                                sandbox=sandbox, local=curve)
        if cluster:
            report["cluster"] = dask
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def through_dask(batch: Path, tmp: Path, *, cluster: str, workers,
                 sandbox: bool, local: list[dict]) -> list[dict]:
    """Grade ``batch`` through a Dask scheduler, once per worker count.

    Args:
        batch: the submissions (one folder each).
        tmp: a scratch folder for the gradebooks and results.
        cluster: ``"local"``: a scheduler and W one-thread worker processes
            on this machine for each W in ``workers``; else the address
            of a running scheduler, graded once with the workers it has.
        workers, sandbox: the worker counts, and the sandbox.
        local: the local points (:func:`end_to_end`) of the same batch.

    Returns:
        One point per worker count: seconds and submissions/min;
        ``ratio_to_local``, the throughput over local grading with as many
        workers (>1: faster); ``task_s_mean``, a task's wall time on its
        worker; ``overhead_per_submission_s``, the worker time not spent in
        tasks per submission, (seconds x workers - sum of task times) / N:
        the scheduler's round trips, the transfers and the client's side;
        ``extra_per_submission_s``, (seconds - local seconds) / N; and
        ``start_s``, starting the workers and their kit check (once per
        batch, not counted in ``seconds``).
    """
    from autograder.grader import grade_all

    points = []
    for w in (workers if cluster == "local" else (None,)):
        with _dask(cluster, w, sandbox) as (address, threads, start_s):
            out = tmp / f"dask{w or ''}"
            busy, begin = machine_busy(), time.perf_counter()
            rc = grade_all.main(batch, cluster=address, db=str(out / "g.db"),
                                out_dir=out, sandbox=sandbox,
                                grades_csv=out / "grades.csv", quiet=True)
            seconds = time.perf_counter() - begin
            used = cores_busy(busy, machine_busy(), os.cpu_count() or 1)
        points.append({**_dask_point(out, rc=rc, seconds=seconds,
                                     threads=threads, start_s=start_s,
                                     local=local), "cores_busy": used})
    return points


def _dask_point(out: Path, *, rc: int, seconds: float, threads: int,
                start_s: float, local: list[dict]) -> dict:
    """One :func:`through_dask` point, from the results.json it wrote."""
    tasks = [json.loads(p.read_text())["extra_data"]["worker"]["task_s"]
             for p in sorted(out.glob("*/results.json"))]
    same = next((p for p in local if p["workers"] == threads), None)
    return {
        "workers": threads, "submissions": len(tasks), "rc": rc,
        "seconds": round(seconds, 2), "start_s": round(start_s, 2),
        "submissions_per_min": round(60 * len(tasks) / seconds, 2),
        "ratio_to_local": (round(same["seconds"] / seconds, 3)
                           if same else None),
        "task_s_mean": round(sum(tasks) / max(1, len(tasks)), 2),
        "overhead_per_submission_s": round(
            (seconds * threads - sum(tasks)) / max(1, len(tasks)), 2),
        "extra_per_submission_s": (round(
            (seconds - same["seconds"]) / max(1, len(tasks)), 2)
            if same else None),
    }


@contextlib.contextmanager
def _dask(cluster: str, workers: int | None, sandbox: bool):
    """Yield (scheduler address, worker threads, seconds to start them).

    ``"local"`` starts a scheduler and ``workers`` one-thread worker
    processes here (Dask's LocalCluster) and waits until each has passed
    the kit's check; an address is used as it is.
    """
    from distributed import Client, LocalCluster

    from autograder.grader import cluster as dask_cluster

    begin = time.perf_counter()
    with contextlib.ExitStack() as stack:
        address = cluster
        if cluster == "local":
            address = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None)).scheduler_address
        client = stack.enter_context(Client(address, set_as_default=False))
        client.run(dask_cluster.admission,
                   dask_cluster.requirements(sandbox))
        threads = sum(client.nthreads().values())
        yield address, threads, time.perf_counter() - begin


def machine() -> dict:
    """The machine, described."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": torch.multiprocessing.cpu_count(),
            "gpu": gpu, "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__}


def default_devices() -> tuple[str, ...]:
    return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)


def _print_row(c: dict) -> None:
    share = c.get("kit_lstm_kernel_share")
    print(f"{c['device']:5s} {c['kind']:13s} h={c['num_hiddens']:<4d} "
          f"d2l {c['d2l']['tokens_per_s']:>9.0f} tok/s  "
          f"kit {c['kit']['tokens_per_s']:>9.0f} tok/s  "
          f"x{c['speedup']:.2f} (CPU time x{c['speedup_cpu_time']:.2f})  "
          + (f"LSTM kernels {share:.0%}  " if share is not None else "")
          + f"max rel diff {c['max_rel_diff']:.1e} "
          f"({'agree' if c['agree'] else 'DISAGREE'})", flush=True)
    b = c.get("bounds")
    if b:
        loop = b["max_speedup_loop"]
        print(f"      ceilings over d2l: leaner loop x{loop or float('nan'):.2f}"
              f", any same-arithmetic trainer x{b['max_speedup']:.2f} "
              f"(d2l's products at {b['achieved_gflops']:.0f} of "
              f"{b['peak_gflops']:.0f} GFLOPS)", flush=True)


def main(*, epochs: int = 10, num_hiddens: tuple[int, ...] | None = None,
         kinds: tuple[str, ...] = perplexity.KINDS,
         devices: tuple[str, ...] | None = None, threads: int | None = None,
         seed: int = 0, repeats: int = 1, rtol: float = RTOL,
         grading: bool = True, e2e: bool = False, submissions: int = 4,
         workers: tuple[int, ...] = (1, 2), sandbox: bool = True,
         cluster: str | None = None, out: str | Path | None = None,
         quiet: bool = False) -> int:
    """Run the benchmark and write its JSON.

    Args:
        epochs: epochs per loop under the book's recipe (CI: 1).
        num_hiddens: sizes to compare (default: the book's 256 and the
            grading budget's).
        kinds: "deep" and/or "bidirectional".
        devices: default "cpu", plus "cuda" when available.
        threads: torch threads for both loops (default: the grading
            budget's, 1; see GradingBudget.threads).
        seed: seeds the model init and d2l's data offsets.
        repeats: runs per loop (alternating order); the fastest counts.
        rtol: tolerance on the per-epoch perplexities of the two loops.
        grading: also time the perplexity part of grading one submission.
        e2e: also time grading complete submissions (one; N with W
            workers).
        submissions, workers, sandbox: for ``e2e``.
        cluster: with ``e2e``, also grade through Dask: ``"local"`` (a
            scheduler and W workers started here) or a scheduler's address.
        out: the JSON (default: benchmarks/results-<cpu|cuda>.json); the
            figure (:mod:`autograder.perf.benchplot`) goes beside it as .png.

    Returns:
        0 when every pair of trajectories agreed within ``rtol``, else 1.
    """
    devices = tuple(devices or default_devices())
    num_hiddens = tuple(num_hiddens or (BOOK.num_hiddens,
                                        GRADING_CPU.num_hiddens))
    threads = threads or GRADING_CPU.threads
    torch.set_num_threads(threads)
    data.export_env()
    corpus, vocab = perplexity.corpus_and_vocab()
    command = "python -m autograder " + shlex.join(sys.argv[1:])
    report = {"command": command, "machine": machine(), "threads": threads,
              "date": datetime.datetime.now(datetime.timezone.utc)
              .isoformat(timespec="seconds"),
              "note": "shared machine: timings are noisy, compare ratios "
                      "measured in the same run", "loops": [],
              "grading": {}}
    for device in devices:
        if device == "cpu" and kinds:
            shapes = [shape for h in num_hiddens for shape in
                      roofline.lstm_shapes(len(vocab), h, BOOK.batch_size,
                                           BOOK.num_steps)]
            peak = report["cpu_peak"] = roofline.peak_gflops(
                sorted(set(shapes)), threads=threads)
            if not quiet:
                print(f"cpu   fp32 matmul peak with {threads} thread(s): "
                      f"{peak['gflops']:.0f} GFLOPS", flush=True)
        for h in num_hiddens if kinds else ():
            warm_up(device, corpus, vocab, h)
            for kind in kinds:
                c = compare(kind, h, device, corpus, vocab, epochs=epochs,
                            seed=seed, rtol=rtol, repeats=repeats)
                if device == "cpu":
                    c["kit_lstm_kernel_share"] = lstm_share(
                        kind, h, corpus, vocab)
                    c["bounds"] = cpu_bounds(
                        c, len(vocab), peak, lstm_share(
                            kind, h, corpus, vocab, loop="d2l"))
                report["loops"].append(c)
                if not quiet:
                    _print_row(c)
        if grading:
            report["grading"][device] = g = grading_times(device, seed=seed)
            if not quiet:
                print(f"{device:5s} grading (perplexity part, both models): "
                      f"{g['total_seconds']:.2f} s", flush=True)
    if e2e:
        report["end_to_end"] = end_to_end(
            submissions=submissions, workers=workers, sandbox=sandbox,
            cluster=cluster)
        if not quiet:
            print(json.dumps(report["end_to_end"], indent=1))
    out = Path(out) if out else OUT_DIR / (
        f"results-{'cuda' if 'cuda' in devices else 'cpu'}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    figure = out.with_suffix(".png")
    drawn = benchplot.plot(report, figure)
    if not quiet:
        print(f"wrote {out}" + (f" and {figure}" if drawn else ""))
    return 0 if all(c["agree"] for c in report["loops"]) else 1
