"""The benchmark's figure: what ``python -m autograder bench`` measured.

Up to three panels, each drawn when the report has its data:

1. **Trajectories.** Per-epoch training perplexity of d2l's
   ``train_epoch_ch8`` (solid) and the kit's trainer (dashed markers) for
   each model and size: the lines lie on top of each other when the
   numerics are the same.
2. **Tokens/s.** d2l's loop, the kit's, (CPU) the roofline ceiling of any
   trainer of the same arithmetic (:mod:`autograder.perf.roofline`), and the
   target (2x d2l on the CPU, 6x on CUDA) as a dashed line.
3. **Scaling.** Submissions graded per minute against workers, with the
   linear ideal from one worker and the machine's core count marked.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402


# The trainer targets, as multiples of d2l's tokens/s.
TARGET_SPEEDUP = {"cpu": 2.0, "cuda": 6.0}


def _label(c: dict) -> str:
    return f"{c['device']} {c['kind']} h={c['num_hiddens']}"


def _trajectories(ax, loops) -> None:
    for i, c in enumerate(loops):
        color = f"C{i % 10}"
        d2l_ppl, kit_ppl = c["d2l"]["perplexities"], c["kit"]["perplexities"]
        epochs = range(1, len(d2l_ppl) + 1)
        ax.plot(epochs, d2l_ppl, "-", color=color, label=f"{_label(c)} d2l")
        ax.plot(epochs, kit_ppl, "--o", color=color, markersize=3,
                label=f"{_label(c)} kit")
    ax.set(xlabel="epoch", ylabel="training perplexity",
           title="same numerics: d2l (solid) vs kit (dashed)")
    ax.legend(fontsize=6)


def _throughput(ax, loops) -> None:
    width = 0.27
    xs = range(len(loops))
    d2l_tps = [c["d2l"]["tokens_per_s"] for c in loops]
    kit_tps = [c["kit"]["tokens_per_s"] for c in loops]
    ax.bar([x - width for x in xs], d2l_tps, width, label="d2l")
    ax.bar(list(xs), kit_tps, width, label="kit")
    roof = [c.get("bounds", {}).get("roofline_tokens_per_s") for c in loops]
    if any(roof):
        ax.bar([x + width for x in xs], [r or 0 for r in roof], width,
               label="roofline ceiling", color="0.75")
    for x, c in zip(xs, loops):
        target = TARGET_SPEEDUP.get(c["device"].split(":")[0])
        if target:
            ax.hlines(target * c["d2l"]["tokens_per_s"], x - 1.5 * width,
                      x + 1.5 * width, colors="k", linestyles="--",
                      label="target" if x == 0 else None)
        ax.annotate(f"x{c['speedup']:.2f}", (x, c["kit"]["tokens_per_s"]),
                    ha="center", va="bottom", fontsize=7)
    ax.set_xticks(list(xs), [_label(c) for c in loops], rotation=30,
                  ha="right", fontsize=7)
    ax.set(yscale="log", ylabel="tokens/s", title="training throughput")
    ax.legend(fontsize=7)


def _scaling(ax, e2e: dict, cores: int | None) -> None:
    curve = sorted(e2e["batch"], key=lambda p: p["workers"])
    workers = [p["workers"] for p in curve]
    rate = [p["submissions_per_min"] for p in curve]
    ax.plot(workers, rate, "-o", label="measured")
    for w, r, p in zip(workers, rate, curve):
        if p.get("cores_busy") is not None:
            ax.annotate(f"{p['cores_busy']:.1f} cores busy", (w, r),
                        textcoords="offset points", xytext=(4, -12),
                        fontsize=7)
    if curve and curve[0]["workers"] == 1:
        ax.plot(workers, [rate[0] * w for w in workers], ":", color="0.5",
                label="linear from 1 worker")
    if cores:
        ax.axvline(cores, color="0.7", linestyle="--",
                   label=f"{cores} cores")
    ax.set(xlabel="workers", ylabel="submissions graded per minute",
           title=f"batch grading ({curve[0]['submissions']} submissions)"
           if curve else "batch grading")
    ax.set_xticks(workers)
    ax.legend(fontsize=7)


def plot(report: dict, path: str | Path):
    """Draw ``report`` (``bench.main``'s JSON) to ``path`` (a PNG).

    Returns:
        The matplotlib Figure, or None when the report has nothing to draw.
    """
    loops = report.get("loops") or []
    e2e = report.get("end_to_end") or {}
    panels = ([_trajectories, _throughput] if loops else []) + (
        ["scaling"] if e2e.get("batch") else [])
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5),
                             squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "scaling":
            _scaling(ax, e2e, report.get("machine", {}).get("cores"))
        else:
            panel(ax, loops)
    machine = report.get("machine", {})
    threads = (f"{report.get('threads', '?')} thread(s) per loop; "
               if loops else "")     # end to end: cores // workers each
    fig.suptitle(f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} "
                 f"cores, GPU: {machine.get('gpu') or 'none'}; {threads}"
                 f"{report.get('date', '')}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig
