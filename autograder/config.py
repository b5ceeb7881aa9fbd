"""Every threshold, budget, seed and time limit of the kit, in one place.

Each value says where it comes from. Values marked "calibrated" are measured
by ``scripts/calibrate.py``; its output is committed in
``scripts/calibration.json``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

# The student-facing values (the book's recipe, the perplexity check's budget
# and thresholds, the checks' tolerances) live with the student-facing checks,
# which ship to students and cannot import this module; re-exported here.
from autograder.student.config import (  # noqa: F401
    BOOK, CHECKS as TOLERANCES, GRADING_CPU, GRADING_GPU, BookRecipe,
    GradingBudget, grading_budget,
)

# The repo root is the nbgrader course directory.
COURSE_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT_ID = "deep_bidirectional_rnn"


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the Time Machine text is looked for (in this order)."""

    # 1. This environment variable: a path to timemachine.txt or its folder.
    env_var: str = "D2L_TIMEMACHINE"
    # 2. ../shared/data/ beside the repo (the course machines' shared folder).
    shared_dir: Path = COURSE_ROOT.parent / "shared" / "data"
    # 3. d2l's own cache: ../data relative to the working directory
    #    (d2l.download's default cache_dir).
    d2l_cache_dir: str = "../data"
    file_name: str = "timemachine.txt"
    # The SHA-1 that d2l 0.17.6 checks (d2l.DATA_HUB['time_machine']).
    sha1: str = "090b5e7e70c295757f55df93cb0a180b9691891a"


DATA = DataConfig()


@dataclasses.dataclass(frozen=True)
class GradingLimits:
    """Limits on grading one submission (issues 5 and 6).

    Every value is a default; ``grade`` and ``grade-all`` accept overrides.
    """

    # Ordinary cells (imports, shape/param/device/reference checks): each
    # check runs in well under a second, so 60 s only catches hangs
    # (nbgrader's own default, 30 s, is close to a cold ``import torch``
    # under load on a shared 2-core machine).
    cell_timeout_s: int = 60
    # Training cells (the perplexity tests, grade_ids ending in
    # "_perplexity"): the grader's own training budget plus margin for two
    # workers sharing a core.
    training_cell_timeout_s: int = 300
    # Whole submission, both notebooks: kernel start-up, every cell, and
    # nbgrader's bookkeeping. A submission over it scores zero on the tests
    # not yet graded, with "time limit exceeded"; the batch goes on.
    submission_timeout_s: int = 900
    # Memory of the student's kernel and everything it starts (issue 6):
    # 4 GiB of anonymous and shared memory, files in the box's tmpfs and
    # memfds included where a memory cgroup is available (issue 16).
    memory_bytes: int = 4 * 1024**3
    # Everything one notebook's box may write (issue 11): /box, /tmp and
    # /dev/shm share one tmpfs of this size. Its pages are memory too: they
    # count against memory_bytes as well. 1 GiB: a notebook writes a few
    # MB of plots and checkpoints.
    disk_bytes: int = 1024**3
    # What the grader reads of a submission, checked before a notebook is
    # opened or a .zip unpacked (issue 11): a course notebook with outputs
    # is ~1 MB; 20 MB per notebook and 100 MB unzipped leave ample room.
    notebook_bytes: int = 20 * 1000**2
    zip_bytes: int = 100 * 1000**2
    # Lines of output kept per cell (nbgrader's LimitOutput), and characters
    # of a test's message kept in results.json, so that it stays small.
    output_max_lines: int = 200
    output_max_chars: int = 2000
    # Parallel grading workers; None = one per CPU core (os.cpu_count()).
    workers: int | None = None


GRADING = GradingLimits()


@dataclasses.dataclass(frozen=True)
class ChecksConfig:
    """Tolerances, hidden-size ranges and seeds of the checks (not perplexity).

    Ranges are inclusive ``(low, high)``; hidden tests draw each size from its
    range with the grading seed, so a hard-coded answer fails.
    """

    # Environment variable holding the grading seed (set by the grader per
    # submission); without it, each kernel draws a random seed.
    seed_env: str = "AUTOGRADER_SEED"
    # Environment variable naming the folder where evidence is recorded.
    evidence_env: str = "AUTOGRADER_EVIDENCE_DIR"
    # Hidden-test sizes: small, so each check runs in milliseconds, yet other
    # than the visible test's, so that hard-coding fails.
    vocab_size_range: tuple[int, int] = (5, 40)
    num_hiddens_range: tuple[int, int] = (3, 24)
    num_layers_range: tuple[int, int] = (1, 4)
    batch_size_range: tuple[int, int] = (1, 6)
    num_steps_range: tuple[int, int] = (2, 9)
    # leaks_future is graded on this many kit models the student never saw,
    # on top of the four named ones (deep LSTM, scratch deep RNN,
    # bidirectional LSTM, scratch BiRNN).
    causal_unseen_models: int = 3
    # Sizes of the kit's zoo models (small: the student's probe runs each).
    causal_vocab_size_range: tuple[int, int] = (5, 12)
    causal_num_hiddens_range: tuple[int, int] = (4, 8)


