"""Every threshold, budget, seed and time limit of the kit, in one place.

Each value says where it comes from. Values marked "calibrated" are measured
by ``scripts/calibrate.py``; its output is committed in
``scripts/calibration.json``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

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


@dataclasses.dataclass(frozen=True)
class BookRecipe:
    """The book's recipe for both models (d2l 0.17.6, section 9.3 / 9.4)."""

    batch_size: int = 32
    num_steps: int = 35
    num_hiddens: int = 256
    num_layers: int = 2
    num_epochs: int = 500
    lr_deep: float = 2.0   # deep LSTM, SGD
    lr_bidirectional: float = 1.0  # bidirectional LSTM, SGD
    clip_theta: float = 1.0  # d2l.grad_clipping(net, 1)


DATA = DataConfig()
BOOK = BookRecipe()


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
    # Resident memory of the student's kernel (issue 6): 4 GiB.
    memory_bytes: int = 4 * 1024**3
    # Lines of output kept per cell (nbgrader's LimitOutput), and characters
    # of a test's message kept in results.json, so that it stays small.
    output_max_lines: int = 200
    output_max_chars: int = 2000
    # Parallel grading workers; None = one per CPU core (os.cpu_count()).
    workers: int | None = None


GRADING = GradingLimits()