CHECKS = ChecksConfig()


@dataclasses.dataclass(frozen=True)
class SandboxConfig:
    """How student kernels are confined while grading (issue 6).

    The limits users tune (timeouts, memory, output) are in ``GradingLimits``;
    these are the sandbox's own knobs, documented in docs/security.md.
    """

    # Environment variable that points to the bubblewrap binary (default:
    # ``bwrap`` on PATH; Debian/Ubuntu package ``bubblewrap``).
    bwrap_env: str = "AUTOGRADER_BWRAP"
    # Characters of output (streams, rich data, tracebacks) the grader keeps
    # per cell while it runs, before nbgrader's LimitOutput trims lines; the
    # rest is dropped as it arrives, so an output flood cannot fill memory.
    cell_output_chars: int = 100_000
    # The same for a whole notebook: past it, each cell keeps only its
    # first error, shrunk to 1,000 characters (the cell still fails).
    notebook_output_chars: int = 2_000_000
    # Largest single kernel message the grader accepts (ZMQ_MAXMSGSIZE); a
    # bigger one is dropped by ZMQ. Real outputs are < 1 MiB (plots ~50 KiB).
    max_message_bytes: int = 64 * 1024**2
    # Processes in the sandbox (kernel and whatever it starts): a fork bomb
    # is stopped with "process limit exceeded". DataLoader workers ~ a few.
    max_processes: int = 64
    # Processes and threads together (the pids cgroup, else RLIMIT_NPROC of
    # the box's own uid): a kernel runs ~20 threads (ipykernel's, torch's
    # pools); 3,000 threads (issue 16) are stopped with "process limit
    # exceeded".
    max_tasks: int = 256
    # No longer used: /tmp and /dev/shm share the box's one tmpfs of
    # GradingLimits.disk_bytes (kept: a public name stays).
    tmpfs_bytes: int = 512 * 1024**2
    # Run by root, each box drops to a uid of its own before bubblewrap
    # starts: uid_base .. uid_base + uid_count - 1, claimed with flock (one
    # per concurrent box, so RLIMIT_NPROC, counted per uid, is per box).
    # Far above the uids of people and of subordinate-id ranges.
    uid_base: int = 2_000_000
    uid_count: int = 256
    # Seconds to wait for a free uid when all are taken.
    uid_wait_s: float = 60.0
    # Put each box in cgroups of its own (memory, pids, cpu) where this
    # process may create them (cgroup v1 or v2); else the watchdog alone.
    cgroups: bool = True
    # Largest file the kernel may write (RLIMIT_FSIZE): evidence files are
    # small tensors; a runaway writer gets EFBIG instead of filling the disk.
    max_file_bytes: int = 1024**3
    # How often the watchdog reads the kernel's memory (seconds). At ~5 GB/s
    # of allocation the overshoot is at most a few hundred MB.
    poll_s: float = 0.05
    # After a cell's time limit the kernel is interrupted (KeyboardInterrupt);
    # if it does not answer within this grace, it is killed and the notebook's
    # remaining cells are marked "not run".
    interrupt_grace_s: float = 10.0
    # Kept beyond the per-submission wall time before the watchdog kills the
    # kernel itself (normally the cell timeouts end it first).
    deadline_grace_s: float = 30.0


SANDBOX = SandboxConfig()


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    """Grading on a Dask cluster (``grade-all --cluster``, issue 13).

    How often a task whose worker died is tried again is Dask's own
    ``distributed.scheduler.allowed-failures`` (3), set on the scheduler.
    """

    # Seconds to reach the scheduler (Dask's own default is 30 s).
    connect_timeout_s: float = 30.0
    # Seconds to wait for a first worker when the scheduler has none yet
    # (a Slurm or Kubernetes worker can take minutes to be scheduled).
    worker_wait_s: float = 600.0
    # Jobs (~120 KB each: two notebooks and the two solutions) submitted
    # ahead of their results: this many per worker thread, at least
    # ``min_in_flight``. Dask queues them on the scheduler; two per thread
    # keeps every thread fed without holding a whole class in memory.
    in_flight_per_thread: int = 2
    min_in_flight: int = 8


CLUSTER = ClusterConfig()
